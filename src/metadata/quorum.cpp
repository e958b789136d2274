#include "metadata/quorum.h"

#include <uv.h>
extern "C" {  // libraft's headers have no C++ guards
#include <raft.h>
#include <raft/uv.h>
}

#include <charconv>
#include <cstring>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "metadata/metadata_log.h"
#include "protocol/codec.h"

namespace fjord::metadata {
namespace {

// Raft ids must be above 0; Kafka node ids start at 0.
raft_id to_raft(int32_t node) { return static_cast<raft_id>(node) + 1; }
int32_t from_raft(raft_id id) { return id == 0 ? -1 : static_cast<int32_t>(id - 1); }

constexpr uint32_t kEntryMagic = 0x464a4d31;  // "FJM1"

}  // namespace

tl::expected<std::vector<Voter>, std::string> parse_voters(std::string_view text) {
  std::vector<Voter> voters;
  std::set<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    pos = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    size_t at = item.find('@');
    size_t colon = item.rfind(':');
    if (at == std::string_view::npos || colon == std::string_view::npos || colon < at)
      return tl::unexpected(fmt::format("controller.quorum.voters: '{}' is not id@host:port", item));
    Voter v;
    auto id_text = item.substr(0, at);
    auto [p1, e1] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), v.id);
    auto port_text = item.substr(colon + 1);
    auto [p2, e2] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v.port);
    v.host = std::string(item.substr(at + 1, colon - at - 1));
    if (v.host.size() >= 2 && v.host.front() == '[' && v.host.back() == ']') v.host = v.host.substr(1, v.host.size() - 2);
    if (e1 != std::errc() || p1 != id_text.data() + id_text.size() || v.id < 0 || e2 != std::errc() ||
        p2 != port_text.data() + port_text.size() || v.port <= 0 || v.port > 65535 || v.host.empty())
      return tl::unexpected(fmt::format("controller.quorum.voters: '{}' is not id@host:port", item));
    if (!ids.insert(v.id).second)
      return tl::unexpected(fmt::format("controller.quorum.voters: node id {} is listed twice", v.id));
    voters.push_back(std::move(v));
  }
  return voters;
}

Bytes encode_entry(const std::vector<Record>& records) {
  Bytes out;
  protocol::Writer w(out);
  w.write_int32(static_cast<int32_t>(kEntryMagic));
  w.write_int32(0);  // payload length, filled in below
  w.write_int32(static_cast<int32_t>(records.size()));
  for (const Record& r : records) {
    Bytes one = encode_record(r);
    w.write_int32(static_cast<int32_t>(one.size()));
    out.insert(out.end(), one.begin(), one.end());
  }
  uint32_t payload = static_cast<uint32_t>(out.size() - 8);
  for (int i = 0; i < 4; ++i) out[4 + static_cast<size_t>(i)] = static_cast<uint8_t>(payload >> (24 - 8 * i));
  out.resize((out.size() + 7) / 8 * 8, 0);
  return out;
}

tl::expected<std::vector<Record>, std::string> decode_entry(ByteView entry) {
  protocol::Reader r(entry);
  if (static_cast<uint32_t>(r.read_int32()) != kEntryMagic || !r.ok()) return tl::unexpected(std::string("not a metadata entry"));
  int32_t payload = r.read_int32();
  if (!r.ok() || payload < 4 || static_cast<size_t>(payload) > r.remaining())
    return tl::unexpected(std::string("bad metadata entry length"));
  protocol::Reader body(entry.subspan(8, static_cast<size_t>(payload)));
  int32_t count = body.read_int32();
  std::vector<Record> records;
  for (int32_t i = 0; i < count && body.ok(); ++i) {
    int32_t len = body.read_int32();
    if (!body.ok() || len < 0 || static_cast<size_t>(len) > body.remaining())
      return tl::unexpected(std::string("bad record length in metadata entry"));
    size_t at = static_cast<size_t>(payload) - body.remaining();
    auto record = decode_record(entry.subspan(8 + at, static_cast<size_t>(len)));
    if (!record) return tl::unexpected(record.error());
    records.push_back(std::move(*record));
    body.skip(static_cast<size_t>(len));
  }
  if (!body.ok() || body.remaining() != 0) return tl::unexpected(std::string("malformed metadata entry"));
  return records;
}

