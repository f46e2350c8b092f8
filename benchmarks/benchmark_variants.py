"""Benchmark-only variants of TPE: the losing alternatives, kept so ablations can rerun them.

They are not settings (a user should not choose them); a benchmark switches one on through
the optimiser's private hook (`opt._variants`, see `tpe_plugins.settings._Variants`) with
`set_variant(opt, name, value)` right after building it, or builds the optimiser with
`make_tpe(space, **settings_and_variants)`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import tpe_plugins as tp


def set_variant(opt: tp.TPE, name: str, value: Any) -> None:
    """Switch `opt` to a benchmark-only variant: weights="recent", ties="first",
    jump_fraction=<share> or constraint_rule="ctpe"."""
    opt._variants = dataclasses.replace(opt._variants, **{name: value})


VARIANTS = ("weights", "ties", "jump_fraction", "constraint_rule", "branch_power")


def make_tpe(space: Any, **kw: Any) -> tp.TPE:
    """`tp.TPE(space, **kw)`, where kw may also name the variants above."""
    variants = {k: kw.pop(k) for k in VARIANTS if k in kw}
    opt = tp.TPE(space, **kw)
    for name, value in variants.items():
        set_variant(opt, name, value)
    return opt
