//! Upstreams that answer what was not asked for: a page or a complete reply
//! where a stream was asked for, a wrong number of vectors.

use tower_ai::provider::ProviderService;
use tower_ai::types::{ChatRequest, EmbeddingRequest};
use tower_ai::{Error, LlmRequest};

use crate::conformance::{anthropic, openai, Endpoint};
use crate::support::{call, complete, json_fixture, sse_fixture};
use tower_ai::testing::{FakeUpstream, Scripted};

fn services(up: &FakeUpstream) -> [(&'static str, ProviderService, &'static str, &'static str); 2] {
    [
        (
            "openai",
            ProviderService::new(openai::provider(Endpoint::upstream(up))),
            "openai/chat_completion.json",
            openai::VENDOR.complete_text,
        ),
        (
            "anthropic",
            ProviderService::new(anthropic::provider(Endpoint::upstream(up))),
            "anthropic/message.json",
            anthropic::VENDOR.complete_text,
        ),
    ]
}

fn hello() -> ChatRequest {
    ChatRequest::new("m").user("Hello")
}

#[tokio::test]
async fn an_html_page_where_a_stream_was_asked_for_is_a_decode_error() {
    let up = FakeUpstream::start().await;
    for (name, mut service, _, _) in services(&up) {
        let page = "<html><body>Please sign in to the guest network</body></html>";
        up.push(Scripted::json(200, page).with_header("content-type", "text/html; charset=utf-8"));
        let err = call(&mut service, LlmRequest::stream(hello())).await.unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{name}: {err:?}");
        assert!(!err.is_retryable(), "{name}: a retry would loop on the same page");
        let shown = err.to_string();
        assert!(shown.contains("text/html"), "{shown}");
        assert!(shown.contains("guest network"), "{shown}");
    }
}

#[tokio::test]
async fn a_complete_json_reply_where_a_stream_was_asked_for_is_replayed_as_a_stream() {
    let up = FakeUpstream::start().await;
    for (name, mut service, fixture, text) in services(&up) {
        up.push(json_fixture(200, fixture));
        let response = call(&mut service, LlmRequest::stream(hello())).await.unwrap();
        assert!(response.is_stream(), "{name}");
        let reply = response.into_complete().await.unwrap();
        assert_eq!(reply.text(), text, "{name}");
        assert!(reply.usage.is_some(), "{name}");
        // A complete request still reads it as it always did.
        up.push(json_fixture(200, fixture));
        assert_eq!(complete(&mut service, hello()).await.unwrap().text(), text);
    }
}

#[tokio::test]
async fn a_wrong_number_of_vectors_is_a_decode_error() {
    let up = FakeUpstream::start().await;
    let mut service = ProviderService::new(openai::provider(Endpoint::upstream(&up)));
    // The fake server answers two vectors, whatever was asked.
    up.push(json_fixture(200, "openai/embeddings.json"));
    let request = LlmRequest::embeddings(EmbeddingRequest::new("e", ["a", "b", "c"]));
    let err = call(&mut service, request).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(
        err.to_string().contains("2 vectors came back for 3 inputs"),
        "{err}"
    );
}

#[tokio::test]
async fn a_stalled_or_keep_alive_only_stream_ends_with_a_named_timeout() {
    use std::time::Duration;
    use tower_ai::error::TimeoutKind;
    use tower_ai::limit::TimeLimits;
    use tower_ai::provider::openai::OpenAi;
    use tower_ai::provider::HttpProviderBuilder;

    let up = FakeUpstream::start().await;
    let limited = |limits: TimeLimits| {
        ProviderService::new(
            OpenAi::builder()
                .api_key(openai::API_KEY)
                .base_url(format!("{}/v1", up.base_url()))
                .time_limits(limits)
                .build()
                .unwrap(),
        )
    };
    let mut service = limited(
        TimeLimits::none()
            .first_event(Duration::from_millis(150))
            .idle(Duration::from_millis(60)),
    );
    // The head and a first chunk arrive, then the server goes quiet.
    up.push(sse_fixture("openai/stream_text.sse").with_event_delay(Duration::from_millis(400)));
    let err = call(&mut service, LlmRequest::stream(hello()))
        .await
        .unwrap()
        .into_complete()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: TimeoutKind::Idle,
                ..
            }
        ),
        "{err:?}"
    );

    // Only keep-alive comments: bytes keep coming, events never do. Idle
    // time is counted between events, so the idle limit fires...
    let keep_alives = || {
        Scripted::sse_frames((0..40).map(|_| bytes::Bytes::from_static(b": keep-alive\n\n")))
            .with_event_delay(Duration::from_millis(20))
    };
    up.push(keep_alives());
    let err = call(&mut service, LlmRequest::stream(hello()))
        .await
        .unwrap()
        .into_complete()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: TimeoutKind::Idle,
                ..
            }
        ),
        "{err:?}"
    );

    // ... and without one, the limit on the first event does.
    let mut patient = limited(TimeLimits::none().first_event(Duration::from_millis(150)));
    up.push(keep_alives());
    let err = call(&mut patient, LlmRequest::stream(hello()))
        .await
        .unwrap()
        .into_complete()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: TimeoutKind::FirstEvent,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_not_found_says_where_the_request_went() {
    let up = FakeUpstream::start().await;
    for (name, mut service, _, _) in services(&up) {
        up.push(Scripted::json(
            404,
            "{\"error\": {\"message\": \"Not Found\", \"type\": \"not_found_error\"}}",
        ));
        let err = call(&mut service, LlmRequest::new(hello())).await.unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains(&format!("not found at {}", up.base_url())),
            "{name}: {shown}"
        );
        assert!(shown.contains("check the base URL"), "{name}: {shown}");
    }
}

