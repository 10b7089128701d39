from starlette.responses import JSONResponse, PlainTextResponse

from prefmem import HttpRouter, http_action


@http_action
async def echo(ctx, request):
    body = await request.body()
    return JSONResponse({"method": request.method, "body": body.decode(), "header": request.headers.get("x-test"),
                         "identity": None if await ctx.auth.get_user_identity() is None else "someone"})


@http_action
async def exact(ctx, request):
    return PlainTextResponse("exact")


@http_action
async def prefix(ctx, request):
    return PlainTextResponse("prefix " + request.url.path)


@http_action
async def longer_prefix(ctx, request):
    return PlainTextResponse("longer " + request.url.path)


@http_action
async def photos_count(ctx, request):
    return JSONResponse({"photos": len(await ctx.run_query("files:photos", {}))})


http = HttpRouter()
http.route(path="/echo", method="POST", handler=echo)
http.route(path="/api2/exact", method="GET", handler=exact)
http.route(path_prefix="/api2/", method="GET", handler=prefix)
http.route(path_prefix="/api2/deeper/", method="GET", handler=longer_prefix)
http.route(path="/photos/count", method="GET", handler=photos_count)
