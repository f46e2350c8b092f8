"""Search spaces: encoding round trips, grids, conditional branches and clear errors."""

import json

import numpy as np
import pytest

import tpe_plugins as tp
from tpe_plugins.space import Space

SPACE = {
    "lr": tp.Float(1e-5, 1e-1, log=True),
    "dropout": tp.Float(0.0, 0.5, step=0.05),
    "layers": tp.Int(1, 4),
    "width": tp.Int(16, 1024, log=True),
    "optimizer": tp.Categorical(["adam", "sgd", "rmsprop"]),
    "model": tp.Categorical([
        {"type": "cnn", "kernel": tp.Int(3, 7, step=2)},
        {"type": "mlp", "hidden": tp.Int(32, 512, log=True)},
    ]),
    "deep": {"nested": {"x": tp.Float(-1.0, 1.0)}, "list": [tp.Int(0, 3), "const"]},
    "epochs": 10,
}


def random_params(space: Space, n: int, seed: int = 0) -> list:
    rows = space.snap(np.random.default_rng(seed).random((n, len(space))))
    return [space.decode(r) for r in rows]


def test_decoded_values_are_valid_and_shaped_like_the_space():
    space = Space(SPACE)
    for p in random_params(space, 500):
        assert 1e-5 <= p["lr"] <= 1e-1
        assert p["dropout"] in [round(0.05 * k, 2) for k in range(11)]
        assert isinstance(p["layers"], int) and 1 <= p["layers"] <= 4
        assert isinstance(p["width"], int) and 16 <= p["width"] <= 1024
        assert p["optimizer"] in ("adam", "sgd", "rmsprop")
        assert p["epochs"] == 10
        assert -1 <= p["deep"]["nested"]["x"] <= 1
        assert p["deep"]["list"][1] == "const" and p["deep"]["list"][0] in range(4)
        model = p["model"]
        if model["type"] == "cnn":
            assert set(model) == {"type", "kernel"} and model["kernel"] in (3, 5, 7)
        else:
            assert set(model) == {"type", "hidden"} and 32 <= model["hidden"] <= 512


def test_encode_decode_round_trip():
    space = Space(SPACE)
    for p in random_params(space, 200, seed=1):
        row = space.encode(p)
        again = space.decode(row)
        assert _close(again, p)
        np.testing.assert_array_equal(np.isnan(row), np.isnan(space.encode(again)))


def _close(a, b) -> bool:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        return all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-9)
        return True
    assert a == b and type(a) is type(b)
    return True


def test_inactive_branch_dimensions_are_nan():
    space = Space(SPACE)
    kernel = next(i for i, d in enumerate(space.dims) if d.name == "model.kernel")
    hidden = next(i for i, d in enumerate(space.dims) if d.name == "model.hidden")
    for p in random_params(space, 100, seed=2):
        row = space.encode(p)
        assert np.isnan(row[hidden]) == (p["model"]["type"] == "cnn")
        assert np.isnan(row[kernel]) == (p["model"]["type"] == "mlp")


def test_grid_values_are_exact_and_uniformly_used():
    space = Space({"q": tp.Float(0.0, 1.0, step=0.1), "i": tp.Int(-3, 3)})
    ps = random_params(space, 7000, seed=3)
    qs = {p["q"] for p in ps}
    assert qs == {round(0.1 * k, 1) for k in range(11)}
    counts = np.bincount([p["i"] + 3 for p in ps], minlength=7)
    assert counts.min() > 800  # each of 7 values drawn about 1000 times


def test_log_int_covers_both_ends():
    space = Space({"w": tp.Int(1, 1000, log=True)})
    ws = [p["w"] for p in random_params(space, 3000, seed=4)]
    assert min(ws) == 1 and max(ws) > 900
    assert np.median(ws) < 60  # log-uniform: the median is near sqrt(1000)


@pytest.mark.parametrize("spec, match", [
    ({"a": {"b": tp.Float(1.0, 1.0)}}, r"a\.b: empty range"),
    ({"a": tp.Float(2.0, 1.0)}, r"a: empty range"),
    ({"lr": tp.Float(0.0, 1.0, log=True)}, r"lr: log scale needs low > 0"),
    ({"n": tp.Int(0, 10, log=True)}, r"n: log scale needs low > 0"),
    ({"q": tp.Float(0.0, 1.0, step=0.3)}, r"q: step 0.3 does not divide"),
    ({"q": tp.Float(0.0, 1.0, step=-0.1)}, r"q: step must be a positive"),
    ({"model": tp.Categorical([{"k": tp.Int(5, 3)}])}, r"model\.k: empty range"),
    ({"c": tp.Categorical([])}, r"c: Categorical needs at least one choice"),
    ({"x": 3}, r"holds no parameter"),
])
def test_bad_spaces_name_the_parameter(spec, match):
    with pytest.raises(ValueError, match=match):
        tp.TPE(spec)


def test_type_errors_name_the_parameter():
    with pytest.raises(TypeError, match=r"a\.b: Int low must be an integer"):
        tp.TPE({"a": {"b": tp.Int(0.5, 3)}})
    with pytest.raises(TypeError, match=r"x: low must be a number"):
        tp.TPE({"x": tp.Float("0", 1)})


def test_encode_rejects_bad_params_by_path():
    space = Space(SPACE)
    p = random_params(space, 1)[0]
    bad = dict(p, lr=10.0)
    with pytest.raises(ValueError, match=r"lr: 10.0 lies outside"):
        space.encode(bad)
    bad = dict(p, optimizer="adagrad")
    with pytest.raises(ValueError, match=r"optimizer: 'adagrad' is not one of the choices"):
        space.encode(bad)
    bad = {k: v for k, v in p.items() if k != "layers"}
    with pytest.raises(ValueError, match=r"layers: missing"):
        space.encode(bad)


def test_space_api_validates_encodes_and_compares():
    spec = {"lr": tp.Float(1e-4, 1e-1, log=True),
            "model": tp.Categorical([{"type": "cnn", "k": tp.Int(3, 7, step=2)}, {"type": "mlp"}]),
            "epochs": 10}
    space = tp.Space(spec)
    point = {"lr": 0.01, "model": {"type": "cnn", "k": 5}, "epochs": 10}
    space.validate(point)
    back = space.decode(space.encode(point))
    assert back["model"] == point["model"] and back["lr"] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="model.k"):
        space.validate({"lr": 0.01, "model": {"type": "cnn", "k": 11}, "epochs": 10})
    assert tp.Space.from_dict(json.loads(json.dumps(space.to_dict()))) == space
    assert tp.Space({**spec, "epochs": 20}) == space  # constants do not change the encoding
    assert tp.Space({**spec, "lr": tp.Float(1e-4, 1.0, log=True)}) != space
    other = {**spec, "model": tp.Categorical([{"type": "cnn", "k": tp.Int(3, 7, step=2)},
                                              {"type": "rnn"}])}
    assert tp.Space(other) == space  # branches compare by position and parameters
    assert tp.Space({"a": tp.Categorical(["x", "y"])}) != tp.Space({"a": tp.Categorical(["x",
                                                                                         "z"])})