#[tokio::test]
async fn a_refused_connection_names_the_provider_the_host_and_the_cause() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let closed = Endpoint {
        base_url: format!("http://127.0.0.1:{port}"),
        transport: None,
    };
    let mut service = ProviderService::new(anthropic::provider(closed));
    let err = call(&mut service, LlmRequest::new(hello())).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(
        err.to_string(),
        format!("anthropic could not reach 127.0.0.1:{port}: connection refused")
    );
    // The cause is named once; the transport's own error is the source.
    assert!(std::error::Error::source(&err).is_some());
}

fn sse(lines: &[&str]) -> Scripted {
    let body: String = lines.iter().map(|l| format!("{l}\n\n")).collect();
    Scripted::sse_frames([body])
}

#[tokio::test]
async fn a_reply_has_one_start_and_one_finish_whatever_the_vendor_repeats() {
    let up = FakeUpstream::start().await;
    // A finish reason sent in two chunks, the second with the usage (as
    // OpenRouter streams do).
    up.push(sse(&[
        r#"data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}"#,
        r#"data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        r#"data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#,
        "data: [DONE]",
    ]));
    let mut openai = ProviderService::new(openai::provider(Endpoint::upstream(&up)));
    let got = crate::support::collect(&mut openai, LlmRequest::stream(hello()))
        .await
        .unwrap();
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!((got.starts(), got.finishes()), (1, 1), "{:?}", got.events);
    assert_eq!(got.fold().usage.map(|u| u.total_tokens()), Some(4));

    // A second `message_start` while the message is open.
    let start = r#"data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}}"#;
    up.push(sse(&[
        start,
        start,
        r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
        r#"data: {"type":"content_block_stop","index":0}"#,
        r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}"#,
        r#"data: {"type":"message_stop"}"#,
    ]));
    let mut claude = ProviderService::new(anthropic::provider(Endpoint::upstream(&up)));
    let got = crate::support::collect(&mut claude, LlmRequest::stream(hello()))
        .await
        .unwrap();
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!((got.starts(), got.finishes()), (1, 1), "{:?}", got.events);
    assert_eq!(got.fold().text(), "Hi");
}

