"""Worker processes: prefmem --workers 1 vs --workers 2, W1/W2/W5 with ceilings, contended writes (issue 18)."""

from bench.workers.run import main

__all__ = ["main"]
