"""Periodic work: retention (signals 180 days, searches 90 days) and re-learning for time decay."""

from prefmem import Crons

crons = Crons()
crons.daily("retention", {"hourUTC": 3, "minuteUTC": 15}, "learning:retention", {})
crons.interval("decay", {"hours": 6}, "learning:decay", {})