#[tokio::test]
async fn an_empty_text_part_next_to_a_tool_call_is_dropped() {
    let up = FakeUpstream::start().await;
    let body = serde_json::json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [
            {"type": "text", "text": ""},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 9}
    });
    up.push(Scripted::json(200, body.to_string()));
    let mut claude = ProviderService::new(anthropic::provider(Endpoint::upstream(&up)));
    let reply = complete(&mut claude, hello()).await.unwrap();
    assert_eq!(reply.message.content.len(), 1, "{:?}", reply.message.content);
    assert_eq!(reply.tool_calls().count(), 1);
}

#[tokio::test]
async fn compatible_servers_context_overflows_are_context_length_errors() {
    let up = FakeUpstream::start().await;
    let mut service = ProviderService::new(openai::provider(Endpoint::upstream(&up)));
    for (fixture, code) in [
        ("openai/error_llamacpp_context.json", "exceed_context_size_error"),
        (
            "openai/error_llamacpp_context_older.json",
            "invalid_request_error",
        ),
        ("openai/error_litellm_context.json", "400"),
    ] {
        up.push(json_fixture(400, fixture));
        let err = call(&mut service, LlmRequest::new(hello())).await.unwrap_err();
        assert!(
            matches!(err, Error::ContextLengthExceeded(_)),
            "{fixture}: {err:?}"
        );
        assert!(
            err.is_fallback_candidate(),
            "{fixture}: a larger model may take it"
        );
        // A status in `code` gives way to the type, when there is one.
        assert_eq!(err.api().unwrap().code.as_deref(), Some(code), "{fixture}");
    }
}

#[tokio::test]
async fn a_529_is_overloaded_on_every_wire() {
    let up = FakeUpstream::start().await;
    for (name, mut service, _, _) in services(&up) {
        up.push(Scripted::json(529, "{\"error\": {\"message\": \"busy\"}}"));
        let err = call(&mut service, LlmRequest::new(hello())).await.unwrap_err();
        assert!(matches!(err, Error::Overloaded(_)), "{name}: {err:?}");
    }
}

#[tokio::test]
async fn requests_no_vendor_accepts_are_refused_before_any_call() {
    use tower_ai::types::{Message, ReplyMode};

    let up = FakeUpstream::start().await;
    let bad = [
        (ChatRequest::new("").user("hi"), "names no model"),
        (ChatRequest::new("m"), "no messages"),
        (hello().max_tokens(0), "max_tokens is 0"),
        (
            hello().message(Message::tool_result("call_9", "42")),
            "answers no tool call",
        ),
    ];
    for (name, mut service, _, _) in services(&up) {
        for (request, says) in &bad {
            for mode in [ReplyMode::Complete, ReplyMode::Stream] {
                let err = call(&mut service, LlmRequest::new(request.clone()).with_mode(mode))
                    .await
                    .unwrap_err();
                assert!(matches!(err, Error::Config { .. }), "{name}: {err:?}");
                assert!(err.to_string().contains(says), "{name}: {err}");
            }
        }
    }
    assert!(up.requests().is_empty(), "a refused request reached the upstream");
}

#[test]
fn an_empty_api_key_is_a_configuration_error() {
    use tower_ai::provider::anthropic::Anthropic;
    use tower_ai::provider::openai::OpenAi;

    let openai = OpenAi::builder().api_key("").build().unwrap_err();
    let claude = Anthropic::builder().api_key(" ").build().unwrap_err();
    for err in [openai, claude] {
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
        assert!(err.to_string().contains("the API key is empty"), "{err}");
    }
}

#[tokio::test]
async fn the_vendors_request_id_is_kept_on_errors() {
    let up = FakeUpstream::start().await;
    for (name, mut service, _, _) in services(&up) {
        for header in ["x-request-id", "request-id"] {
            up.push(
                Scripted::json(500, "{\"error\": {\"message\": \"boom\"}}").with_header(header, "req_7f3a"),
            );
            let err = call(&mut service, LlmRequest::new(hello())).await.unwrap_err();
            assert_eq!(
                err.api().unwrap().request_id.as_deref(),
                Some("req_7f3a"),
                "{name} {header}"
            );
        }
    }
}