struct RaftQuorum::Impl {
  struct Proposal {
    std::vector<Record> records;
    Done done;
  };
  struct Apply {
    struct raft_apply req {};
    Done done;
  };

  RaftQuorum& owner;
  StateMachine& machine;
  uv_loop_t loop{};
  uv_async_t wake{};
  uv_timer_t poll{};
  raft_uv_transport transport{};
  raft_io io{};
  raft_fsm fsm{};
  struct raft raft {};
  struct raft_barrier barrier {};
  bool barrier_pending = false;
  raft_term ready_term = 0;
  std::string address;

  std::mutex mu;
  std::vector<Proposal> inbox;  // guarded by mu
  bool stopping = false;        // guarded by mu
  bool closing = false;         // quorum thread only
  std::thread thread;

  Impl(RaftQuorum& o, StateMachine& m) : owner(o), machine(m) {}

  static Impl& of(struct raft* r) { return *static_cast<Impl*>(r->data); }

  static int fsm_apply(raft_fsm* fsm, const raft_buffer* buf, void** result) {
    auto& self = *static_cast<Impl*>(fsm->data);
    *result = nullptr;
    auto records = decode_entry(ByteView(static_cast<const uint8_t*>(buf->base), buf->len));
    if (!records) {
      spdlog::error("metadata quorum: skipping an entry that cannot be read: {}", records.error());
      return 0;
    }
    self.machine.apply(*records);
    return 0;
  }

  static int fsm_snapshot(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n) {
    auto& self = *static_cast<Impl*>(fsm->data);
    Bytes state = self.machine.snapshot();
    auto* array = static_cast<raft_buffer*>(raft_malloc(sizeof(raft_buffer)));
    if (array == nullptr) return RAFT_NOMEM;
    array[0].len = state.size();
    array[0].base = raft_malloc(std::max<size_t>(1, state.size()));
    if (array[0].base == nullptr) {
      raft_free(array);
      return RAFT_NOMEM;
    }
    if (!state.empty()) std::memcpy(array[0].base, state.data(), state.size());
    *bufs = array;
    *n = 1;
    return 0;
  }

  static int fsm_snapshot_finalize(raft_fsm*, raft_buffer* bufs[], unsigned* n) {
    for (unsigned i = 0; i < *n; ++i) raft_free((*bufs)[i].base);
    raft_free(*bufs);
    *bufs = nullptr;
    *n = 0;
    return 0;
  }

  static int fsm_restore(raft_fsm* fsm, raft_buffer* buf) {
    auto& self = *static_cast<Impl*>(fsm->data);
    auto restored = self.machine.restore(ByteView(static_cast<const uint8_t*>(buf->base), buf->len));
    if (!restored) {
      spdlog::error("metadata quorum: cannot restore a snapshot: {}", restored.error());
      return RAFT_MALFORMED;
    }
    raft_free(buf->base);
    return 0;
  }

  static void on_applied(struct raft_apply* req, int status, void*) {
    std::unique_ptr<Apply> apply(static_cast<Apply*>(req->data));
    apply->done(status == 0 ? std::string() : std::string(raft_strerror(status)));
  }

  static void on_barrier(struct raft_barrier* req, int status) {
    auto& self = *static_cast<Impl*>(req->data);
    self.barrier_pending = false;
    if (status == 0 && raft_state(&self.raft) == RAFT_LEADER) {
      self.ready_term = self.raft.current_term;
      self.owner.ready_.store(true, std::memory_order_release);
      spdlog::info("metadata quorum: node {} leads term {}", self.owner.options_.node_id, self.ready_term);
    }
  }

