"""A syrupy extension that stores each snapshot as one readable YAML file, so a
change to a construct shows up in review as a per-object diff.

Multi-line strings (embedded prometheus.yml, rule files, dashboard JSON) are
written as YAML block literals, one line per line.
"""

from __future__ import annotations

from typing import Any

import yaml
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode


class _BlockDumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_BlockDumper.add_representer(str, _str)


def to_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, width=10_000, allow_unicode=True)


class YamlSnapshot(SingleFileSnapshotExtension):
    """One `.yaml` file per snapshot."""

    _write_mode = WriteMode.TEXT
    file_extension = "yaml"

    def serialize(self, data: Any, **_: Any) -> str:
        return data if isinstance(data, str) else to_yaml(data)


class JsonTextSnapshot(SingleFileSnapshotExtension):
    """A JSON document's text as is (the dashboards are already canonical JSON)."""

    _write_mode = WriteMode.TEXT
    file_extension = "json"

    def serialize(self, data: Any, **_: Any) -> str:
        return str(data)
