"""`python -m benchmarks [--quick] [--repeat N] [--out DIR]`, from the repository root."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from benchmarks import run
from parallel_tiers.cli import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark: tables on stdout; with --out, bench.json and the PNG charts."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks", description="measure the tiers, parallel vs sequential"
    )
    p.add_argument("--quick", action="store_true", help="fewer runs and smaller cases (about 20 s)")
    p.add_argument("--repeat", type=int, help="measured runs per case")
    p.add_argument("--out", type=Path, help="folder for bench.json and the PNG charts")
    args = p.parse_args(argv)
    configure_logging("error")
    run(args.quick, args.repeat, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
