"""Every file, link, make target and module the README and docs/ name exists."""

from __future__ import annotations

import glob
import importlib.util
import re
from pathlib import Path

import pytest

from tests.docs.documents import DOCS, README, ROOT, makefile_targets

PAGES = {ROOT / "README.md": README, **DOCS}
# A code span naming a path inside the repository starts with one of these.
TOP = ("service/", "stack/", "synth/", "dashboards/", "rehearsal/", "cluster/", "toolchain/")
TOP += ("tests/", "docs/", "dist/", "values/", "perf/", ".ci/")
ROOT_FILES = {"Makefile", "values.yaml", "pyproject.toml", "cdk8s.yaml", "package.json"}


def _expand_braces(path: str) -> list[str]:
    match = re.search(r"\{([^{}]+)\}", path)
    if not match:
        return [path]
    head, tail = path[: match.start()], path[match.end() :]
    return [p for part in match[1].split(",") for p in _expand_braces(head + part + tail)]


def _named_paths(text: str) -> set[str]:
    spans = re.findall(r"`([^`\s]+)`", text)
    names = set()
    for span in spans:
        span = span.split("::")[0].rstrip(":,.")
        if span.startswith(TOP) or span in ROOT_FILES:
            names.add(span)
    return names


def _code(text: str) -> list[str]:
    """The code blocks and code spans of a page: where commands are named."""
    blocks = re.findall(r"```.*?```", text, re.DOTALL)
    rest = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return blocks + re.findall(r"`([^`]+)`", rest)


def _exists(path: str) -> bool:
    # `<component>` and `*` stand for any name.
    pattern = re.sub(r"<[^>]+>", "*", path)
    return any(glob.glob(str(ROOT / p)) for p in _expand_braces(pattern))


@pytest.mark.parametrize("page", sorted(PAGES), ids=lambda p: p.name)
def test_every_named_file_exists(page: Path) -> None:
    missing = sorted(p for p in _named_paths(PAGES[page]) if not _exists(p))
    assert not missing, f"{page.name} names files that do not exist: {missing}"


@pytest.mark.parametrize("page", sorted(PAGES), ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    links = re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", PAGES[page])
    missing = sorted(link for link in links if not (page.parent / link).exists())
    assert not missing, f"{page.name} links to missing files: {missing}"


@pytest.mark.parametrize("page", sorted(PAGES), ids=lambda p: p.name)
def test_every_make_target_named_exists(page: Path) -> None:
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)", " ".join(_code(PAGES[page]))))
    missing = sorted(named - makefile_targets())
    assert not missing, f"{page.name} names make targets that do not exist: {missing}"


@pytest.mark.parametrize("page", sorted(PAGES), ids=lambda p: p.name)
def test_every_python_module_named_exists(page: Path) -> None:
    named = set(re.findall(r"python3? -m ([a-z_][a-z_.]*)", " ".join(_code(PAGES[page]))))
    missing = sorted(m for m in named if importlib.util.find_spec(m) is None)
    assert not missing, f"{page.name} names modules that do not exist: {missing}"
