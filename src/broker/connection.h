// Connection: one client socket, on the shard that accepted it (it never moves). Reads frames,
// runs requests concurrently, and writes responses in request order (clients pipeline).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "base/bytes.h"
#include "broker/broker.h"
#include "broker/request_buffer.h"
#include "protocol/headers.h"

namespace fjord::broker {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `slot`: its place under the connection limits, given back when the connection ends.
  // `listener`: the index in broker.endpoints of the listener it came in on.
  Connection(Broker& broker, int shard, asio::ip::tcp::socket socket,
             std::unique_ptr<ConnectionLimits::Slot> slot = nullptr, int listener = 0);

  // Runs until the peer goes away or sends something this broker closes connections for.
  asio::awaitable<void> run();

 private:
  struct Pending {
    std::optional<protocol::Frame> response;  // set when done; an empty frame: no response (acks=0)
  };

  // `request` reads from `frame`'s heap buffer, which moving it keeps in place; records fields
  // decoded from it stay there, so `frame` lives until the handler is done.
  asio::awaitable<void> handle(std::shared_ptr<Pending> slot, RequestBuffer frame, RequestMemory::Lease lease,
                               protocol::ParsedRequest request);
  asio::awaitable<void> write_ready_responses();
  void handled(size_t request_bytes);  // a request's handler is done: its bytes free up
  // Writes the frame's buffer with its file slices sent by sendfile in between.
  asio::awaitable<std::error_code> write_frame(const protocol::Frame& frame);
  void close(const std::string& why);

  Broker& broker_;
  int shard_;
  int listener_;
  int32_t heartbeat_from_ = -1;  // a broker whose heartbeats come on this connection
  std::unique_ptr<ConnectionLimits::Slot> limit_slot_;
  asio::ip::tcp::socket socket_;
  std::string peer_;
  std::string peer_host_;
  std::deque<std::shared_ptr<Pending>> pending_;
  bool writing_ = false;
  size_t inflight_bytes_ = 0;  // of requests read and not yet handled
  bool closed_ = false;
  asio::steady_timer slot_freed_;
  // connections.max.idle.ms without a whole request, or socket.request.read.timeout.ms within
  // one frame, closes the socket.
  asio::steady_timer idle_;
  void arm_idle_timer();
  void arm_timer(std::chrono::milliseconds after, std::string why);  // closes the connection then
};

}  // namespace fjord::broker
