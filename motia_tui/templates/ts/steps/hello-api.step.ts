// An api step: the smallest HTTP endpoint. `config` declares the route; `handler` answers it.
import type { ApiRouteConfig, Handlers } from 'motia'

export const config: ApiRouteConfig = {
  type: 'api',
  name: 'HelloWorld',
  description: 'Answer GET /default with a greeting',
  path: '/default',
  method: 'GET',
  emits: [],
  flows: ['default'],
}

export const handler: Handlers['HelloWorld'] = async (req, { logger }) => {
  logger.info('hello world requested', { query: req.queryParams })
  return { status: 200, body: { message: 'Hello World from Motia!' } }
}
