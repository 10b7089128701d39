"""The database room: ``ctx.db``, transactions, read and write sets, the catalog."""

from prefmem.database.catalog import Catalog, Index
from prefmem.database.reader import UNSET, DatabaseReader, DatabaseWriter, Query
from prefmem.database.readset import ReadSet, WriteSet
from prefmem.database.transaction import Transaction

__all__ = ["Catalog", "Index", "UNSET", "DatabaseReader", "DatabaseWriter", "Query", "ReadSet", "WriteSet",
           "Transaction"]
