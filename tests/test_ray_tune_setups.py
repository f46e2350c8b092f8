"""TPESearch in the Ray Tune setups users combine it with: schedulers, stoppers, Repeater,
ConcurrencyLimiter(batch=True), NumPy values, warm starts, and a restore whose searcher file a
kill left empty or cut short. Every run is a real Tune run on the session's Ray."""

import json
import sys
import time
import warnings

import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler, HyperBandForBOHB, HyperBandScheduler  # noqa: E402,E501
from ray.tune.search import ConcurrencyLimiter, Repeater  # noqa: E402
from ray.tune.stopper import TrialPlateauStopper  # noqa: E402

import tpe_plugins as tp  # noqa: E402
from tpe_plugins.budgets import FULL, flatten, rank_final  # noqa: E402
from tpe_plugins.integrations.ray_tune import TPESearch  # noqa: E402
from tpe_plugins.split import n_good  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
pytestmark = pytest.mark.slow


def curve(config):
    """Nine epochs of a decreasing loss whose level is set by x."""
    for step in range(1, 10):
        time.sleep(0.02)
        tune.report({"loss": config["x"] + 1.0 / step})


def model_order(opt: tp.TPE) -> list[int]:
    """Trial ids from best to worst as the model ranks them (finished trials)."""
    done = [t for t in opt.trials if t.state in ("complete", "pruned")]
    y = np.array([t.value for t in done])
    budgets = np.array([max(t.intermediate) if t.intermediate else FULL for t in done])
    order, _, n_judged = rank_final(y, budgets, flatten([t.intermediate for t in done]),
                                    min_top=0)
    return [done[j].id for j in order[:n_judged]]


def assert_good_group_won_where_it_stopped(opt: tp.TPE) -> None:
    """Each trial of the model's good group (gamma of the judged trials) was in the better
    half at the step it stopped."""
    by_id = {t.id: t for t in opt.trials}
    judged = model_order(opt)
    assert judged
    for i in judged[: n_good(len(judged), opt.settings.gamma)]:
        t = by_id[i]
        rung = max(t.intermediate)
        peers = [u.intermediate[rung] for u in opt.trials if max(u.intermediate) >= rung]
        assert t.intermediate[rung] <= np.quantile(peers, 0.5)


def run(trainable, searcher, tmp_path, **kwargs):
    kwargs.setdefault("metric", "loss")
    kwargs.setdefault("mode", "min")
    return tune.run(trainable, search_alg=searcher, reuse_actors=True,
                    storage_path=str(tmp_path), verbose=0, **kwargs)


def test_asha_with_eight_concurrent_trials_learns_from_where_each_stopped(ray_session,
                                                                          tmp_path):
    searcher = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0,
                         n_startup_trials=4)
    analysis = run(curve, searcher, tmp_path, num_samples=24, max_concurrent_trials=8,
                   resources_per_trial={"cpu": 0.25},
                   scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3))
    steps = {t.last_result["loss"]: t.last_result["training_iteration"]
             for t in analysis.trials}
    opt = searcher.optimizer
    assert [t.state for t in opt.trials] == ["complete"] * 24  # nothing left pending
    for t in opt.trials:  # each trial's curve runs to the step where it stopped
        assert max(t.intermediate) == steps[t.value]
        assert t.value == t.intermediate[max(t.intermediate)]
    assert any(s < 9 for s in steps.values()) and any(s == 9 for s in steps.values())
    full = [t for t in opt.trials if max(t.intermediate) == 9]
    assert opt.best.value == min(t.value for t in full)  # never an early-stopped trial
    # the model's good group holds no trial that lost at a rung
    assert_good_group_won_where_it_stopped(opt)


def epochs(config):
    """Three epochs per result: the budget counter is `epoch`, not training_iteration."""
    for it in range(1, 10):
        time.sleep(0.02)
        tune.report({"loss": config["x"] + 1.0 / it, "epoch": 3 * it})


