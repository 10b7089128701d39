"""The Files view: stored files newest first, upload URLs, deleting a file and its bytes.

URLs are given relative to the server (``/api/storage/...``): the dashboard is served by
the same origin, whichever address the operator reached it by.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefmem.dashboard.data import PAGINATION, page_size
from prefmem.dashboard.system import system_function
from prefmem.files import store
from prefmem.files.context import ActionStorage
from prefmem.functions import FunctionDef
from prefmem.validators import v

if TYPE_CHECKING:
    from prefmem.dashboard.board import Dashboard


def functions(board: "Dashboard") -> list[FunctionDef]:
    app = board.app

    @system_function("query", "files:list", args={"paginationOpts": PAGINATION})
    async def list_files(ctx: Any, args: dict) -> dict:
        result = await ctx.db.system.query(store.TABLE).order("desc").paginate(
            {"numItems": page_size(args["paginationOpts"]), "cursor": args["paginationOpts"]["cursor"]})
        result["page"] = [{**doc, "url": f"/api/storage/{doc['_id']}"} for doc in result["page"]]
        return result

    @system_function("mutation", "files:upload_url")
    async def upload_url(ctx: Any, args: dict) -> str:
        token = await store.new_upload_token(ctx.db, ctx.now, None, app.bounds.pending_uploads)  # the admin's
        return f"/api/storage/upload?token={token}"

    @system_function("action", "files:delete", args={"id": v.string()})
    async def delete(ctx: Any, args: dict) -> None:
        await ActionStorage(app, None).delete(args["id"])

    return [list_files, upload_url, delete]
