# An event step: it runs for every `order.placed` event, keeps the order in state (durable
# across restarts) and emits the next event. A handler that raises is retried with backoff,
# then parked in the dead-letter queue.
config = {
    "type": "event",
    "name": "ProcessOrder",
    "description": "Price the order and store it",
    "subscribes": ["order.placed"],
    "emits": ["order.processed"],
    "input": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "item": {"type": "string"},
                       "quantity": {"type": "integer"}},
        "required": ["id", "item", "quantity"],
    },
    "infrastructure": {"queue": {"maxRetries": 2}},
    "flows": ["orders"],
}

UNIT_PRICE = 4.5


async def handler(input, context):
    order = {**input, "total": round(input.quantity * UNIT_PRICE, 2), "status": "processed"}
    await context.state.set("orders", input.id, order)
    await context.emit({"topic": "order.processed", "data": {"id": input.id}})
