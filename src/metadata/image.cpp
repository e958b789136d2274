#include "metadata/image.h"

#include <algorithm>

namespace fjord::metadata {

const TopicInfo* Image::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.get();
}

const TopicInfo* Image::find(const Uuid& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

const std::map<std::string, std::string>& Image::broker_configs(const std::string& resource) const {
  static const std::map<std::string, std::string> kNone;
  auto it = broker_configs_.find(resource);
  return it == broker_configs_.end() ? kNone : it->second;
}

void Image::put(TopicPtr topic) {
  by_id_[topic->id] = topic;
  by_name_[topic->name] = std::move(topic);
}

Image Image::apply(const Record& record) const {
  Image next = *this;
  std::visit(
      [&](const auto& r) {
        using R = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<R, TopicRecord>) {
          next.put(std::make_shared<const TopicInfo>(r.topic));
        } else if constexpr (std::is_same_v<R, RemoveTopicRecord>) {
          if (const TopicInfo* t = find(r.id)) {
            next.by_name_.erase(t->name);
            next.by_id_.erase(r.id);
          }
        } else if constexpr (std::is_same_v<R, PartitionCountRecord>) {
          if (const TopicInfo* t = find(r.id)) {
            auto copy = std::make_shared<TopicInfo>(*t);
            copy->partitions = r.partitions;
            next.put(std::move(copy));
          }
        } else if constexpr (std::is_same_v<R, TopicConfigRecord>) {
          if (const TopicInfo* t = find(r.id)) {
            auto copy = std::make_shared<TopicInfo>(*t);
            if (r.value) {
              copy->configs[r.key] = *r.value;
            } else {
              copy->configs.erase(r.key);
            }
            next.put(std::move(copy));
          }
        } else if constexpr (std::is_same_v<R, ProducerIdsRecord>) {
          next.next_producer_id_ = std::max(next.next_producer_id_, r.next_producer_id);
        } else if constexpr (std::is_same_v<R, BrokerConfigRecord>) {
          auto& configs = next.broker_configs_[r.resource];
          if (r.value) {
            configs[r.key] = *r.value;
          } else {
            configs.erase(r.key);
          }
        }
      },
      record);
  return next;
}

}  // namespace fjord::metadata
