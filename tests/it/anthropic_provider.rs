//! The Anthropic provider end to end, beyond the conformance kit
//! (`conformance::anthropic`): the Messages request shape, cache figures,
//! thinking and error events. `ProviderService` over a fake Anthropic server on 127.0.0.1.

use tower_ai::provider::anthropic::Anthropic;
use tower_ai::provider::{Provider, ProviderService};
use tower_ai::types::{ChatRequest, EmbeddingRequest, FinishReason};
use tower_ai::Error;
use tower_ai::LlmRequest;

use crate::conformance::anthropic::{self, API_KEY};
use crate::conformance::Endpoint;
use crate::support::{collect, complete, json_fixture, sse_fixture, streamed};
use tower_ai::testing::FakeUpstream;
use tower_ai::types::RequestMeta;

fn provider(up: &FakeUpstream) -> Anthropic {
    anthropic::provider(Endpoint::upstream(up))
}

fn hello() -> ChatRequest {
    ChatRequest::new("claude-sonnet-4-5")
        .system("Be brief.")
        .user("Hello")
}

#[tokio::test]
async fn requests_have_the_messages_shape_with_the_system_prompt_hoisted() {
    let up = FakeUpstream::start().await;
    let mut service = ProviderService::new(provider(&up));
    complete(&mut service, hello()).await.unwrap();
    complete(&mut service, LlmRequest::stream(hello())).await.unwrap();

    let seen = up.requests();
    assert_eq!(seen[0].path(), "/v1/messages");
    assert_eq!(seen[0].header("x-api-key"), Some(API_KEY));
    assert_eq!(seen[0].header("anthropic-version"), Some("2023-06-01"));
    let body = seen[0].json();
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(body["messages"][0]["role"], "user");
    assert!(body["system"].to_string().contains("Be brief."));
    assert!(
        body["max_tokens"].as_u64().unwrap() > 0,
        "max_tokens is required by the API"
    );
    assert_eq!(seen[1].path(), "/v1/messages");
    assert_eq!(seen[1].json()["stream"], true);
}

#[tokio::test]
async fn tool_use_keeps_its_ids_and_counts_cached_input_tokens() {
    let up = FakeUpstream::start().await;
    up.push(json_fixture(200, "anthropic/message_tool_use.json"));
    up.push(sse_fixture("anthropic/stream_tool_use.sse"));
    let mut service = ProviderService::new(provider(&up));

    let whole = complete(&mut service, hello()).await.unwrap();
    let usage = whole.usage.unwrap();
    assert_eq!(usage.cache_read_tokens, 1024);
    assert_eq!(usage.input_tokens, 150 + 1024, "input counts cached tokens too");

    let stream = complete(&mut service, LlmRequest::stream(hello())).await.unwrap();
    for reply in [&whole, &stream] {
        assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
        assert!(reply.tool_calls().all(|c| c.id.starts_with("toolu_")));
        assert_eq!(reply.text(), "I'll check both cities.");
    }
}

#[tokio::test]
async fn thinking_is_kept_with_its_signature() {
    let up = FakeUpstream::start().await;
    up.push(sse_fixture("anthropic/stream_thinking.sse"));
    let provider = provider(&up);
    let reply = streamed(&provider, hello()).await.unwrap();
    let reasoning: Vec<_> = reply.reasoning().collect();
    assert_eq!(reasoning.len(), 1);
    assert!(!reasoning[0].text.is_empty());
    assert!(reasoning[0].signature.as_deref().is_some_and(|s| !s.is_empty()));
    assert!(!reply.text().is_empty());
}

#[tokio::test]
async fn an_error_event_mid_stream_is_a_typed_error_after_the_text_so_far() {
    let up = FakeUpstream::start().await;
    up.push(sse_fixture("anthropic/stream_error.sse"));
    let mut service = ProviderService::new(provider(&up));
    let got = collect(&mut service, LlmRequest::stream(hello())).await.unwrap();
    assert_eq!(got.finishes(), 0, "an errored stream must not finish: {got:?}");
    assert!(!got.text().is_empty());
    assert!(matches!(got.error, Some(Error::Overloaded(_))), "{:?}", got.error);
}

#[tokio::test]
async fn embeddings_are_unsupported_with_a_typed_error() {
    let up = FakeUpstream::start().await;
    let err = provider(&up)
        .embed(&EmbeddingRequest::new("x", ["a"]), &RequestMeta::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn content_and_stop_reason_carried_in_message_start_are_kept() {
    let up = FakeUpstream::start().await;
    up.push(sse_fixture("anthropic/stream_start_content.sse"));
    let mut service = ProviderService::new(provider(&up));

    let reply = complete(&mut service, LlmRequest::stream(hello())).await.unwrap();
    assert_eq!(reply.text(), "Checking the weather.");
    let calls: Vec<_> = reply
        .tool_calls()
        .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "toolu_01Lm4XeQ8sBn3RfT6yWzVc2K",
                "get_weather",
                r#"{"city":"Paris"}"#
            ),
            (
                "toolu_01Pq7YhW2dKs9NcV5bTxRm8J",
                "get_weather",
                r#"{"city": "Oslo"}"#
            ),
        ]
    );
    assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(reply.usage.unwrap().output_tokens, 58);
}
