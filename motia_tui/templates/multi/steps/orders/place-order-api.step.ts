// An api step that starts a chain: it validates the body against `bodySchema` (a zod schema,
// turned into JSON Schema; a bad body gets a 400 naming the field before the handler runs) and
// emits an event for the next step.
import type { ApiRouteConfig, Handlers } from 'motia'
import { z } from 'zod'

export const config: ApiRouteConfig = {
  type: 'api',
  name: 'PlaceOrder',
  description: 'Accept an order and queue it for processing',
  path: '/orders',
  method: 'POST',
  virtualSubscribes: ['/orders'],
  emits: [{ topic: 'order.placed', label: 'order accepted' }],
  bodySchema: z.object({ item: z.string().min(1), quantity: z.number().int().min(1) }),
  responseSchema: { 202: z.object({ orderId: z.string() }) },
  flows: ['orders'],
}

export const handler: Handlers['PlaceOrder'] = async (req, { emit, logger, traceId }) => {
  const orderId = traceId.slice(0, 12)
  const order = { id: orderId, item: req.body.item, quantity: req.body.quantity }
  await emit({ topic: 'order.placed', data: order })
  logger.info('order placed', { orderId })
  return { status: 202, body: { orderId } }
}
