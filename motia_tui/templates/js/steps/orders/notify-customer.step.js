// A second event step: it reads what the first one stored.
import { z } from 'zod'

export const config = {
  type: 'event',
  name: 'NotifyCustomer',
  description: 'Tell the customer the order is ready',
  subscribes: ['order.processed'],
  emits: [],
  input: z.object({ id: z.string() }),
  flows: ['orders'],
}

export const handler = async (input, { state, logger }) => {
  const order = await state.get('orders', input.id)
  logger.info('customer notified', { orderId: input.id, total: order?.total })
}