def test_hyperband_on_an_epoch_counter_feeds_the_model_at_those_epochs(ray_session, tmp_path):
    searcher = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0,
                         n_startup_trials=4, time_attr="epoch")
    analysis = run(epochs, searcher, tmp_path, num_samples=12,
                   resources_per_trial={"cpu": 0.25},
                   scheduler=HyperBandScheduler(time_attr="epoch", max_t=27,
                                                reduction_factor=9))  # a 9-trial bracket
    reached = {t.last_result["loss"]: t.last_result["epoch"] for t in analysis.trials}
    assert min(reached.values()) < 27 and max(reached.values()) == 27  # HyperBand cut some
    opt = searcher.optimizer
    # a trial HyperBand ends while it is paused comes back without a result: complete at its
    # last reported value, judged at the epoch it reached
    assert [t.state for t in opt.trials] == ["complete"] * 12
    for t in opt.trials:  # the curve's steps are the epochs, up to where the trial stopped
        assert set(t.intermediate) == set(range(3, reached[t.value] + 1, 3))
    full = [t for t in opt.trials if max(t.intermediate) == 27]
    assert opt.best.value == min(t.value for t in full)
    assert_good_group_won_where_it_stopped(opt)  # none that lost where it was cut


def test_time_attr_must_name_a_field():
    with pytest.raises(TypeError, match="time_attr must be the name of a result field"):
        TPESearch({"x": tune.uniform(0, 1)}, time_attr=None)


def plateau(config):
    """Trials with x < 0.5 level off after 3 epochs at a low loss; the others keep improving."""
    for step in range(1, 13):
        flat = config["x"] < 0.5
        loss = 0.2 + config["x"] if flat and step >= 3 else 1.5 + config["x"] + 1.0 / step
        tune.report({"loss": loss})


def test_a_trial_ended_by_a_stopper_keeps_its_good_value(ray_session, tmp_path):
    points = [{"x": 0.0}, {"x": 0.9}, {"x": 0.3}, {"x": 0.7}]
    searcher = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0,
                         points_to_evaluate=points)
    stopper = TrialPlateauStopper(metric="loss", std=1e-6, num_results=3, grace_period=3)
    analysis = run(plateau, searcher, tmp_path, num_samples=4, max_concurrent_trials=2,
                   stop=stopper)
    lengths = sorted(t.last_result["training_iteration"] for t in analysis.trials)
    assert lengths[0] < 12 and lengths[-1] == 12  # the stopper ended the flat ones early
    opt = searcher.optimizer
    assert all(t.state == "complete" for t in opt.trials)
    assert opt.best.value == pytest.approx(0.2) and opt.best.params == {"x": 0.0}
    assert model_order(opt)[0] == opt.best.id  # and the model counts it as the best


def timed(config):
    for _ in range(30):
        time.sleep(0.05)
        tune.report({"loss": config["x"]})


def test_asha_on_time_total_s_records_full_budget_trials_as_complete(ray_session, tmp_path):
    searcher = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0)
    analysis = run(timed, searcher, tmp_path, num_samples=6, max_concurrent_trials=2,
                   scheduler=ASHAScheduler(time_attr="time_total_s", max_t=0.6,
                                           grace_period=0.2, reduction_factor=2))
    opt = searcher.optimizer
    assert [t.state for t in opt.trials] == ["complete"] * 6
    best_tune = min(t.last_result["loss"] for t in analysis.trials)
    assert opt.best.value == pytest.approx(best_tune)


def test_hyperband_for_bohb_pauses_and_resumes_trials(ray_session, tmp_path):
    searcher = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0,
                         n_startup_trials=3)
    analysis = run(curve, searcher, tmp_path, num_samples=9,
                   resources_per_trial={"cpu": 0.5},
                   scheduler=HyperBandForBOHB(max_t=9, reduction_factor=3))
    assert all(t.status == "TERMINATED" for t in analysis.trials)
    opt = searcher.optimizer
    assert len(opt.trials) == 9 and not searcher._paused  # every pause was undone or ended
    assert all(t.state in ("complete", "pruned") for t in opt.trials)
    final = {t.trial_id: t.last_result["loss"] for t in analysis.trials}
    assert sorted(t.value for t in opt.trials) == pytest.approx(sorted(final.values()))


class CountingTPESearch(TPESearch):
    """Records, at each new suggestion, how many trials were alive and how many running."""

    def suggest(self, trial_id):
        alive, running = len(self._live), len(self._live) - len(self._paused)
        config = super().suggest(trial_id)
        if config is not None:
            self.at_suggest.append((alive, running))
        return config


