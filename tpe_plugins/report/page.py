"""The report as one self-contained HTML page: the data as JSON, plotly.js embedded once
(gzip-compressed, unpacked by the browser), and a small script that draws linked figures and a
sortable table. Works offline; about 2 MB, most of it plotly.js.
"""

from __future__ import annotations

import base64
import functools
import gzip
import html
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from .importance import importance
from .run import Run, finite_value

_HERE = Path(__file__).parent
PLOT_MISSING = 'The interactive report needs plotly: pip install "tpe-plugins[plot]"'


@functools.lru_cache(maxsize=1)
def _plotly_gz_b64() -> str:
    """plotly.min.js from the plotly package, gzip-compressed and base64-encoded (cached)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise ImportError(PLOT_MISSING) from None
    packed = gzip.compress(get_plotlyjs().encode("utf-8"), compresslevel=9, mtime=0)
    return base64.b64encode(packed).decode("ascii")


def payload(run: Run, live: bool = False, refresh_s: float = 5.0) -> dict:
    """Everything the page shows, as plain JSON-able data (what the tests inspect)."""
    done = run.finished()
    several = run.n_objectives > 1
    front = set()
    if done:
        flags = run.on_front() if several else [False] * len(done)
        front = {id(t) for t, f in zip(done, flags, strict=True) if f}
    best = {id(t) for t in run.best(1)} if done and not several else set()
    has_constraints = any(t.get("constraints") is not None for t in run.trials)
    trials = []
    for t in run.trials:
        value = t["value"] if finite_value(t["value"]) else None
        trials.append({
            "id": t["id"], "label": t.get("label") or "", "state": t["state"],
            "value": None if value is None else (list(value) if isinstance(value, list)
                                                 else [value]),
            "feasible": run.feasible(t) if has_constraints else None,
            "front": id(t) in front, "best": id(t) in best,
            "curve": [[s, v] for s, v in sorted(t["curve"].items(), key=lambda kv: float(kv[0]))
                      if finite_value(v)],
            "params": {n: _plain(t["params"].get(n)) for n in run.params},
        })
    params = []
    for name in run.params:
        present = [t["params"].get(name) for t in run.trials if t["params"].get(name) is not None]
        numeric = bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                        for v in present)
        log = name in run.log_params or (numeric and min(present) > 0
                                         and max(present) / min(present) > 100)
        entry: dict[str, Any] = {"name": name, "kind": "num" if numeric else "cat",
                                 "log": bool(numeric and log and min(present) > 0)}
        if not numeric:
            entry["levels"] = sorted({_label(v) for v in present})
        params.append(entry)
    imp: dict[str, Any] = {"scores": []}
    for j in range(run.n_objectives):
        try:
            imp["scores"].append(importance(run, objective=j))
        except ImportError as err:
            imp = {"error": str(err)}
            break
        except ValueError as err:
            imp = {"error": f"No importance yet: {err}."}
            break
    states: dict[str, int] = {}
    for t in run.trials:
        states[t["state"]] = states.get(t["state"], 0) + 1
    return {
        "source": run.source, "metrics": run.metrics, "modes": run.modes,
        "live": live, "refresh_s": refresh_s,
        "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "params": params, "constants": {k: _plain(v) for k, v in run.constants.items()},
        "trials": trials, "states": states, "importance": imp, "rungs": list(run.rungs),
        "constraints": has_constraints, "notes": list(run.notes),
    }


def render(run: Run, live: bool = False, refresh_s: float = 5.0) -> str:
    """The report as one HTML string. live: the page reloads itself every refresh_s seconds
    and says the run is going; otherwise it says "finished"."""
    data = payload(run, live=live, refresh_s=refresh_s)
    if not any(t["value"] is not None for t in data["trials"]) and not live:
        raise ValueError(f"{run.source}: no trial has a finite value; nothing to report")
    script = (_HERE / "report.js").read_text()
    style = (_HERE / "report.css").read_text()
    esc = html.escape
    refresh = (f"<meta http-equiv='refresh' content='{max(1, int(round(refresh_s)))}'>"
               if live else "")
    blob = json.dumps(data, default=str, allow_nan=False).replace("</", "<\\/")
    return "\n".join([
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>", refresh,
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Search report: {esc(Path(run.source).name or run.source)}</title>",
        f"<style>{style}</style></head><body>",
        "<noscript>This report draws its figures with JavaScript; please enable it."
        "</noscript>",
        "<main id='report'><p id='loading'>Loading the report…</p></main>",
        f"<script id='report-data' type='application/json'>{blob}</script>",
        f"<script id='plotly-gz' type='application/octet-stream'>{_plotly_gz_b64()}</script>",
        f"<script>{script}</script>",
        "</body></html>", ""])


def write_report(run: Run, path: str | os.PathLike, live: bool = False,
                 refresh_s: float = 5.0) -> Path:
    """Write the page atomically (a temporary file, then a rename): readers see the old page
    or the new one, never a part."""
    path = Path(path)
    text = render(run, live=live, refresh_s=refresh_s)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    return _label(v)


def _label(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str)
