"""What every benchmark report states: the machine, the library versions and the core revision."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path


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


def core_revision() -> str:
    """The git commit of the tpe_plugins core in use, marked when it has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "tpe_plugins"], cwd=root,
                               check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" with uncommitted changes to tpe_plugins/" if dirty else "")
