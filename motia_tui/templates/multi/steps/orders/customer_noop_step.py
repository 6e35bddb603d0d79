# A noop step: runs nothing, draws a node. Here it stands for the customer who places orders,
# joined to the api step by a virtual edge ("/orders"), so the flow graph tells the whole story.
config = {
    "type": "noop",
    "name": "Customer",
    "description": "Someone places an order",
    "virtualEmits": [{"topic": "/orders", "label": "places an order"}],
    "virtualSubscribes": [],
    "flows": ["orders"],
}
