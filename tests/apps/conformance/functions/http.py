from starlette.responses import JSONResponse

from prefmem import ConvexError, HttpRouter, Int64, http_action


@http_action
async def fail(ctx, request):
    raise ConvexError({"code": "teapot", "n": Int64(5)})


@http_action
async def crash(ctx, request):
    raise RuntimeError("http action broke")


@http_action
async def ok(ctx, request):
    return JSONResponse({"ok": True})


http = HttpRouter()
http.route(path="/fail", method="POST", handler=fail)
http.route(path="/crash", method="GET", handler=crash)
http.route(path="/ok", method="GET", handler=ok)
