"""The searcher's checkpoint format: JSON text in, validated dict out (pure functions).

The space is kept (as a base64 cloudpickle, since it may hold any constant) because
`Tuner.restore` hands a searcher its saved state but not always its space again. Everything
else is plain JSON: the core optimiser's `state_dict` and the Tune trial bookkeeping.
"""

from __future__ import annotations

import base64
import json
import math
import os
import pickle
import tempfile
from typing import Any

import numpy as np
from ray import cloudpickle

FORMAT = "tpe-plugins/ray-tune-searcher/1"

# key -> type of every bookkeeping entry a checkpoint must hold
_FIELDS = {"queue": list, "live": dict, "ids": dict, "last": dict,
           "paused": list}


class Unreadable(ValueError):
    """The file is missing, empty or cut short: what a kill during a write or copy leaves."""


def dumps(state: dict) -> str:
    """The checkpoint as JSON text. NumPy values become Python ones; NaN and inf are refused,
    so the text is always valid JSON."""
    return json.dumps({"format": FORMAT, **state}, default=_to_json, allow_nan=False)


def write(path: str, text: str) -> None:
    """Write through a temporary file and an atomic rename: a kill leaves the old or the new."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tpe-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read(path: str) -> dict:
    """The validated checkpoint at `path`.

    Raises `Unreadable` for a missing, empty or truncated file, and ValueError naming the
    problem for a file that is not a TPESearch checkpoint (another searcher's pickle, another
    format, a corrupt field).
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise Unreadable(f"{path}: cannot be read: {exc}") from None
    if not raw.strip():
        raise Unreadable(f"{path} is an empty TPESearch checkpoint")
    try:
        state = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a TPESearch checkpoint (it is not the JSON that "
                         f"TPESearch.save writes; perhaps another searcher's pickle): {exc}"
                         ) from None
    except json.JSONDecodeError as exc:
        if raw.lstrip().startswith(b"{"):  # JSON text that stops short
            raise Unreadable(f"{path} is a TPESearch checkpoint cut short: {exc}") from None
        raise ValueError(f"{path} is not a TPESearch checkpoint (not valid JSON: {exc})"
                         ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not a TPESearch checkpoint (format {found!r}, expected "
                         f"{FORMAT!r})")
    try:
        for key, kind in _FIELDS.items():
            if not isinstance(state.get(key, [] if key == "paused" else None), kind):
                raise TypeError(f"{key} is {type(state.get(key)).__name__}")
        state.setdefault("paused", [])
        for key in ("metric", "mode", "optimizer", "space"):
            state[key]  # noqa: B018 - presence check
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: corrupt TPESearch checkpoint: {exc!r}") from None
    return state


def encode_space(node: Any) -> str | None:
    return None if node is None else base64.b64encode(cloudpickle.dumps(node)).decode("ascii")


def decode_space(text: str | None, path: str) -> Any:
    if text is None:
        return None
    try:
        return pickle.loads(base64.b64decode(text))
    except Exception as exc:
        raise ValueError(f"{path}: corrupt TPESearch checkpoint: the saved space cannot be "
                         f"read back: {exc!r}") from None


def _to_json(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.ndim == 0 or isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"cannot save {value} in a checkpoint")
        return value
    raise TypeError(f"cannot save {type(value).__name__} {value!r:.60} in a checkpoint")
