"""The command line: `python -m tpe_plugins.report SOURCE -o report.html`, and the
`tpe-plugins report SOURCE -o report.html` console script."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .page import write_report
from .run import load_run

DESCRIPTION = ("Write one self-contained, interactive HTML page (works offline) for a search: "
               "a saved optimiser state (json.dump(opt.state_dict(), f)), a TPESearch "
               "checkpoint, or a Ray Tune experiment folder from any searcher.")


def _parser(prog: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    ap.add_argument("source", help="saved state (.json), TPESearch checkpoint, or Tune folder")
    ap.add_argument("-o", "--output", default="report.html", help="default: report.html")
    ap.add_argument("--metric", help="reported value(s) to show, comma-separated for several "
                    "objectives; default: those the TPESearch state or the Tuner config names")
    ap.add_argument("--mode", help="min or max (comma-separated, one per metric); default: "
                    "the saved one, else min")
    return ap


def main(argv: list[str] | None = None, prog: str = "python -m tpe_plugins.report") -> int:
    """Run the report command; returns the exit status (2 with a message for bad input)."""
    args = _parser(prog).parse_args(argv)
    start = time.perf_counter()
    try:
        run = load_run(args.source, args.metric, args.mode)
        path = write_report(run, args.output)
    except (ValueError, FileNotFoundError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    size = Path(path).stat().st_size / 1e6
    print(f"wrote {path} ({size:.1f} MB): {len(run.trials)} trials in "
          f"{time.perf_counter() - start:.1f} s")
    return 0


def console(argv: list[str] | None = None) -> int:
    """The `tpe-plugins` console script: `tpe-plugins report SOURCE -o report.html`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"report": "write the HTML report of a search (see tpe-plugins report -h)"}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print("usage: tpe-plugins COMMAND ...\n\ncommands:\n" + "\n".join(
            f"  {k:<8} {v}" for k, v in commands.items()),
            file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return main(argv[1:], prog="tpe-plugins report")