  void refresh() {
    raft_id id = 0;
    const char* addr = nullptr;
    raft_leader(&raft, &id, &addr);
    int32_t leader = from_raft(id);
    if (owner.leader_.exchange(leader, std::memory_order_acq_rel) != leader)
      spdlog::info("metadata quorum: leader is now {}", leader < 0 ? std::string("unknown") : std::to_string(leader));
    owner.term_.store(raft.current_term, std::memory_order_release);
    owner.caught_up_.store(leader >= 0 && raft.last_applied >= raft.commit_index, std::memory_order_release);
    bool leading = raft_state(&raft) == RAFT_LEADER;
    if (!leading || ready_term != raft.current_term) owner.ready_.store(false, std::memory_order_release);
    if (leading && ready_term != raft.current_term && !barrier_pending) {
      barrier.data = this;
      if (raft_barrier(&raft, &barrier, on_barrier) == 0) barrier_pending = true;
    }
  }

  void drain() {
    std::vector<Proposal> work;
    bool stop;
    {
      std::lock_guard lock(mu);
      work.swap(inbox);
      stop = stopping;
    }
    for (auto& p : work) {
      if (stop || closing) {
        p.done("the metadata quorum is shutting down");
        continue;
      }
      if (raft_state(&raft) != RAFT_LEADER) {
        p.done("this node does not lead the metadata quorum");
        continue;
      }
      Bytes entry = encode_entry(p.records);
      raft_buffer buf{raft_malloc(entry.size()), entry.size()};
      if (buf.base == nullptr) {
        p.done("out of memory");
        continue;
      }
      std::memcpy(buf.base, entry.data(), entry.size());
      auto apply = std::make_unique<Apply>();
      apply->req.data = apply.get();
      apply->done = std::move(p.done);
      int rc = raft_apply(&raft, &apply->req, &buf, 1, on_applied);
      if (rc != 0) {
        raft_free(buf.base);
        apply->done(fmt::format("{}: {}", raft_strerror(rc), raft_errmsg(&raft)));
        continue;
      }
      apply.release();
    }
    if (stop && !closing) {
      closing = true;
      owner.ready_.store(false);
      uv_timer_stop(&poll);
      raft_close(&raft, [](struct raft* r) {
        auto& self = of(r);
        raft_uv_close(&self.io);
        raft_uv_tcp_close(&self.transport);
        uv_close(reinterpret_cast<uv_handle_t*>(&self.poll), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&self.wake), nullptr);
      });
    }
  }

  // How far init() got, for undoing it when a later step fails.
  enum class Stage { None, Loop, Transport, Io, Raft };
  Stage stage = Stage::None;

  std::string init() {
    const Options& o = owner.options_;
    std::error_code ec;
    std::filesystem::create_directories(o.dir, ec);
    if (ec) return fmt::format("cannot create {}: {}", o.dir, ec.message());
    if (int rc = uv_loop_init(&loop); rc != 0) return fmt::format("uv_loop_init: {}", uv_strerror(rc));
    stage = Stage::Loop;
    for (const Voter& v : o.voters)
      if (v.id == o.node_id) address = v.address();
    if (int rc = raft_uv_tcp_init(&transport, &loop); rc != 0) return fmt::format("raft transport: {}", raft_strerror(rc));
    stage = Stage::Transport;
    if (int rc = raft_uv_init(&io, &loop, o.dir.c_str(), &transport); rc != 0)
      return fmt::format("raft io in {}: {}", o.dir, io.errmsg);
    stage = Stage::Io;
    fsm.version = 2;
    fsm.data = this;
    fsm.apply = fsm_apply;
    fsm.snapshot = fsm_snapshot;
    fsm.snapshot_finalize = fsm_snapshot_finalize;
    fsm.restore = fsm_restore;
    if (int rc = raft_init(&raft, &io, &fsm, to_raft(o.node_id), address.c_str()); rc != 0)
      return fmt::format("raft_init: {}", raft_errmsg(&raft));
    raft.data = this;
    stage = Stage::Raft;
    raft_configuration conf;
    raft_configuration_init(&conf);
    for (const Voter& v : o.voters) raft_configuration_add(&conf, to_raft(v.id), v.address().c_str(), RAFT_VOTER);
    int rc = raft_bootstrap(&raft, &conf);
    raft_configuration_close(&conf);
    if (rc != 0 && rc != RAFT_CANTBOOTSTRAP) return fmt::format("raft_bootstrap: {}", raft_errmsg(&raft));
    raft_set_election_timeout(&raft, o.election_timeout_ms);
    raft_set_heartbeat_timeout(&raft, o.heartbeat_timeout_ms);
    raft_set_snapshot_threshold(&raft, o.snapshot_threshold);
    raft_set_snapshot_trailing(&raft, o.snapshot_trailing);
    raft_set_pre_vote(&raft, true);
    raft_uv_set_connect_retry_delay(&io, 200);
    if (int rc2 = raft_start(&raft); rc2 != 0) {
      std::string why = raft_errmsg(&raft);
      if (why.empty()) why = raft_strerror(rc2);
      return fmt::format("cannot start the quorum on {} (node.id {}): {}; is another node with this node.id "
                         "running, or is that port taken?",
                         address, o.node_id, why);
    }
    uv_async_init(&loop, &wake, [](uv_async_t* a) { static_cast<Impl*>(a->data)->drain(); });
    wake.data = this;
    uv_timer_init(&loop, &poll);
    poll.data = this;
    uv_timer_start(&poll, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->refresh(); }, 0, 20);
    return {};
  }

  // Undoes a failed init() so that nothing is left allocated.
  void undo_init() {
    switch (stage) {
      case Stage::Raft:
        raft_close(&raft, [](struct raft* r) {
          auto& self = of(r);
          raft_uv_close(&self.io);
          raft_uv_tcp_close(&self.transport);
        });
        break;
      case Stage::Io:
        raft_uv_close(&io);
        raft_uv_tcp_close(&transport);
        break;
      case Stage::Transport:
        raft_uv_tcp_close(&transport);
        break;
      case Stage::Loop:
      case Stage::None:
        break;
    }
    if (stage != Stage::None) {
      uv_run(&loop, UV_RUN_DEFAULT);
      uv_loop_close(&loop);
    }
  }

  void run(std::promise<std::string>& started) {
    std::string error = init();
    if (!error.empty()) undo_init();
    started.set_value(error);
    if (!error.empty()) return;
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
};

