# A second event step, written as a plain `def`: it runs in a worker thread, where context
# calls block and return their values directly.
config = {
    "type": "event",
    "name": "NotifyCustomer",
    "description": "Tell the customer the order is ready",
    "subscribes": ["order.processed"],
    "emits": [],
    "flows": ["orders"],
}


def handler(input, context):
    order = context.state.get("orders", input["id"])
    context.logger.info("customer notified", {"orderId": input["id"], "total": order["total"]})
