"""What every benchmark report states: the machine, the library versions and the core revision."""

from __future__ import annotations

import functools
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any


def machine(packages: tuple[str, ...] = ()) -> str:
    """Cores, CPU model, OS, Python and the given packages' versions, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    text = (f"{os.cpu_count()} CPU cores ({cpu}, {platform.machine()}), {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, no GPU used")
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in packages)
    return f"{text}, {versions}" if versions else text


@functools.cache
def core_revision() -> str:
    """The git commit of the tpe_plugins core this process imported, marked when it has
    uncommitted changes. Read once, when report.py is imported (before any run), so that a
    commit made while a long benchmark runs does not relabel the code it loaded; the repository
    is the one that holds the imported package (a worktree on PYTHONPATH names its own)."""
    import tpe_plugins

    root = Path(tpe_plugins.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "tpe_plugins"], cwd=root,
                               check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" with uncommitted changes to tpe_plugins/" if dirty else "")


core_revision()  # at import: the revision of the code the benchmark is about to run


def run_tasks(tasks: Sequence, run_one: Callable[[Any], dict], jobs: int,
              describe: Callable[[dict], str]) -> list[dict]:
    """Run independent benchmark tasks in `jobs` forked processes, printing one line per run.

    Each run is a dict with "seconds" and "error" (None or a traceback) among its keys.
    """
    start = time.perf_counter()
    runs: list[dict] = []

    def log(run: dict) -> None:
        runs.append(run)
        status = "FAILED" if run["error"] else f"{run['seconds']:.1f}s"
        print(f"[{len(runs)}/{len(tasks)} {time.perf_counter() - start:6.0f}s] "
              f"{describe(run)}: {status}", flush=True)
        if run["error"]:
            print(run["error"], file=sys.stderr, flush=True)

    if jobs <= 1:
        for task in tasks:
            log(run_one(task))
    else:
        with multiprocessing.get_context("fork").Pool(jobs, maxtasksperchild=20) as pool:
            for run in pool.imap_unordered(run_one, tasks, chunksize=1):
                log(run)
    return runs