tl::expected<std::unique_ptr<RaftQuorum>, std::string> RaftQuorum::start(Options options, StateMachine& machine) {
  bool member = false;
  for (const Voter& v : options.voters) member = member || v.id == options.node_id;
  if (!member)
    return tl::unexpected(fmt::format("node.id {} is not one of controller.quorum.voters", options.node_id));
  std::unique_ptr<RaftQuorum> quorum(new RaftQuorum(std::move(options)));
  quorum->impl_ = std::make_unique<Impl>(*quorum, machine);
  std::promise<std::string> started;
  auto result = started.get_future();
  Impl* impl = quorum->impl_.get();
  impl->thread = std::thread([impl, &started] { impl->run(started); });
  std::string error = result.get();
  if (!error.empty()) {
    impl->thread.join();
    quorum->impl_.reset();
    return tl::unexpected(error);
  }
  return quorum;
}

void RaftQuorum::propose(std::vector<Record> records, Done done) {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->inbox.push_back({std::move(records), std::move(done)});
      uv_async_send(&impl_->wake);
      return;
    }
  }
  done("the metadata quorum is shutting down");
}

RaftQuorum::RaftQuorum(Options options) : options_(std::move(options)) {}

RaftQuorum::~RaftQuorum() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    uv_async_send(&impl_->wake);
  }
  impl_->thread.join();
}

}  // namespace fjord::metadata
