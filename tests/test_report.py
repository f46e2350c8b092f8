"""`python -m tpe_plugins.report`: one HTML page from a saved state or a real Tune folder."""

import base64
import json
import math
import subprocess
import sys
from html.parser import HTMLParser

import pytest

import tpe_plugins as tp
from tpe_plugins.report import load_run

pytest.importorskip("matplotlib")

PLOTS = ["Optimisation history", "Parameter importance", "Parallel coordinates", "Slices",
         "Learning curves"]


class Page(HTMLParser):
    """The images (title -> PNG bytes) and the best-trials table rows of a report."""

    def __init__(self, text: str):
        super().__init__()
        self.images: dict[str, bytes] = {}
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_best = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            head, _, data = a["src"].partition("base64,")
            assert head == "data:image/png;"  # embedded: the page is one file
            self.images[a["alt"]] = base64.b64decode(data)
        elif tag == "table" and a.get("id") == "best":
            self._in_best = True
        elif tag == "tr" and self._in_best:
            self.rows.append([])
        elif tag == "td" and self._in_best:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_best = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def report(args, tmp_path) -> tuple[subprocess.CompletedProcess, Page | None]:
    out = tmp_path / "report.html"
    proc = subprocess.run([sys.executable, "-m", "tpe_plugins.report", *args, "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    return proc, Page(out.read_text()) if proc.returncode == 0 else None


def check_plots(page: Page) -> None:
    assert list(page.images) == PLOTS
    for title, png in page.images.items():
        assert png[:8] == b"\x89PNG\r\n\x1a\n", title
        assert len(png) > 8000, f"{title} looks empty ({len(png)} bytes)"


def test_a_saved_state_becomes_one_page_with_every_plot(tmp_path):
    space = {"lr": tp.Float(1e-5, 1e-1, log=True), "layers": tp.Int(1, 4),
             "unused": tp.Float(0, 1), "act": tp.Categorical(["relu", "tanh"])}
    opt = tp.TPE(space, seed=0)
    for _ in range(60):
        t = opt.ask()
        p = t.params
        final = (math.log10(p["lr"]) + 3) ** 2 + 0.3 * (p["act"] == "tanh")
        for step in range(1, 5):
            opt.report(t, step, final + 1 / step)
        opt.tell(t, final)
    (tmp_path / "state.json").write_text(json.dumps(opt.state_dict()))

    proc, page = report([str(tmp_path / "state.json")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    check_plots(page)
    best = sorted(t.value for t in opt.trials)[:10]
    assert [float(r[1]) for r in page.rows[1:]] == pytest.approx(best, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_importance_names_the_parameter_that_moves_the_value(tmp_path, seed):
    """Over trials spread through the space (random search), the learning rate, which moves
    the value by up to 9, outranks the choice that moves it by 0.3, and an unused parameter
    gets next to nothing. (On a converged TPE search most trials share a good learning rate and
    the importance shows what separates them there; README, "Reports".)"""
    from tpe_plugins.plot import importance

    space = {"lr": tp.Float(1e-5, 1e-1, log=True), "layers": tp.Int(1, 4),
             "unused": tp.Float(0, 1), "act": tp.Categorical(["relu", "tanh"])}
    opt = tp.TPE(space, seed=seed, n_startup_trials=60, startup="random")
    for _ in range(60):
        t = opt.ask()
        p = t.params
        opt.tell(t, (math.log10(p["lr"]) + 3) ** 2 + 0.3 * (p["act"] == "tanh"))
    (tmp_path / "state.json").write_text(json.dumps(opt.state_dict()))
    share = importance(load_run(tmp_path / "state.json"))
    assert max(share, key=share.get) == "lr" and share["unused"] < 0.1


def test_several_objectives_show_the_pareto_front(tmp_path):
    opt = tp.TPE({"x": tp.Float(0, 1), "y": tp.Float(0, 1)}, mode=["min", "max"], seed=0)
    for _ in range(40):
        t = opt.ask()
        opt.tell(t, [t.params["x"] + 0.1 * t.params["y"], t.params["x"] ** 2])
    (tmp_path / "state.json").write_text(json.dumps(opt.state_dict()))
    proc, page = report([str(tmp_path / "state.json")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert list(page.images) == ["Pareto front"] + PLOTS[:4]  # no curves were reported
    for title, png in page.images.items():
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 8000, title
    front = {t.id for t in opt.pareto}
    assert {int(r[0]) for r in page.rows[1:]} == front  # the table is the front


def test_a_tune_experiment_folder_becomes_a_report(ray_session, tmp_path):
    from ray import tune

    from tpe_plugins.integrations.ray_tune import TPESearch

    def trainable(config):
        for step in range(1, 4):
            tune.report({"loss": (config["x"] - 0.3) ** 2 + config["y"] / step})

    tune.run(trainable, config={"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)},
             search_alg=TPESearch(seed=0, n_startup_trials=4), metric="loss", mode="min",
             num_samples=12, storage_path=str(tmp_path), name="exp", verbose=0)
    folder = tmp_path / "exp"

    proc, page = report([str(folder), "--metric", "loss"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    check_plots(page)
    run = load_run(folder, metric="loss")
    assert len(run.trials) == 12 and all(len(t["curve"]) == 3 for t in run.trials)
    assert float(page.rows[1][1]) == pytest.approx(min(t["value"] for t in run.trials),
                                                   rel=1e-5)

    proc, _ = report([str(folder)], tmp_path)  # a Tune folder needs the metric's name
    assert proc.returncode == 2 and "needs --metric" in proc.stderr
    proc, _ = report([str(folder), "--metric", "acc"], tmp_path)
    assert proc.returncode == 2 and "no trial reported the metric 'acc'" in proc.stderr


def test_bad_sources_get_clear_errors(tmp_path):
    proc, _ = report([str(tmp_path / "missing.json")], tmp_path)
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr
    (tmp_path / "bad.json").write_text("{not json")
    proc, _ = report([str(tmp_path / "bad.json")], tmp_path)
    assert proc.returncode == 2 and "not JSON" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc, _ = report([str(tmp_path / "empty")], tmp_path)
    assert proc.returncode == 2 and "no trial folders" in proc.stderr
