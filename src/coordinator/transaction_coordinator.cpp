#include "coordinator/transaction_coordinator.h"

#include <spdlog/spdlog.h>

#include "protocol/codec.h"
#include "protocol/generated/transaction_log_key.h"
#include "protocol/generated/transaction_log_value.h"
#include "protocol/record_batch.h"

namespace fjord::coordinator {
using protocol::ErrorCode;

namespace {
constexpr int16_t kMaxEpoch = INT16_MAX - 1;  // an epoch past this takes a new producer id (Kafka's rule)

}  // namespace

const char* txn_state_name(TxnState state) {
  switch (state) {
    case TxnState::Empty: return "Empty";
    case TxnState::Ongoing: return "Ongoing";
    case TxnState::PrepareCommit: return "PrepareCommit";
    case TxnState::PrepareAbort: return "PrepareAbort";
    case TxnState::CompleteCommit: return "CompleteCommit";
    case TxnState::CompleteAbort: return "CompleteAbort";
    case TxnState::Dead: return "Dead";
    case TxnState::PrepareEpochFence: return "PrepareEpochFence";
  }
  return "Unknown";
}

OffsetsRecord transaction_record(const TxnInfo& txn) {
  OffsetsRecord r;
  protocol::Writer k(r.key);
  k.write_int16(0);
  protocol::TransactionLogKey key;
  key.transactional_id = txn.transactional_id;
  key.encode(k, 0);
  protocol::TransactionLogValue value;
  value.producer_id = txn.producer_id;
  value.producer_epoch = txn.producer_epoch;
  value.transaction_timeout_ms = txn.timeout_ms;
  value.transaction_status = static_cast<int8_t>(txn.state);
  auto& parts = value.transaction_partitions.emplace();
  for (const TopicPartition& tp : txn.partitions) {
    if (parts.empty() || parts.back().topic != tp.topic) parts.emplace_back().topic = tp.topic;
    parts.back().partition_ids.push_back(tp.partition);
  }
  value.transaction_last_update_timestamp_ms = txn.update_ms;
  value.transaction_start_timestamp_ms = txn.start_ms;
  Bytes& v = r.value.emplace();
  protocol::Writer w(v);
  w.write_int16(0);
  value.encode(w, 0);
  return r;
}

TransactionCoordinator::TransactionCoordinator(asio::io_context& context, TxnConfig config, TxnEnv env)
    : context_(context), config_(config), env_(std::move(env)), timer_(context) {}

TransactionCoordinator::~TransactionCoordinator() { *alive_ = false; }

tl::expected<ReplayStats, std::string> TransactionCoordinator::load(int32_t partition,
                                                                    const storage::PartitionLog& log) {
  return for_each_batch(log, [&](const protocol::BatchHeader& h, ByteView, ByteView body, ReplayStats& stats) {
    if (h.is_control()) return;
    protocol::for_each_record(body, h, [&](const protocol::RecordView& rec) {
      ++stats.records;
      if (!rec.key) return ++stats.skipped, void();
      protocol::Reader kr(*rec.key);
      int16_t key_version = kr.read_int16();
      protocol::TransactionLogKey key;
      key.decode(kr, 0);
      if (!kr.ok() || key_version != 0) return ++stats.skipped, void();
      if (!rec.value) {
        txns_.erase(key.transactional_id);
        return;
      }
      protocol::Reader vr(*rec.value);
      int16_t value_version = vr.read_int16();
      protocol::TransactionLogValue value;
      if (value_version >= 0 && value_version <= protocol::TransactionLogValue::kMaxVersion) value.decode(vr, value_version);
      if (!vr.ok() || value_version < 0 || value_version > protocol::TransactionLogValue::kMaxVersion)
        return ++stats.skipped, void();
      Txn& t = txns_[key.transactional_id];
      if (t.info.producer_id >= 0 && t.info.producer_id != value.producer_id) {
        t.last_producer_id = t.info.producer_id;
        t.last_producer_epoch = t.info.producer_epoch;
      }
      t.info.transactional_id = key.transactional_id;
      t.info.partition = partition;
      t.info.producer_id = value.producer_id;
      t.info.producer_epoch = value.producer_epoch;
      t.info.timeout_ms = value.transaction_timeout_ms;
      t.info.state = static_cast<TxnState>(value.transaction_status);
      t.info.partitions.clear();
      if (value.transaction_partitions)
        for (const auto& p : *value.transaction_partitions)
          for (int32_t id : p.partition_ids) t.info.partitions.insert({p.topic, id});
      t.info.start_ms = value.transaction_start_timestamp_ms;
      t.info.update_ms = value.transaction_last_update_timestamp_ms;
    });
  });
}

void TransactionCoordinator::start() {
  finish_unfinished(std::nullopt);
  arm_timer();
}

void TransactionCoordinator::resume(int32_t partition) { finish_unfinished(partition); }

void TransactionCoordinator::finish_unfinished(std::optional<int32_t> partition) {
  std::vector<std::string> unfinished;
  for (auto& [id, t] : txns_) {
    if (partition && t.info.partition != *partition) continue;
    if (t.pending) continue;
    if (t.info.state == TxnState::PrepareCommit || t.info.state == TxnState::PrepareAbort) unfinished.push_back(id);
    if (t.info.state == TxnState::PrepareEpochFence) fence_and_abort(t, "it was being fenced when its coordinator stopped");
  }
  for (const std::string& id : unfinished) {
    spdlog::info("transaction {}: writing the {} markers its coordinator left unwritten", id,
                 txns_[id].info.state == TxnState::PrepareCommit ? "commit" : "abort");
    write_markers(id);
  }
}

size_t TransactionCoordinator::unload(int32_t partition) {
  return std::erase_if(txns_, [partition](const auto& e) { return e.second.info.partition == partition; });
}

void TransactionCoordinator::arm_timer() {
  timer_.expires_after(std::chrono::milliseconds(config_.abort_check_interval_ms));
  timer_.async_wait([this, alive = alive_](std::error_code ec) {
    if (ec || !*alive) return;
    check_timeouts();
    arm_timer();
  });
}

void TransactionCoordinator::persist(Txn& txn, TxnInfo next, std::function<void(ErrorCode)> done) {
  txn.pending = true;
  next.update_ms = env_.clock();
  const std::string id = next.transactional_id;
  OffsetsRecord record = transaction_record(next);
  env_.append(next.partition, std::move(record),
              [this, alive = alive_, id, next = std::move(next), done = std::move(done)](ErrorCode e) mutable {
                if (!*alive) return;
                auto it = txns_.find(id);
                if (it == txns_.end()) return done(ErrorCode::COORDINATOR_NOT_AVAILABLE);
                Txn& t = it->second;
                t.pending = false;
                if (e != ErrorCode::NONE) {
                  spdlog::warn("transaction {}: writing its state {} failed ({})", id, txn_state_name(next.state),
                               static_cast<int>(e));
                  return done(ErrorCode::COORDINATOR_NOT_AVAILABLE);  // retriable: the client tries again
                }
                if (next.producer_id != t.info.producer_id && t.info.producer_id >= 0) {
                  t.last_producer_id = t.info.producer_id;
                  t.last_producer_epoch = t.info.producer_epoch;
                }
                t.info = std::move(next);
                done(ErrorCode::NONE);
              });
}

ErrorCode TransactionCoordinator::check_producer(const Txn* txn, int64_t producer_id, int16_t producer_epoch) const {
  if (txn == nullptr || txn->info.producer_id != producer_id) return ErrorCode::INVALID_PRODUCER_ID_MAPPING;
  if (txn->info.producer_epoch != producer_epoch) return ErrorCode::PRODUCER_FENCED;
  if (txn->pending) return ErrorCode::CONCURRENT_TRANSACTIONS;
  return ErrorCode::NONE;
}

void TransactionCoordinator::init_producer_id(int32_t partition, const std::string& id, int32_t timeout_ms,
                                              int64_t expected_producer_id, int16_t expected_epoch,
                                              std::function<void(InitProducerIdResult)> done) {
  if (timeout_ms <= 0 || timeout_ms > config_.max_timeout_ms)
    return done({ErrorCode::INVALID_TRANSACTION_TIMEOUT});
  auto it = txns_.find(id);
  if (it == txns_.end()) {
    // A new transactional id: a new producer id, epoch 0.
    env_.new_producer_id([this, alive = alive_, partition, id, timeout_ms,
                          done = std::move(done)](tl::expected<int64_t, ErrorCode> pid) mutable {
      if (!*alive) return;
      if (!pid) return done({pid.error()});
      auto [it, fresh] = txns_.try_emplace(id);
      if (!fresh) return done({ErrorCode::CONCURRENT_TRANSACTIONS});  // another init got there first
      Txn& t = it->second;
      t.info.transactional_id = id;
      t.info.partition = partition;
      TxnInfo next = t.info;
      next.producer_id = *pid;
      next.producer_epoch = 0;
      next.timeout_ms = timeout_ms;
      next.state = TxnState::Empty;
      persist(t, next, [this, alive = alive_, id, next, done = std::move(done)](ErrorCode e) {
        if (!*alive) return;
        if (e != ErrorCode::NONE) {
          auto it = txns_.find(id);
          if (it != txns_.end() && it->second.info.producer_id < 0) txns_.erase(it);
          return done({e});
        }
        done({ErrorCode::NONE, next.producer_id, next.producer_epoch});
      });
    });
    return;
  }
  Txn& t = it->second;
  if (t.pending) return done({ErrorCode::CONCURRENT_TRANSACTIONS});
  if (expected_producer_id >= 0) {
    // KIP-360: only the producer holding the current (or the previous) id and epoch may bump.
    const bool current = expected_producer_id == t.info.producer_id && expected_epoch == t.info.producer_epoch;
    const bool previous = expected_producer_id == t.last_producer_id && expected_epoch == t.last_producer_epoch;
    if (!current && !previous) return done({ErrorCode::PRODUCER_FENCED});
  }
  switch (t.info.state) {
    case TxnState::PrepareCommit:
    case TxnState::PrepareAbort:
    case TxnState::PrepareEpochFence:
      return done({ErrorCode::CONCURRENT_TRANSACTIONS});
    case TxnState::Ongoing:
      // Kafka's answer: abort what the old producer left open, fencing it; the client retries.
      fence_and_abort(t, "a new producer with its transactional id started");
      return done({ErrorCode::CONCURRENT_TRANSACTIONS});
    default:
      break;
  }
  auto finish = [this, alive = alive_, id, timeout_ms, done = std::move(done)](int64_t pid, int16_t epoch) mutable {
    auto it = txns_.find(id);
    if (!*alive || it == txns_.end()) return;
    TxnInfo next = it->second.info;
    next.producer_id = pid;
    next.producer_epoch = epoch;
    next.timeout_ms = timeout_ms;
    next.state = TxnState::Empty;
    next.partitions.clear();
    next.start_ms = -1;
    persist(it->second, next, [next, done = std::move(done)](ErrorCode e) {
      if (e != ErrorCode::NONE) return done({e});
      done({ErrorCode::NONE, next.producer_id, next.producer_epoch});
    });
  };
  if (t.info.producer_epoch < kMaxEpoch) return finish(t.info.producer_id, static_cast<int16_t>(t.info.producer_epoch + 1));
  t.pending = true;
  env_.new_producer_id([this, alive = alive_, id, finish = std::move(finish)](tl::expected<int64_t, ErrorCode> pid) mutable {
    auto it = txns_.find(id);
    if (!*alive || it == txns_.end()) return;
    it->second.pending = false;
    if (!pid) return;  // the client times out and retries
    finish(*pid, 0);
  });
}

void TransactionCoordinator::add_partitions(const std::string& id, int64_t producer_id, int16_t producer_epoch,
                                            std::vector<TopicPartition> partitions,
                                            std::function<void(ErrorCode)> done) {
  auto it = txns_.find(id);
  Txn* t = it == txns_.end() ? nullptr : &it->second;
  if (ErrorCode e = check_producer(t, producer_id, producer_epoch); e != ErrorCode::NONE) return done(e);
  if (t->info.state == TxnState::PrepareCommit || t->info.state == TxnState::PrepareAbort ||
      t->info.state == TxnState::PrepareEpochFence)
    return done(ErrorCode::CONCURRENT_TRANSACTIONS);
  if (t->info.state == TxnState::Dead) return done(ErrorCode::INVALID_TXN_STATE);
  TxnInfo next = t->info;
  size_t before = t->info.state == TxnState::Ongoing ? next.partitions.size() : 0;
  if (t->info.state != TxnState::Ongoing) {
    next.partitions.clear();
    next.start_ms = env_.clock();
  }
  next.partitions.insert(partitions.begin(), partitions.end());
  if (t->info.state == TxnState::Ongoing && next.partitions.size() == before) return done(ErrorCode::NONE);
  next.state = TxnState::Ongoing;
  persist(*t, std::move(next), std::move(done));
}

void TransactionCoordinator::end_txn(const std::string& id, int64_t producer_id, int16_t producer_epoch, bool commit,
                                     std::function<void(ErrorCode)> done) {
  auto it = txns_.find(id);
  Txn* t = it == txns_.end() ? nullptr : &it->second;
  if (ErrorCode e = check_producer(t, producer_id, producer_epoch); e != ErrorCode::NONE) return done(e);
  const TxnState want_prepare = commit ? TxnState::PrepareCommit : TxnState::PrepareAbort;
  const TxnState want_complete = commit ? TxnState::CompleteCommit : TxnState::CompleteAbort;
  switch (t->info.state) {
    case TxnState::Ongoing:
      break;
    case TxnState::PrepareCommit:
    case TxnState::PrepareAbort:
      // A retry of the same end while its markers are being written, or the other end.
      return done(t->info.state == want_prepare ? ErrorCode::CONCURRENT_TRANSACTIONS : ErrorCode::INVALID_TXN_STATE);
    case TxnState::CompleteCommit:
    case TxnState::CompleteAbort:
      return done(t->info.state == want_complete ? ErrorCode::NONE : ErrorCode::INVALID_TXN_STATE);
    default:
      return done(ErrorCode::INVALID_TXN_STATE);
  }
  TxnInfo next = t->info;
  next.state = want_prepare;
  persist(*t, std::move(next), [this, alive = alive_, id, done = std::move(done)](ErrorCode e) {
    if (!*alive) return;
    done(e);  // Kafka answers once the decision is durable; the markers follow
    if (e == ErrorCode::NONE) write_markers(id);
  });
}

void TransactionCoordinator::fence_and_abort(Txn& t, const char* why) {
  TxnInfo next = t.info;
  next.producer_epoch = static_cast<int16_t>(std::min<int>(t.info.producer_epoch + 1, INT16_MAX));
  next.state = TxnState::PrepareAbort;
  spdlog::info("transaction {} (producer {} epoch {}): aborting, {}", t.info.transactional_id, t.info.producer_id,
               t.info.producer_epoch, why);
  const std::string id = t.info.transactional_id;
  persist(t, std::move(next), [this, alive = alive_, id](ErrorCode e) {
    if (*alive && e == ErrorCode::NONE) write_markers(id);
  });
}

void TransactionCoordinator::write_markers(const std::string& id) {
  auto it = txns_.find(id);
  if (it == txns_.end()) return;
  Txn& t = it->second;
  const bool commit = t.info.state == TxnState::PrepareCommit;
  t.pending = true;
  std::vector<TopicPartition> partitions(t.info.partitions.begin(), t.info.partitions.end());
  env_.write_markers(t.info.producer_id, t.info.producer_epoch, commit, std::move(partitions),
                     [this, alive = alive_, id, commit](ErrorCode e) {
                       if (!*alive) return;
                       auto it = txns_.find(id);
                       if (it == txns_.end()) return;
                       Txn& t = it->second;
                       t.pending = false;
                       if (e != ErrorCode::NONE) {
                         // Retried by the timeout checks: the decision is durable, so it stands.
                         spdlog::warn("transaction {}: writing its {} markers failed (error {}); retrying later", id,
                                      commit ? "commit" : "abort", static_cast<int>(e));
                         return;
                       }
                       TxnInfo next = t.info;
                       next.state = commit ? TxnState::CompleteCommit : TxnState::CompleteAbort;
                       next.partitions.clear();
                       persist(t, std::move(next), [](ErrorCode) {});
                     });
}

ErrorCode TransactionCoordinator::verify(const std::string& id, int64_t producer_id, int16_t producer_epoch,
                                         const TopicPartition& partition) const {
  auto it = txns_.find(id);
  if (it == txns_.end() || it->second.info.producer_id != producer_id) return ErrorCode::INVALID_PRODUCER_ID_MAPPING;
  const TxnInfo& info = it->second.info;
  if (producer_epoch < info.producer_epoch) return ErrorCode::INVALID_PRODUCER_EPOCH;
  if (producer_epoch != info.producer_epoch || info.state != TxnState::Ongoing || !info.partitions.contains(partition))
    return ErrorCode::INVALID_TXN_STATE;
  return ErrorCode::NONE;
}

void TransactionCoordinator::check_timeouts() {
  const int64_t now = env_.clock();
  std::vector<std::string> retry;
  for (auto& [id, t] : txns_) {
    if (t.pending) continue;
    if (t.info.state == TxnState::Ongoing && t.info.start_ms >= 0 && now - t.info.start_ms > t.info.timeout_ms)
      fence_and_abort(t, "it timed out (transaction.timeout.ms)");
    else if (t.info.state == TxnState::PrepareCommit || t.info.state == TxnState::PrepareAbort)
      retry.push_back(id);
  }
  for (const std::string& id : retry) write_markers(id);
}

std::vector<TxnInfo> TransactionCoordinator::list() const {
  std::vector<TxnInfo> out;
  out.reserve(txns_.size());
  for (const auto& [id, t] : txns_) out.push_back(t.info);
  return out;
}

std::optional<TxnInfo> TransactionCoordinator::describe(const std::string& id) const {
  auto it = txns_.find(id);
  if (it == txns_.end()) return std::nullopt;
  return it->second.info;
}

}  // namespace fjord::coordinator
