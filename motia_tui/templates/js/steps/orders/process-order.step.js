// An event step: it runs for every `order.placed` event, keeps the order in state (durable
// across restarts) and emits the next event. A handler that throws is retried with backoff,
// then parked in the dead-letter queue.
import { z } from 'zod'

export const config = {
  type: 'event',
  name: 'ProcessOrder',
  description: 'Price the order and store it',
  subscribes: ['order.placed'],
  emits: ['order.processed'],
  input: z.object({ id: z.string(), item: z.string(), quantity: z.number().int() }),
  infrastructure: { queue: { maxRetries: 2 } },
  flows: ['orders'],
}

const UNIT_PRICE = 4.5

export const handler = async (input, { emit, state }) => {
  const total = Math.round(input.quantity * UNIT_PRICE * 100) / 100
  await state.set('orders', input.id, { ...input, total, status: 'processed' })
  await emit({ topic: 'order.processed', data: { id: input.id } })
}