def test_paused_trials_do_not_block_new_ones_under_max_concurrent_trials(ray_session,
                                                                          tmp_path):
    """HyperBandForBOHB pauses trials at its rungs until the bracket catches up; a paused
    trial holds no worker, so with max_concurrent_trials=2 new trials start beside paused
    ones (as TuneBOHB does), and never beside two running ones."""
    searcher = CountingTPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0,
                                 n_startup_trials=3)
    searcher.at_suggest = []
    analysis = run(curve, searcher, tmp_path, num_samples=12, max_concurrent_trials=2,
                   resources_per_trial={"cpu": 0.5},
                   scheduler=HyperBandForBOHB(max_t=9, reduction_factor=3))
    assert len(analysis.trials) == 12
    assert all(t.status == "TERMINATED" for t in analysis.trials)
    assert all(running < 2 for _, running in searcher.at_suggest)
    assert max(alive for alive, _ in searcher.at_suggest) >= 2  # started beside paused ones
    assert all(t.state == "complete" for t in searcher.optimizer.trials)


def test_concurrency_limiter_batch_is_honoured(ray_session, tmp_path):
    """Ray tells a searcher the limit but not `batch`: limit_running=False leaves the limit,
    and so the batches, to the limiter; by default the searcher keeps the limit itself."""
    s = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0,
                  limit_running=False)
    limited = ConcurrencyLimiter(s, max_concurrent=2, batch=True)
    assert limited.suggest("a") and limited.suggest("b") and limited.suggest("c") is None
    limited.on_trial_complete("a", {"loss": 1.0, "training_iteration": 1})
    assert [t.state for t in s.optimizer.trials] == ["pending", "pending"]  # waits for b
    limited.on_trial_complete("b", {"loss": 2.0, "training_iteration": 1})
    assert [t.state for t in s.optimizer.trials] == ["complete", "complete"]

    keeps = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=0)
    assert keeps.set_max_concurrency(2) and not s.set_max_concurrency(2)
    with pytest.raises(TypeError, match="limit_running"):
        TPESearch(limit_running="yes")

    searcher = TPESearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", seed=1,
                         limit_running=False)
    analysis = run(lambda c: {"loss": c["x"]}, ConcurrencyLimiter(searcher, 2, batch=True),
                   tmp_path, num_samples=6)
    assert len(analysis.trials) == 6
    assert [t.state for t in searcher.optimizer.trials] == ["complete"] * 6


def test_numpy_values_go_in_everywhere_and_checkpoints_stay_json(ray_session, tmp_path):
    space = {"n": tune.randint(0, 4), "f": tune.uniform(0, 1), "flag": tune.choice([True, False]),
             "act": tune.choice(["relu", "gelu"])}
    points = [{"n": np.int64(2), "f": np.float32(0.25), "flag": np.bool_(True),
               "act": np.str_("gelu")},
              {"n": np.array(1), "f": np.float64(0.5), "flag": False, "act": "relu"}]
    searcher = TPESearch(space, metric="loss", mode="min", seed=np.int64(0),
                         points_to_evaluate=points,
                         evaluated_rewards=[np.float32(0.5), np.float64(0.25)])
    searcher.add_evaluated_point({"n": np.int32(3), "f": np.float16(0.75), "flag": np.bool_(False),
                                  "act": "relu"}, np.float32(0.125),
                                 intermediate_values=(np.float32(0.3), np.float64(0.2)))
    analysis = run(lambda c: {"loss": np.float32(c["f"] + c["n"]), "it": np.int64(1)},
                   searcher, tmp_path, num_samples=4, max_concurrent_trials=2,
                   stop={"it": np.int64(5)})
    assert len(analysis.trials) == 4
    opt = searcher.optimizer
    assert [t.state for t in opt.trials] == ["complete"] * 7
    assert opt.trials[0].params == {"n": 2, "f": 0.25, "flag": True, "act": "gelu"}
    path = tmp_path / "state.json"
    searcher.save(str(path))
    json.loads(path.read_text())  # plain JSON
    assert type(json.loads(path.read_text())["optimizer"]["params"][0]["n"]) is int


