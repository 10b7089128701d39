"""HTTP routes: the signed purchase webhook.

``POST /webhooks/purchase`` with a JSON body

    {"id": "evt_123", "type": "purchase", "userId": "<users id>",
     "productId": "<products id>" | "sku": "SKU-7-00042", "size"?: "M", "orderId"?: "o-1"}

and the header ``Prefmem-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` computed with
``PREFMEM_WEBHOOK_SECRET`` over ``"<t>." + raw body`` (``functions/_lib/webhook.py``; its
``sign`` builds the header). Answers:

- 200 ``{"ok": true, "status": "logged"}``: one purchase signal logged (and a purchased item);
- 401: missing / bad signature, or a timestamp more than 5 minutes from now;
- 409 ``{"status": "duplicate"}``: this event id was already processed (nothing logged);
- 400 malformed body (also any id or field longer than 200 characters), 413 body over 64 KiB,
  404 unknown user or product, 503 no secret configured.
"""

import json
import os
import time

from starlette.responses import JSONResponse

from prefmem import BodyTooLarge, HttpRouter, http_action, read_body

from ._lib import webhook

SECRET_ENV = "PREFMEM_WEBHOOK_SECRET"
MAX_BODY = 64 * 1024
MAX_FIELD = 200


def _error(http_status, message, **extra):
    return JSONResponse({"ok": False, "error": message, **extra}, status_code=http_status)


@http_action
async def purchase_webhook(ctx, request):
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        return _error(503, f"webhook disabled: set {SECRET_ENV}")
    try:
        body = await read_body(request, MAX_BODY)  # refused before more than MAX_BODY is held
    except BodyTooLarge:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    try:
        webhook.verify(secret, request.headers.get(webhook.HEADER), body, time.time())
    except webhook.WebhookError as err:
        return _error(err.status, err.message)
    try:
        event = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return _error(400, "body is not JSON")
    if not isinstance(event, dict):
        return _error(400, "body must be a JSON object")
    event_id = event.get("id") or event.get("eventId")
    if not isinstance(event_id, str) or not event_id:
        return _error(400, "missing event id")
    # Refused, not cut: two long ids sharing their first MAX_FIELD characters are two events.
    for field in ("id", "eventId", "userId", "productId", "sku", "size", "orderId"):
        if isinstance(event.get(field), str) and len(event[field]) > MAX_FIELD:
            return _error(400, f"{field} is longer than {MAX_FIELD} characters")
    if event.get("type", "purchase") != "purchase":
        return _error(400, f"unsupported event type {event.get('type')!r}")
    if not isinstance(event.get("userId"), str) or not (isinstance(event.get("productId"), str)
                                                        or isinstance(event.get("sku"), str)):
        return _error(400, "need userId and productId or sku")
    args = {"eventId": event_id, "userId": event["userId"]}
    for field in ("productId", "sku", "size", "orderId"):
        if isinstance(event.get(field), str) and event[field]:
            args[field] = event[field]
    result = await ctx.run_mutation("interactions:_record_purchase_event", args)
    status = result["status"]
    if status == "logged":
        return JSONResponse({"ok": True, "status": status, "signalId": result.get("signalId")})
    if status == "duplicate":
        return _error(409, "event already processed", status=status)
    if status in ("unknown_user", "unknown_product"):
        return _error(404, status.replace("_", " "), status=status)
    return _error(400, result.get("message") or status, status=status)


http = HttpRouter()
http.route(path="/webhooks/purchase", method="POST", handler=purchase_webhook)
