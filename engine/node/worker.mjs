// The step worker: loads a project's TypeScript and JavaScript step files and runs their
// handlers for the engine, which owns every effect. It speaks newline-delimited JSON on the
// socket passed as MOTIA_CHANNEL_FD; stdout and stderr stay the user's, and what a step prints
// goes to the engine as a log record bound to the run that printed it.
import { AsyncLocalStorage } from 'node:async_hooks'
import { register } from 'node:module'
import net from 'node:net'
import { pathToFileURL } from 'node:url'
import { format } from 'node:util'

const channel = new net.Socket({ fd: Number(process.env.MOTIA_CHANNEL_FD), readable: true, writable: true })
const projectRoot = process.env.MOTIA_PROJECT_DIR
register('./hooks.mjs', import.meta.url, {
  data: { esbuild: process.env.MOTIA_ESBUILD || null, projectRoot },
})

const currentRun = new AsyncLocalStorage()
const modules = new Map() // file -> the last module that loaded without an error
const calls = new Map() // call id -> {resolve, reject}
let nextCall = 1
let loads = 0

// Messages made in one turn of the event loop leave in one write: a burst of runs costs one
// system call each way rather than one per message.
let outgoing = []
function flush() {
  const lines = outgoing
  outgoing = []
  channel.write(lines.join(''))
}
function send(message) {
  if (outgoing.length === 0) queueMicrotask(flush)
  outgoing.push(JSON.stringify(message, jsonSafe) + '\n')
}

function jsonSafe(_key, value) {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Error) return { message: value.message, name: value.name }
  return value
}

function capturePrints(stream, level) {
  let pending = ''
  stream.write = (chunk, encoding, callback) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
    pending += text
    const lines = pending.split('\n')
    pending = lines.pop()
    const run = currentRun.getStore() ?? null
    for (const line of lines) send({ t: 'log', run, level, msg: line, printed: true })
    const done = typeof encoding === 'function' ? encoding : callback
    if (done) done()
    return true
  }
}

capturePrints(process.stdout, 'info')
capturePrints(process.stderr, 'error')
console.debug = (...args) => send({ t: 'log', run: currentRun.getStore() ?? null, level: 'debug', msg: format(...args), printed: true })

function call(run, op, args) {
  const id = nextCall++
  return new Promise((resolve, reject) => {
    calls.set(id, { resolve, reject })
    send({ t: 'call', run, id, op, args })
  })
}

function makeLogger(run) {
  const log = (level) => (msg, fields) => send({ t: 'log', run, level, msg: typeof msg === 'string' ? msg : format(msg), fields })
  return { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug'), log: log('info') }
}

function makeContext(run, message) {
  const op = (name) => (...args) => call(run, name, args)
  const streamClient = (stream) => ({
    get: (groupId, id) => call(run, 'streams.get', [stream, groupId, id]),
    set: (groupId, id, data) => call(run, 'streams.set', [stream, groupId, id, data]),
    delete: (groupId, id) => call(run, 'streams.delete', [stream, groupId, id]),
    getGroup: (groupId) => call(run, 'streams.getGroup', [stream, groupId]),
    send: (channelRef, event) => call(run, 'streams.send', [stream, channelRef, event]),
  })
  const streams = new Proxy({}, {
    get: (_target, name) => (typeof name === 'string' && name !== 'then' ? streamClient(name) : undefined),
  })
  return {
    traceId: message.traceId,
    flows: message.flows,
    emit: op('emit'),
    state: {
      get: op('state.get'),
      set: op('state.set'),
      delete: op('state.delete'),
      getGroup: op('state.getGroup'),
      clear: op('state.clear'),
    },
    streams,
    logger: makeLogger(run),
  }
}

function isZod(value) {
  return value !== null && typeof value === 'object' && ('_zod' in value || ('_def' in value && typeof value.safeParse === 'function'))
}

async function projectPackage(name, file) {
  return import(`motia-project:${name}|${pathToFileURL(file).href}`)
}

async function toJsonSchema(value, file) {
  if (!isZod(value)) return value
  if ('_zod' in value) {
    const zod = await projectPackage('zod', file)
    const { $schema, ...schema } = (zod.toJSONSchema ?? zod.z.toJSONSchema)(value, { io: 'input', unrepresentable: 'any' })
    return schema
  }
  let converter
  try {
    converter = await projectPackage('zod-to-json-schema', file)
  } catch {
    throw new Error('a zod 3 schema needs the zod-to-json-schema package (or use zod 4, which converts on its own)')
  }
  const { $schema, ...schema } = converter.zodToJsonSchema(value, { target: 'jsonSchema7', $refStrategy: 'none' })
  return schema
}

async function plainConfig(config, file) {
  const plain = { ...config }
  delete plain.middleware
  for (const key of ['bodySchema', 'input']) {
    if (key in plain) plain[key] = await toJsonSchema(plain[key], file)
  }
  if (plain.responseSchema && typeof plain.responseSchema === 'object') {
    const responses = {}
    for (const [status, schema] of Object.entries(plain.responseSchema)) {
      responses[status] = await toJsonSchema(schema, file)
    }
    plain.responseSchema = responses
  }
  return JSON.parse(JSON.stringify(plain, (_key, value) => (typeof value === 'function' ? undefined : value)))
}

function location(error, file) {
  const text = `${error?.message ?? ''}\n${error?.stack ?? ''}`
  const own = text.match(/(?:file:\/\/)?(\/[^\s:?)]+)(?:\?[^\s:)]*)?:(\d+)(?::(\d+))?/g) ?? []
  for (const place of own) {
    const found = place.match(/(?:file:\/\/)?(\/[^\s:?)]+)(?:\?[^\s:)]*)?:(\d+)/)
    if (found && found[1].startsWith(projectRoot) && !found[1].includes('/node_modules/')) {
      return { file: decodeURIComponent(found[1]), line: Number(found[2]) }
    }
  }
  return { file, line: 1 }
}

