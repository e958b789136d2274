#include "broker/partitions.h"

#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

#include "broker/log_config.h"

namespace fjord::broker {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

storage::PartitionLog* partition_log(Broker& broker, const metadata::TopicInfo& topic, int32_t partition) {
  int shard = broker.shard_of(topic.name, partition);
  storage::LogManager& logs = *broker.logs[static_cast<size_t>(shard)];
  if (storage::PartitionLog* log = logs.find(topic.name, partition, topic.id)) return log;
  auto opened = logs.open(topic.name, partition, topic.id, log_config_for(broker.config, topic),
                          storage::StartupState{true, {}, {}}, now_ms());
  if (!opened) {
    spdlog::error("{}", opened.error());
    return nullptr;
  }
  return *opened;
}

asio::awaitable<storage::IoResult<>> wait_durable(storage::PartitionLog& log, int64_t offset) {
  auto executor = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(storage::IoResult<>)>(
      [&log, offset, executor](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        log.when_durable(offset, [shared, executor](storage::IoResult<> result) {
          // Resume through the executor, never inside when_durable's caller.
          asio::post(executor, [shared, result]() mutable { (*shared)(result); });
        });
      },
      asio::use_awaitable);
}

}  // namespace fjord::broker
