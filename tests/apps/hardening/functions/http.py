from starlette.responses import JSONResponse

from prefmem import HttpRouter, http_action


@http_action
async def echo_size(ctx, request):
    return JSONResponse({"size": len(await request.body())})


http = HttpRouter()
http.route(path="/echo-size", method="POST", handler=echo_size)
