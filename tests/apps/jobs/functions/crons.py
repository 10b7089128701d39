from prefmem import Crons

crons = Crons()
crons.interval("tick", {"seconds": 1}, "tasks:record", {"label": "tick"})
