// kafkajs admin client against a Fjord broker.
//
// Usage: node admin_check.js HOST:PORT   (or FJORD_BOOTSTRAP=HOST:PORT node admin_check.js)
// Needs kafkajs installed in tests/node_modules (cd tests && npm ci).
//
// Runs a fixed sequence of admin calls and prints one JSON object with what each returned
// on stdout; test_kafkajs.py checks it. Exits 0 when every step ran (whatever it returned),
// 1 with {"error": ...} when a step threw unexpectedly, and is killed by a watchdog after 45 s.
'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const { Kafka, logLevel, ConfigResourceTypes } = require('kafkajs') // from tests/node_modules

const bootstrap = process.argv[2] || process.env.FJORD_BOOTSTRAP
if (!bootstrap) {
  console.error('usage: node admin_check.js HOST:PORT')
  process.exit(2)
}

const watchdog = setTimeout(() => {
  console.log(JSON.stringify({ error: 'watchdog: admin_check.js ran for more than 45 s' }))
  process.exit(1)
}, 45000)

const kafka = new Kafka({
  clientId: 'fjord-it-kafkajs',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 5000,
  requestTimeout: 10000,
  retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 3 },
})

// Runs fn; returns {ok: value} or {error: {type, message, errorTypes}} for an expected failure.
async function outcome(fn) {
  try {
    return { ok: await fn() }
  } catch (e) {
    // KafkaJSNumberOfRetriesExceeded wraps the last protocol error in `cause`.
    const inner = e.cause || e.originalError || e
    const errors = e.errors || inner.errors || []
    return {
      error: {
        name: e.name,
        type: e.type || inner.type || null,
        message: e.message,
        errorTypes: errors.map(x => x.type),
      },
    }
  }
}

function summarizeMetadata(md) {
  return md.topics.map(t => ({
    name: t.name,
    partitions: t.partitions
      .map(p => ({
        id: p.partitionId,
        error: p.partitionErrorCode,
        leader: p.leader,
        replicas: p.replicas,
        isr: p.isr,
      }))
      .sort((a, b) => a.id - b.id),
  }))
}

async function main() {
  const admin = kafka.admin()
  const out = {}
  await admin.connect()
  try {
    const cluster = await admin.describeCluster()
    out.cluster = {
      controller: cluster.controller,
      clusterId: cluster.clusterId,
      brokers: cluster.brokers.map(b => ({ nodeId: b.nodeId, host: b.host, port: b.port })),
    }

    out.created = await admin.createTopics({
      topics: [
        { topic: 'js-a', numPartitions: 3, replicationFactor: 1 },
        {
          topic: 'js-b',
          numPartitions: 1,
          replicationFactor: 1,
          configEntries: [{ name: 'retention.ms', value: '60000' }],
        },
      ],
      waitForLeaders: true,
      timeout: 10000,
    })
    out.createdAgain = await admin.createTopics({
      topics: [{ topic: 'js-a', numPartitions: 3, replicationFactor: 1 }],
      timeout: 10000,
    })
    out.badReplication = await outcome(() =>
      admin.createTopics({
        topics: [{ topic: 'js-rf', numPartitions: 1, replicationFactor: 3 }],
        timeout: 10000,
      })
    )
    out.topicsAfterCreate = (await admin.listTopics()).sort()
    out.metadata = summarizeMetadata(await admin.fetchTopicMetadata({ topics: ['js-a', 'js-b'] }))

    await admin.createPartitions({ topicPartitions: [{ topic: 'js-b', count: 2 }], timeout: 10000 })
    out.metadataAfterGrow = summarizeMetadata(await admin.fetchTopicMetadata({ topics: ['js-b'] }))
    out.shrink = await outcome(() =>
      admin.createPartitions({ topicPartitions: [{ topic: 'js-b', count: 1 }], timeout: 10000 })
    )

    const configs = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: 'js-b' }],
      includeSynonyms: false,
    })
    const entries = {}
    for (const e of configs.resources[0].configEntries) {
      entries[e.configName] = { value: e.configValue, isDefault: e.isDefault, source: e.configSource }
    }
    out.configs = {
      errorCode: configs.resources[0].errorCode,
      'retention.ms': entries['retention.ms'],
      'cleanup.policy': entries['cleanup.policy'],
    }

    await admin.deleteTopics({ topics: ['js-a'], timeout: 10000 })
    out.topicsAfterDelete = (await admin.listTopics()).sort()
    out.deleteUnknown = await outcome(() => admin.deleteTopics({ topics: ['js-ghost'], timeout: 10000 }))
  } finally {
    await admin.disconnect()
  }
  return out
}

main().then(
  out => {
    clearTimeout(watchdog)
    console.log(JSON.stringify(out))
    process.exit(0)
  },
  e => {
    clearTimeout(watchdog)
    console.log(JSON.stringify({ error: { name: e.name, type: e.type || null, message: e.message } }))
    process.exit(1)
  }
)
