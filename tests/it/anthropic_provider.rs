//! The Anthropic provider end to end: `ProviderService` over a fake Anthropic server on 127.0.0.1.

use std::time::Duration;

use futures_util::StreamExt;
use tower_ai::provider::anthropic::Anthropic;
use tower_ai::provider::{Provider, ProviderService};
use tower_ai::types::{ChatRequest, EmbeddingRequest, FinishReason};
use tower_ai::Error;

use crate::support::{call, collect, complete, streamed, FakeUpstream, Reply};

fn provider(up: &FakeUpstream) -> Anthropic {
    Anthropic::builder()
        .api_key("sk-ant-secret")
        .base_url(up.base_url())
        .build()
        .unwrap()
}

fn hello() -> ChatRequest {
    ChatRequest::new("claude-sonnet-4-5")
        .system("Be brief.")
        .user("Hello")
}

#[tokio::test]
async fn complete_reply_with_the_system_prompt_hoisted() {
    let up = FakeUpstream::start().await;
    let mut service = ProviderService::new(provider(&up));
    let reply = complete(&mut service, hello()).await.unwrap();
    assert_eq!(reply.text(), "Hello! How can I help you today?");
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    let usage = reply.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (12, 10));

    let seen = &up.requests()[0];
    assert_eq!(seen.path(), "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some("sk-ant-secret"));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    let body = seen.json();
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(body["messages"][0]["role"], "user");
    assert!(body["system"].to_string().contains("Be brief."));
    assert!(
        body["max_tokens"].as_u64().unwrap() > 0,
        "max_tokens is required by the API"
    );
}

#[tokio::test]
async fn streamed_reply_with_usage() {
    let up = FakeUpstream::start().await;
    let mut service = ProviderService::new(provider(&up));
    let reply = complete(&mut service, hello().streaming(true)).await.unwrap();
    assert_eq!(reply.text(), "Hello! How can I help?");
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    let usage = reply.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (25, 15));
    assert_eq!(up.requests()[0].json()["stream"], true);
}

#[tokio::test]
async fn tool_use_complete_and_streamed_with_cache_figures() {
    let up = FakeUpstream::start().await;
    up.push(Reply::fixture(200, "anthropic/message_tool_use.json"));
    up.push(Reply::sse_fixture_chunked("anthropic/stream_tool_use.sse", 5));
    let mut service = ProviderService::new(provider(&up));

    let whole = complete(&mut service, hello()).await.unwrap();
    assert_eq!(whole.finish_reason, Some(FinishReason::ToolCalls));
    let calls = whole.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].arguments_json().unwrap()["city"], "Paris");
    assert_eq!(calls[1].arguments_json().unwrap()["city"], "Tokyo");
    let usage = whole.usage.unwrap();
    assert_eq!(usage.cache_read_tokens, 1024);
    assert_eq!(usage.input_tokens, 150 + 1024, "input counts cached tokens too");

    let stream = complete(&mut service, hello().streaming(true)).await.unwrap();
    assert_eq!(stream.finish_reason, Some(FinishReason::ToolCalls));
    let calls = stream.tool_calls();
    assert_eq!(calls.len(), 2, "{stream:?}");
    assert!(calls.iter().all(|c| c.id.starts_with("toolu_")));
    for call in calls {
        assert!(call.arguments_json().unwrap().is_object());
    }
}

#[tokio::test]
async fn thinking_is_kept_with_its_signature() {
    let up = FakeUpstream::start().await;
    up.push(Reply::sse_fixture("anthropic/stream_thinking.sse"));
    let provider = provider(&up);
    let reply = streamed(&provider, hello()).await.unwrap();
    let reasoning = reply.reasoning();
    assert_eq!(reasoning.len(), 1);
    assert!(!reasoning[0].text.is_empty());
    assert!(reasoning[0].signature.as_deref().is_some_and(|s| !s.is_empty()));
    assert!(!reply.text().is_empty());
}

#[tokio::test]
async fn http_errors_become_typed_errors() {
    let up = FakeUpstream::start().await;
    up.push(Reply::fixture(429, "anthropic/error_rate_limit.json").with_header("retry-after", "7"));
    up.push(Reply::fixture(529, "anthropic/error_overloaded.json"));
    up.push(Reply::fixture(400, "anthropic/error_invalid_request.json"));
    up.push(Reply::fixture(401, "anthropic/error_auth.json"));
    up.push(Reply::fixture(500, "anthropic/error_api.json"));
    let mut service = ProviderService::new(provider(&up));

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited(_)), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::Overloaded(_)), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.status().map(|s| s.as_u16()), Some(529));

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::ContextLengthExceeded(_)), "{err:?}");

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::Authentication(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("sk-ant-secret"));

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::Server(_)), "{err:?}");
}

#[tokio::test]
async fn an_error_event_mid_stream_is_a_typed_error_after_the_text_so_far() {
    let up = FakeUpstream::start().await;
    up.push(Reply::sse_fixture("anthropic/stream_error.sse"));
    let mut service = ProviderService::new(provider(&up));
    let got = collect(&mut service, hello().streaming(true)).await.unwrap();
    assert_eq!(got.finishes(), 0, "an errored stream must not finish: {got:?}");
    assert!(!got.text().is_empty());
    assert!(matches!(got.error, Some(Error::Overloaded(_))), "{:?}", got.error);
}

#[tokio::test]
async fn a_cut_stream_and_a_dropped_connection_are_errors() {
    let up = FakeUpstream::start().await;
    up.push(Reply::sse_fixture("anthropic/stream_text.sse").cut_after(4));
    up.push(Reply::MalformedJson);
    let provider = provider(&up);
    let err = streamed(&provider, hello()).await.unwrap_err();
    assert!(matches!(err, Error::StreamTruncated { .. }), "{err:?}");
    let err = provider.chat(hello()).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn dropping_a_stream_closes_the_upstream_request() {
    let up = FakeUpstream::start().await;
    up.push(Reply::sse_fixture("anthropic/stream_text.sse").with_delay(Duration::from_millis(50)));
    let provider = provider(&up);
    let mut stream = provider.chat_stream(hello()).await.unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    assert!(up.wait_for_disconnects(1, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn embeddings_are_unsupported_with_a_typed_error() {
    let up = FakeUpstream::start().await;
    let err = provider(&up)
        .embed(EmbeddingRequest::new("x", ["a"]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert!(up.requests().is_empty());
}
