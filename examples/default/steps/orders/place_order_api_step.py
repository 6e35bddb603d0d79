# An api step that starts a chain: it validates the body against `bodySchema` (a bad body gets
# a 400 naming the field before the handler runs) and emits an event for the next step.
config = {
    "type": "api",
    "name": "PlaceOrder",
    "description": "Accept an order and queue it for processing",
    "path": "/orders",
    "method": "POST",
    "virtualSubscribes": ["/orders"],
    "emits": [{"topic": "order.placed", "label": "order accepted"}],
    "bodySchema": {
        "type": "object",
        "properties": {
            "item": {"type": "string", "minLength": 1},
            "quantity": {"type": "integer", "minimum": 1},
        },
        "required": ["item", "quantity"],
    },
    "responseSchema": {
        202: {
            "type": "object",
            "properties": {"orderId": {"type": "string"}},
            "required": ["orderId"],
        }
    },
    "flows": ["orders"],
}


async def handler(req, context):
    order_id = context.trace_id[:12]
    order = {"id": order_id, "item": req.body.item, "quantity": req.body.quantity}
    await context.emit({"topic": "order.placed", "data": order})
    context.logger.info("order placed", {"orderId": order_id})
    return {"status": 202, "body": {"orderId": order_id}}
