// Every API's handler function; the registry in handler.cpp lists them with their versions.
#pragma once

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "broker/handler.h"
#include "protocol/generated/alter_configs_request.h"
#include "protocol/generated/alter_configs_response.h"
#include "protocol/generated/api_versions_request.h"
#include "protocol/generated/api_versions_response.h"
#include "protocol/generated/create_partitions_request.h"
#include "protocol/generated/create_partitions_response.h"
#include "protocol/generated/create_topics_request.h"
#include "protocol/generated/create_topics_response.h"
#include "protocol/generated/delete_topics_request.h"
#include "protocol/generated/delete_topics_response.h"
#include "protocol/generated/describe_configs_request.h"
#include "protocol/generated/describe_configs_response.h"
#include "protocol/generated/metadata_request.h"
#include "protocol/generated/fetch_request.h"
#include "protocol/generated/add_offsets_to_txn_request.h"
#include "protocol/generated/add_offsets_to_txn_response.h"
#include "protocol/generated/add_partitions_to_txn_request.h"
#include "protocol/generated/add_partitions_to_txn_response.h"
#include "protocol/generated/end_txn_request.h"
#include "protocol/generated/end_txn_response.h"
#include "protocol/generated/describe_producers_request.h"
#include "protocol/generated/describe_producers_response.h"
#include "protocol/generated/describe_transactions_request.h"
#include "protocol/generated/describe_transactions_response.h"
#include "protocol/generated/list_transactions_request.h"
#include "protocol/generated/list_transactions_response.h"
#include "protocol/generated/txn_offset_commit_request.h"
#include "protocol/generated/txn_offset_commit_response.h"
#include "protocol/generated/write_txn_markers_request.h"
#include "protocol/generated/write_txn_markers_response.h"
#include "protocol/generated/init_producer_id_request.h"
#include "protocol/generated/init_producer_id_response.h"
#include "protocol/generated/incremental_alter_configs_request.h"
#include "protocol/generated/incremental_alter_configs_response.h"
#include "protocol/generated/fetch_response.h"
#include "protocol/generated/find_coordinator_request.h"
#include "protocol/generated/find_coordinator_response.h"
#include "protocol/generated/list_offsets_request.h"
#include "protocol/generated/list_offsets_response.h"
#include "protocol/generated/metadata_response.h"
#include "protocol/generated/join_group_request.h"
#include "protocol/generated/join_group_response.h"
#include "protocol/generated/sync_group_request.h"
#include "protocol/generated/sync_group_response.h"
#include "protocol/generated/heartbeat_request.h"
#include "protocol/generated/heartbeat_response.h"
#include "protocol/generated/leave_group_request.h"
#include "protocol/generated/leave_group_response.h"
#include "protocol/generated/offset_commit_request.h"
#include "protocol/generated/offset_commit_response.h"
#include "protocol/generated/offset_fetch_request.h"
#include "protocol/generated/offset_fetch_response.h"
#include "protocol/generated/list_groups_request.h"
#include "protocol/generated/list_groups_response.h"
#include "protocol/generated/describe_groups_request.h"
#include "protocol/generated/describe_groups_response.h"
#include "protocol/generated/delete_groups_request.h"
#include "protocol/generated/delete_groups_response.h"
#include "protocol/generated/delete_records_request.h"
#include "protocol/generated/delete_records_response.h"
#include "protocol/generated/offset_delete_request.h"
#include "protocol/generated/offset_delete_response.h"
#include "protocol/generated/allocate_producer_ids_request.h"
#include "protocol/generated/allocate_producer_ids_response.h"
#include "protocol/generated/broker_heartbeat_request.h"
#include "protocol/generated/broker_heartbeat_response.h"
#include "protocol/generated/broker_registration_request.h"
#include "protocol/generated/broker_registration_response.h"
#include "protocol/generated/alter_partition_request.h"
#include "protocol/generated/alter_partition_reassignments_request.h"
#include "protocol/generated/alter_partition_reassignments_response.h"
#include "protocol/generated/elect_leaders_request.h"
#include "protocol/generated/elect_leaders_response.h"
#include "protocol/generated/list_partition_reassignments_request.h"
#include "protocol/generated/list_partition_reassignments_response.h"
#include "protocol/generated/alter_partition_response.h"
#include "protocol/generated/offset_for_leader_epoch_request.h"
#include "protocol/generated/offset_for_leader_epoch_response.h"
#include "protocol/generated/produce_request.h"
#include "protocol/generated/produce_response.h"

