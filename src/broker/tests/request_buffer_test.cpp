#include "broker/request_buffer.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace fjord::broker {
namespace {

TEST(RequestBuffer, ReusesAFreedBufferThatFits) {
  RequestBuffer::drop_spares();
  const uint8_t* first;
  {
    RequestBuffer a(1000);
    EXPECT_EQ(a.size(), 1000u);
    EXPECT_GE(a.capacity(), 1000u);
    first = a.data();
  }
  EXPECT_GT(RequestBuffer::pooled_bytes(), 0u);
  RequestBuffer b(500);
  EXPECT_EQ(b.data(), first);
  EXPECT_EQ(b.size(), 500u);
}

TEST(RequestBuffer, TakesTheSmallestSpareThatFits) {
  RequestBuffer::drop_spares();
  const uint8_t* small_one;
  const uint8_t* big_one;
  {
    RequestBuffer small(10);
    RequestBuffer big(1 << 20);
    small_one = small.data();
    big_one = big.data();
  }
  RequestBuffer needs_big(700 << 10);
  EXPECT_EQ(needs_big.data(), big_one);
  RequestBuffer needs_small(100);
  EXPECT_EQ(needs_small.data(), small_one);
}

TEST(RequestBuffer, KeepsAtMostThePoolBudget) {
  RequestBuffer::drop_spares();
  {
    std::vector<RequestBuffer> many;
    for (size_t i = 0; i < RequestBuffer::kPoolBytes / (1 << 20) + 8; ++i) many.emplace_back(1 << 20);
  }
  EXPECT_LE(RequestBuffer::pooled_bytes(), RequestBuffer::kPoolBytes);
  EXPECT_GE(RequestBuffer::pooled_bytes(), RequestBuffer::kPoolBytes - (1 << 20));
}

TEST(RequestBuffer, EachThreadHasItsOwnPool) {
  RequestBuffer::drop_spares();
  RequestBuffer(4096);  // leaves a spare on this thread
  size_t here = RequestBuffer::pooled_bytes();
  size_t there = 1;
  std::thread([&] { there = RequestBuffer::pooled_bytes(); }).join();
  EXPECT_GT(here, 0u);
  EXPECT_EQ(there, 0u);
}

TEST(RequestBuffer, MoveAssignmentPoolsTheOldBuffer) {
  RequestBuffer::drop_spares();
  RequestBuffer a(100);
  const uint8_t* old = a.data();
  a = RequestBuffer(100);
  EXPECT_NE(a.data(), old);
  EXPECT_EQ(RequestBuffer::pooled_bytes(), a.capacity());
  RequestBuffer c(50);
  EXPECT_EQ(c.data(), old);
}

}  // namespace
}  // namespace fjord::broker
