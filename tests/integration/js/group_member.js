// One kafkajs consumer-group member, for test_groups.py: the kafkajs counterpart of
// group_member.py, with the same JSON-lines events on stdout and "close" / EOF on stdin.
//
// Usage: node group_member.js HOST:PORT SPEC_JSON
//   SPEC_JSON: {"group", "topics": [..], "name": client id, "assigner": "roundrobin"|"range"
//               (default "roundrobin"), "sessionTimeout", "heartbeatInterval", "maxSeconds"}
//
// kafkajs's own round-robin assigner (PartitionAssigners.roundRobin) names its protocol
// "RoundRobinAssigner", while librdkafka and kafka-python call theirs "roundrobin": a group
// mixing them would have no common protocol (INCONSISTENT_GROUP_PROTOCOL). So the "roundrobin"
// assigner here is kafkajs's round-robin logic under the name the other clients use.
//
// Records are written to stdout before their offsets are committed (at-least-once; writes to
// a pipe are synchronous in Node on Linux). Events:
//   started, assignment {partitions: [[topic, p], ...]} (after each join), revoked (a rebalance
//   began: kafkajs's protocol is eager), records {records: [[topic, p, offset, value], ...]},
//   commit_failed {error}, error {error}, closed.
'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { Kafka, logLevel, PartitionAssigners } = require('kafkajs') // from tests/node_modules

const bootstrap = process.argv[2]
const spec = JSON.parse(process.argv[3] || '{}')
if (!bootstrap || !spec.group || !spec.topics) {
  console.error('usage: node group_member.js HOST:PORT SPEC_JSON')
  process.exit(2)
}

function emit(ev, fields = {}) {
  process.stdout.write(JSON.stringify({ ...fields, ev, t: Date.now() / 1000 }) + '\n')
}

// Last resort: never outlive the test, even if disconnect() hangs.
const maxSeconds = spec.maxSeconds || 150
setTimeout(() => close('watchdog'), maxSeconds * 1000).unref()
setTimeout(() => process.exit(3), (maxSeconds + 30) * 1000).unref()

function renamed(assignerFactory, name) {
  return config => {
    const base = assignerFactory(config)
    return {
      name,
      version: base.version,
      assign: group => base.assign.call(base, group),
      protocol: subscription => ({ ...base.protocol.call(base, subscription), name }),
    }
  }
}

const ASSIGNERS = {
  roundrobin: renamed(PartitionAssigners.roundRobin, 'roundrobin'),
  RoundRobinAssigner: PartitionAssigners.roundRobin,
}

const kafka = new Kafka({
  clientId: spec.name || 'group-member-js',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 10 },
})

const consumer = kafka.consumer({
  groupId: spec.group,
  partitionAssigners: [ASSIGNERS[spec.assigner || 'roundrobin']],
  sessionTimeout: spec.sessionTimeout || 10000,
  rebalanceTimeout: spec.rebalanceTimeout || 20000,
  heartbeatInterval: spec.heartbeatInterval || 500,
  maxWaitTimeInMs: 100,
  allowAutoTopicCreation: false,
})

consumer.on(consumer.events.GROUP_JOIN, e => {
  const parts = []
  for (const [topic, ps] of Object.entries(e.payload.memberAssignment)) {
    for (const p of ps) parts.push([topic, p])
  }
  parts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]))
  emit('assignment', { partitions: parts, isLeader: e.payload.isLeader, protocol: e.payload.groupProtocol })
})
consumer.on(consumer.events.REBALANCING, () => emit('revoked', { partitions: null }))
consumer.on(consumer.events.CRASH, e => emit('error', { error: String(e.payload.error) }))

let closing = false
async function close(why) {
  if (closing) return
  closing = true
  try {
    await consumer.disconnect()
  } catch (e) {
    emit('error', { error: `disconnect: ${e}` })
  }
  emit('closed', { why })
  process.exit(0)
}

let stdinBuf = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', chunk => {
  stdinBuf += chunk
  if (stdinBuf.split('\n').some(l => l.trim() === 'close')) close('command')
})
process.stdin.on('end', () => close('stdin closed'))

async function main() {
  await consumer.connect()
  for (const topic of spec.topics) await consumer.subscribe({ topic, fromBeginning: true })
  emit('started', { client: 'kafkajs' })
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      if (batch.messages.length === 0) return
      const recs = batch.messages.map(m => [
        batch.topic,
        batch.partition,
        Number(m.offset),
        m.value === null ? null : m.value.toString(),
      ])
      emit('records', { records: recs })
      const next = String(Number(batch.messages[batch.messages.length - 1].offset) + 1)
      try {
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }])
      } catch (e) {
        emit('commit_failed', { error: `${e.type || e.name}: ${e.message}` })
      }
    },
  })
}

main().catch(e => {
  emit('error', { error: `${e.name}: ${e.message}` })
  close('error')
})
