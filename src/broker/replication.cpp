#include "broker/replication.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "broker/forward.h"
#include "broker/groups.h"
#include "broker/partitions.h"
#include "cluster/peer_client.h"
#include "protocol/generated/alter_partition_request.h"
#include "protocol/generated/alter_partition_response.h"
#include "protocol/generated/fetch_request.h"
#include "protocol/generated/fetch_response.h"
#include "protocol/generated/offset_for_leader_epoch_request.h"
#include "protocol/generated/offset_for_leader_epoch_response.h"

namespace fjord::broker {
using protocol::ErrorCode;
using namespace std::chrono_literals;

namespace {

bool contains(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  std::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// The request's entry for `topic` (Fetch and OffsetForLeaderEpoch name topics), added if new.
template <typename Req>
auto& topic_entry(Req& req, const std::string& topic) {
  for (auto& t : req.topics)
    if (t.topic == topic) return t;
  auto& t = req.topics.emplace_back();
  t.topic = topic;
  return t;
}

// The fetch version followers use: topic names, replica_id in the request body.
constexpr int16_t kReplicaFetchVersion = 12;
constexpr int16_t kOffsetForLeaderEpochVersion = 4;
constexpr int16_t kAlterPartitionVersion = 2;

}  // namespace

ShardReplication::ShardReplication(Broker& broker, int shard) : broker_(broker), shard_(shard) {}

ShardReplication::~ShardReplication() { *alive_ = false; }

void ShardReplication::start() {
  asio::co_spawn(broker_.shards.context(shard_), tick_loop(), asio::detached);
}

void ShardReplication::stop() { stopped_ = true; }

size_t ShardReplication::leading() const {
  return static_cast<size_t>(std::count_if(parts_.begin(), parts_.end(), [](const auto& e) { return e.second.leader; }));
}

size_t ShardReplication::following() const { return parts_.size() - leading(); }

storage::PartitionLog* ShardReplication::log_of(const Part& part) const {
  return broker_.logs[static_cast<size_t>(shard_)]->find(part.topic, part.partition, part.topic_id);
}

bool ShardReplication::leads(const std::string& topic_name, int32_t partition) {
  auto image = broker_.store.image();
  const metadata::TopicInfo* topic = image->find(topic_name);
  const metadata::PartitionState* state = topic ? topic->partition(partition) : nullptr;
  if (state == nullptr) return true;  // no partition state: the caller's image checks decide
  auto it = parts_.find({topic_name, partition});
  const bool replicated = state->replicas.size() >= 2 && contains(state->replicas, broker_.node_id);
  const bool current = replicated ? it != parts_.end() && it->second.topic_id == topic->id && it->second.state == *state
                                  : it == parts_.end();
  if (!current && !refreshing_) {
    refresh(topic_name, partition);
    it = parts_.find({topic_name, partition});
  }
  if (!replicated) return state->leader == broker_.node_id;
  return it != parts_.end() && it->second.leader && it->second.state.leader_epoch == state->leader_epoch;
}

void ShardReplication::refresh(const std::string& topic_name, int32_t partition) {
  refreshing_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{refreshing_};
  const Key key{topic_name, partition};
  auto image = broker_.store.image();
  const metadata::TopicInfo* topic = image->find(topic_name);
  const metadata::PartitionState* state = topic ? topic->partition(partition) : nullptr;
  const int32_t self = broker_.node_id;
  auto it = parts_.find(key);
  if (state == nullptr || state->replicas.size() < 2 || !contains(state->replicas, self)) {
    if (it != parts_.end()) {
      storage::PartitionLog* log = log_of(it->second);
      if (log != nullptr) {
        log->set_after_append(nullptr);
        log->set_replicated(false);
        log->fail_replication_waiters(ErrorCode::NOT_LEADER_OR_FOLLOWER);
      }
      if (it->second.leader) take_over_coordinator(broker_, shard_, topic_name, partition, log, false);
      parts_.erase(it);
    }
    return;
  }
  storage::PartitionLog* log = partition_log(broker_, *topic, partition);
  if (log == nullptr) return;
  log->set_replicated(true);
  if (it != parts_.end() && it->second.topic_id != topic->id) {
    parts_.erase(it);
    it = parts_.end();
  }
  if (it == parts_.end()) {
    it = parts_.emplace(key, Part{}).first;
    it->second.topic = topic_name;
    it->second.topic_id = topic->id;
    it->second.partition = partition;
  }
  Part& part = it->second;
  const metadata::PartitionState was = part.state;
  const bool was_leader = part.leader;
  part.state = *state;
  if (state->partition_epoch != was.partition_epoch) part.pending_isr.clear();
  const int64_t now = now_ms();
  if (state->leader == self) {
    if (!was_leader || was.leader_epoch != state->leader_epoch) {
      become_leader(part, *log, now);
      take_over_coordinator(broker_, shard_, topic_name, partition, log, true);
    } else if (was.replicas != state->replicas) {
      // A reassignment added or removed replicas: new ones fetch from scratch.
      std::erase_if(part.followers, [state](const auto& f) { return !contains(state->replicas, f.first); });
      for (int32_t r : state->replicas)
        if (r != self && !part.followers.contains(r)) part.followers[r] = Follower{-1, now, 0, -1};
    }
    advance_high_watermark(part, *log);
    return;
  }
  if (was_leader) {
    log->set_after_append(nullptr);
    log->fail_replication_waiters(ErrorCode::NOT_LEADER_OR_FOLLOWER);
    take_over_coordinator(broker_, shard_, topic_name, partition, log, false);
    part.followers.clear();
    part.pending_isr.clear();
  }
  part.leader = false;
  if (was_leader || was.leader != state->leader || was.leader_epoch != state->leader_epoch) {
    part.truncated = false;
    part.retry_ms = 0;
  }
  const bool newly = was_leader || was.leader != state->leader || was.leader_epoch != state->leader_epoch;
  if (state->leader >= 0) ensure_fetcher(state->leader, newly);
}

void ShardReplication::become_leader(Part& part, storage::PartitionLog& log, int64_t now) {
  part.leader = true;
  part.pending_isr.clear();
  part.alter_retry_ms = 0;
  part.followers.clear();
  for (int32_t r : part.state.replicas)
    if (r != broker_.node_id) part.followers[r] = Follower{-1, now, 0, -1};
  if (auto r = log.begin_leader_epoch(part.state.leader_epoch); !r)
    spdlog::error("{}-{}: recording leader epoch {}: {}", part.topic, part.partition, part.state.leader_epoch,
                  r.error().message());
  part.epoch_start = log.log_end_offset();
  // An ISR of the leader alone moves the high watermark with every append.
  log.set_after_append([this, alive = std::weak_ptr<bool>(alive_), key = Key{part.topic, part.partition}] {
    if (alive.expired()) return;
    auto it = parts_.find(key);
    if (it == parts_.end() || !it->second.leader) return;
    if (storage::PartitionLog* l = log_of(it->second)) advance_high_watermark(it->second, *l);
  });
  spdlog::info("{}-{}: leading in epoch {} from offset {} (high watermark {}), ISR {}", part.topic, part.partition,
               part.state.leader_epoch, part.epoch_start, log.high_watermark(), fmt::join(part.state.isr, ","));
}

void ShardReplication::advance_high_watermark(Part& part, storage::PartitionLog& log) {
  int64_t hw = log.log_end_offset();
  auto lower_to = [&](int32_t r) {
    if (r == broker_.node_id) return;
    auto f = part.followers.find(r);
    hw = std::min(hw, f == part.followers.end() ? -1 : f->second.end);
  };
  for (int32_t r : part.state.isr) lower_to(r);
  for (int32_t r : part.pending_isr) lower_to(r);
  if (hw >= 0) log.set_high_watermark(hw, true);
}

ErrorCode ShardReplication::follower_fetched(const std::string& topic, int32_t partition, int32_t replica,
                                             int32_t leader_epoch, int64_t offset, int64_t now) {
  auto it = parts_.find({topic, partition});
  if (it == parts_.end() || !it->second.leader) return ErrorCode::NOT_LEADER_OR_FOLLOWER;
  Part& part = it->second;
  if (leader_epoch >= 0 && leader_epoch < part.state.leader_epoch) return ErrorCode::FENCED_LEADER_EPOCH;
  if (leader_epoch > part.state.leader_epoch) return ErrorCode::UNKNOWN_LEADER_EPOCH;
  auto f = part.followers.find(replica);
  if (f == part.followers.end()) return ErrorCode::NOT_LEADER_OR_FOLLOWER;
  storage::PartitionLog* log = log_of(part);
  if (log == nullptr) return ErrorCode::KAFKA_STORAGE_ERROR;
  const int64_t leader_end = log->log_end_offset();
  Follower& fs = f->second;
  // Kafka's rule: caught up now if it has everything, or since its last fetch if it then had
  // everything the leader had then.
  if (offset >= leader_end) {
    fs.caught_up_ms = now;
  } else if (fs.leader_end_at_last_fetch >= 0 && offset >= fs.leader_end_at_last_fetch) {
    fs.caught_up_ms = std::max(fs.caught_up_ms, fs.last_fetch_ms);
  }
  fs.end = std::min(offset, leader_end);
  fs.leader_end_at_last_fetch = leader_end;
  fs.last_fetch_ms = now;
  maybe_expand_isr(part, replica, *log, now);
  advance_high_watermark(part, *log);
  return ErrorCode::NONE;
}

void ShardReplication::maybe_expand_isr(Part& part, int32_t replica, const storage::PartitionLog& log, int64_t now) {
  if (contains(part.state.isr, replica) || !part.pending_isr.empty() || now < part.alter_retry_ms) return;
  const Follower& f = part.followers[replica];
  // It holds everything committed, and something of this leader's epoch (Kafka's rule).
  if (f.end < log.high_watermark() || f.end < part.epoch_start) return;
  std::vector<int32_t> isr = part.state.isr;
  isr.push_back(replica);
  spdlog::info("{}-{}: replica {} caught up (offset {}): asking to add it to the ISR", part.topic, part.partition,
               replica, f.end);
  alter_isr(part, std::move(isr), now);
}

void ShardReplication::shrink_isrs(int64_t now) {
  const int64_t max_lag = broker_.config()->get_long("replica.lag.time.max.ms");
  for (auto& [key, part] : parts_) {
    if (!part.leader || !part.pending_isr.empty() || now < part.alter_retry_ms) continue;
    storage::PartitionLog* log = log_of(part);
    if (log == nullptr) continue;
    std::vector<int32_t> isr;
    std::vector<int32_t> out;
    for (int32_t r : part.state.isr) {
      auto f = part.followers.find(r);
      const bool lagging = r != broker_.node_id && f != part.followers.end() &&
                           f->second.end < log->log_end_offset() && now - f->second.caught_up_ms > max_lag;
      (lagging ? out : isr).push_back(r);
    }
    if (out.empty()) continue;
    spdlog::warn("{}-{}: replica(s) {} not caught up for {} ms (replica.lag.time.max.ms): asking to shrink the ISR to {}",
                 part.topic, part.partition, fmt::join(out, ","), max_lag, fmt::join(isr, ","));
    alter_isr(part, std::move(isr), now);
  }
}

void ShardReplication::alter_isr(Part& part, std::vector<int32_t> isr, int64_t now) {
  part.pending_isr = isr;
  part.alter_retry_ms = now + 1000;
  metadata::PartitionState asked = part.state;
  asked.isr = std::move(isr);
  asio::co_spawn(broker_.shards.context(shard_), send_alter({part.topic, part.partition}, asked, part.topic_id),
                 asio::detached);
}

asio::awaitable<void> ShardReplication::send_alter(Key key, metadata::PartitionState asked, Uuid topic_id) {
  auto alive = alive_;
  Broker& broker = broker_;
  const int32_t self = broker.node_id;
  ErrorCode error = ErrorCode::NONE;
  auto image = broker.store.image();
  ErrorCode no_controller;
  const metadata::BrokerInfo* controller = remote_controller(broker, *image, &no_controller);
  if (no_controller != ErrorCode::NONE) {
    error = no_controller;
  } else if (controller == nullptr) {
    auto alter = [&broker, self, topic_id, partition = key.second, asked] {
      return broker.controller.alter_partition(self, -1, topic_id, partition, asked);
    };
    error = co_await run_on(broker.controller_context(), std::move(alter));
  } else {
    protocol::AlterPartitionRequest req;
    req.broker_id = self;
    const metadata::BrokerInfo* me = image->broker(self);
    req.broker_epoch = me ? me->epoch : -1;
    auto& t = req.topics.emplace_back();
    t.topic_id = topic_id;
    auto& p = t.partitions.emplace_back();
    p.partition_index = key.second;
    p.leader_epoch = asked.leader_epoch;
    p.partition_epoch = asked.partition_epoch;
    p.new_isr = asked.isr;
    auto resp = co_await forward_to_controller<protocol::AlterPartitionResponse>(broker, req, kAlterPartitionVersion);
    if (!resp) {
      error = ErrorCode::NOT_CONTROLLER;
    } else if (resp->error_code != 0) {
      error = static_cast<ErrorCode>(resp->error_code);
    } else if (resp->topics.size() == 1 && resp->topics[0].partitions.size() == 1) {
      error = static_cast<ErrorCode>(resp->topics[0].partitions[0].error_code);
    } else {
      error = ErrorCode::UNKNOWN_SERVER_ERROR;
    }
  }
  if (!*alive || error == ErrorCode::NONE) co_return;  // the new ISR arrives with the metadata
  auto it = parts_.find(key);
  if (it == parts_.end()) co_return;
  spdlog::warn("{}-{}: AlterPartition (ISR {}) failed: {}", key.first, key.second, fmt::join(asked.isr, ","),
               protocol::error_name(error));
  if (it->second.pending_isr == asked.isr) it->second.pending_isr.clear();
}

void ShardReplication::ensure_fetcher(int32_t leader, bool wake) {
  if (stopped_) return;
  auto [it, added] = fetchers_.emplace(leader, std::make_shared<Fetcher>());
  if (added) {
    asio::co_spawn(broker_.shards.context(shard_), fetch_loop(leader), asio::detached);
  } else if (wake && it->second->peer != nullptr && it->second->peer->connected()) {
    it->second->woken = true;
    it->second->peer->close();
  }
}

asio::awaitable<void> ShardReplication::tick_loop() {
  auto alive = alive_;
  for (;;) {
    const int64_t max_lag = broker_.config()->get_long("replica.lag.time.max.ms");
    co_await sleep_for(std::chrono::milliseconds(std::clamp<int64_t>(max_lag / 4, 10, 1000)));
    if (!*alive || stopped_) co_return;
    shrink_isrs(now_ms());
  }
}

asio::awaitable<void> ShardReplication::fetch_loop(int32_t leader) {
  auto alive = alive_;
  Broker& broker = broker_;
  const int32_t self = broker.node_id;
  cluster::PeerConnection peer(co_await asio::this_coro::executor, fmt::format("fjord-replica-{}", self));
  std::shared_ptr<Fetcher> me = fetchers_.at(leader);
  me->peer = &peer;
  struct Detach {
    Fetcher& f;
    ~Detach() { f.peer = nullptr; }
  } detach{*me};
  // A call that failed because refresh() cut it short goes again at once.
  auto woken = [&me] { return std::exchange(me->woken, false); };
  spdlog::info("replica fetcher for leader {} started (shard {})", leader, shard_);
  for (;;) {
    if (!*alive || stopped_) co_return;
    auto config = broker.config();
    const auto backoff = std::chrono::milliseconds(config->get_int("replica.fetch.backoff.ms"));
    const int64_t now = now_ms();
    std::vector<Key> following, truncate;
    for (auto& [key, part] : parts_) {
      if (part.leader || part.state.leader != leader) continue;
      following.push_back(key);
      if (!part.truncated && now >= part.retry_ms) truncate.push_back(key);
    }
    if (following.empty()) break;
    auto image = broker.store.image();
    const metadata::BrokerInfo* target = image->broker(leader);
    if (target == nullptr) {
      co_await sleep_for(backoff);
      continue;
    }
    const std::string host = target->host;
    const int port = target->port;

    // Where diverging records start: the leader says where our last epoch ended there.
    if (!truncate.empty()) {
      protocol::OffsetForLeaderEpochRequest req;
      req.replica_id = self;
      std::vector<Key> asked;
      for (const Key& key : truncate) {
        Part& part = parts_.at(key);
        storage::PartitionLog* log = log_of(part);
        if (log == nullptr) continue;
        if (log->latest_leader_epoch() < 0) {
          // No epochs known (an empty log, or records from before epochs were kept): only what
          // was committed is sure to be the leader's too.
          const int64_t keep = std::max(log->high_watermark(), log->log_start_offset());
          if (keep < log->log_end_offset()) {
            spdlog::info("{}-{}: no leader epochs here: truncating to the high watermark {}", key.first, key.second, keep);
            if (!log->truncate_to(keep)) continue;
          }
          part.truncated = true;
          continue;
        }
        auto& p = topic_entry(req, key.first).partitions.emplace_back();
        p.partition = key.second;
        p.current_leader_epoch = part.state.leader_epoch;
        p.leader_epoch = log->latest_leader_epoch();
        asked.push_back(key);
      }
      if (!asked.empty()) {
        auto resp = co_await peer.call<protocol::OffsetForLeaderEpochResponse>(host, port, req, kOffsetForLeaderEpochVersion,
                                                                             10000ms);
        if (!*alive || stopped_) co_return;
        if (!resp) {
          if (woken()) continue;
          spdlog::warn("OffsetForLeaderEpoch to leader {} ({}:{}) failed: {}", leader, host, port, resp.error());
          co_await sleep_for(backoff);
          continue;
        }
        for (const auto& t : resp->topics) {
          for (const auto& p : t.partitions) {
            auto it = parts_.find({t.topic, p.partition});
            if (it == parts_.end() || it->second.leader || it->second.state.leader != leader) continue;
            Part& part = it->second;
            storage::PartitionLog* log = log_of(part);
            if (log == nullptr) continue;
            auto e = static_cast<ErrorCode>(p.error_code);
            if (e != ErrorCode::NONE) {
              // The leader has not taken over yet (or has moved on): try again shortly.
              part.retry_ms = now_ms() + std::min<int64_t>(backoff.count(), 100);
              continue;
            }
            int64_t end = p.end_offset;
            if (p.leader_epoch < 0 || end < 0) {
              end = std::max(log->high_watermark(), log->log_start_offset());
            } else {
              // Our own end of that epoch: what we wrote in it past the leader's end diverged.
              auto [epoch, mine] = log->end_offset_for_epoch(p.leader_epoch);
              if (epoch == p.leader_epoch && mine >= 0) end = std::min(end, mine);
            }
            if (end < log->log_end_offset()) {
              spdlog::warn("{}-{}: truncating from {} to {}: leader {} ended epoch {} there", t.topic, p.partition,
                           log->log_end_offset(), end, leader, p.leader_epoch);
              if (auto r = log->truncate_to(end); !r) {
                part.retry_ms = now_ms() + backoff.count();
                continue;
              }
            }
            part.truncated = true;
          }
        }
      }
    }

    // Fetch from each partition's durable log end.
    protocol::FetchRequest req;
    req.replica_id = self;
    req.max_wait_ms = config->get_int("replica.fetch.wait.max.ms");
    req.min_bytes = 1;
    req.max_bytes = config->get_int("replica.fetch.response.max.bytes");
    req.isolation_level = 0;
    req.session_id = 0;
    req.session_epoch = -1;
    const int32_t partition_max = config->get_int("replica.fetch.max.bytes");
    size_t fetching = 0;
    const int64_t start = now_ms();
    for (const Key& key : following) {
      auto it = parts_.find(key);
      if (it == parts_.end() || !it->second.truncated || start < it->second.retry_ms) continue;
      storage::PartitionLog* log = log_of(it->second);
      if (log == nullptr) continue;
      auto& p = topic_entry(req, key.first).partitions.emplace_back();
      p.partition = key.second;
      p.current_leader_epoch = it->second.state.leader_epoch;
      p.fetch_offset = log->log_end_offset();
      p.last_fetched_epoch = log->latest_leader_epoch();
      p.log_start_offset = log->log_start_offset();
      p.partition_max_bytes = partition_max;
      ++fetching;
    }
    if (fetching == 0) {
      co_await sleep_for(std::min<std::chrono::milliseconds>(backoff, 50ms));
      continue;
    }
    auto resp = co_await peer.call<protocol::FetchResponse>(host, port, req, kReplicaFetchVersion,
                                                           std::chrono::milliseconds(req.max_wait_ms) + 10000ms);
    if (!*alive || stopped_) co_return;
    if (!resp) {
      if (woken()) continue;
      spdlog::warn("replica fetch from leader {} ({}:{}) failed: {}", leader, host, port, resp.error());
      co_await sleep_for(backoff);
      continue;
    }
    if (resp->error_code != 0) {
      co_await sleep_for(backoff);
      continue;
    }
    // Appended logs, and the end each must reach the disk before the next fetch says so.
    std::vector<std::pair<Key, int64_t>> written;
    for (auto& t : resp->responses) {
      for (auto& p : t.partitions) {
        auto it = parts_.find({t.topic, p.partition_index});
        if (it == parts_.end() || it->second.leader || it->second.state.leader != leader) continue;
        Part& part = it->second;
        storage::PartitionLog* log = log_of(part);
        if (log == nullptr) continue;
        auto e = static_cast<ErrorCode>(p.error_code);
        if (e == ErrorCode::OFFSET_OUT_OF_RANGE) {
          if (log->log_end_offset() < p.log_start_offset) {
            // What it lacks is gone from the leader (retention, DeleteRecords): start over there.
            spdlog::warn("{}-{}: the leader's log starts at {}, past this replica's end {}: starting over there",
                         t.topic, p.partition_index, p.log_start_offset, log->log_end_offset());
            if (!log->reset_to(p.log_start_offset)) part.retry_ms = now_ms() + backoff.count();
          } else {
            part.truncated = false;  // ask again where the leader's log and ours diverge
          }
          continue;
        }
        if (e != ErrorCode::NONE) {
          part.retry_ms = now_ms() + std::min<int64_t>(backoff.count(), 100);
          continue;
        }
        if (auto records = p.records.data(); records && !records->empty()) {
          auto appended = log->append_replicated(*records, now_ms());
          if (!appended) {
            spdlog::error("{}-{}: appending replicated records at {}: {}", t.topic, p.partition_index,
                          log->log_end_offset(), protocol::error_name(appended.error()));
            part.truncated = appended.error() != ErrorCode::OFFSET_OUT_OF_RANGE;
            part.retry_ms = now_ms() + backoff.count();
            continue;
          }
        }
        log->set_high_watermark(std::min(p.high_watermark, log->log_end_offset()), false);
        // The leader's log start moved (DeleteRecords, retention): so does ours, below our high
        // watermark.
        if (p.log_start_offset > log->log_start_offset()) {
          const int64_t to = std::min(p.log_start_offset, log->high_watermark());
          if (to > log->log_start_offset()) (void)log->delete_records_before(to);
        }
        if (log->durable_offset() < log->log_end_offset()) written.emplace_back(it->first, log->log_end_offset());
      }
    }
    // Every sync starts before the first wait: they run together, not one after another.
    for (const auto& [key, end] : written)
      if (storage::PartitionLog* log = log_of(parts_.at(key))) log->when_durable(end, [](storage::IoResult<>) {});
    for (const auto& [key, end] : written) {
      auto it = parts_.find(key);
      if (it == parts_.end()) continue;
      storage::PartitionLog* log = log_of(it->second);
      if (log == nullptr) continue;
      auto durable = co_await wait_durable_for(*log, end, 30000ms);
      if (!*alive || stopped_) co_return;
      if (!durable || !*durable) spdlog::error("{}-{}: replicated records did not reach the disk", key.first, key.second);
    }
  }
  if (auto it = fetchers_.find(leader); it != fetchers_.end() && it->second == me) fetchers_.erase(it);
  spdlog::info("replica fetcher for leader {} stopped (shard {}): nothing to follow there", leader, shard_);
}

protocol::ErrorCode replication_leader_error(Broker& broker, const std::string& topic, int32_t partition) {
  ShardReplication* r = broker.replication_of(broker.shard_of(topic, partition));
  if (r == nullptr) return ErrorCode::NONE;
  return r->leads(topic, partition) ? ErrorCode::NONE : ErrorCode::NOT_LEADER_OR_FOLLOWER;
}

void refresh_replication(Broker& broker, const std::string& topic, int32_t partition) {
  const int shard = broker.shard_of(topic, partition);
  ShardReplication* r = broker.replication_of(shard);
  if (r == nullptr) return;
  asio::post(broker.shards.context(shard), [r, topic, partition] { r->refresh(topic, partition); });
}

}  // namespace fjord::broker
