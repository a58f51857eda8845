//! Error classification, fed by a real-shaped error body of every dialect:
//! OpenAI, Azure, vLLM, llama.cpp's server, Ollama, LiteLLM-style proxies and
//! Anthropic (sources in `fixtures/errors/SOURCES.md` and each vendor's
//! `SOURCES.md`). One table in the crate classifies them all; this runs every
//! body through the codec of the wire it speaks.

use http::{HeaderMap, StatusCode};
use tower_ai::provider::anthropic::Anthropic;
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::Codec;
use tower_ai::Error;

use crate::support;

#[derive(Clone, Copy, Debug)]
enum Wire {
    OpenAi,
    Anthropic,
}

/// (wire, status, fixture under `tests/it/fixtures/`, the error's kind)
const CASES: &[(Wire, u16, &str, &str)] = &[
    // OpenAI
    (Wire::OpenAi, 429, "openai/error_rate_limit.json", "rate_limited"),
    (Wire::OpenAi, 401, "openai/error_auth.json", "authentication"),
    (
        Wire::OpenAi,
        400,
        "openai/error_invalid_request.json",
        "invalid_request",
    ),
    (
        Wire::OpenAi,
        400,
        "openai/error_context_length.json",
        "context_length_exceeded",
    ),
    (Wire::OpenAi, 500, "openai/error_server.json", "server"),
    (Wire::OpenAi, 503, "openai/error_overloaded.json", "overloaded"),
    (Wire::OpenAi, 429, "errors/openai_quota.json", "authentication"),
    // Azure OpenAI
    (
        Wire::OpenAi,
        400,
        "openai/error_content_filter.json",
        "content_filtered",
    ),
    (Wire::OpenAi, 429, "errors/azure_rate_limit.json", "rate_limited"),
    (
        Wire::OpenAi,
        400,
        "errors/azure_context.json",
        "context_length_exceeded",
    ),
    // vLLM
    (
        Wire::OpenAi,
        400,
        "errors/vllm_context.json",
        "context_length_exceeded",
    ),
    (Wire::OpenAi, 404, "errors/vllm_not_found.json", "invalid_request"),
    (Wire::OpenAi, 500, "errors/vllm_server.json", "server"),
    // llama.cpp's server
    (
        Wire::OpenAi,
        400,
        "openai/error_llamacpp_context.json",
        "context_length_exceeded",
    ),
    (
        Wire::OpenAi,
        400,
        "openai/error_llamacpp_context_older.json",
        "context_length_exceeded",
    ),
    (Wire::OpenAi, 503, "errors/llamacpp_loading.json", "overloaded"),
    (Wire::OpenAi, 401, "errors/llamacpp_auth.json", "authentication"),
    (Wire::OpenAi, 501, "errors/llamacpp_not_supported.json", "server"),
    // Ollama
    (
        Wire::OpenAi,
        404,
        "errors/ollama_not_found.json",
        "invalid_request",
    ),
    (Wire::OpenAi, 404, "errors/ollama_native.json", "invalid_request"),
    (Wire::OpenAi, 500, "errors/ollama_api_error.json", "server"),
    // LiteLLM-style proxies
    (
        Wire::OpenAi,
        400,
        "openai/error_litellm_context.json",
        "context_length_exceeded",
    ),
    (
        Wire::OpenAi,
        429,
        "errors/litellm_rate_limit.json",
        "rate_limited",
    ),
    (Wire::OpenAi, 401, "errors/litellm_auth.json", "authentication"),
    (
        Wire::OpenAi,
        400,
        "errors/litellm_content_policy.json",
        "content_filtered",
    ),
    // Anthropic
    (
        Wire::Anthropic,
        429,
        "anthropic/error_rate_limit.json",
        "rate_limited",
    ),
    (
        Wire::Anthropic,
        401,
        "anthropic/error_auth.json",
        "authentication",
    ),
    (
        Wire::Anthropic,
        400,
        "anthropic/error_invalid_request_roles.json",
        "invalid_request",
    ),
    (
        Wire::Anthropic,
        400,
        "anthropic/error_invalid_request.json",
        "context_length_exceeded",
    ),
    (Wire::Anthropic, 500, "anthropic/error_api.json", "server"),
    (
        Wire::Anthropic,
        529,
        "anthropic/error_overloaded.json",
        "overloaded",
    ),
    (
        Wire::Anthropic,
        402,
        "errors/anthropic_billing.json",
        "authentication",
    ),
    (
        Wire::Anthropic,
        413,
        "errors/anthropic_too_large.json",
        "invalid_request",
    ),
    (
        Wire::Anthropic,
        404,
        "errors/anthropic_not_found.json",
        "invalid_request",
    ),
];

fn decode(wire: Wire, status: u16, body: &[u8]) -> Error {
    let status = StatusCode::from_u16(status).unwrap();
    let none = HeaderMap::new();
    match wire {
        Wire::OpenAi => OpenAi::builder()
            .api_key("sk-test")
            .build_codec()
            .unwrap()
            .decode_error(status, &none, body),
        Wire::Anthropic => Anthropic::builder()
            .api_key("sk-ant-test")
            .build_codec()
            .unwrap()
            .decode_error(status, &none, body),
    }
}

#[test]
fn every_dialects_error_bodies_are_classified_alike() {
    let mut wrong = Vec::new();
    for &(wire, status, file, kind) in CASES {
        let err = decode(wire, status, &support::fixture_bytes(file));
        if err.kind() != kind {
            wrong.push(format!(
                "{file} ({status}): {} instead of {kind}: {err}",
                err.kind()
            ));
        }
        let api = err.api().expect("an upstream answer keeps its details");
        assert_eq!(api.status.map(|s| s.as_u16()), Some(status), "{file}");
        assert!(!api.message.is_empty(), "{file}: the message is kept");
    }
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
}

/// A status a server puts in `code` gives way to the real `type`, and a
/// delay worded in the message is honoured (Azure, LiteLLM).
#[test]
fn codes_that_are_statuses_and_worded_delays() {
    let err = decode(
        Wire::OpenAi,
        400,
        &support::fixture_bytes("errors/vllm_context.json"),
    );
    assert_eq!(err.api().unwrap().code.as_deref(), Some("BadRequestError"));
    let err = decode(
        Wire::OpenAi,
        429,
        &support::fixture_bytes("errors/litellm_rate_limit.json"),
    );
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(6)));
    let err = decode(
        Wire::OpenAi,
        503,
        &support::fixture_bytes("errors/llamacpp_loading.json"),
    );
    assert!(err.is_retryable(), "a model still loading is worth another try");
}
