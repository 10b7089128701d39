"""HTTP actions: post a message with curl, read a channel as JSON."""

from starlette.responses import JSONResponse

from prefmem import HttpRouter, http_action


@http_action
async def post_message(ctx, request):
    body = await request.json()
    channel = await ctx.run_mutation("channels:create", {"name": body.get("channel", "general")})
    message_id = await ctx.run_mutation("messages:send", {"channel": channel, "author": body.get("author", "http"),
                                                          "body": body.get("body", "")})
    return JSONResponse({"id": message_id, "channel": channel})


@http_action
async def read_channel(ctx, request):
    channel = await ctx.run_mutation("channels:create", {"name": request.query_params.get("channel", "general")})
    messages = await ctx.run_query("messages:recent", {"channel": channel})
    return JSONResponse([{"author": m["author"], "body": m["body"]} for m in reversed(messages)])


http = HttpRouter()
http.route(path="/chat/send", method="POST", handler=post_message)
http.route(path="/chat/messages", method="GET", handler=read_channel)
