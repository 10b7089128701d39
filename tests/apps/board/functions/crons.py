from prefmem import Crons

crons = Crons()
crons.interval("tidy", {"hours": 1}, "notes:add_later", {"title": "tidied"})
