#include "storage/syncer.h"

#include <algorithm>

namespace fjord::storage {

Syncer::Syncer(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { run(); });
}

Syncer::~Syncer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void Syncer::submit(std::vector<std::shared_ptr<File>> files, asio::any_io_executor reply_to,
                    std::function<void(IoResult<>)> done, Env* env, std::filesystem::path dir) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(Job{std::move(files), std::move(reply_to), std::move(done), env, std::move(dir)});
  }
  wake_.notify_one();
}

void Syncer::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and every job is done
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    IoResult<> result;
    for (const auto& f : job.files) {
      if (auto r = f->sync(); !r && result) result = r;
    }
    if (job.env != nullptr) {
      if (auto r = job.env->sync_dir(job.dir); !r && result) result = r;
    }
    asio::post(job.reply_to, [done = std::move(job.done), result] { done(result); });
  }
}

}  // namespace fjord::storage
