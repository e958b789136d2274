// Reaching a transaction coordinator from a request handler: __transaction_state (created on
// first use, as Kafka does), the transactional id's partition and shard, and the broker side of
// the coordinator (its log writes, transaction markers on any shard, producer ids).
#pragma once

#include <memory>
#include <string>

#include "broker/broker.h"
#include "broker/groups.h"
#include "protocol/generated/error_codes.h"
#include "protocol/record_batch.h"
#include "tl/expected.hpp"

namespace fjord::broker {

std::unique_ptr<coordinator::TransactionCoordinator> make_txn_coordinator(Broker& broker, int shard);

// Replays every __transaction_state partition into its shard's coordinator and starts them (at
// start, before serving). False if a partition cannot be read.
bool load_transactions(Broker& broker);

// Creates __transaction_state if it does not exist yet; its partition count, or
// COORDINATOR_NOT_AVAILABLE.
asio::awaitable<tl::expected<int32_t, protocol::ErrorCode>> ensure_transaction_topic(Broker& broker);

struct TxnHome {
  int32_t partition = 0;  // of __transaction_state
  int shard = 0;
};
asio::awaitable<tl::expected<TxnHome, protocol::ErrorCode>> txn_home(Broker& broker, const std::string& transactional_id);

// Kafka's partition verification (KIP-890) for a produce request of transactional id `id`: for
// each (partition, producer id, epoch), NONE if that epoch of the producer has the partition in
// its open transaction, else the error to answer. Asks the coordinator here, or on the broker
// that coordinates `id` (AddPartitionsToTxn v4, verify_only). With `for_produce`, coordinator
// trouble is answered NOT_ENOUGH_REPLICAS (Kafka's choice: producers retry it); otherwise
// COORDINATOR_NOT_AVAILABLE.
struct TxnVerify {
  coordinator::TopicPartition partition;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
};
asio::awaitable<std::vector<protocol::ErrorCode>> verify_txn_partitions(Broker& broker, std::string id,
                                                                         std::vector<TxnVerify> asks, bool for_produce);

// On the partition's shard: writes a transaction marker on `partition` and, once it is durable,
// has that shard's group coordinator settle the producer's pending offsets when the partition
// is one of __consumer_offsets; `done` runs on that shard.
void write_marker(Broker& broker, const coordinator::TopicPartition& partition, int64_t producer_id,
                  int16_t producer_epoch, protocol::TxnMarker marker, int64_t now_ms,
                  std::function<void(protocol::ErrorCode)> done);

// The transaction coordinator of `shard`, as call_coordinator.
template <typename Resp, typename Start>
asio::awaitable<Resp> on_txn_coordinator(Broker& broker, int shard, Start start) {  // not a coroutine
  return call_coordinator<Resp>(broker.shards.context(shard),
                                (*broker.txn_coordinators)[static_cast<size_t>(shard)].get(), std::move(start));
}

}  // namespace fjord::broker
