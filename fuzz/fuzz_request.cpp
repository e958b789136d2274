// libFuzzer target: a request frame (without its size prefix) as the broker's connections parse
// it: the request header, then the body of whichever API the header names, at its version. A body
// that decodes must encode to bytes that decode and encode again to the same bytes. Every length
// read is bounded by the frame (run with -malloc_limit_mb to catch an allocation the input does not
// pay for).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "protocol/generated/all.h"
#include "protocol/headers.h"

namespace {
using namespace fjord;
using namespace fjord::protocol;

template <typename Req>
Bytes encode(const Req& req, int16_t version) {
  Bytes out;
  Writer w(out);
  req.encode(w, version);
  return out;
}

// A body that decodes encodes to bytes that decode to a value that encodes to the same bytes.
// (Bytes, not values, are compared: a float64 NaN is not equal to itself.)
template <typename Req>
void round_trip(Reader& body, int16_t version) {
  Req first;
  first.decode(body, version);
  if (!body.ok()) return;
  const Bytes encoded = encode(first, version);
  Reader again(encoded);
  Req second;
  second.decode(again, version);
  if (!again.ok() || again.remaining() != 0 || encode(second, version) != encoded) std::abort();
}

#define FJORD_REQUEST_TYPES(X) \
  X(AddOffsetsToTxnRequest) \
  X(AddPartitionsToTxnRequest) \
  X(AddRaftVoterRequest) \
  X(AllocateProducerIdsRequest) \
  X(AlterClientQuotasRequest) \
  X(AlterConfigsRequest) \
  X(AlterPartitionReassignmentsRequest) \
  X(AlterPartitionRequest) \
  X(AlterReplicaLogDirsRequest) \
  X(AlterUserScramCredentialsRequest) \
  X(ApiVersionsRequest) \
  X(AssignReplicasToDirsRequest) \
  X(BeginQuorumEpochRequest) \
  X(BrokerHeartbeatRequest) \
  X(BrokerRegistrationRequest) \
  X(ConsumerGroupDescribeRequest) \
  X(ConsumerGroupHeartbeatRequest) \
  X(ControlledShutdownRequest) \
  X(ControllerRegistrationRequest) \
  X(CreateAclsRequest) \
  X(CreateDelegationTokenRequest) \
  X(CreatePartitionsRequest) \
  X(CreateTopicsRequest) \
  X(DeleteAclsRequest) \
  X(DeleteGroupsRequest) \
  X(DeleteRecordsRequest) \
  X(DeleteShareGroupStateRequest) \
  X(DeleteTopicsRequest) \
  X(DescribeAclsRequest) \
  X(DescribeClientQuotasRequest) \
  X(DescribeClusterRequest) \
  X(DescribeConfigsRequest) \
  X(DescribeDelegationTokenRequest) \
  X(DescribeGroupsRequest) \
  X(DescribeLogDirsRequest) \
  X(DescribeProducersRequest) \
  X(DescribeQuorumRequest) \
  X(DescribeTopicPartitionsRequest) \
  X(DescribeTransactionsRequest) \
  X(DescribeUserScramCredentialsRequest) \
  X(ElectLeadersRequest) \
  X(EndQuorumEpochRequest) \
  X(EndTxnRequest) \
  X(EnvelopeRequest) \
  X(ExpireDelegationTokenRequest) \
  X(FetchRequest) \
  X(FetchSnapshotRequest) \
  X(FindCoordinatorRequest) \
  X(GetTelemetrySubscriptionsRequest) \
  X(HeartbeatRequest) \
  X(IncrementalAlterConfigsRequest) \
  X(InitProducerIdRequest) \
  X(InitializeShareGroupStateRequest) \
  X(JoinGroupRequest) \
  X(LeaderAndIsrRequest) \
  X(LeaveGroupRequest) \
  X(ListClientMetricsResourcesRequest) \
  X(ListGroupsRequest) \
  X(ListOffsetsRequest) \
  X(ListPartitionReassignmentsRequest) \
  X(ListTransactionsRequest) \
  X(MetadataRequest) \
  X(OffsetCommitRequest) \
  X(OffsetDeleteRequest) \
  X(OffsetFetchRequest) \
  X(OffsetForLeaderEpochRequest) \
  X(ProduceRequest) \
  X(PushTelemetryRequest) \
  X(ReadShareGroupStateRequest) \
  X(ReadShareGroupStateSummaryRequest) \
  X(RemoveRaftVoterRequest) \
  X(RenewDelegationTokenRequest) \
  X(SaslAuthenticateRequest) \
  X(SaslHandshakeRequest) \
  X(ShareAcknowledgeRequest) \
  X(ShareFetchRequest) \
  X(ShareGroupDescribeRequest) \
  X(ShareGroupHeartbeatRequest) \
  X(StopReplicaRequest) \
  X(SyncGroupRequest) \
  X(TxnOffsetCommitRequest) \
  X(UnregisterBrokerRequest) \
  X(UpdateFeaturesRequest) \
  X(UpdateMetadataRequest) \
  X(UpdateRaftVoterRequest) \
  X(VoteRequest) \
  X(WriteShareGroupStateRequest) \
  X(WriteTxnMarkersRequest)

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string error;
  auto parsed = parse_request(ByteView(data, size), error);
  if (!parsed || parsed->api == nullptr) return 0;
  const int16_t key = parsed->header.request_api_key;
  const int16_t version = parsed->header.request_api_version;
  if (version < parsed->api->min_version || version > parsed->api->max_version) return 0;
#define FJORD_DECODE(T)                     \
  if (key == T::kApiKey) {                  \
    round_trip<T>(parsed->body, version);   \
    return 0;                               \
  }
  FJORD_REQUEST_TYPES(FJORD_DECODE)
#undef FJORD_DECODE
  return 0;
}
