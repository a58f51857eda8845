//! The OpenAI provider end to end: `ProviderService` over a fake OpenAI server on 127.0.0.1.

use std::time::Duration;

use futures_util::StreamExt;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::{Provider, ProviderService};
use tower_ai::types::{ChatRequest, EmbeddingRequest, FinishReason, ResponseFormat, StreamEvent};
use tower_ai::Error;

use crate::support::{call, collect, complete, streamed, FakeUpstream, Reply};

fn provider(up: &FakeUpstream) -> OpenAi {
    OpenAi::builder()
        .api_key("sk-test-secret")
        .base_url(format!("{}/v1", up.base_url()))
        .build()
        .unwrap()
}

fn hello() -> ChatRequest {
    ChatRequest::new("gpt-4o-mini").system("Be brief.").user("Hello")
}

#[tokio::test]
async fn complete_reply_with_usage() {
    let up = FakeUpstream::start().await;
    let mut service = ProviderService::new(provider(&up));
    let reply = complete(&mut service, hello()).await.unwrap();
    assert_eq!(reply.text(), "Hello! How can I help you today?");
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    let usage = reply.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (19, 9));

    let seen = &up.requests()[0];
    assert_eq!(seen.path(), "/v1/chat/completions");
    assert_eq!(seen.header("authorization"), Some("Bearer sk-test-secret"));
    let body = seen.json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["content"], "Hello");
}

#[tokio::test]
async fn streamed_reply_asks_for_usage_and_gets_it() {
    let up = FakeUpstream::start().await;
    let mut service = ProviderService::new(provider(&up));
    let response = call(&mut service, hello().streaming(true)).await.unwrap();
    assert!(response.is_stream());
    let reply = response.into_complete().await.unwrap();
    assert_eq!(reply.text(), "Hello! How can I help?");
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    let usage = reply.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (19, 7));

    let body = up.requests()[0].json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn a_stream_split_into_tiny_chunks_decodes_the_same() {
    let up = FakeUpstream::start().await;
    for size in [1, 7, 64] {
        up.push(Reply::sse_fixture_chunked("openai/stream_tool_calls.sse", size));
    }
    let mut service = ProviderService::new(provider(&up));
    for _ in 0..3 {
        let reply = complete(&mut service, hello().streaming(true)).await.unwrap();
        let calls = reply.tool_calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].arguments_json().unwrap()["city"], "Paris");
        assert_eq!(calls[1].arguments_json().unwrap()["city"], "Tokyo");
    }
}

#[tokio::test]
async fn parallel_tool_calls_complete_and_streamed() {
    let up = FakeUpstream::start().await;
    up.push(Reply::fixture(200, "openai/chat_completion_tool_calls.json"));
    up.push(Reply::sse_fixture("openai/stream_tool_calls.sse"));
    let mut service = ProviderService::new(provider(&up));

    let whole = complete(&mut service, hello()).await.unwrap();
    let stream = complete(&mut service, hello().streaming(true)).await.unwrap();
    for reply in [&whole, &stream] {
        assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
        let calls = reply.tool_calls();
        assert_eq!(calls.len(), 2, "{reply:?}");
        assert!(calls
            .iter()
            .all(|c| c.name == "get_weather" && c.id.starts_with("call_")));
        assert_ne!(calls[0].id, calls[1].id);
        assert_eq!(calls[0].arguments_json().unwrap()["city"], "Paris");
        assert_eq!(calls[1].arguments_json().unwrap()["city"], "Tokyo");
    }
    assert_eq!(whole.usage.unwrap().cache_read_tokens, 1024);
}

#[tokio::test]
async fn json_schema_output_is_requested_and_returned() {
    let up = FakeUpstream::start().await;
    up.push(Reply::fixture(200, "openai/chat_completion_json.json"));
    let mut service = ProviderService::new(provider(&up));
    let schema = serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let request = hello().response_format(ResponseFormat::json_schema("weather", schema.clone()));
    let reply = complete(&mut service, request).await.unwrap();
    let value: serde_json::Value = serde_json::from_str(&reply.text()).unwrap();
    assert_eq!(value["city"], "Paris");
    let body = up.requests()[0].json();
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
}

#[tokio::test]
async fn embeddings_over_the_service() {
    let up = FakeUpstream::start().await;
    let mut service = ProviderService::new(provider(&up)).embeddings();
    let response = service
        .ready()
        .await
        .unwrap()
        .call(EmbeddingRequest::new("text-embedding-3-small", ["a", "b"]))
        .await
        .unwrap();
    assert_eq!(response.embeddings.len(), 2);
    assert_eq!(response.embeddings[0].len(), 8);
    assert_eq!(response.usage.unwrap().input_tokens, 8);
    let seen = &up.requests()[0];
    assert_eq!(seen.path(), "/v1/embeddings");
    assert_eq!(seen.json()["input"], serde_json::json!(["a", "b"]));
}

