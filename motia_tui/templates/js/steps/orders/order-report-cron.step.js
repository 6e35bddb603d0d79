// A cron step: runs on a schedule (here every minute) with no input. It reads a whole state
// group and stores a summary; trigger it at once from the workbench or
// `POST /__motia/cron/OrderReport/trigger`.

export const config = {
  type: 'cron',
  name: 'OrderReport',
  description: 'Summarise the orders every minute',
  cron: '* * * * *',
  emits: [],
  flows: ['orders'],
}

export const handler = async ({ state, logger }) => {
  const orders = await state.getGroup('orders')
  const revenue = Math.round(orders.reduce((sum, o) => sum + o.total, 0) * 100) / 100
  const summary = { orders: orders.length, revenue }
  await state.set('reports', 'latest', summary)
  logger.info('order report', summary)
}
