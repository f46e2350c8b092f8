"""TPE settings: every one is validated, with or without a space."""


import dataclasses

import pytest

import tpe_plugins as tp
from tpe_plugins.settings import Settings, _Variants


@pytest.mark.parametrize("settings,error,words", [
    ({"bandwidth": "neighbor"}, TypeError, "unknown TPE setting"),
    ({"bandwidth_factor": -1}, ValueError, r"bandwidth_factor must lie in \(0, inf"),
    ({"gamma": 1}, TypeError, "gamma=0.1"),
    ({"gamma": 1.5}, ValueError, "gamma: a fraction"),
    ({"n_candidates": 2.5}, TypeError, "n_candidates must be a finite int"),
    ({"prior_weight": float("nan")}, TypeError, "prior_weight"),
    ({"categorical_mass": 1.0}, ValueError, "categorical_mass"),
    ({"explore_fraction": "a"}, TypeError, "explore_fraction"),
    ({"n_startup_trials": 2.5}, TypeError, "n_startup_trials must be an int"),
    ({"constant_liar": "yes"}, TypeError, "constant_liar"),
    ({"pruner": "median"}, TypeError, "pruner must be"),
    ({"local_fraction": -0.1}, ValueError, r"local_fraction must lie in \[0, 1\]"),
    ({"multivariate": "no"}, ValueError, "multivariate: use True, False or 'auto'"),
])
def test_every_setting_is_validated(settings, error, words):
    with pytest.raises(error, match=words):
        tp.TPE({"x": tp.Float(0, 1)}, **settings)
    with pytest.raises(error, match=words):  # the same check, without a space
        tp.TPE.check_settings(**settings)


@pytest.mark.parametrize("variant,error,words", [
    ({"ties": "oldest"}, ValueError, "ties: use 'random' or 'first'"),
    ({"jump_fraction": 1.5}, ValueError, r"jump_fraction must lie in \[0, 1\]"),
    ({"weights": "old"}, ValueError, "weights: use 'uniform' or 'recent'"),
    ({"constraint_rule": "penalty"}, ValueError, "constraint_rule: use 'feasible_first' or 'ctpe'"),
    ({"branch_power": 0.0}, ValueError, "branch_power: use a positive number"),
])
def test_benchmark_only_variants_are_not_settings_and_are_validated(variant, error, words):
    """The losing variants left the public settings; the private hook the benchmarks use
    still refuses bad values, naming the variant."""
    with pytest.raises(TypeError, match="unknown TPE setting"):
        tp.TPE({"x": tp.Float(0, 1)}, **variant)
    with pytest.raises(TypeError, match="unknown TPE setting"):
        tp.TPE.check_settings(**variant)
    with pytest.raises(error, match=words):
        _Variants(**variant)


def test_every_setting_is_documented_with_its_reason():
    """Each field says what it does and names the benchmark (or the source) of its default."""
    for f in dataclasses.fields(Settings):
        doc = f.metadata.get("doc", "")
        assert len(doc) > 40, f.name
        assert "benchmarks/" in doc or "default" in doc, f.name
