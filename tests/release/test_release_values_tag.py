"""`make release` rewrites only the tag of the values file, keeping the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.values_tag import with_tag, write_tag
from stack.config import load_config
from synth.main import DEFAULT_VALUES


def test_the_committed_values_file_changes_in_one_line_only() -> None:
    text = DEFAULT_VALUES.read_text()
    updated = with_tag(text, "1.2.3")
    changed = [
        (a, b) for a, b in zip(text.splitlines(), updated.splitlines(), strict=True) if a != b
    ]
    assert changed == [("  image_tag: 1.0.0", "  image_tag: 1.2.3")]


def test_a_trailing_comment_and_quotes_survive(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("# top\napp:\n  image_tag: '1.0.0'  # released by CI\n  name: shop\n")
    write_tag(values, "2.0.0")
    assert values.read_text() == "# top\napp:\n  image_tag: 2.0.0  # released by CI\n  name: shop\n"
    assert load_config(env={}, values_file=values).app.image_tag == "2.0.0"


def test_a_tag_that_yaml_reads_as_a_number_is_quoted(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("app:\n  image_tag: 1.0.0\n")
    write_tag(values, "1.10")
    assert load_config(env={}, values_file=values).app.image_tag == "1.10"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "app:\n  image_tag: 3.0.0\n"),
        ("namespace: shop\n", "namespace: shop\napp:\n  image_tag: 3.0.0\n"),
        (
            "app:\n  name: shop\ncanary: {}\n",
            "app:\n  image_tag: 3.0.0\n  name: shop\ncanary: {}\n",
        ),
    ],
)
def test_a_missing_key_or_section_is_added(text: str, expected: str) -> None:
    assert with_tag(text, "3.0.0") == expected


def test_an_image_tag_in_another_section_is_not_touched() -> None:
    text = "canary:\n  image_tag: keep\napp:\n  image_tag: 1.0.0\n"
    assert with_tag(text, "1.1.0") == "canary:\n  image_tag: keep\napp:\n  image_tag: 1.1.0\n"


def test_a_flow_style_app_section_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("app: {image_tag: 1.0.0}\n")
    with pytest.raises(ReleaseError, match=r"could not set app\.image_tag"):
        write_tag(values, "1.1.0")
    assert values.read_text() == "app: {image_tag: 1.0.0}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["values.yaml"]
