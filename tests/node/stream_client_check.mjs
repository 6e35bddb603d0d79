// Drives Motia's published node stream client against a server, for
// tests/test_streams_node_client.py.
//
//   node stream_client_check.mjs <wsUrl> '<plan JSON>'
//
// The plan is {"protocols"?: [..], "subscriptions": [{"kind": "group" | "item", "stream",
// "group", "id"?, "events"?: [custom event types]}]}. Every notification the client gives is
// printed as one JSON line: {"sub": n, "state": ...} from a change listener, or
// {"sub": n, "event": type, "data": ...} from a custom event listener. A socket error, which
// the client leaves unhandled, is printed as {"error": message} and exits with 3. The script
// closes the stream and exits 0 when its standard input ends.

import { Stream } from '@motiadev/stream-client-node'

const [url, planText] = process.argv.slice(2)
const plan = JSON.parse(planText)
const print = (line) => process.stdout.write(JSON.stringify(line) + '\n')

process.on('uncaughtException', (error) => {
  print({ error: String(error?.message ?? error) })
  process.exit(3)
})

const stream = new Stream(url, plan.protocols ? { protocols: plan.protocols } : undefined)

plan.subscriptions.forEach((wanted, index) => {
  const subscription =
    wanted.kind === 'group'
      ? stream.subscribeGroup(wanted.stream, wanted.group)
      : stream.subscribeItem(wanted.stream, wanted.group, wanted.id)
  subscription.addChangeListener((state) => print({ sub: index, state }))
  for (const type of wanted.events ?? []) {
    subscription.onEvent(type, (data) => print({ sub: index, event: type, data }))
  }
})

process.stdin.on('data', () => {})
process.stdin.on('end', () => {
  stream.close()
  setTimeout(() => process.exit(0), 50)
})
