from starlette.responses import PlainTextResponse

from prefmem import HttpRouter, http_action


@http_action
async def ping(ctx, request):
    return PlainTextResponse("pong")


http = HttpRouter()
http.route(path="/ping", method="GET", handler=ping)
