//! Anthropic through the conformance kit.

use tower_ai::provider::anthropic::Anthropic;
use tower_ai::provider::HttpProviderBuilder;

use super::{conformance_tests, Call, Endpoint, Errors, Vendor};

/// The API key the Anthropic provider under test is built with.
pub(crate) const API_KEY: &str = "sk-ant-secret-4e1b8d";

/// Anthropic at `at` (the Messages API under `{base_url}/v1`), with [`API_KEY`].
pub(crate) fn provider(at: Endpoint) -> Anthropic {
    let builder = Anthropic::builder().api_key(API_KEY).base_url(at.base_url);
    match at.transport {
        Some(transport) => builder.transport(transport),
        None => builder,
    }
    .build()
    .unwrap()
}

pub(crate) const VENDOR: Vendor<Anthropic> = Vendor {
    name: "anthropic",
    api_key: API_KEY,
    key_header: ("x-api-key", ""),
    provider,
    model: "claude-sonnet-4-5",
    complete: "anthropic/message.json",
    stream: "anthropic/stream_text.sse",
    tool_calls: "anthropic/message_tool_use.json",
    stream_tool_calls: "anthropic/stream_tool_use.sse",
    request_id_header: "request-id",
    terminal: "data: {\"type\":\"message_stop\"}\n",
    complete_text: "Hello! How can I help you today?",
    complete_usage: (12, 10),
    stream_text: "Hello! How can I help?",
    stream_usage: (25, 15),
    stream_repeats: "anthropic/stream_repeats.sse",
    calls: &[
        Call {
            name: "get_weather",
            arguments: r#"{"city": "Paris"}"#,
        },
        Call {
            name: "get_weather",
            arguments: r#"{"city": "Tokyo"}"#,
        },
    ],
    errors: Errors {
        rate_limited: "anthropic/error_rate_limit.json",
        authentication: "anthropic/error_auth.json",
        invalid_request: "anthropic/error_invalid_request_roles.json",
        context_length: "anthropic/error_invalid_request.json",
        server: "anthropic/error_api.json",
        overloaded: &[(529, "anthropic/error_overloaded.json")],
    },
};

conformance_tests!(VENDOR);
