"""`python -m bench [NAME] [ARGS...]`: run one benchmark by name (default: `compare`, the
side-by-side table of issue 12 that `make bench` prints); `python -m bench list` names
them. Each also runs as `python -m bench.<name>`."""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = {
    "compare": "vetchart vs the floor, issue 12's table (bench/compare.py)",
    "scale": "1M-record scale run: list and history p50 at 10k and 1M records",
    "auth_latency": "login load vs. everything else",
    "records_amend": "medical-record amendment throughput, 8 clients",
    "kb_query": "knowledge-base questions, extractive mode",
    "audit_cost": "the cost of auditing reads",
}


def main() -> None:
    args = sys.argv[1:]
    name = "compare"
    if args and not args[0].startswith("-"):
        name = args.pop(0)
    listing = "\n".join(f"  {key:14s} {text}" for key, text in BENCHMARKS.items())
    if name == "list":
        print(f"benchmarks (python -m bench NAME, or python -m bench.NAME):\n{listing}")
        return
    if name not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark {name!r}; one of:\n{listing}")
    sys.argv = [f"python -m bench.{name}", *args]
    runpy.run_module(f"bench.{name}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
