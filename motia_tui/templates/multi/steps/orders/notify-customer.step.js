// A second event step, in JavaScript: it reads what the Python step stored.
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
