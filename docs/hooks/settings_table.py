"""mkdocs hook: replace `<!-- settings-table -->` in a page with the table of TPE settings.

The rows come from the code at build time, so the table cannot drift from it: one row per
field of the frozen `tpe_plugins.settings.Settings` dataclass, with its default and its
`field.metadata["doc"]` (what the setting does and which benchmark chose its default). A field
without a doc fails the build, so a new setting cannot arrive undocumented. `mode`, `seed` and
`pruner` are `TPE` arguments of their own, not settings.

Run it by hand to print the table: `python docs/hooks/settings_table.py`.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

MARKER = "<!-- settings-table -->"
ROOT = Path(__file__).resolve().parents[2]


def _settings_class() -> type:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tpe_plugins.settings import Settings

    return Settings


def _default(value: object) -> str:
    if value is dataclasses.MISSING:
        return "(required)"
    if callable(value) and hasattr(value, "__name__"):
        return f"`{value.__name__}`"
    return f"`{value!r}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def settings_rows() -> list[tuple[str, str, str]]:
    """(name, default, description) for every setting, in the dataclass's order."""
    rows = []
    for f in dataclasses.fields(_settings_class()):
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        doc = f.metadata.get("doc", "")
        if not doc:
            raise ValueError(f"setting {f.name!r} has no metadata['doc'] in "
                             "tpe_plugins/settings.py; document it there")
        rows.append((f.name, _default(default), doc))
    return rows


def settings_table() -> str:
    Settings = _settings_class()
    lines = ["| setting | default | meaning, and why this default |", "|---|---|---|"]
    for name, default, doc in settings_rows():
        lines.append(f"| `{name}` | {default} | {_cell(doc)} |")
    origin = f"{Settings.__module__}.{Settings.__qualname__}"
    lines.append("")
    lines.append(f"*Generated at build time from `{origin}`. `mode`, `seed` and `pruner` are "
                 "`TPE` arguments of their own.*")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (mkdocs API)
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, settings_table())
    return markdown


if __name__ == "__main__":
    print(settings_table())
