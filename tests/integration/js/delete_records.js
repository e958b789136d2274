// kafkajs admin.deleteTopicRecords against a Fjord broker.
//
// Usage: node delete_records.js HOST:PORT TOPIC PARTITION OFFSET
// Prints one JSON object: {"ok": true} or {"error": name, "type": kafkajs error type}.
'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { Kafka, logLevel } = require('kafkajs') // from tests/node_modules

const [bootstrap, topic, partition, offset] = process.argv.slice(2)
const watchdog = setTimeout(() => {
  console.log(JSON.stringify({ error: 'watchdog: delete_records.js ran for more than 30 s' }))
  process.exit(1)
}, 30000)

const kafka = new Kafka({ clientId: 'fjord-it-delete-records', brokers: [bootstrap], logLevel: logLevel.NOTHING,
  retry: { retries: 0 } })

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  try {
    // kafkajs looks the partition leaders up in metadata it must have loaded before.
    await admin.fetchTopicMetadata({ topics: [topic] })
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: Number(partition), offset }] })
    console.log(JSON.stringify({ ok: true }))
  } catch (e) {
    // kafkajs wraps the per-partition errors: KafkaJSNonRetriableError (cause) ->
    // KafkaJSDeleteTopicRecordsError (partitions[].error).
    const outer = e.cause || e
    const inner = outer.partitions && outer.partitions[0] && outer.partitions[0].error ? outer.partitions[0].error : outer
    console.log(JSON.stringify({ error: e.name, type: inner.type || null, message: String(inner.message || e.message) }))
  } finally {
    await admin.disconnect()
  }
}

main().then(() => { clearTimeout(watchdog) }, (e) => {
  console.log(JSON.stringify({ error: String(e) }))
  process.exit(1)
})
