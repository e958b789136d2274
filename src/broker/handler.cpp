#include "broker/handler.h"

#include "broker/handlers/handlers.h"

namespace fjord::broker {
namespace {

using namespace protocol;

const HandlerInfo kHandlers[] = {
    // Produce v0-2 are served so that clients like librdkafka 2.0 see the broker as able to take
    // compressed batches; they carry message formats 0/1, which are refused per partition.
    {ProduceRequest::kApiKey, 0, 11, &typed_handler<ProduceRequest, ProduceResponse, handle_produce>},
    {InitProducerIdRequest::kApiKey, 0, 5,
     &typed_handler<InitProducerIdRequest, InitProducerIdResponse, handle_init_producer_id>},
    // Clients use AddPartitionsToTxn v0-3; v4 (batched, verify_only) is sent by brokers.
    {AddPartitionsToTxnRequest::kApiKey, 0, 4,
     &typed_handler<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, handle_add_partitions_to_txn>},
    {AddOffsetsToTxnRequest::kApiKey, 0, 4,
     &typed_handler<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, handle_add_offsets_to_txn>},
    {EndTxnRequest::kApiKey, 0, 4, &typed_handler<EndTxnRequest, EndTxnResponse, handle_end_txn>},
    {TxnOffsetCommitRequest::kApiKey, 0, 4,
     &typed_handler<TxnOffsetCommitRequest, TxnOffsetCommitResponse, handle_txn_offset_commit>},
    {DescribeTransactionsRequest::kApiKey, 0, 0,
     &typed_handler<DescribeTransactionsRequest, DescribeTransactionsResponse, handle_describe_transactions>},
    {ListTransactionsRequest::kApiKey, 0, 1,
     &typed_handler<ListTransactionsRequest, ListTransactionsResponse, handle_list_transactions>},
    {DescribeProducersRequest::kApiKey, 0, 0,
     &typed_handler<DescribeProducersRequest, DescribeProducersResponse, handle_describe_producers>},
    {WriteTxnMarkersRequest::kApiKey, 0, 1,
     &typed_handler<WriteTxnMarkersRequest, WriteTxnMarkersResponse, handle_write_txn_markers>},
    {FetchRequest::kApiKey, 4, 17, &typed_handler<FetchRequest, FetchResponse, handle_fetch>},
    {ListOffsetsRequest::kApiKey, 1, 9,
     &typed_handler<ListOffsetsRequest, ListOffsetsResponse, handle_list_offsets>},
    {ApiVersionsRequest::kApiKey, 0, 4, &typed_handler<ApiVersionsRequest, ApiVersionsResponse, handle_api_versions>},
    {MetadataRequest::kApiKey, 0, 12, &typed_handler<MetadataRequest, MetadataResponse, handle_metadata>},
    {FindCoordinatorRequest::kApiKey, 0, 6,
     &typed_handler<FindCoordinatorRequest, FindCoordinatorResponse, handle_find_coordinator>},
    {JoinGroupRequest::kApiKey, 0, 9, &typed_handler<JoinGroupRequest, JoinGroupResponse, handle_join_group>},
    {SyncGroupRequest::kApiKey, 0, 5, &typed_handler<SyncGroupRequest, SyncGroupResponse, handle_sync_group>},
    {HeartbeatRequest::kApiKey, 0, 4, &typed_handler<HeartbeatRequest, HeartbeatResponse, handle_heartbeat>},
    {LeaveGroupRequest::kApiKey, 0, 5, &typed_handler<LeaveGroupRequest, LeaveGroupResponse, handle_leave_group>},
    {OffsetCommitRequest::kApiKey, 0, 9, &typed_handler<OffsetCommitRequest, OffsetCommitResponse, handle_offset_commit>},
    {OffsetFetchRequest::kApiKey, 0, 9, &typed_handler<OffsetFetchRequest, OffsetFetchResponse, handle_offset_fetch>},
    {ListGroupsRequest::kApiKey, 0, 5, &typed_handler<ListGroupsRequest, ListGroupsResponse, handle_list_groups>},
    {DescribeGroupsRequest::kApiKey, 0, 5, &typed_handler<DescribeGroupsRequest, DescribeGroupsResponse, handle_describe_groups>},
    {DeleteGroupsRequest::kApiKey, 0, 2, &typed_handler<DeleteGroupsRequest, DeleteGroupsResponse, handle_delete_groups>},
    {OffsetDeleteRequest::kApiKey, 0, 0, &typed_handler<OffsetDeleteRequest, OffsetDeleteResponse, handle_offset_delete>},
    {CreateTopicsRequest::kApiKey, 0, 7,
     &typed_handler<CreateTopicsRequest, CreateTopicsResponse, handle_create_topics>},
    {DeleteTopicsRequest::kApiKey, 0, 6,
     &typed_handler<DeleteTopicsRequest, DeleteTopicsResponse, handle_delete_topics>},
    {DescribeConfigsRequest::kApiKey, 0, 4,
     &typed_handler<DescribeConfigsRequest, DescribeConfigsResponse, handle_describe_configs>},
    {AlterConfigsRequest::kApiKey, 0, 2,
     &typed_handler<AlterConfigsRequest, AlterConfigsResponse, handle_alter_configs>},
    {IncrementalAlterConfigsRequest::kApiKey, 0, 1,
     &typed_handler<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, handle_incremental_alter_configs>},
    {BrokerRegistrationRequest::kApiKey, 0, 4,
     &typed_handler<BrokerRegistrationRequest, BrokerRegistrationResponse, handle_broker_registration>},
    {BrokerHeartbeatRequest::kApiKey, 0, 1,
     &typed_handler<BrokerHeartbeatRequest, BrokerHeartbeatResponse, handle_broker_heartbeat>},
    {AlterPartitionRequest::kApiKey, 2, 3,
     &typed_handler<AlterPartitionRequest, AlterPartitionResponse, handle_alter_partition>},
    {OffsetForLeaderEpochRequest::kApiKey, 2, 4,
     &typed_handler<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, handle_offset_for_leader_epoch>},
    {AllocateProducerIdsRequest::kApiKey, 0, 0,
     &typed_handler<AllocateProducerIdsRequest, AllocateProducerIdsResponse, handle_allocate_producer_ids>},
    {DeleteRecordsRequest::kApiKey, 0, 2,
     &typed_handler<DeleteRecordsRequest, DeleteRecordsResponse, handle_delete_records>},
    {CreatePartitionsRequest::kApiKey, 0, 3,
     &typed_handler<CreatePartitionsRequest, CreatePartitionsResponse, handle_create_partitions>},
    {AlterPartitionReassignmentsRequest::kApiKey, 0, 0,
     &typed_handler<AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
                    handle_alter_partition_reassignments>},
    {ListPartitionReassignmentsRequest::kApiKey, 0, 0,
     &typed_handler<ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
                    handle_list_partition_reassignments>},
    {ElectLeadersRequest::kApiKey, 0, 2, &typed_handler<ElectLeadersRequest, ElectLeadersResponse, handle_elect_leaders>},
};

}  // namespace

std::span<const HandlerInfo> handlers() { return kHandlers; }

const HandlerInfo* find_handler(int16_t api_key) {
  for (const HandlerInfo& h : kHandlers)
    if (h.api_key == api_key) return &h;
  return nullptr;
}

Bytes unsupported_api_versions_response(int32_t correlation_id) {
  const HandlerInfo* self = find_handler(ApiVersionsRequest::kApiKey);
  ApiVersionsResponse body;
  body.error_code = code(ErrorCode::UNSUPPORTED_VERSION);
  auto& entry = body.api_keys.emplace_back();
  entry.api_key = self->api_key;
  entry.min_version = self->min_version;
  entry.max_version = self->max_version;
  return encode_response(*find_api_spec(ApiVersionsRequest::kApiKey), 0, correlation_id, body);
}

}  // namespace fjord::broker
