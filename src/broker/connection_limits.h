// Kafka's connection limits, shared by every shard's acceptor: max.connections (the acceptors
// stop accepting while the broker holds that many; the kernel's backlog keeps the rest waiting,
// as Kafka's KIP-402 acceptor does) and max.connections.per.ip with
// max.connections.per.ip.overrides (a connection past its address's limit is closed at once).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "tl/expected.hpp"

namespace fjord::broker {

class ConnectionLimits {
 public:
  // `overrides`: max.connections.per.ip.overrides, "ADDRESS:COUNT,..." (IP addresses).
  static tl::expected<std::shared_ptr<ConnectionLimits>, std::string> create(int64_t max_total, int64_t max_per_ip,
                                                                             const std::string& overrides);

  // Held by a connection; gives its place back when destroyed.
  class Slot {
   public:
    Slot(std::shared_ptr<ConnectionLimits> limits, std::string address)
        : limits_(std::move(limits)), address_(std::move(address)) {}
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { limits_->release(address_); }

   private:
    std::shared_ptr<ConnectionLimits> limits_;
    std::string address_;
  };

  enum class Admit { Ok, PerIpLimit, TotalLimit };
  // Counts a connection from `address` unless a limit is reached.
  Admit admit(const std::string& address);
  bool full() const;  // max.connections reached: acceptors wait
  int64_t total() const;
  int64_t limit_for(const std::string& address) const;

 private:
  void release(const std::string& address);

  int64_t max_total_ = INT32_MAX;
  int64_t max_per_ip_ = INT32_MAX;
  std::map<std::string, int64_t> overrides_;
  mutable std::mutex mutex_;
  int64_t total_ = 0;                               // GUARDED_BY(mutex_)
  std::unordered_map<std::string, int64_t> per_ip_;  // GUARDED_BY(mutex_)
};

}  // namespace fjord::broker
