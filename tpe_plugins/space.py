"""Search spaces: parameter types, and the flat encoding that the estimators work in.

A space is a nested structure of dicts and lists whose leaves are `Float`, `Int`, `Categorical`
or constants. `Space` flattens it into dimensions. Every dimension lives in a unit interval:
numeric values are mapped to [0, 1] (through log for `log=True`), categoricals are encoded by
the index of the choice. A row of the encoded matrix holds NaN where a dimension is inactive,
that is, where it belongs to a branch of a conditional `Categorical` that was not chosen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Path = tuple  # tuple of dict keys and list indices


class Param:
    """Base of the parameter types. Constructors store settings; `Space` validates them."""

    def to_dict(self) -> dict:
        raise NotImplementedError


@dataclass(frozen=True)
class Float(Param):
    """A real number in [low, high]; `log=True` searches in log scale, `step` quantises."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def to_dict(self) -> dict:
        return {"__tpe__": "float", "low": self.low, "high": self.high, "log": self.log,
                "step": self.step}


@dataclass(frozen=True)
class Int(Param):
    """An integer in [low, high], both bounds inclusive, on the grid low + k * step."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def to_dict(self) -> dict:
        return {"__tpe__": "int", "low": self.low, "high": self.high, "log": self.log,
                "step": self.step}


@dataclass(frozen=True, init=False)
class Categorical(Param):
    """One of `choices`. A choice that holds parameters is a conditional sub-space."""

    choices: tuple

    def __init__(self, choices: Sequence[Any]):
        object.__setattr__(self, "choices", tuple(choices) if _is_sequence(choices) else choices)

    def to_dict(self) -> dict:
        return {"__tpe__": "categorical", "choices": [space_to_dict(c) for c in self.choices]}


def _is_sequence(x: Any) -> bool:
    return isinstance(x, (list, tuple))


def path_name(path: Path) -> str:
    return ".".join(str(p) for p in path) or "<root>"


@dataclass
class Dim:
    """One encoded dimension of a flattened space."""

    path: Path
    param: Param
    kind: str  # "continuous", "discrete" (grid on the unit interval) or "categorical"
    conditions: tuple  # ((categorical dim index, branch index), ...) that must all hold
    grid: np.ndarray | None = None  # discrete: unit-space position of each grid value
    edges: np.ndarray | None = None  # discrete: unit-space cell edges, len(grid) + 1
    values: np.ndarray | None = None  # discrete: the grid values themselves
    n_choices: int = 0
    span: tuple = ()  # continuous: the range's ends on the (log) scale that decoding inverts

    @property
    def name(self) -> str:
        return path_name(self.path)


@dataclass
class _Node:
    """The structure of a space with parameter leaves replaced by dimension indices."""

    kind: str  # "dict", "list", "const", "dim"
    children: Any = None
    value: Any = None
    dim: int = -1
    branches: list = field(default_factory=list)  # categorical: one _Node per choice


class Space:
    """A flattened, validated search space with vectorised encoding into the unit cube."""

    def __init__(self, spec: Any):
        self.spec = spec
        self.dims: list[Dim] = []
        self._root = self._build(spec, (), ())
        if not self.dims:
            raise ValueError("the search space holds no parameter to tune (only constants)")
        self.kinds = np.array([d.kind for d in self.dims])
        self.numeric = np.flatnonzero(self.kinds != "categorical")
        self.categorical = np.flatnonzero(self.kinds == "categorical")
        self.grid_sizes = np.array([len(d.grid) if d.kind == "discrete" else 0
                                    for d in self.dims])  # grid cells; 0 off grids
        self._non_continuous = np.flatnonzero(self.kinds != "continuous")
        self._conditional = [d for d, dim in enumerate(self.dims) if dim.conditions]
        # categoricals whose choice decides which other parameters exist
        self.selectors = np.array(sorted({c for d in self.dims for c, _ in d.conditions}),
                                  dtype=int)

    def __len__(self) -> int:
        return len(self.dims)

    # ---------------------------------------------------------------- building and validation
    def _build(self, spec: Any, path: Path, conditions: tuple) -> _Node:
        if isinstance(spec, dict):
            for key in spec:
                if not isinstance(key, str):
                    raise TypeError(f"{path_name(path + (key,))}: dict keys must be strings, "
                                    f"got {type(key).__name__}")
            return _Node("dict", {k: self._build(v, path + (k,), conditions)
                                  for k, v in spec.items()})
        if isinstance(spec, list):
            return _Node("list", [self._build(v, path + (i,), conditions)
                                  for i, v in enumerate(spec)])
        if isinstance(spec, Categorical):
            return self._build_categorical(spec, path, conditions)
        if isinstance(spec, (Float, Int)):
            index = len(self.dims)
            self.dims.append(_numeric_dim(spec, path, conditions))
            return _Node("dim", dim=index)
        if isinstance(spec, Param):
            raise TypeError(f"{path_name(path)}: unsupported parameter type {type(spec).__name__}")
        return _Node("const", value=spec)

    def _build_categorical(self, spec: Categorical, path: Path, conditions: tuple) -> _Node:
        name = path_name(path)
        if not _is_sequence(spec.choices):
            raise TypeError(f"{name}: Categorical choices must be a list, "
                            f"got {type(spec.choices).__name__}")
        if len(spec.choices) == 0:
            raise ValueError(f"{name}: Categorical needs at least one choice, got an empty list")
        index = len(self.dims)
        self.dims.append(Dim(path, spec, "categorical", conditions, n_choices=len(spec.choices)))
        node = _Node("dim", dim=index)
        node.branches = [self._build(choice, path, conditions + ((index, b),))
                         for b, choice in enumerate(spec.choices)]
        return node

    # ---------------------------------------------------------------- activity
    def active(self, X: np.ndarray) -> np.ndarray:
        """Boolean (n, D): which dimensions exist, given the categorical columns of X."""
        act = np.ones(X.shape, dtype=bool)
        for d in self._conditional:  # parents come before children
            for parent, branch in self.dims[d].conditions:
                act[:, d] &= act[:, parent] & (X[:, parent] == branch)
        return act

    def snap(self, U: np.ndarray) -> np.ndarray:
        """Map raw unit-cube samples onto valid encodings: grids, category indices, NaN inactive."""
        X = np.minimum(np.maximum(np.asarray(U, dtype=float), 0.0), 1.0)  # np.clip, cheaper
        for d in self._non_continuous:
            X[:, d] = self.snap_dim(d, X[:, d])
        if self._conditional:
            X[~self.active(X)] = np.nan
        return X

    def snap_dim(self, d: int, u: np.ndarray) -> np.ndarray:
        """Unit-interval values of dimension d -> its encoding (grid value or choice index)."""
        dim = self.dims[d]
        if dim.kind == "categorical":
            return np.minimum(np.floor(u * dim.n_choices), dim.n_choices - 1)
        if dim.kind == "discrete":
            cell = np.searchsorted(dim.edges, u, side="right") - 1
            return dim.grid[np.clip(cell, 0, len(dim.grid) - 1)]
        return u

    # ---------------------------------------------------------------- decode / encode
    def decode(self, row: np.ndarray) -> Any:
        """One encoded row -> params shaped like the space."""
        return self._decode(self._root, row)

    def _decode(self, node: _Node, row: np.ndarray) -> Any:
        if node.kind == "dict":
            return {k: self._decode(c, row) for k, c in node.children.items()}
        if node.kind == "list":
            return [self._decode(c, row) for c in node.children]
        if node.kind == "const":
            return node.value
        dim = self.dims[node.dim]
        u = row[node.dim]
        if dim.kind == "categorical":
            b = int(u)
            return self._decode(node.branches[b], row)
        if dim.kind == "discrete":
            k = int(np.argmin(np.abs(dim.grid - u)))
            value = dim.values[k]
            return int(value) if isinstance(dim.param, Int) else float(value)
        return _from_unit(dim.param, u, dim.span)

    def encode(self, params: Any) -> np.ndarray:
        """Params shaped like the space -> one encoded row; errors name the offending path."""
        row = np.full(len(self.dims), np.nan)
        self._encode(self._root, params, row, ())
        return row

    def _encode(self, node: _Node, value: Any, row: np.ndarray, path: Path) -> None:
        name = path_name(path)
        if node.kind == "dict":
            if not isinstance(value, dict):
                raise TypeError(f"{name}: expected a dict, got {value!r}")
            for k, child in node.children.items():
                if k not in value:
                    raise ValueError(f"{path_name(path + (k,))}: missing from the given params")
                self._encode(child, value[k], row, path + (k,))
            return
        if node.kind == "list":
            if not _is_sequence(value) or len(value) != len(node.children):
                raise TypeError(f"{name}: expected a list of {len(node.children)}, got {value!r}")
            for i, child in enumerate(node.children):
                self._encode(child, value[i], row, path + (i,))
            return
        if node.kind == "const":
            return
        dim = self.dims[node.dim]
        if dim.kind == "categorical":
            b = _match_choice(dim.param.choices, value, name)
            row[node.dim] = b
            self._encode(node.branches[b], value, row, path)
            return
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: expected a number, got {value!r}") from None
        p = dim.param
        if not (min(p.low, p.high) - 1e-9 * abs(p.high) <= x <= p.high + 1e-9 * abs(p.high)):
            raise ValueError(f"{name}: {value!r} lies outside [{p.low}, {p.high}]")
        if dim.kind == "discrete":
            k = int(np.argmin(np.abs(dim.values - x)))
            row[node.dim] = dim.grid[k]
        else:
            row[node.dim] = _to_unit(p, x)

    def validate(self, params: Any) -> None:
        """Raise a ValueError or TypeError naming the path if `params` is not a point here."""
        self.encode(params)

    def to_dict(self) -> Any:
        """A JSON-ready description; `Space.from_dict` reads it back."""
        return space_to_dict(self.spec)

    @classmethod
    def from_dict(cls, data: Any) -> Space:
        return cls(space_from_dict(data))

    def signature(self) -> list:
        """What decides the encoding: each parameter's path, kind, bounds and step, and each
        choice's plain values (sub-space branches by position). Constants do not count."""
        def entry(d: Dim) -> tuple:
            if d.kind == "categorical":
                labels = tuple("<branch>" if isinstance(c, dict) else repr(c)
                               for c in d.param.choices)
                return d.path, d.kind, labels
            return d.path, d.kind, tuple(sorted(d.param.to_dict().items()))
        return [entry(d) for d in self.dims]

    def __eq__(self, other: object) -> bool:
        """Two spaces are equal when they encode points the same way (see `signature`)."""
        if not isinstance(other, Space):
            return NotImplemented
        return self.signature() == other.signature()

    __hash__ = None  # mutable-looking: equal spaces need not share a hash


