"""Stored documents rewritten to the current shape, in batches, without losing anything.

``migrations:reason_codes``: databases written before dismissal and return reasons were
codes hold the shopper's words in ``reason`` ("not my style", "too small", or whatever a
client sent). Each such signal gets the code those words meant (``_lib/reasons``: the
rules the learner has always applied to them, so what it learns does not change) and
keeps the words in ``reasonText``. Words that name no dismissal reason ("meh") leave the
dismissal without a code, as the learner read them, the words kept.

Why in batches that reschedule themselves: a mutation is one transaction, and a shop's
signal table can be large. ``make run`` starts it on every start (``prefmem run
migrations:reason_codes '{}'``); on a migrated database it reads the dismissals and returns
and changes nothing. Until it has run, the schema accepts words in ``reason`` and the
learner reads them the same way, so an old database starts and works at once.
"""

from prefmem import internal_mutation, v

from ._lib.reasons import dismiss_code, return_code

BATCH = 500  # signals read per transaction
KINDS = ("dismiss", "return")


@internal_mutation(args={"type": v.optional(v.union(*(v.literal(k) for k in KINDS))),
                         "cursor": v.optional(v.nullable(v.string()))})
async def reason_codes(ctx, args):
    """Rewrite one batch of dismissals (then returns) whose reason is words; schedule the next batch."""
    kind = args.get("type", KINDS[0])
    page = await ctx.db.query("signals").with_index("by_type_ts", lambda q: q.eq("type", kind)).paginate(
        {"numItems": BATCH, "cursor": args.get("cursor")})
    rewritten = 0
    for signal in page["page"]:
        words = signal.get("reason")
        if words is None:
            continue
        code = dismiss_code(words) if kind == "dismiss" else return_code(words)
        if code == words:
            continue
        doc = {k: val for k, val in signal.items() if not k.startswith("_") and k != "reason"}
        doc["reasonText"] = words
        if code is not None:
            doc["reason"] = code
        await ctx.db.replace(signal["_id"], doc)
        rewritten += 1
    if not page["isDone"]:
        await ctx.scheduler.run_after(0, "migrations:reason_codes", {"type": kind, "cursor": page["continueCursor"]})
    elif kind != KINDS[-1]:
        await ctx.scheduler.run_after(0, "migrations:reason_codes", {"type": KINDS[KINDS.index(kind) + 1]})
    return {"type": kind, "read": len(page["page"]), "rewritten": rewritten, "done": page["isDone"] and kind == KINDS[-1]}
