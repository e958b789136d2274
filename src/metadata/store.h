// MetadataStore: the metadata log plus the current image. Mutations run on one shard (the
// controller shard); the current image can be read from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "metadata/image.h"
#include "metadata/metadata_log.h"
#include "tl/expected.hpp"

namespace fjord::metadata {

class MetadataStore {
 public:
  // Opens `<data_dir>/__fjord_metadata/metadata.log`, replaying it into the image. The cluster id
  // comes from `<data_dir>/meta.properties` (written on first start, as Kafka does).
  static tl::expected<std::unique_ptr<MetadataStore>, std::string> open(const std::string& data_dir, int32_t node_id);

  std::shared_ptr<const Image> image() const { return image_.load(std::memory_order_acquire); }
  const std::string& cluster_id() const { return cluster_id_; }
  uint64_t replayed_records() const { return replayed_; }
  uint64_t truncated_bytes() const { return truncated_; }

  // Makes `records` durable, then publishes the image with them applied.
  // REQUIRES: called on the controller shard only.
  tl::expected<void, std::string> commit(const std::vector<Record>& records);

 private:
  MetadataStore() = default;

  MetadataLog log_;
  std::atomic<std::shared_ptr<const Image>> image_;
  std::string cluster_id_;
  uint64_t replayed_ = 0;
  uint64_t truncated_ = 0;
};

}  // namespace fjord::metadata