def _match_choice(choices: tuple, value: Any, name: str) -> int:
    """Index of the choice that `value` matches; a dict matches a sub-space by its constants."""
    for b, choice in enumerate(choices):
        if isinstance(choice, dict):
            if isinstance(value, dict) and _constants_match(choice, value):
                return b
        elif not isinstance(choice, Param) and _same(choice, value):
            return b
    raise ValueError(f"{name}: {value!r} is not one of the choices {list(choices)!r}")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b) or (
            isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b
            and not isinstance(a, bool) and not isinstance(b, bool))
    except Exception:
        return False


def _constants_match(choice: dict, value: dict) -> bool:
    if set(choice) != set(value):
        return False
    for k, c in choice.items():
        if isinstance(c, dict):
            if not (isinstance(value[k], dict) and _constants_match(c, value[k])):
                return False
        elif not isinstance(c, (Param, list)) and not _same(c, value[k]):
            return False
    return True


# -------------------------------------------------------------------- numeric dimensions
def _transform(p: Float | Int, x: Any) -> Any:
    return np.log(x) if p.log else x


def _to_unit(p: Float | Int, x: Any) -> Any:
    lo, hi = _transform(p, p.low), _transform(p, p.high)
    return (_transform(p, x) - lo) / (hi - lo)


def _from_unit(p: Float | Int, u: float, span: tuple) -> float:
    lo, hi = span  # _transform of p.low and p.high, computed once per space
    t = lo + np.float64(u) * (hi - lo)
    x = np.exp(t) if p.log else t
    return float(min(max(x, p.low), p.high))  # np.clip costs more than the rest on a scalar


