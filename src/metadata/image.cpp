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

Image::TopicPtr Image::find_shared(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Image::TopicPtr Image::find_shared(const Uuid& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
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
  std::map<Uuid, std::shared_ptr<TopicInfo>> copies;
  next.mutate(record, copies);
  return next;
}

Image Image::apply(const std::vector<Record>& records) const {
  Image next = *this;
  std::map<Uuid, std::shared_ptr<TopicInfo>> copies;  // topics copied once for this batch
  for (const Record& r : records) next.mutate(r, copies);
  return next;
}

void Image::mutate(const Record& record, std::map<Uuid, std::shared_ptr<TopicInfo>>& copies) {
  // The topic `id` as a copy this batch may change in place (nullptr: unknown id).
  auto writable = [&](const Uuid& id) -> TopicInfo* {
    auto it = copies.find(id);
    if (it != copies.end() && by_id_.count(id) && by_id_[id] == it->second) return it->second.get();
    const TopicInfo* t = find(id);
    if (!t) return nullptr;
    auto copy = std::make_shared<TopicInfo>(*t);
    copies[id] = copy;
    put(copy);
    return copy.get();
  };
  std::visit(
      [&](const auto& r) {
        using R = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<R, TopicRecord>) {
          auto topic = std::make_shared<TopicInfo>(r.topic);
          topic->assignment.clear();
          copies[topic->id] = topic;
          put(std::move(topic));
        } else if constexpr (std::is_same_v<R, RemoveTopicRecord>) {
          if (const TopicInfo* t = find(r.id)) {
            by_name_.erase(t->name);
            by_id_.erase(r.id);
            copies.erase(r.id);
          }
        } else if constexpr (std::is_same_v<R, PartitionCountRecord>) {
          if (TopicInfo* t = writable(r.id)) t->partitions = r.partitions;
        } else if constexpr (std::is_same_v<R, TopicConfigRecord>) {
          if (TopicInfo* t = writable(r.id)) {
            if (r.value) {
              t->configs[r.key] = *r.value;
            } else {
              t->configs.erase(r.key);
            }
          }
        } else if constexpr (std::is_same_v<R, PartitionRecord>) {
          TopicInfo* t = writable(r.topic_id);
          if (t && r.partition >= 0 && r.partition < t->partitions) {
            if (t->assignment.size() <= static_cast<size_t>(r.partition))
              t->assignment.resize(static_cast<size_t>(r.partition) + 1);
            t->assignment[static_cast<size_t>(r.partition)] = r.state;
          }
        } else if constexpr (std::is_same_v<R, ProducerIdsRecord>) {
          next_producer_id_ = std::max(next_producer_id_, r.next_producer_id);
        } else if constexpr (std::is_same_v<R, BrokerConfigRecord>) {
          auto& configs = broker_configs_[r.resource];
          if (r.value) {
            configs[r.key] = *r.value;
          } else {
            configs.erase(r.key);
          }
        } else if constexpr (std::is_same_v<R, RegisterBrokerRecord>) {
          brokers_[r.broker.id] = r.broker;
        } else if constexpr (std::is_same_v<R, BrokerFenceRecord>) {
          auto it = brokers_.find(r.broker_id);
          if (it != brokers_.end()) it->second.fenced = r.fenced;
        } else if constexpr (std::is_same_v<R, ClusterRecord>) {
          if (cluster_id_.empty()) cluster_id_ = r.cluster_id;
        }
      },
      record);
}

std::vector<Record> Image::to_records() const {
  std::vector<Record> out;
  if (!cluster_id_.empty()) out.push_back(ClusterRecord{cluster_id_});
  for (const auto& [id, b] : brokers_) out.push_back(RegisterBrokerRecord{b});
  for (const auto& [name, t] : by_name_) {
    TopicInfo plain = *t;
    plain.assignment.clear();
    out.push_back(TopicRecord{plain});
    for (size_t p = 0; p < t->assignment.size(); ++p)
      out.push_back(PartitionRecord{t->id, static_cast<int32_t>(p), t->assignment[p]});
  }
  for (const auto& [resource, configs] : broker_configs_)
    for (const auto& [k, v] : configs) out.push_back(BrokerConfigRecord{resource, k, v});
  if (next_producer_id_ > 0) out.push_back(ProducerIdsRecord{-1, next_producer_id_});
  return out;
}

}  // namespace fjord::metadata
