// kafkajs admin.alterPartitionReassignments / listPartitionReassignments against a Fjord cluster.
//
// Usage: node reassign.js HOST:PORT alter '[{"topic": T, "partitionAssignment": [{"partition": P, "replicas": [..]}]}]'
//        node reassign.js HOST:PORT list  ['[{"topic": T, "partitions": [P, ..]}]']
// Prints one JSON object: {"ok": true}, {"topics": [...]} (list), or {"error": name, "type": kafkajs
// error type, "message": ...} when the call failed.
'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { Kafka, logLevel } = require('kafkajs') // from tests/node_modules

const [bootstrap, op, arg] = process.argv.slice(2)
const watchdog = setTimeout(() => {
  console.log(JSON.stringify({ error: 'watchdog: reassign.js ran for more than 30 s' }))
  process.exit(1)
}, 30000)

const kafka = new Kafka({ clientId: 'fjord-it-reassign', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING,
  retry: { retries: 2 } })

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  try {
    if (op === 'alter') {
      await admin.alterPartitionReassignments({ topics: JSON.parse(arg) })
      console.log(JSON.stringify({ ok: true }))
    } else {
      const res = await admin.listPartitionReassignments({ topics: arg ? JSON.parse(arg) : null })
      console.log(JSON.stringify(res))
    }
  } catch (e) {
    // kafkajs wraps: a retrier's error (cause) -> an aggregate of per-partition errors (errors[]).
    const inner = (err) => err.type ? err : err.errors && err.errors.length ? inner(err.errors[0]) : err.cause ? inner(err.cause) : err
    const found = inner(e)
    console.log(JSON.stringify({ error: e.name, type: found.type || null, message: String(found.message || e.message) }))
  } finally {
    await admin.disconnect()
  }
}

main().then(() => { clearTimeout(watchdog) }, (e) => {
  console.log(JSON.stringify({ error: String(e) }))
  process.exit(1)
})
