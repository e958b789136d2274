#include "broker/shards.h"

#include <asio/executor_work_guard.hpp>

namespace fjord::broker {

Shards::Shards(int count) {
  for (int i = 0; i < count; ++i) contexts_.push_back(std::make_unique<asio::io_context>(1));
}

void Shards::run() {
  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& ctx : contexts_) guards.push_back(asio::make_work_guard(*ctx));
  guards.push_back(asio::make_work_guard(controller_));
  threads.emplace_back([this] { controller_.run(); });
  for (size_t i = 1; i < contexts_.size(); ++i) threads.emplace_back([this, i] { contexts_[i]->run(); });
  contexts_[0]->run();
  for (auto& t : threads) t.join();
}

void Shards::stop() {
  for (auto& ctx : contexts_) ctx->stop();
  controller_.stop();
}

}  // namespace fjord::broker