function describe(error, file) {
  const message = error?.message ?? String(error)
  const place = location(error, file)
  const clean = message.replace(/^\/[^\s:]+:\d+:\d+: /, '')
  return { message: clean, type: error?.name ?? 'Error', traceback: String(error?.stack ?? message), ...place }
}

async function load(message) {
  const { id, file } = message
  loads += 1
  try {
    const module = await import(`${pathToFileURL(file).href}?motia-v=${loads}`)
    if (!module.config) throw new Error('no `config` exported')
    const config = await plainConfig(module.config, file)
    modules.set(file, module)
    send({ t: 'loaded', id, config, hasHandler: typeof module.handler === 'function' })
  } catch (error) {
    send({ t: 'failed', id, error: describe(error, file) })
  }
}

function throughMiddleware(middleware, request, context, last) {
  let next = last
  for (const layer of [...middleware].reverse()) {
    const inner = next
    next = () => layer(request, context, inner)
  }
  return next()
}

async function runHandler(message) {
  const { id, file, kind } = message
  const module = modules.get(file)
  if (!module || typeof module.handler !== 'function') {
    send({ t: 'error', id, error: { message: `${file} is not loaded in the worker`, type: 'Error', traceback: '' } })
    return
  }
  await currentRun.run(id, async () => {
    const context = makeContext(id, message)
    try {
      const args = kind === 'cron' ? [context] : [message.input, context]
      const middleware = kind === 'api' ? module.config.middleware ?? [] : []
      const value = await throughMiddleware(middleware, message.input, context, () => module.handler(...args))
      send({ t: 'done', id, value: value === undefined ? null : value })
    } catch (error) {
      send({ t: 'error', id, error: describe(error, file) })
    }
  })
}

function settleCall(message) {
  const pending = calls.get(message.id)
  if (!pending) return
  calls.delete(message.id)
  if (message.ok) pending.resolve(message.value)
  else pending.reject(Object.assign(new Error(message.error.message), { name: message.error.type }))
}

function handle(message) {
  switch (message.t) {
    case 'load':
      return load(message)
    case 'run':
      return runHandler(message)
    case 'reply':
      return settleCall(message)
    case 'forget':
      modules.delete(message.file)
      return undefined
    default:
      return undefined
  }
}

let buffered = ''
channel.setEncoding('utf8')
channel.on('data', (chunk) => {
  // One split a chunk: a chunk holds hundreds of lines under load.
  const lines = (buffered + chunk).split('\n')
  buffered = lines.pop()
  for (const line of lines) {
    if (line) handle(JSON.parse(line))
  }
})
channel.on('end', () => process.exit(0))
channel.on('error', () => process.exit(1))
process.on('unhandledRejection', (reason) => {
  send({ t: 'log', run: currentRun.getStore() ?? null, level: 'error', msg: `unhandled rejection: ${reason?.stack ?? reason}` })
})
send({ t: 'ready', pid: process.pid })