#[tokio::test]
async fn http_errors_become_typed_errors() {
    let up = FakeUpstream::start().await;
    up.push(Reply::fixture(429, "openai/error_rate_limit.json").with_header("retry-after", "20"));
    up.push(Reply::fixture(401, "openai/error_auth.json"));
    up.push(Reply::fixture(400, "openai/error_context_length.json"));
    up.push(Reply::fixture(400, "openai/error_content_filter.json"));
    up.push(Reply::fixture(500, "openai/error_server.json"));
    up.push(Reply::json(503, "upstream unavailable"));
    let mut service = ProviderService::new(provider(&up));

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited(_)), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(20)));
    assert!(err.is_retryable());

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::Authentication(_)), "{err:?}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    assert!(!err.is_retryable());
    // The key never shows in an error.
    assert!(!format!("{err} {err:?}").contains("sk-test-secret"));

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::ContextLengthExceeded(_)), "{err:?}");

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::ContentFiltered(_)), "{err:?}");

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert!(err.is_retryable());

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
}

#[tokio::test]
async fn malformed_bodies_and_dropped_connections_are_errors() {
    let up = FakeUpstream::start().await;
    up.push(Reply::MalformedJson);
    up.push(Reply::DropConnection);
    up.push(Reply::DropConnection);
    let mut service = ProviderService::new(provider(&up));

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");

    // A stream whose connection drops ends with an error, not a clean finish.
    let response = call(&mut service, hello().streaming(true)).await;
    let err = match response {
        Err(err) => err,
        Ok(response) => response.into_complete().await.unwrap_err(),
    };
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn a_stream_cut_mid_way_ends_with_an_error_after_the_events_it_carried() {
    let up = FakeUpstream::start().await;
    up.push(Reply::sse_fixture("openai/stream_text.sse").cut_after(3));
    let mut service = ProviderService::new(provider(&up));
    let got = collect(&mut service, hello().streaming(true)).await.unwrap();
    assert_eq!(got.finishes(), 0, "a cut stream must not finish: {got:?}");
    assert_eq!(got.text(), "Hello!");
    assert!(
        matches!(got.error, Some(Error::StreamTruncated { .. })),
        "{:?}",
        got.error
    );
}

#[tokio::test]
async fn an_oversized_stream_event_is_refused() {
    let up = FakeUpstream::start().await;
    let big = format!("data: {{\"x\":\"{}\"}}\n\n", "a".repeat(10_000));
    up.push(Reply::Sse {
        chunks: vec![big.into()],
        delay: Duration::ZERO,
        cut_after: None,
    });
    let provider = provider(&up).max_event_bytes(1024);
    let err = streamed(&provider, hello()).await.unwrap_err();
    assert!(matches!(err, Error::EventTooLarge { limit: 1024 }), "{err:?}");
}

#[tokio::test]
async fn slow_chunks_arrive_and_a_timeout_layer_stops_a_slow_upstream() {
    let up = FakeUpstream::start().await;
    up.push(Reply::sse_fixture("openai/stream_text.sse").with_delay(Duration::from_millis(5)));
    up.push(Reply::fixture(200, "openai/chat_completion.json").with_delay(Duration::from_secs(5)));
    let mut service = ServiceBuilder::new()
        .map_err(tower_ai::error::from_box_error)
        .timeout(Duration::from_millis(300))
        .service(ProviderService::new(provider(&up)));

    let reply = complete(&mut service, hello().streaming(true)).await.unwrap();
    assert_eq!(reply.text(), "Hello! How can I help?");

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
}

#[tokio::test]
async fn dropping_a_stream_closes_the_upstream_request() {
    let up = FakeUpstream::start().await;
    up.push(Reply::sse_fixture("openai/stream_text.sse").with_delay(Duration::from_millis(50)));
    let mut service = ProviderService::new(provider(&up));
    let mut stream = call(&mut service, hello().streaming(true))
        .await
        .unwrap()
        .into_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(matches!(first, StreamEvent::Start { .. }));
    drop(stream);
    assert!(up.wait_for_disconnects(1, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn azure_uses_its_deployment_url_and_api_key_header() {
    let up = FakeUpstream::start().await;
    let provider = OpenAi::azure()
        .endpoint(up.base_url())
        .deployment("my-gpt4o")
        .api_version("2024-10-21")
        .api_key("azure-secret")
        .build()
        .unwrap();
    assert_eq!(provider.name(), "azure_openai");
    let reply = provider.chat(hello()).await.unwrap();
    assert_eq!(reply.text(), "Hello! How can I help you today?");
    let seen = &up.requests()[0];
    assert_eq!(seen.path(), "/openai/deployments/my-gpt4o/chat/completions");
    assert!(seen.path_and_query.contains("api-version=2024-10-21"));
    assert_eq!(seen.header("api-key"), Some("azure-secret"));
    assert_eq!(seen.header("authorization"), None);
    assert!(!format!("{provider:?}").contains("azure-secret"));
}

#[tokio::test]
async fn compatible_server_presets_point_at_the_right_place() {
    let up = FakeUpstream::start().await;
    let ollama = tower_ai::provider::openai::OpenAiBuilder::ollama()
        .base_url(format!("{}/v1", up.base_url()))
        .build()
        .unwrap();
    ollama
        .chat(ChatRequest::new("llama3.2").user("hi"))
        .await
        .unwrap();
    assert_eq!(up.requests()[0].header("authorization"), None);
    assert_eq!(ollama.name(), "ollama");
}
