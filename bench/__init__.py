"""prefmem benchmarks: each workload prints figures and ratios against a baseline measured
in the same run, on the same machine, and writes them as JSON under ``bench/results/``.

Run them with ``python -m bench`` (all workloads) or ``python -m bench WORKLOAD [options]``.
"""