def test_warm_start_from_a_result_grid_a_folder_or_a_dataframe(ray_session, tmp_path):
    space = {"x": tune.uniform(0, 1)}
    tuner = tune.Tuner(lambda c: {"loss": (c["x"] - 0.3) ** 2}, param_space=space,
                       tune_config=tune.TuneConfig(metric="loss", mode="min", num_samples=5),
                       run_config=tune.RunConfig(name="first", storage_path=str(tmp_path),
                                                 verbose=0))
    grid = tuner.fit()  # random search: any searcher's experiment will do
    expected = sorted(r.metrics["loss"] for r in grid)
    for source in (grid, str(tmp_path / "first"), grid.get_dataframe()):
        warm = TPESearch(space, metric="loss", mode="min", seed=0)
        warm.add_evaluated_trials(source)
        assert sorted(t.value for t in warm.optimizer.trials) == pytest.approx(expected)
        warm.add_evaluated_trials(source)  # the same trials again are not added twice
        assert len(warm.optimizer.trials) == 5
    with pytest.raises(TypeError, match="ResultGrid"):
        TPESearch(space, metric="loss", mode="min").add_evaluated_trials(42)


def repeated(config):
    return {"loss": config["x"] + 0.01 * np.random.default_rng().random()}


def test_repeater_then_restore_counts_each_configuration_once(ray_session, tmp_path):
    def tuner_for(searcher):
        return tune.Tuner(repeated, param_space={"x": tune.uniform(0, 1)},
                          tune_config=tune.TuneConfig(search_alg=searcher, metric="loss",
                                                      mode="min", num_samples=8),
                          run_config=tune.RunConfig(name="rep", storage_path=str(tmp_path),
                                                    verbose=0))
    inner = TPESearch(seed=0)
    tuner_for(Repeater(inner, repeat=2)).fit()
    assert len(inner.optimizer.trials) == 4  # Repeater shows 4 suggestions of 8 trials
    restored = tune.Tuner.restore(str(tmp_path / "rep"), trainable=repeated)
    restored.fit()
    probe = TPESearch(seed=0)  # the catch-up itself, as a restore from the folder runs it
    probe.set_search_properties("loss", "min", {"x": tune.uniform(0, 1)})
    probe.restore_from_dir(str(tmp_path / "rep"))
    assert len(probe.optimizer.trials) == 4
    assert sorted(t.state for t in probe.optimizer.trials) == ["complete"] * 4


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_restore_rebuilds_from_tune_when_the_searcher_file_is_unreadable(ray_session, tmp_path,
                                                                          damage):
    def loss(config):
        return {"loss": (config["x"] - 0.3) ** 2 + config["n"]}

    space = {"x": tune.uniform(0, 1), "n": tune.randint(0, 3)}
    tuner = tune.Tuner(loss, param_space=space,
                       tune_config=tune.TuneConfig(search_alg=TPESearch(seed=0), metric="loss",
                                                   mode="min", num_samples=6),
                       run_config=tune.RunConfig(name="exp", storage_path=str(tmp_path),
                                                 verbose=0))
    before = {r.metrics["trial_id"]: r.metrics["loss"] for r in tuner.fit()}
    for path in (tmp_path / "exp").glob("searcher-state-*.pkl"):
        text = path.read_text()
        path.write_text("" if damage == "empty" else text[: len(text) // 2])
    restored = tune.Tuner.restore(str(tmp_path / "exp"), trainable=loss,
                                  param_space=space)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored.fit()
    assert any("rebuilding the searcher" in str(w.message) for w in caught)
    final = sorted((tmp_path / "exp").glob("searcher-state-*.pkl"))[-1]
    state = json.loads(final.read_text())
    values = {tid: state["optimizer"]["y"][i] for tid, i in state["ids"].items()}
    assert values == pytest.approx(before)  # every observation is back, none twice
    assert state["optimizer"]["state"] == ["complete"] * 6


def two_costs(config):
    """Error falls and size grows with width: a trade-off, no single best."""
    w = config["width"]
    tune.report({"error": 1.0 / w + 0.1 * config["noise"], "size": w, "epoch": 1})


def test_two_metrics_give_a_pareto_front_and_are_checkpointed(ray_session, tmp_path):
    searcher = TPESearch({"width": tune.uniform(1, 100), "noise": tune.uniform(0, 1)},
                         metric=["error", "size"], mode=["min", "min"], seed=0,
                         n_startup_trials=6)
    analysis = run(two_costs, searcher, tmp_path, num_samples=16, max_concurrent_trials=4,
                   metric="error", mode="min",  # the run's single metric, for Tune itself
                   resources_per_trial={"cpu": 0.5})
    opt = searcher.optimizer
    results = {(round(t.last_result["error"], 9), round(t.last_result["size"], 9))
               for t in analysis.trials}
    assert len(opt.trials) == 16 and all(t.state == "complete" for t in opt.trials)
    assert {(round(a, 9), round(b, 9)) for a, b in (t.value for t in opt.trials)} == results
    front = opt.pareto
    assert len(front) >= 2
    for t in opt.trials:  # no trial on the front is dominated by another trial
        if t in front:
            assert not any(u.value[0] <= t.value[0] and u.value[1] <= t.value[1]
                           and u.value != t.value for u in opt.trials)
    path = str(tmp_path / "searcher.json")
    searcher.save(path)
    restored = TPESearch(metric=["error", "size"], mode=["min", "min"])
    restored.restore(path)
    assert [t.value for t in restored.optimizer.trials] == [t.value for t in opt.trials]


def test_two_metrics_through_a_tuner_take_the_space_from_param_space(ray_session, tmp_path):
    """The Tuner way: TPESearch(metric=[...], mode=[...]) in TuneConfig, the space in
    param_space. Tune takes one metric and mode (TuneConfig(metric=[...]) is refused by Tune
    itself), so the list goes to the searcher and TuneConfig's metric, if any, to schedulers."""
    searcher = TPESearch(metric=["error", "size"], mode=["min", "min"], seed=0,
                         n_startup_trials=4)
    tuner = tune.Tuner(two_costs,
                       param_space={"width": tune.uniform(1, 100), "noise": tune.uniform(0, 1)},
                       tune_config=tune.TuneConfig(search_alg=searcher, num_samples=10,
                                                   max_concurrent_trials=2),
                       run_config=tune.RunConfig(name="mo", storage_path=str(tmp_path),
                                                 verbose=0))
    grid = tuner.fit()
    assert not grid.errors and len(grid) == 10
    opt = searcher.optimizer
    assert opt.mode == ["min", "min"] and all(t.state == "complete" for t in opt.trials)
    reported = sorted((r.metrics["error"], r.metrics["size"]) for r in grid)
    assert np.allclose(sorted(tuple(t.value) for t in opt.trials), reported)
    smallest = grid.get_best_result(metric="size", mode="min").metrics["size"]
    assert min(t.value[1] for t in opt.pareto) == pytest.approx(smallest)


def test_two_metrics_need_two_modes():
    with pytest.raises(ValueError, match="needs one mode per metric"):
        TPESearch({"x": tune.uniform(0, 1)}, metric=["a", "b"], mode="min")
    with pytest.raises(TypeError, match="metric must be a name or a list of names"):
        TPESearch({"x": tune.uniform(0, 1)}, metric=3)


def memory(config):
    """A bigger model is better but must fit: memory_gb_over = size - 8 must be <= 0."""
    tune.report({"loss": 1.0 / config["size"], "memory_gb_over": config["size"] - 8.0})


def test_constraints_from_reported_metrics_keep_the_best_feasible(ray_session, tmp_path):
    searcher = TPESearch({"size": tune.uniform(1, 16)}, metric="loss", mode="min", seed=0,
                         n_startup_trials=5, constraints=["memory_gb_over"])
    run(memory, searcher, tmp_path, num_samples=20, max_concurrent_trials=4,
        resources_per_trial={"cpu": 0.5})
    opt = searcher.optimizer
    assert any(not t.feasible for t in opt.trials)  # some trials did not fit
    best = opt.best
    assert best.feasible and best.params["size"] <= 8.0
    assert best.value == min(t.value for t in opt.trials if t.feasible)
    assert best.params["size"] > 6.0  # and it found a model close to the limit
    with pytest.raises(TypeError, match="constraints must be a list of result field names"):
        TPESearch(constraints="memory_gb_over")
