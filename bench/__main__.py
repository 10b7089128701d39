"""``python -m bench [WORKLOAD [options]]``: run one workload, or all of them with defaults."""

from __future__ import annotations

import importlib
import sys

# name -> module; each module has ``main(argv: list[str]) -> int`` and a one-line docstring.
# Run in this order: the simulated shoppers' table (≈2 min) comes first, before the long
# runtime workloads (sidebyside alone takes ≈7 min).
WORKLOADS = {
    "shoppers": "bench.shoppers",
    "mutations": "bench.mutations",
    "reactivity": "bench.reactivity",
    "scheduler": "bench.scheduler",
    "sidebyside": "bench.sidebyside",
    "workers": "bench.workers",
    "search_latency": "bench.search_latency",
    "instructions": "bench.instructions",
    "abuse": "bench.abuse",
    "pg_drivers": "bench.pg_drivers",
}
# Run only when named: minutes under valgrind, for judging a change to the write path.
ON_DEMAND = {"instructions"}


def _usage() -> str:
    lines = ["usage: python -m bench [WORKLOAD [options]]   (no workload: run all but the on-demand ones)", "",
             "workloads:"]
    for name, module in WORKLOADS.items():
        doc = (importlib.import_module(module).__doc__ or "").strip().splitlines()
        lines.append(f"  {name:<12} {doc[0] if doc else ''}" + ("  (on demand)" if name in ON_DEMAND else ""))
    lines.append("")
    lines.append("python -m bench WORKLOAD --help shows a workload's options.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help", "--list"):
        print(_usage())
        return 0
    if not argv:
        status = 0
        for name, module in WORKLOADS.items():
            if name not in ON_DEMAND:
                status = importlib.import_module(module).main([]) or status
        return status
    name, rest = argv[0], argv[1:]
    if name not in WORKLOADS:
        print(f"unknown workload {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return importlib.import_module(WORKLOADS[name]).main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
