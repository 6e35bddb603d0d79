// A second event step: it reads what the first one stored.
import type { EventConfig, Handlers } from 'motia'
import { z } from 'zod'

export const config: EventConfig = {
  type: 'event',
  name: 'NotifyCustomer',
  description: 'Tell the customer the order is ready',
  subscribes: ['order.processed'],
  emits: [],
  input: z.object({ id: z.string() }),
  flows: ['orders'],
}

export const handler: Handlers['NotifyCustomer'] = async (input, { state, logger }) => {
  const order = await state.get<{ total: number }>('orders', input.id)
  logger.info('customer notified', { orderId: input.id, total: order?.total })
}
