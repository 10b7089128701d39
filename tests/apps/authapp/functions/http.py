from starlette.responses import JSONResponse

from prefmem import HttpRouter, http_action


@http_action
async def whoami(ctx, request):
    identity = await ctx.auth.get_user_identity()
    return JSONResponse({"tokenIdentifier": None if identity is None else identity.token_identifier})


@http_action
async def public(ctx, request):
    """Never asks who the caller is: refused credentials do not stop it."""
    return JSONResponse({"public": True})


http = HttpRouter()
http.route(path="/whoami", method="GET", handler=whoami)
http.route(path="/public", method="GET", handler=public)
