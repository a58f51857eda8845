//! The OpenAI provider end to end, beyond the conformance kit (`conformance::openai`):
//! the OpenAI request shape, Azure and the compatible presets, and the features
//! only OpenAI has here. `ProviderService` over a fake OpenAI server on 127.0.0.1.

use std::time::Duration;

use tower::{Service, ServiceBuilder, ServiceExt};
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::HttpProviderBuilder;
use tower_ai::provider::{Provider, ProviderService};
use tower_ai::types::{ChatRequest, EmbeddingRequest, FinishReason, ResponseFormat};
use tower_ai::Error;
use tower_ai::LlmRequest;

use crate::conformance::openai::{self, API_KEY};
use crate::conformance::Endpoint;
use crate::support::{call, complete, json_fixture, sse_fixture, streamed};
use tower_ai::testing::{FakeUpstream, Scripted};
use tower_ai::types::RequestMeta;

fn provider(up: &FakeUpstream) -> OpenAi {
    openai::provider(Endpoint::upstream(up))
}

fn hello() -> ChatRequest {
    ChatRequest::new("gpt-4o-mini").system("Be brief.").user("Hello")
}

#[tokio::test]
async fn requests_have_the_openai_shape() {
    let up = FakeUpstream::start().await;
    let mut service = ProviderService::new(provider(&up));
    complete(&mut service, hello()).await.unwrap();
    complete(&mut service, LlmRequest::stream(hello())).await.unwrap();

    let seen = up.requests();
    assert_eq!(seen[0].path(), "/v1/chat/completions");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    let body = seen[0].json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["content"], "Hello");
    assert!(body.get("stream_options").is_none(), "{body}");

    // A stream asks for usage, which OpenAI only sends when asked.
    let body = seen[1].json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn parallel_tool_calls_keep_their_ids_and_cached_tokens() {
    let up = FakeUpstream::start().await;
    up.push(json_fixture(200, "openai/chat_completion_tool_calls.json"));
    up.push(sse_fixture("openai/stream_tool_calls.sse"));
    let mut service = ProviderService::new(provider(&up));

    let whole = complete(&mut service, hello()).await.unwrap();
    let stream = complete(&mut service, LlmRequest::stream(hello())).await.unwrap();
    for reply in [&whole, &stream] {
        assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
        assert!(reply.tool_calls().all(|c| c.id.starts_with("call_")));
    }
    assert_eq!(whole.usage.unwrap().cache_read_tokens, 1024);
}

#[tokio::test]
async fn json_schema_output_is_requested_and_returned() {
    let up = FakeUpstream::start().await;
    up.push(json_fixture(200, "openai/chat_completion_json.json"));
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
    let mut service = ProviderService::new(provider(&up));
    let response = service
        .ready()
        .await
        .unwrap()
        .call(LlmRequest::embeddings(EmbeddingRequest::new(
            "text-embedding-3-small",
            ["a", "b"],
        )))
        .await
        .unwrap()
        .into_embeddings()
        .unwrap();
    assert_eq!(response.embeddings.len(), 2);
    assert_eq!(response.embeddings[0].len(), 8);
    assert_eq!(response.usage.unwrap().input_tokens, 8);
    let seen = &up.requests()[0];
    assert_eq!(seen.path(), "/v1/embeddings");
    assert_eq!(seen.json()["input"], serde_json::json!(["a", "b"]));
}

#[tokio::test]
async fn a_filtered_prompt_is_a_content_filtered_error() {
    let up = FakeUpstream::start().await;
    up.push(json_fixture(400, "openai/error_content_filter.json"));
    let mut service = ProviderService::new(provider(&up));
    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::ContentFiltered(_)), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_503_without_a_json_body_is_retryable() {
    let up = FakeUpstream::start().await;
    up.push(Scripted::json(503, "upstream unavailable"));
    let mut service = ProviderService::new(provider(&up));
    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
}

#[tokio::test]
async fn an_oversized_stream_event_is_refused() {
    let up = FakeUpstream::start().await;
    let big = format!("data: {{\"x\":\"{}\"}}\n\n", "a".repeat(10_000));
    up.push(Scripted::sse_frames([big]));
    let provider = provider(&up).max_event_bytes(1024);
    let err = streamed(&provider, hello()).await.unwrap_err();
    assert!(matches!(err, Error::EventTooLarge { limit: 1024 }), "{err:?}");
}

