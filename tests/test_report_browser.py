"""The report in a real browser: system Chromium driven by Playwright. Each page loads with no
console error, draws every figure, and a hover shows a trial's parameters; the parallel
coordinates filter the table, and the table sorts.

Needs `apt-get install chromium` and `pip install playwright` (Playwright's own browser download
is not used). Without them these tests skip and say why. TPE_SCREENSHOT=1 saves the screenshot
the docs show, docs/img/report.png.
"""

import json
import math
import os
import shutil
from pathlib import Path

import pytest

import tpe_plugins as tp

pytest.importorskip("plotly", reason='the report needs plotly: pip install "tpe-plugins[plot]"')
ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    for path in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser",
                 shutil.which("chromium"), shutil.which("chromium-browser")):
        if path and os.path.exists(path):
            return path
    pytest.skip("Chromium is not installed (apt-get install chromium, or set CHROMIUM=path); "
                "the report's browser tests cannot run")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip('Playwright for Python is not installed (pip install playwright, in the '
                    '"dev" extra); the report\'s browser tests cannot run')
    executable = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def core_report(tmp_path_factory):
    """A core optimiser run like the demo's: log-scale, integer, choice and constant
    parameters, learning curves, some pruned trials."""
    from tpe_plugins.report import Run, write_report

    space = {"lr": tp.Float(1e-4, 1e-1, log=True), "base_channels": tp.Int(8, 32, log=True),
             "dropout": tp.Float(0.0, 0.5, step=0.05), "optimizer": tp.Categorical(
                 ["adam", "sgd"]), "epochs": 8, "image_size": 32}
    opt = tp.TPE(space, seed=0)
    for i in range(40):
        t = opt.ask()
        p = t.params
        final = (math.log10(p["lr"]) + 2.5) ** 2 + 0.1 * p["dropout"] + 0.05 * (
            p["optimizer"] == "sgd")
        for step in range(1, 9):
            opt.report(t, step, final + 1 / step)
            if i % 5 == 4 and step == 3:
                break
        if i % 5 == 4:
            opt.prune(t)
        else:
            opt.tell(t, final)
    path = tmp_path_factory.mktemp("core") / "report.html"
    (path.parent / "state.json").write_text(json.dumps(opt.state_dict()))
    write_report(Run.from_optimizer(opt, metric="val_loss", source="segmentation stand-in"),
                 path)
    return path


@pytest.fixture(scope="module")
def tune_report(ray_session, tmp_path_factory):
    """A multi-objective TPESearch run in Tune with a constraint, reported from its folder."""
    from ray import tune

    from tpe_plugins.integrations.ray_tune import TPESearch
    from tpe_plugins.report import load_run, write_report

    def trainable(config):
        for step in range(1, 4):
            tune.report({"err": (config["x"] - 0.3) ** 2 + 0.3 / step,
                         "latency": config["y"] + 0.1 * (config["act"] == "gelu"),
                         "mem_over": config["x"] - 0.85})

    folder = tmp_path_factory.mktemp("tune")
    tune.Tuner(trainable, param_space={"x": tune.uniform(0, 1), "y": tune.loguniform(1e-3, 1),
                                       "act": tune.choice(["relu", "gelu"])},
               tune_config=tune.TuneConfig(
                   search_alg=TPESearch(metric=["err", "latency"], mode=["min", "min"], seed=0,
                                        n_startup_trials=4, constraints=["mem_over"]),
                   num_samples=10, reuse_actors=True),
               run_config=tune.RunConfig(storage_path=str(folder), name="mo", verbose=0)).fit()
    return write_report(load_run(folder / "mo"), folder / "report.html")


def open_page(browser, path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(Path(path).as_uri())
    page.wait_for_function("document.body.dataset.ready", timeout=60000)
    assert page.evaluate("document.body.dataset.ready") == "1", page.inner_text("body")[:500]
    return page, errors


def check_drawn(page, expected):
    drawn = page.evaluate("document.body.dataset.figures").split(",")
    assert drawn == expected
    for fig in expected:  # every figure has its SVG and something in it
        assert page.locator(f"#{fig} .main-svg").count() >= 1, fig
        marks = page.locator(f"#{fig} .point, #{fig} path.js-line, #{fig} .bars path, "
                             f"#{fig} .parcoords .y-axis").count()  # parcoords lines: WebGL
        assert marks > 0, f"{fig} is empty"


def hover_first_point(page, fig):
    point = page.locator(f"#{fig} .scatterlayer .point").first
    box = point.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector(f"#{fig} .hoverlayer .hovertext", timeout=5000)
    return page.locator(f"#{fig} .hoverlayer .hovertext").first.text_content()


def test_the_core_report_draws_every_figure_and_hover_shows_parameters(browser, core_report):
    page, errors = open_page(browser, core_report)
    check_drawn(page, ["fig-history", "fig-importance", "fig-parcoords", "fig-slices",
                       "fig-curves"])
    text = hover_first_point(page, "fig-history")
    assert "trial" in text and "val_loss =" in text
    for name in ("lr =", "base_channels =", "dropout =", "optimizer ="):
        assert name in text, text
    assert "epochs =" not in text  # a constant, not a parameter
    assert page.locator("#status").text_content() == "finished"
    if os.environ.get("TPE_SCREENSHOT") == "1":
        out = ROOT / "docs" / "img" / "report.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=False)
    assert errors == []
    page.close()


def test_parallel_coordinates_filter_the_table_and_the_table_sorts(browser, core_report):
    page, errors = open_page(browser, core_report)
    rows = page.locator("#trials tr[data-id]")
    assert rows.count() == 40
    # brush the lr axis (log10) to the lower half, as a drag on the axis does
    page.evaluate("""() => { const gd = document.getElementById('fig-parcoords');
        Plotly.restyle(gd, {'dimensions[0].constraintrange': [[-4, -2.5]]}); }""")
    page.wait_for_selector("#clear-selection")
    n = rows.count()
    assert 0 < n < 40
    lrs = page.evaluate("""() => [...document.querySelectorAll('#trials tr[data-id]')].map(
        (tr) => parseFloat(tr.children[[...document.querySelectorAll('#trials th')]
        .findIndex((th) => th.textContent.startsWith('lr'))].textContent))""")
    assert all(lr <= 10 ** -2.5 * 1.001 for lr in lrs)
    page.click("#clear-selection")
    assert rows.count() == 40
    page.click("#trials th[data-key='m0']")  # sort by the value
    values = [float(v) for v in page.locator("#trials tr[data-id] td:nth-child(3)")
              .all_text_contents() if v]
    assert values == sorted(values)
    assert errors == []
    page.close()


def test_the_multi_objective_tune_report(browser, tune_report):
    page, errors = open_page(browser, tune_report)
    check_drawn(page, ["fig-pareto", "fig-history", "fig-importance", "fig-parcoords",
                       "fig-slices", "fig-curves"])
    names = page.locator("#fig-pareto .legendtext").all_text_contents()
    assert "Pareto front" in names and "dominated" in names
    text = hover_first_point(page, "fig-pareto")
    for name in ("err =", "latency =", "x =", "y =", "act ="):
        assert name in text, text
    page.select_option("#objective", "1")  # the second objective redraws the figures
    page.wait_for_function("document.body.dataset.ready == '1'")
    assert "latency" in page.locator("#fig-history").locator("..").inner_text() or \
        "latency" in page.inner_text("body")
    assert errors == []
    page.close()
