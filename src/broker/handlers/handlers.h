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
#include "protocol/generated/incremental_alter_configs_request.h"
#include "protocol/generated/incremental_alter_configs_response.h"
#include "protocol/generated/fetch_response.h"
#include "protocol/generated/find_coordinator_request.h"
#include "protocol/generated/find_coordinator_response.h"
#include "protocol/generated/list_offsets_request.h"
#include "protocol/generated/list_offsets_response.h"
#include "protocol/generated/metadata_response.h"
#include "protocol/generated/produce_request.h"
#include "protocol/generated/produce_response.h"

namespace fjord::broker {

asio::awaitable<protocol::ApiVersionsResponse> handle_api_versions(RequestContext&, protocol::ApiVersionsRequest&);
asio::awaitable<protocol::ProduceResponse> handle_produce(RequestContext&, protocol::ProduceRequest&);
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
asio::awaitable<protocol::DescribeConfigsResponse> handle_describe_configs(RequestContext&,
                                                                           protocol::DescribeConfigsRequest&);

}  // namespace fjord::broker
