// kafkajs producer and a low-level kafkajs fetch loop against a Fjord broker.
//
// Usage: node produce_consume.js HOST:PORT SPEC_JSON
//   SPEC_JSON: {"cases": [{"topic", "acks", "compression": "none"|"gzip", "count", "baseTs"}],
//               "offsetsTopic": name, "offsetsBaseTs": ms}
// Topics must exist (test_kafkajs_produce_consume.py creates them).
//
// kafkajs's Consumer always joins a consumer group (FindCoordinator, JoinGroup, SyncGroup...)
// and has no assign-only mode, and Fjord serves no group APIs yet. So records are read back
// with the Fetch requests kafkajs itself uses (Broker#fetch on the cluster the Kafka object
// builds), which decode record batches the same way the consumer does (gzip included).
//
// Prints one JSON object on stdout; exits 0 when every step ran, 1 with {"error": ...} when a
// step threw, and is killed by a watchdog after 60 s.
'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { Kafka, logLevel, CompressionTypes } = require('kafkajs') // from tests/node_modules

const bootstrap = process.argv[2]
const spec = JSON.parse(process.argv[3] || '{}')
if (!bootstrap || !spec.cases) {
  console.error('usage: node produce_consume.js HOST:PORT SPEC_JSON')
  process.exit(2)
}

const watchdog = setTimeout(() => {
  console.log(JSON.stringify({ error: 'watchdog: produce_consume.js ran for more than 60 s' }))
  process.exit(1)
}, 60000)

const kafka = new Kafka({
  clientId: 'fjord-it-kafkajs-pc',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 3 },
})

const CODECS = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP }

function record(i, baseTs) {
  return {
    key: `key-${i % 13}`,
    value: `value-${i}-` + 'x'.repeat(i % 50),
    headers: { seq: String(i), kind: 'kafkajs' },
    timestamp: String(baseTs + i),
  }
}

// The Cluster object kafkajs builds for its clients (a private factory on the Kafka instance).
function makeCluster() {
  const sym = Object.getOwnPropertySymbols(kafka).find(s => String(s).includes('createCluster'))
  if (!sym) throw new Error('kafkajs internals changed: no createCluster symbol on Kafka')
  return kafka[sym]({})
}

// Reads every partition of `topic` from offset 0 up to its high watermark with Fetch.
async function fetchAll(cluster, topic) {
  await cluster.addTargetTopic(topic)
  await cluster.refreshMetadata()
  const partitions = cluster.findTopicPartitionMetadata(topic).map(p => p.partitionId).sort()
  const byLeader = cluster.findLeaderForPartitions(topic, partitions)
  const out = []
  const offsets = {}
  const highs = {}
  for (const p of partitions) offsets[p] = 0
  const deadline = Date.now() + 30000
  for (const [nodeId, parts] of Object.entries(byLeader)) {
    const broker = await cluster.findBroker({ nodeId })
    let pending = parts.slice()
    while (pending.length > 0) {
      if (Date.now() > deadline) throw new Error(`fetching ${topic} took more than 30 s`)
      const resp = await broker.fetch({
        maxWaitTime: 100,
        minBytes: 1,
        maxBytes: 4 << 20,
        topics: [{ topic, partitions: pending.map(p => ({ partition: p, fetchOffset: String(offsets[p]), maxBytes: 1 << 20 })) }],
      })
      for (const t of resp.responses) {
        for (const pd of t.partitions) {
          if (pd.errorCode !== 0) throw new Error(`fetch ${topic}[${pd.partition}] error ${pd.errorCode}`)
          highs[pd.partition] = Number(pd.highWatermark)
          for (const m of pd.messages) {
            const off = Number(m.offset)
            if (off < offsets[pd.partition]) continue // batch began before the fetch offset
            const headers = {}
            for (const [k, v] of Object.entries(m.headers || {})) headers[k] = Buffer.isBuffer(v) ? v.toString() : v
            out.push({
              partition: pd.partition,
              offset: off,
              key: m.key === null ? null : m.key.toString(),
              value: m.value === null ? null : m.value.toString(),
              headers,
              timestamp: Number(m.timestamp),
            })
            offsets[pd.partition] = off + 1
          }
        }
      }
      pending = pending.filter(p => highs[p] === undefined || offsets[p] < highs[p])
    }
  }
  return { records: out, highWatermarks: highs }
}

async function main() {
  const out = { cases: [] }
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  const cluster = makeCluster()
  const admin = kafka.admin()
  await producer.connect()
  await cluster.connect()
  await admin.connect()
  try {
    for (const c of spec.cases) {
      const results = []
      const chunk = 500
      for (let start = 0; start < c.count; start += chunk) {
        const messages = []
        for (let i = start; i < Math.min(c.count, start + chunk); i++) messages.push(record(i, c.baseTs))
        const res = await producer.send({ topic: c.topic, acks: c.acks, compression: CODECS[c.compression], messages })
        for (const r of res) results.push({ partition: r.partition, errorCode: r.errorCode, baseOffset: Number(r.baseOffset) })
      }
      const fetched = await fetchAll(cluster, c.topic)
      const offsets = await admin.fetchTopicOffsets(c.topic)
      out.cases.push({
        topic: c.topic,
        produced: results,
        fetched: fetched.records,
        highWatermarks: fetched.highWatermarks,
        topicOffsets: offsets.map(o => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) })),
      })
    }
    if (spec.offsetsTopic) {
      const byTs = {}
      for (const [name, ts] of Object.entries(spec.offsetsQueries || {})) {
        byTs[name] = (await admin.fetchTopicOffsetsByTimestamp(spec.offsetsTopic, ts)).map(o => ({
          partition: o.partition,
          offset: Number(o.offset),
        }))
      }
      out.byTimestamp = byTs
    }
  } finally {
    await producer.disconnect()
    await cluster.disconnect()
    await admin.disconnect()
  }
  return out
}

// process.exit() right after a large write to a pipe would cut the output short: exit once
// the write has been flushed.
function finish(obj, code) {
  clearTimeout(watchdog)
  process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(code))
}

main().then(
  out => finish(out, 0),
  e => finish({ error: { name: e.name, type: e.type || null, message: e.message, stack: e.stack } }, 1)
)