def _numeric_dim(p: Float | Int, path: Path, conditions: tuple) -> Dim:
    name = path_name(path)
    for attr in ("low", "high"):
        v = getattr(p, attr)
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name}: {attr} must be a number, got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"{name}: {attr} must be finite, got {v!r}")
    if isinstance(p, Int):
        for attr in ("low", "high", "step"):
            v = getattr(p, attr)
            if isinstance(v, float) and not v.is_integer():
                raise TypeError(f"{name}: Int {attr} must be an integer, got {v!r}; use Float")
    if p.low >= p.high:
        raise ValueError(f"{name}: empty range [{p.low}, {p.high}]; low must be below high "
                         "(use a constant for a fixed value)")
    if p.log and p.low <= 0:
        raise ValueError(f"{name}: log scale needs low > 0, got low={p.low}; "
                         "raise low or set log=False")
    step = p.step
    if step is None:
        return Dim(path, p, "continuous", conditions,
                   span=(_transform(p, p.low), _transform(p, p.high)))
    if isinstance(step, bool) or not isinstance(step, (int, float, np.integer, np.floating)) \
            or not step > 0:
        raise ValueError(f"{name}: step must be a positive number, got {step!r}")
    n = (p.high - p.low) / step
    if abs(n - round(n)) > 1e-6 * max(1.0, n):
        raise ValueError(f"{name}: step {step} does not divide the range [{p.low}, {p.high}]; "
                         f"choose a step that does or adjust high")
    values = p.low + step * np.arange(int(round(n)) + 1)
    if isinstance(p, Int):
        values = np.round(values).astype(np.int64)
    else:
        decimals = max(0, -int(math.floor(math.log10(step))) + 6)
        values = np.round(values, decimals)
        values[-1] = p.high
    t = _transform(p, values.astype(float))
    if len(t) > 1:
        mids = (t[1:] + t[:-1]) / 2
        first = t[0] - (t[1] - t[0]) / 2
        last = t[-1] + (t[-1] - t[-2]) / 2
        edges_t = np.concatenate([[first], mids, [last]])
    else:
        edges_t = np.array([t[0] - 0.5, t[0] + 0.5])
    lo, hi = edges_t[0], edges_t[-1]
    edges = (edges_t - lo) / (hi - lo)
    grid = (t - lo) / (hi - lo)
    return Dim(path, p, "discrete", conditions, grid=grid, edges=edges, values=values)


