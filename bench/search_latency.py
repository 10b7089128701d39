"""Personalised search latency over the full seeded catalogue (vs unpersonalised).

``python -m bench.search_latency [--products 4000] [--repeats 30]``

Opens the repo-root app (``schema.py`` + ``functions/``) in-process through
``prefmem.testing.TestBackend`` on a fresh temporary database, seeds the generated
catalogue (4000 products by default, as ``make run`` does), gives one shopper a learned
profile (saves, likes, a purchase and searches over several days, then the learning run),
and times ``search:personalized`` end to end as a client call sees it in-process
(argument validation, the retrieval query on the FTS index with BM25 scoring, the
profile read, re-ranking with reasons and guardrails, the product fetch with image URLs)
for a mix of broad and specific queries, personalised and with ``personalize: false``
(the same-run baseline: everything but the re-ranking by the profile). Prints median and
p95 per mode and per query, and writes ``bench/results/search_latency.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import describe as describe_machine
from bench.report import write_json

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ["dress", "black", "shoes", "coat", "navy dress", "minimalist wool coat", "white sneakers",
           "leather ankle boots", "summer linen shirt", "red"]
DAY = 86_400_000.0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q * (len(s) - 1)))))
    return s[k]


async def measure(n_products: int, repeats: int) -> dict:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from prefmem.testing import TestBackend

    with tempfile.TemporaryDirectory(prefix="prefmem-bench-search-") as tmp:
        async with TestBackend(ROOT / "functions", ROOT / "schema.py", db=Path(tmp) / "data.sqlite3") as b:
            t0 = time.perf_counter()
            seeded = await b.run("catalog:seed_if_empty", {"count": n_products})
            seed_s = time.perf_counter() - t0
            shopper = b.as_user("bench-shopper")
            await shopper.mutation("users:store")
            liked = [p for p in b.table("products") if "minimalist" in p["styles"] and p["category"] in
                     ("dresses", "knitwear", "outerwear")][:24]
            for i, p in enumerate(liked):
                kind = "save" if i % 3 == 0 else "like"
                await shopper.mutation("interactions:log", {"type": kind, "productId": p["_id"]})
                if i % 6 == 5:
                    b.clock.advance(DAY)
            await shopper.mutation("interactions:log", {"type": "purchase", "productId": liked[0]["_id"],
                                                        "size": liked[0]["sizes"][0]})
            await shopper.mutation("interactions:log", {"type": "search", "query": "navy knit"})
            b.clock.advance(2_000)
            await b.run_scheduled()
            profile = await shopper.query("preferences:get")
            shown = {f: [v["value"] for v in vs if v["state"] == "shown"] for f, vs in profile["facets"].items()}

            per_query: dict[str, dict] = {}
            all_times = {"personalised": [], "unpersonalised": []}
            matched = {}
            for q in QUERIES:  # warm-up (catalogue statistics, code paths)
                await shopper.action("search:personalized", {"query": q})
            for _ in range(repeats):
                for q in QUERIES:
                    for mode, flag in (("personalised", True), ("unpersonalised", False)):
                        t = time.perf_counter()
                        r = await shopper.action("search:personalized", {"query": q, "limit": 20, "personalize": flag})
                        ms = (time.perf_counter() - t) * 1000
                        all_times[mode].append(ms)
                        per_query.setdefault(q, {}).setdefault(mode, []).append(ms)
                        matched[q] = int(r["matched"])
            machine = describe_machine(tmp)
    summary = {mode: {"median_ms": statistics.median(v), "p95_ms": pct(v, 0.95), "max_ms": max(v), "calls": len(v)}
               for mode, v in all_times.items()}
    return {
        "machine": machine,
        "products": int(seeded.get("total", n_products)),
        "seed_seconds": round(seed_s, 2),
        "repeats": repeats,
        "profile_shown": shown,
        "summary": summary,
        "queries": {q: {"matched": matched[q], **{m: {"median_ms": statistics.median(v), "p95_ms": pct(v, 0.95)}
                                                 for m, v in modes.items()}} for q, modes in per_query.items()},
    }


def print_table(data: dict) -> None:
    print(f"search:personalized over {data['products']} products ({data['repeats']} rounds of "
          f"{len(data['queries'])} queries; in-process, end to end)")
    print(f"profile shown: {data['profile_shown']}")
    print(f"{'query':<24} {'matched':>7}  {'pers. median':>12} {'p95':>7}  {'unpers. median':>14} {'p95':>7}")
    for q, row in data["queries"].items():
        p, u = row["personalised"], row["unpersonalised"]
        print(f"{q:<24} {row['matched']:>7}  {p['median_ms']:>10.1f}ms {p['p95_ms']:>5.1f}ms  "
              f"{u['median_ms']:>12.1f}ms {u['p95_ms']:>5.1f}ms")
    s = data["summary"]
    print(f"{'ALL':<24} {'':>7}  {s['personalised']['median_ms']:>10.1f}ms {s['personalised']['p95_ms']:>5.1f}ms  "
          f"{s['unpersonalised']['median_ms']:>12.1f}ms {s['unpersonalised']['p95_ms']:>5.1f}ms")
    ratio = s["personalised"]["median_ms"] / s["unpersonalised"]["median_ms"]
    print(f"personalised / unpersonalised median: {ratio:.2f}x")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    data = asyncio.run(measure(args.products, args.repeats))
    print_table(data)
    print(f"written to {write_json('search_latency', data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
