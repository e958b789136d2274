#include "broker/connection.h"

#include "broker/liveness.h"

#include <sys/sendfile.h>

#include <cerrno>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "broker/handler.h"

namespace fjord::broker {

namespace {
// Requests read ahead of their responses; beyond this the connection stops reading (backpressure).
constexpr size_t kMaxInFlight = 64;
// Nor does it read on while the requests still being handled hold this many bytes: it bounds a
// producer's memory on the broker, and keeps it within the shard's pool of request buffers
// (RequestBuffer::kPoolBytes), so buffers are reused rather than faulted in anew.
constexpr size_t kMaxInFlightBytes = 16 << 20;
}  // namespace

Connection::Connection(Broker& broker, int shard, asio::ip::tcp::socket socket,
                       std::unique_ptr<ConnectionLimits::Slot> slot, int listener)
    : broker_(broker),
      shard_(shard),
      listener_(listener),
      limit_slot_(std::move(slot)),
      socket_(std::move(socket)),
      slot_freed_(socket_.get_executor()),
      idle_(socket_.get_executor()) {
  std::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  peer_ = ec ? "unknown peer" : ep.address().to_string() + ":" + std::to_string(ep.port());
  peer_host_ = ec ? "" : "/" + ep.address().to_string();  // as Kafka shows client hosts
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  socket_.native_non_blocking(true, ec);  // sendfile must never block the shard
}

void Connection::close(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  // A broker's heartbeat connection that ends: its process may be gone (liveness.h).
  if (heartbeat_from_ >= 0 && broker_.liveness) {
    asio::post(broker_.controller_context(), [liveness = broker_.liveness, id = heartbeat_from_] {
      liveness->suspect(id, "its heartbeat connection closed");
    });
  }
  if (!why.empty()) spdlog::warn("closing connection from {}: {}", peer_, why);
  std::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  slot_freed_.cancel();
  idle_.cancel();
}

void Connection::arm_timer(std::chrono::milliseconds after, std::string why) {
  idle_.expires_after(after);  // cancels the previous wait, whose handler then does nothing
  idle_.async_wait([weak = weak_from_this(), why = std::move(why)](const std::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    self->close(why);
  });
}

void Connection::arm_idle_timer() {
  if (broker_.idle_timeout.count() <= 0) return;
  arm_timer(broker_.idle_timeout,
            fmt::format("idle for more than {} ms (connections.max.idle.ms)", broker_.idle_timeout.count()));
}

asio::awaitable<void> Connection::run() {
  auto self = shared_from_this();
  std::error_code ec;
  while (!closed_) {
    arm_idle_timer();
    uint8_t size_bytes[4];
    co_await asio::async_read(socket_, asio::buffer(size_bytes), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    int32_t size = static_cast<int32_t>((uint32_t(size_bytes[0]) << 24) | (uint32_t(size_bytes[1]) << 16) |
                                        (uint32_t(size_bytes[2]) << 8) | uint32_t(size_bytes[3]));
    if (size < 0) {
      close(fmt::format("invalid negative frame size {}", size));
      break;
    }
    if (size > broker_.max_request_bytes) {
      close(fmt::format("frame of {} bytes is larger than socket.request.max.bytes ({})", size,
                        broker_.max_request_bytes));
      break;
    }
    // Memory for the frame before reading it: when the shard's budget is spent, this connection
    // stops reading its socket until requests being handled give bytes back.
    RequestMemory::Lease lease;
    if (broker_.request_memory != nullptr) {
      lease = co_await (*broker_.request_memory)[static_cast<size_t>(shard_)]->acquire(static_cast<size_t>(size));
      if (closed_) break;
    }
    // Its bytes must all come within socket.request.read.timeout.ms (or connections.max.idle.ms
    // when that is shorter): a client that starts a frame and never ends it goes.
    const auto frame_timeout = broker_.frame_timeout;
    if (frame_timeout.count() > 0 && (broker_.idle_timeout.count() <= 0 || frame_timeout < broker_.idle_timeout))
      arm_timer(frame_timeout, fmt::format("a frame of {} bytes did not arrive within {} ms (socket.request.read.timeout.ms)",
                                           size, frame_timeout.count()));
    RequestBuffer frame(static_cast<size_t>(size));
    co_await asio::async_read(socket_, asio::buffer(frame.span().data(), frame.size()),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec != asio::error::operation_aborted) spdlog::debug("connection from {} ended mid-frame: {}", peer_, ec.message());
      break;
    }
    // The frame is whole: with connections.max.idle.ms off, nothing else re-arms the timer.
    if (broker_.idle_timeout.count() <= 0) idle_.cancel();
    std::string error;
    auto parsed = protocol::parse_request(frame.span(), error);
    if (!parsed) {
      close(error);
      break;
    }
    parsed->body.borrow_records();  // produce's records stay in `frame`, which handle() keeps
    const auto& header = parsed->header;
    const HandlerInfo* handler = find_handler(header.request_api_key);
    if (handler == nullptr) {
      close(fmt::format("unsupported API key {}", header.request_api_key));
      break;
    }
    auto slot = std::make_shared<Pending>();
    pending_.push_back(slot);
    if (header.request_api_version < handler->min_version || header.request_api_version > handler->max_version) {
      if (header.request_api_key == 18) {
        spdlog::info("client at {} asked for ApiVersions v{}; answering UNSUPPORTED_VERSION", peer_,
                     header.request_api_version);
        slot->response = protocol::Frame{unsupported_api_versions_response(header.correlation_id), {}};
        asio::co_spawn(socket_.get_executor(), write_ready_responses(), asio::detached);
        continue;
      }
      close(fmt::format("unsupported version {} of API {} (serving {}-{})", header.request_api_version,
                        parsed->api->name, handler->min_version, handler->max_version));
      break;
    }
    inflight_bytes_ += frame.size();
    asio::co_spawn(socket_.get_executor(), handle(slot, std::move(frame), std::move(lease), std::move(*parsed)),
                   asio::detached);
    while ((pending_.size() >= kMaxInFlight || inflight_bytes_ >= kMaxInFlightBytes) && !closed_) {
      slot_freed_.expires_at(asio::steady_timer::time_point::max());
      co_await slot_freed_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  close("");
}

asio::awaitable<void> Connection::handle(std::shared_ptr<Pending> slot, RequestBuffer frame, RequestMemory::Lease lease,
                                         protocol::ParsedRequest request) {
  auto self = shared_from_this();
  const protocol::ParsedRequest* parsed = &request;
  const HandlerInfo* handler = find_handler(parsed->header.request_api_key);
  RequestContext ctx{broker_, parsed->header, shard_};
  ctx.client_host = peer_host_;
  ctx.listener = listener_;
  HandlerResult result;
  const size_t bytes = frame.size();
  try {
    result = co_await handler->invoke(ctx, request.body);
  } catch (const std::exception& e) {
    handled(bytes);
    spdlog::error("{} v{} from {} failed: {}", parsed->api->name, parsed->header.request_api_version, peer_, e.what());
    close("");
    co_return;
  }
  handled(bytes);
  if (ctx.heartbeat_from >= 0) heartbeat_from_ = ctx.heartbeat_from;
  if (!result) {
    close(ctx.close_reason.empty()
              ? fmt::format("malformed {} v{} request: {}", parsed->api->name, parsed->header.request_api_version,
                            result.error())
              : ctx.close_reason);
    co_return;
  }
  slot->response = std::move(*result);
  frame = RequestBuffer();  // back to the pool before the (maybe long) write
  lease.release();
  co_await write_ready_responses();
}

void Connection::handled(size_t request_bytes) {
  inflight_bytes_ -= request_bytes;
  slot_freed_.cancel();  // the reader may be waiting for room
}

asio::awaitable<std::error_code> Connection::write_frame(const protocol::Frame& frame) {
  std::error_code ec;
  size_t from = 0;
  for (const protocol::Splice& splice : frame.splices) {
    if (splice.at > from) {
      co_await asio::async_write(socket_, asio::buffer(frame.head.data() + from, splice.at - from),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return ec;
    }
    from = splice.at;
    off_t offset = static_cast<off_t>(splice.slice.offset);
    uint64_t left = splice.slice.length;
    while (left > 0) {
      ssize_t n = ::sendfile(socket_.native_handle(), splice.slice.fd, &offset, left);
      if (n > 0) {
        left -= static_cast<uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        co_await socket_.async_wait(asio::ip::tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return ec;
        continue;
      }
      // The file is shorter than promised (or another error): the frame cannot be completed.
      co_return n < 0 ? std::error_code(errno, std::system_category()) : std::make_error_code(std::errc::io_error);
    }
  }
  if (from < frame.head.size()) {
    co_await asio::async_write(socket_, asio::buffer(frame.head.data() + from, frame.head.size() - from),
                               asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return ec;
}

asio::awaitable<void> Connection::write_ready_responses() {
  if (writing_) co_return;  // the running writer will pick this response up
  auto self = shared_from_this();
  writing_ = true;
  while (!closed_ && !pending_.empty() && pending_.front()->response.has_value()) {
    auto slot = std::move(pending_.front());
    pending_.pop_front();
    slot_freed_.cancel();
    if (slot->response->empty()) continue;
    std::error_code ec = co_await write_frame(*slot->response);
    if (ec) {
      close("");
      break;
    }
  }
  writing_ = false;
}

}  // namespace fjord::broker
