"""prefmem: a reactive backend for Python with Convex's function model.

Application code imports everything it needs from here.
"""

from prefmem.bodies import BodyTooLarge, read_body
from prefmem.database import UNSET
from prefmem.errors import ConvexError
from prefmem.functions import (action, http_action, internal_action, internal_mutation, internal_query, mutation,
                               query)
from prefmem.router import HttpRouter
from prefmem.schema import define_schema, define_table
from prefmem.scheduler.crons import Crons
from prefmem.validators import v
from prefmem.values import Int64

__all__ = [
    "UNSET", "BodyTooLarge", "ConvexError", "Crons", "HttpRouter", "Int64", "action", "define_schema", "define_table",
    "http_action", "internal_action", "internal_mutation", "internal_query", "mutation", "query", "read_body", "v",
]
