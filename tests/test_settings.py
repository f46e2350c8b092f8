"""TPE settings: every one is validated, with or without a space."""


import pytest

import tpe_plugins as tp


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
    ({"ties": "oldest"}, ValueError, "ties: use 'random' or 'first'"),
    ({"jump_fraction": 1.5}, ValueError, r"jump_fraction must lie in \[0, 1\]"),
    ({"local_fraction": -0.1}, ValueError, r"local_fraction must lie in \[0, 1\]"),
    ({"multivariate": "no"}, ValueError, "multivariate: use True, False or 'auto'"),
])
def test_every_setting_is_validated(settings, error, words):
    with pytest.raises(error, match=words):
        tp.TPE({"x": tp.Float(0, 1)}, **settings)
    with pytest.raises(error, match=words):  # the same check, without a space
        tp.TPE.check_settings(**settings)