namespace fjord::broker {

asio::awaitable<protocol::ApiVersionsResponse> handle_api_versions(RequestContext&, protocol::ApiVersionsRequest&);
asio::awaitable<protocol::ProduceResponse> handle_produce(RequestContext&, protocol::ProduceRequest&);
asio::awaitable<protocol::BrokerRegistrationResponse> handle_broker_registration(RequestContext&,
                                                                                  protocol::BrokerRegistrationRequest&);
asio::awaitable<protocol::BrokerHeartbeatResponse> handle_broker_heartbeat(RequestContext&,
                                                                            protocol::BrokerHeartbeatRequest&);
asio::awaitable<protocol::AllocateProducerIdsResponse> handle_allocate_producer_ids(
    RequestContext&, protocol::AllocateProducerIdsRequest&);
asio::awaitable<protocol::AlterPartitionResponse> handle_alter_partition(RequestContext&,
                                                                         protocol::AlterPartitionRequest&);
asio::awaitable<protocol::OffsetForLeaderEpochResponse> handle_offset_for_leader_epoch(
    RequestContext&, protocol::OffsetForLeaderEpochRequest&);
asio::awaitable<protocol::InitProducerIdResponse> handle_init_producer_id(RequestContext&,
                                                                         protocol::InitProducerIdRequest&);
// Transactions (handlers/transactions.cpp).
asio::awaitable<protocol::AddPartitionsToTxnResponse> handle_add_partitions_to_txn(RequestContext&,
                                                                                   protocol::AddPartitionsToTxnRequest&);
asio::awaitable<protocol::AddOffsetsToTxnResponse> handle_add_offsets_to_txn(RequestContext&,
                                                                             protocol::AddOffsetsToTxnRequest&);
asio::awaitable<protocol::EndTxnResponse> handle_end_txn(RequestContext&, protocol::EndTxnRequest&);
asio::awaitable<protocol::TxnOffsetCommitResponse> handle_txn_offset_commit(RequestContext&,
                                                                           protocol::TxnOffsetCommitRequest&);
asio::awaitable<protocol::DescribeTransactionsResponse> handle_describe_transactions(
    RequestContext&, protocol::DescribeTransactionsRequest&);
asio::awaitable<protocol::ListTransactionsResponse> handle_list_transactions(RequestContext&,
                                                                             protocol::ListTransactionsRequest&);
asio::awaitable<protocol::DescribeProducersResponse> handle_describe_producers(RequestContext&,
                                                                               protocol::DescribeProducersRequest&);
asio::awaitable<protocol::WriteTxnMarkersResponse> handle_write_txn_markers(RequestContext&,
                                                                           protocol::WriteTxnMarkersRequest&);
asio::awaitable<protocol::FetchResponse> handle_fetch(RequestContext&, protocol::FetchRequest&);
asio::awaitable<protocol::ListOffsetsResponse> handle_list_offsets(RequestContext&, protocol::ListOffsetsRequest&);
asio::awaitable<protocol::FindCoordinatorResponse> handle_find_coordinator(RequestContext&,
                                                                           protocol::FindCoordinatorRequest&);
asio::awaitable<protocol::AlterConfigsResponse> handle_alter_configs(RequestContext&, protocol::AlterConfigsRequest&);
asio::awaitable<protocol::IncrementalAlterConfigsResponse> handle_incremental_alter_configs(
    RequestContext&, protocol::IncrementalAlterConfigsRequest&);
asio::awaitable<protocol::MetadataResponse> handle_metadata(RequestContext&, protocol::MetadataRequest&);
asio::awaitable<protocol::CreateTopicsResponse> handle_create_topics(RequestContext&, protocol::CreateTopicsRequest&);
asio::awaitable<protocol::DeleteTopicsResponse> handle_delete_topics(RequestContext&, protocol::DeleteTopicsRequest&);
asio::awaitable<protocol::CreatePartitionsResponse> handle_create_partitions(RequestContext&,
                                                                             protocol::CreatePartitionsRequest&);
asio::awaitable<protocol::DeleteRecordsResponse> handle_delete_records(RequestContext&, protocol::DeleteRecordsRequest&);
// AlterPartitionReassignments and ListPartitionReassignments (handlers/reassignments.cpp).
asio::awaitable<protocol::AlterPartitionReassignmentsResponse> handle_alter_partition_reassignments(
    RequestContext&, protocol::AlterPartitionReassignmentsRequest&);
asio::awaitable<protocol::ListPartitionReassignmentsResponse> handle_list_partition_reassignments(
    RequestContext&, protocol::ListPartitionReassignmentsRequest&);
// ElectLeaders (handlers/elect_leaders.cpp).
asio::awaitable<protocol::ElectLeadersResponse> handle_elect_leaders(RequestContext&, protocol::ElectLeadersRequest&);
asio::awaitable<protocol::DescribeConfigsResponse> handle_describe_configs(RequestContext&,
                                                                           protocol::DescribeConfigsRequest&);

// Consumer groups (handlers/groups.cpp).
asio::awaitable<protocol::JoinGroupResponse> handle_join_group(RequestContext&, protocol::JoinGroupRequest&);
asio::awaitable<protocol::SyncGroupResponse> handle_sync_group(RequestContext&, protocol::SyncGroupRequest&);
asio::awaitable<protocol::HeartbeatResponse> handle_heartbeat(RequestContext&, protocol::HeartbeatRequest&);
asio::awaitable<protocol::LeaveGroupResponse> handle_leave_group(RequestContext&, protocol::LeaveGroupRequest&);
asio::awaitable<protocol::OffsetCommitResponse> handle_offset_commit(RequestContext&, protocol::OffsetCommitRequest&);
asio::awaitable<protocol::OffsetFetchResponse> handle_offset_fetch(RequestContext&, protocol::OffsetFetchRequest&);
asio::awaitable<protocol::ListGroupsResponse> handle_list_groups(RequestContext&, protocol::ListGroupsRequest&);
asio::awaitable<protocol::DescribeGroupsResponse> handle_describe_groups(RequestContext&, protocol::DescribeGroupsRequest&);
asio::awaitable<protocol::DeleteGroupsResponse> handle_delete_groups(RequestContext&, protocol::DeleteGroupsRequest&);
asio::awaitable<protocol::OffsetDeleteResponse> handle_offset_delete(RequestContext&, protocol::OffsetDeleteRequest&);

}  // namespace fjord::broker
