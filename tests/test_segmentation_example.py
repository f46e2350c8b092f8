"""The U-Net segmentation example end to end, at a tiny size, on the session's Ray."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning.pytorch")
pytest.importorskip("matplotlib")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "segmentation" / "tune_unet.py"


def load_example():
    spec = importlib.util.spec_from_file_location("tune_unet", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["tune_unet"] = module  # Ray ships it to its workers by value
    spec.loader.exec_module(module)
    return module


def test_shapes_are_seeded_and_masks_match_images():
    load_example()
    import shapes_data

    a, masks = shapes_data.make_shapes(6, 16, seed=1)
    b, _ = shapes_data.make_shapes(6, 16, seed=1)
    assert a.shape == (6, 3, 16, 16) and masks.shape == (6, 1, 16, 16)
    assert (a == b).all() and 0 <= a.min() and a.max() <= 1
    assert set(masks.ravel().tolist()) <= {0.0, 1.0} and masks.sum(axis=(1, 2, 3)).min() > 0


def test_example_runs_end_to_end_and_writes_every_output(ray_session, tmp_path):
    example = load_example()
    metrics = example.main(["--trials", "2", "--epochs", "2", "--n-images", "60",
                            "--image-size", "16", "--gpus", "0", "--out", str(tmp_path)])
    for name in ("segmentations.png", "loss_curves.png", "search.png", "metrics.json",
                 "metrics.md", "report.html"):
        assert (tmp_path / name).stat().st_size > 0, name
    page = (tmp_path / "report.html").read_text()
    assert "id='plotly-gz'" in page and "id='report-data'" in page  # interactive, offline
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test"] == metrics["test"]
    assert set(saved["test"]) == {"precision", "recall", "iou", "dice"}
    for name, value in saved["test"].items():
        assert math.isfinite(value) and 0.0 <= value <= 1.0, (name, value)
    assert saved["best_config"]["optimizer"]["name"] in ("sgd", "adamw")
    assert "| dice |" in (tmp_path / "metrics.md").read_text()
