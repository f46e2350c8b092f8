"""States saved by earlier versions load and continue exactly (tests/data/state_v1.json was
written by the code before the optimiser was split into history, split rules and start-up)."""

import json
from pathlib import Path

import tpe_plugins as tp
from tpe_plugins.settings import NAMES

SAVED = json.loads((Path(__file__).parent / "data" / "state_v1.json").read_text())


def test_a_saved_single_objective_state_continues_exactly():
    saved = SAVED["single"]
    opt = tp.TPE.from_state_dict(saved["state"])
    states = [t.state for t in opt.trials]
    assert states == saved["state"]["state"]
    assert {"complete", "failed", "pruned", "pending"} <= set(states)
    assert [t.constraints for t in opt.trials] == saved["state"]["constraints"]
    assert [sorted(t.intermediate.items()) for t in opt.trials] == \
        [sorted((s, v) for s, v in pairs) for pairs in saved["state"]["intermediate"]]
    assert opt.settings.gamma == "sqrt" and isinstance(opt.pruner, tp.MedianPruner)
    resaved = tp.TPE.from_state_dict(json.loads(json.dumps(opt.state_dict())))
    nxt = [t.params for t in opt.ask(3)] + [opt.ask().params]
    assert nxt == saved["next"]
    assert [t.params for t in resaved.ask(3)] + [resaved.ask().params] == nxt
    # and it saves again in the same format, trial for trial
    again = tp.TPE.from_state_dict(SAVED["single"]["state"]).state_dict()
    for key in ("format", "space", "mode", "seed", "X", "y", "state", "params",
                "intermediate", "queue", "constraints", "rng", "sobol_seed", "sobol_used"):
        assert again[key] == saved["state"][key], key


def test_a_saved_two_objective_state_continues_exactly():
    saved = SAVED["multi"]
    opt = tp.TPE.from_state_dict(saved["state"])
    assert opt.mode == ["min", "max"]
    assert [t.value for t in opt.trials] == [  # saved in minimisation sign
        None if s != "complete" else [y[0], -y[1]]
        for s, y in zip(saved["state"]["state"], saved["state"]["y"], strict=True)]
    assert [t.params for t in opt.ask(2)] == saved["next"]


def test_a_state_with_settings_that_left_the_public_api_loads_with_todays_behaviour():
    state = SAVED["removed_settings"]["state"]
    assert {"ties", "weights", "jump_fraction", "constraint_rule", "fidelity"} <= \
        set(state["settings"])
    opt = tp.TPE.from_state_dict(state)
    assert len(opt) == 4
    # the settings still public keep their saved values (gamma was "linear" then); the
    # removed ones leave no trace
    kept = {k: v for k, v in state["settings"].items() if k in NAMES}
    assert kept["gamma"] == "linear"
    fresh = tp.TPE({"x": tp.Float(0, 1)}, **kept)
    assert opt.settings == fresh.settings
    opt.ask()
