//! OpenAI through the conformance kit.

use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::HttpProviderBuilder;

use super::{conformance_tests, Call, Endpoint, Errors, Vendor};

/// The API key the OpenAI provider under test is built with.
pub(crate) const API_KEY: &str = "sk-test-secret-7f3a9c";

/// OpenAI at `at` (`{base_url}/v1`), with [`API_KEY`].
pub(crate) fn provider(at: Endpoint) -> OpenAi {
    let builder = OpenAi::builder()
        .api_key(API_KEY)
        .base_url(format!("{}/v1", at.base_url));
    match at.transport {
        Some(transport) => builder.transport(transport),
        None => builder,
    }
    .build()
    .unwrap()
}

pub(crate) const VENDOR: Vendor<OpenAi> = Vendor {
    name: "openai",
    api_key: API_KEY,
    key_header: ("authorization", "Bearer "),
    provider,
    model: "gpt-4o-mini",
    complete: "openai/chat_completion.json",
    stream: "openai/stream_text.sse",
    tool_calls: "openai/chat_completion_tool_calls.json",
    stream_tool_calls: "openai/stream_tool_calls.sse",
    request_id_header: "x-request-id",
    terminal: "data: [DONE]\n",
    complete_text: "Hello! How can I help you today?",
    complete_usage: (19, 9),
    stream_text: "Hello! How can I help?",
    stream_usage: (19, 7),
    stream_repeats: "openai/stream_repeats.sse",
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
        rate_limited: "openai/error_rate_limit.json",
        authentication: "openai/error_auth.json",
        invalid_request: "openai/error_invalid_request.json",
        context_length: "openai/error_context_length.json",
        server: "openai/error_server.json",
        overloaded: &[(503, "openai/error_overloaded.json")],
    },
};

conformance_tests!(VENDOR);
