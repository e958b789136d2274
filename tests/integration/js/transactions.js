// kafkajs idempotent and transactional producers against a Fjord broker.
//
// Usage: node transactions.js HOST:PORT SPEC_JSON
//   {"mode": "idempotent", "topic", "count", "partitions", "pauseMs"}: an idempotent producer
//     (one request in flight, retries) sends `count` numbered records ("%08d") round-robin over
//     the partitions, one send per 50 records and `pauseMs` apart, and keeps retrying a send
//     that fails (the broker may be restarting). Prints {"sent": count}.
//   {"mode": "transactions", "topic", "group"}: transaction 1 (10 records, committed, with
//     offsets 10 for `group` on partition 0 of `topic` through sendOffsets), transaction 2
//     (10 records, aborted), transaction 3 (5 records, committed). Prints {"done": true}.
//   {"mode": "fence", "topic"}: producer A leaves a transaction open, producer B (same
//     transactional id) commits one; prints {"zombieError": the error A's commit got}.
//   {"mode": "timeout", "topic"}: a transaction open past its 1.5 s timeout; prints
//     {"commitError": the error its commit got}.
// Topics must exist. Exits 1 with {"error": ...} when a step threw; a watchdog ends it after 120 s.
'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { Kafka, logLevel } = require('kafkajs') // from tests/node_modules

const bootstrap = process.argv[2]
const spec = JSON.parse(process.argv[3] || '{}')
const watchdog = setTimeout(() => {
  console.log(JSON.stringify({ error: 'watchdog: transactions.js ran for more than 120 s' }))
  process.exit(1)
}, 120000)

const kafka = new Kafka({
  clientId: 'fjord-it-kafkajs-txn',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 3000,
  requestTimeout: 10000,
  retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 30 },
})

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function idempotent() {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const perSend = 50
  for (let start = 0; start < spec.count; start += perSend) {
    const messages = []
    for (let i = start; i < Math.min(spec.count, start + perSend); i++)
      messages.push({ partition: i % spec.partitions, value: String(i).padStart(8, '0') })
    for (let attempt = 0; ; attempt++) {
      try {
        await producer.send({ topic: spec.topic, acks: -1, messages })
        break
      } catch (e) {
        if (attempt >= 100) throw e
        await sleep(100)
      }
    }
    if (spec.pauseMs) await sleep(spec.pauseMs)
  }
  await producer.disconnect()
  return { sent: spec.count }
}

async function transactions() {
  const producer = kafka.producer({ transactionalId: 'kafkajs-txn', maxInFlightRequests: 1, idempotent: true })
  await producer.connect()
  const batch = (tag, n) => Array.from({ length: n }, (_, i) => ({ partition: 0, value: `${tag}-${i}` }))

  let txn = await producer.transaction()
  await txn.send({ topic: spec.topic, messages: batch('c1', 10) })
  await txn.sendOffsets({
    consumerGroupId: spec.group,
    topics: [{ topic: spec.topic, partitions: [{ partition: 0, offset: '10' }] }],
  })
  await txn.commit()

  txn = await producer.transaction()
  await txn.send({ topic: spec.topic, messages: batch('a2', 10) })
  await txn.abort()

  txn = await producer.transaction()
  await txn.send({ topic: spec.topic, messages: batch('c3', 5) })
  await txn.commit()
  await producer.disconnect()
  return { done: true }
}

// A transaction left open by producer A is aborted when producer B starts with the same
// transactional id; A's commit then fails.
async function fence() {
  const a = kafka.producer({ transactionalId: 'kafkajs-fence', maxInFlightRequests: 1, idempotent: true })
  await a.connect()
  const ta = await a.transaction()
  await ta.send({ topic: spec.topic, messages: [{ partition: 0, value: 'zombie' }] })
  const b = kafka.producer({ transactionalId: 'kafkajs-fence', maxInFlightRequests: 1, idempotent: true })
  await b.connect()
  const tb = await b.transaction()
  await tb.send({ topic: spec.topic, messages: [{ partition: 0, value: 'live' }] })
  await tb.commit()
  let zombieError = null
  try {
    await ta.commit()
  } catch (e) {
    zombieError = e.type || e.name
  }
  await b.disconnect()
  await a.disconnect().catch(() => {})
  return { zombieError }
}

// The coordinator aborts a transaction open past transactionTimeout; its commit fails.
async function timeout() {
  const p = kafka.producer({ transactionalId: 'kafkajs-timeout', transactionTimeout: 1500, maxInFlightRequests: 1,
                             idempotent: true })
  await p.connect()
  const t = await p.transaction()
  await t.send({ topic: spec.topic, messages: [{ partition: 0, value: 'late' }] })
  await sleep(3000)
  let commitError = null
  try {
    await t.commit()
  } catch (e) {
    commitError = e.type || e.name
  }
  await p.disconnect().catch(() => {})
  return { commitError }
}

const modes = { idempotent, transactions, fence, timeout }
modes[spec.mode]()
  .then((out) => {
    clearTimeout(watchdog)
    console.log(JSON.stringify(out))
    process.exit(0)
  })
  .catch((e) => {
    console.log(JSON.stringify({ error: String(e && e.stack ? e.stack : e) }))
    process.exit(1)
  })