#[tokio::test]
async fn slow_chunks_arrive_and_a_timeout_layer_stops_a_slow_upstream() {
    let up = FakeUpstream::start().await;
    up.push(sse_fixture("openai/stream_text.sse").with_event_delay(Duration::from_millis(5)));
    up.push(json_fixture(200, "openai/chat_completion.json").with_latency(Duration::from_secs(5)));
    let mut service = ServiceBuilder::new()
        .map_err(tower_ai::error::from_box_error)
        .timeout(Duration::from_millis(300))
        .service(ProviderService::new(provider(&up)));

    let reply = complete(&mut service, LlmRequest::stream(hello())).await.unwrap();
    assert_eq!(reply.text(), "Hello! How can I help?");

    let err = call(&mut service, hello()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
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
    let reply = provider.chat(&hello(), &RequestMeta::new()).await.unwrap();
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
        .chat(&ChatRequest::new("llama3.2").user("hi"), &RequestMeta::new())
        .await
        .unwrap();
    assert_eq!(up.requests()[0].header("authorization"), None);
    assert_eq!(ollama.name(), "ollama");
}

/// An error chunk mid-stream may carry the usage spent so far (OpenRouter-style
/// servers send it): it is delivered before the error, so budgets and
/// telemetry can still count it.
#[tokio::test]
async fn usage_carried_in_an_error_chunk_comes_before_the_error() {
    let up = FakeUpstream::start().await;
    let chunks = [
        r#"{"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","model":"m","error":{"message":"Provider disconnected","code":502},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#,
    ];
    let body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    up.push(Scripted::sse_frames([body]));
    let mut service = ProviderService::new(provider(&up));
    let collected = crate::support::collect(&mut service, LlmRequest::stream(hello()))
        .await
        .unwrap();
    assert_eq!(collected.text(), "Hel");
    let usage = collected.events.iter().find_map(|e| match e {
        tower_ai::types::StreamEvent::Usage(u) => Some(*u),
        _ => None,
    });
    let usage = usage.expect("the usage of the error chunk is delivered");
    assert_eq!((usage.input_tokens, usage.output_tokens), (12, 3));
    let error = collected.error.expect("the stream ends with the error");
    assert!(error.to_string().contains("Provider disconnected"), "{error}");
}

#[tokio::test]
async fn a_server_repeating_the_tool_name_in_every_fragment_gives_it_once() {
    // Some compatible servers send the id and the name again with every
    // fragment of the arguments.
    let up = FakeUpstream::start().await;
    let fragment = |args: &str, finish: Option<&str>| {
        serde_json::json!({
            "id": "c1", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": {"tool_calls": [{
                "index": 0, "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": args}
            }]}, "finish_reason": finish}]
        })
        .to_string()
    };
    up.push(Scripted::sse([
        fragment("{\"city\"", None),
        fragment(":\"Paris\"", None),
        fragment("}", Some("tool_calls")),
        "[DONE]".to_owned(),
    ]));
    let mut service = ProviderService::new(provider(&up));
    let collected = crate::support::collect(&mut service, LlmRequest::stream(hello()))
        .await
        .unwrap();
    assert!(collected.error.is_none(), "{:?}", collected.error);
    let reply = collected.fold();
    let calls: Vec<_> = reply.tool_calls().collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].name, "get_weather");
    assert_eq!(calls[0].id, "call_1");
    assert_eq!(calls[0].arguments, r#"{"city":"Paris"}"#);
}

#[tokio::test]
async fn a_complete_reply_past_its_size_limit_is_refused() {
    let up = FakeUpstream::start().await;
    let padding = "x".repeat(2_048);
    up.push(Scripted::openai_text(&padding));
    let limited = OpenAi::builder()
        .api_key(API_KEY)
        .base_url(format!("{}/v1", up.base_url()))
        .max_response_bytes(1_024)
        .build()
        .unwrap();
    let err = complete(&mut ProviderService::new(limited), hello())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { limit: 1_024 }), "{err:?}");
}
