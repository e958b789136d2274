#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include <optional>
#include <vector>

#include "broker/connection_limits.h"
#include "broker/request_memory.h"

namespace fjord::broker {
namespace {

constexpr size_t kBig = 1 << 20;

TEST(RequestMemory, WaitsWhenTheBudgetIsSpentAndWakesWhenBytesComeBack) {
  asio::io_context io;
  RequestMemory memory(io.get_executor(), 3 * kBig);
  std::vector<std::optional<RequestMemory::Lease>> got(5);
  for (size_t i = 0; i < got.size(); ++i) {
    asio::co_spawn(io, [&, i]() -> asio::awaitable<void> { got[i] = co_await memory.acquire(kBig); }, asio::detached);
  }
  io.poll();
  auto granted = [&] {
    size_t n = 0;
    for (auto& g : got) n += g.has_value();
    return n;
  };
  EXPECT_EQ(granted(), 3u);
  EXPECT_EQ(memory.used(), 3 * kBig);
  EXPECT_EQ(memory.waiting(), 2u);
  // Small frames need no lease, even now.
  bool small = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await memory.acquire(RequestMemory::kSmallFrame);
    small = true;
  }, asio::detached);
  io.poll();
  EXPECT_TRUE(small);
  // One lease back: one waiter goes on; the budget is never exceeded.
  for (auto& g : got) {
    if (g) {
      g->release();
      break;
    }
  }
  io.poll();
  EXPECT_EQ(memory.used(), 3 * kBig);
  EXPECT_EQ(memory.waiting(), 1u);
  for (auto& g : got) g.reset();
  io.poll();
  EXPECT_EQ(memory.waiting(), 0u);
  EXPECT_EQ(memory.used(), kBig);  // the last one, now held
  for (auto& g : got) g.reset();
  EXPECT_EQ(memory.used(), 0u);
}

TEST(RequestMemory, AFrameBiggerThanTheBudgetGoesThroughAlone) {
  asio::io_context io;
  RequestMemory memory(io.get_executor(), kBig);
  std::optional<RequestMemory::Lease> small, huge;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { small = co_await memory.acquire(kBig / 2); }, asio::detached);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { huge = co_await memory.acquire(4 * kBig); }, asio::detached);
  io.poll();
  EXPECT_TRUE(small.has_value());
  EXPECT_FALSE(huge.has_value());
  small.reset();
  io.poll();
  EXPECT_TRUE(huge.has_value());
}

TEST(RequestMemory, ALeaseMayOutliveItsBudget) {
  std::optional<RequestMemory::Lease> lease;
  {
    asio::io_context io;
    RequestMemory memory(io.get_executor(), kBig);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { lease = co_await memory.acquire(kBig); }, asio::detached);
    io.poll();
    ASSERT_TRUE(lease.has_value());
  }
  lease.reset();  // as a request still pending when the broker stops
}

TEST(RequestMemory, NoLimitMeansNoWaiting) {
  asio::io_context io;
  RequestMemory memory(io.get_executor(), 0);
  int granted = 0;
  std::vector<RequestMemory::Lease> leases;
  for (int i = 0; i < 10; ++i)
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      leases.push_back(co_await memory.acquire(100 * kBig));
      ++granted;
    }, asio::detached);
  io.poll();
  EXPECT_EQ(granted, 10);
}

TEST(ConnectionLimits, PerAddressAndTotal) {
  auto limits = ConnectionLimits::create(4, 2, "10.0.0.9:3, 10.0.0.8:0");
  ASSERT_TRUE(limits.has_value()) << limits.error();
  auto& l = **limits;
  using A = ConnectionLimits::Admit;
  EXPECT_EQ(l.admit("10.0.0.1"), A::Ok);
  EXPECT_EQ(l.admit("10.0.0.1"), A::Ok);
  EXPECT_EQ(l.admit("10.0.0.1"), A::PerIpLimit);
  EXPECT_EQ(l.admit("10.0.0.8"), A::PerIpLimit);  // override: none at all
  EXPECT_EQ(l.admit("10.0.0.9"), A::Ok);  // override: 3
  EXPECT_EQ(l.admit("10.0.0.9"), A::Ok);
  EXPECT_TRUE(l.full());
  { ConnectionLimits::Slot ends(*limits, "10.0.0.9"); }  // one of them closes
  EXPECT_EQ(l.total(), 3);
  EXPECT_FALSE(l.full());
  EXPECT_EQ(l.admit("10.0.0.2"), A::Ok);
  EXPECT_TRUE(l.full());
  EXPECT_EQ(l.admit("10.0.0.3"), A::TotalLimit);
  EXPECT_FALSE(ConnectionLimits::create(10, 10, "somehost:3").has_value());
  EXPECT_FALSE(ConnectionLimits::create(10, 10, "10.0.0.1:many").has_value());
}

}  // namespace
}  // namespace fjord::broker