# -------------------------------------------------------------------- serialisation
def space_to_dict(spec: Any) -> Any:
    """A JSON-ready description of a space, read back by `space_from_dict`."""
    if isinstance(spec, Param):
        return spec.to_dict()
    if isinstance(spec, dict):
        return {"__tpe__": "dict", "items": {k: space_to_dict(v) for k, v in spec.items()}}
    if isinstance(spec, list):
        return {"__tpe__": "list", "items": [space_to_dict(v) for v in spec]}
    return {"__tpe__": "const", "value": spec}


def space_from_dict(data: Any) -> Any:
    if not isinstance(data, dict) or "__tpe__" not in data:
        raise ValueError(f"not a serialised search space: {data!r:.80}")
    kind = data["__tpe__"]
    if kind == "float":
        return Float(data["low"], data["high"], log=data["log"], step=data["step"])
    if kind == "int":
        return Int(data["low"], data["high"], log=data["log"], step=data["step"])
    if kind == "categorical":
        return Categorical([space_from_dict(c) for c in data["choices"]])
    if kind == "dict":
        return {k: space_from_dict(v) for k, v in data["items"].items()}
    if kind == "list":
        return [space_from_dict(v) for v in data["items"]]
    if kind == "const":
        return data["value"]
    raise ValueError(f"unknown entry {kind!r} in a serialised search space")
