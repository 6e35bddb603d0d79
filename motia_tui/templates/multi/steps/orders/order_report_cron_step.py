# A cron step: runs on a schedule (here every minute) with no input. It reads a whole state
# group and stores a summary; trigger it at once from the workbench or
# `POST /__motia/cron/OrderReport/trigger`.
config = {
    "type": "cron",
    "name": "OrderReport",
    "description": "Summarise the orders every minute",
    "cron": "* * * * *",
    "emits": [],
    "flows": ["orders"],
}


async def handler(context):
    orders = await context.state.get_group("orders")
    summary = {"orders": len(orders), "revenue": round(sum(o["total"] for o in orders), 2)}
    await context.state.set("reports", "latest", summary)
    context.logger.info("order report", summary)
