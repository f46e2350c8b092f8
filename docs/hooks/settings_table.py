"""mkdocs hook: replace `<!-- settings-table -->` in a page with the table of TPE settings.

The rows come from the code at build time, so the table cannot drift from it:

- every field of the frozen `Settings` dataclass, with its default;
- the keyword arguments of `TPE.__init__` that are not `Settings` fields (mode, seed and
  pruner excluded: they are not model settings).

A field's description is taken, in order, from `field.metadata["doc"]` (or "help"), from an
attribute docstring (a string literal right after the field in the class body), from a `#:`
comment above the field, or from the short fallback text below for fields the code does not
document yet. A field the code adds later still gets a row (with an empty description).

Run it by hand to print the table: `python docs/hooks/settings_table.py`.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import sys
import textwrap
from pathlib import Path

MARKER = "<!-- settings-table -->"
ROOT = Path(__file__).resolve().parents[2]

# Used only where the code has no description of its own for a setting.
FALLBACK = {
    "n_startup_trials": "start-up trials drawn before the model is used; pending trials count "
                        "toward them",
    "startup": '`"sobol"`: scrambled Sobol points for the start-up (`"random"`: uniform)',
    "constant_liar": "pending trials enter g(x) as narrow kernels, so concurrent asks spread out",
    "gamma": 'size of the good group: `"linear"` = `min(ceil(0.1 n), 25)` of n finished '
             'trials, `"sqrt"` = `min(ceil(0.25 sqrt(n)), 25)`, a fraction, or a function '
             "n -> n_good",
    "n_candidates": "candidates drawn from l(x) and scored by l(x)/g(x) per ask",
    "prior_weight": "weight of the broad prior component in both densities",
    "min_bandwidth": "bandwidth floor, as a fraction of the range (never below half a grid cell)",
    "bandwidth_factor": "multiplies the Scott-rule bandwidth",
    "categorical_mass": "Aitchison-Aitken kernel mass on the observed choice",
    "weights": '`"uniform"`: every observation weighs 1 (`"recent"`: hyperopt\'s age ramp)',
    "explore_fraction": "share of candidates drawn from a 3x widened l(x) and uniformly",
    "liar_width": "width of a pending trial's kernel in g(x), as a fraction of l's bandwidth",
    "constraint_rule": '`"feasible_first"`: infeasible trials join the bad group while enough '
                       'feasible ones exist (`"ctpe"`: one density ratio per constraint)',
    "ties": '`"random"`: trials tied with the last place of the good group are shuffled '
            '(seeded) across the boundary (`"first"`: the oldest stay good)',
    "pending_widening": "with trials running, the bandwidth factor moves toward 1 (Scott's "
                        "rule) in proportion to the running share, times this rate; 0 = off",
    "jump_fraction": "share of candidates run with one numeric coordinate redrawn uniformly "
                     "but scored where they were drawn",
    "multivariate": "`True`: joint product kernels; `False`: one mixture per dimension; "
                    '`"auto"`: joint for a sequential ask, per dimension beside running '
                    "trials or in a batch",
    "local_fraction": "share of single asks that take a local quadratic step from the best "
                      "trial instead of a TPE draw; 0 = off",
}

NOT_SETTINGS = {"self", "space", "mode", "seed", "pruner"}


def _load():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from tpe_plugins.settings import Settings  # where a settings module exists
    except ImportError:
        from tpe_plugins.sampler import Settings
    from tpe_plugins import TPE
    return Settings, TPE


def _source_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings and `#:` comments of a class body, by field name."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    body = ast.parse(source).body[0].body
    docs: dict[str, str] = {}
    for i, node in enumerate(body):
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        name = node.target.id
        nxt = body[i + 1] if i + 1 < len(body) else None
        if (isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            docs[name] = inspect.cleandoc(nxt.value.value)
            continue
        comments = []
        j = node.lineno - 2
        while j >= 0 and lines[j].strip().startswith("#:"):
            comments.insert(0, lines[j].strip()[2:].strip())
            j -= 1
        if comments:
            docs[name] = " ".join(comments)
    return docs


def _default(value: object) -> str:
    if value is dataclasses.MISSING:
        return "(required)"
    if callable(value) and hasattr(value, "__name__"):
        return f"`{value.__name__}`"
    return f"`{value!r}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def settings_rows() -> list[tuple[str, str, str, str]]:
    """(name, default, where, description) for every setting."""
    Settings, TPE = _load()
    fields = dataclasses.fields(Settings)
    names = {f.name for f in fields}
    rows = []
    params = inspect.signature(TPE.__init__).parameters.values()
    for p in params:
        if p.name in NOT_SETTINGS or p.name in names:
            continue
        if p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) or p.default is p.empty:
            continue
        rows.append((p.name, _default(p.default), "`TPE` argument", FALLBACK.get(p.name, "")))
    docs = _source_docs(Settings)
    for f in fields:
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        doc = f.metadata.get("doc") or f.metadata.get("help") or docs.get(f.name) \
            or FALLBACK.get(f.name, "")
        rows.append((f.name, _default(default), "`Settings`", doc))
    return rows


def settings_table() -> str:
    Settings, _ = _load()
    lines = ["| setting | default | where | meaning |", "|---|---|---|---|"]
    for name, default, where, doc in settings_rows():
        lines.append(f"| `{name}` | {default} | {where} | {_cell(doc)} |")
    origin = f"{Settings.__module__}.{Settings.__qualname__}"
    lines.append("")
    lines.append(f"*Generated at build time from `{origin}` and the signature of `TPE`.*")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (mkdocs API)
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, settings_table())
    return markdown


if __name__ == "__main__":
    print(settings_table())
