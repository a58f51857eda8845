//! The provider-neutral types: accumulation, replay, serde, errors.

use std::time::Duration;

use tower_ai::error::TimeoutKind;
use tower_ai::types::{
    ChatRequest, ChatResponse, ChatStream, ContentPart, FinishReason, Message, Reasoning, Role,
    StreamAccumulator, StreamEvent, ToolCall, ToolResult, Usage, UsageSource,
};
use tower_ai::{ApiError, Error};

fn tool_delta(index: usize, id: Option<&str>, name: Option<&str>, args: &str) -> StreamEvent {
    StreamEvent::ToolCallDelta {
        index,
        id: id.map(Into::into),
        name: name.map(Into::into),
        arguments: args.into(),
    }
}

#[test]
fn interleaved_tool_call_fragments_merge_by_index() {
    let mut acc = StreamAccumulator::new();
    for event in [
        StreamEvent::Start {
            id: "r1".into(),
            model: "m".into(),
        },
        StreamEvent::text("Checking "),
        StreamEvent::text("both."),
        tool_delta(0, Some("call_a"), Some("get_weather"), ""),
        tool_delta(1, Some("call_b"), Some("get_weather"), "{\"ci"),
        tool_delta(0, None, None, "{\"city\":"),
        tool_delta(1, None, None, "ty\":\"Tokyo\"}"),
        tool_delta(0, None, None, "\"Paris\"}"),
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
        },
        StreamEvent::Usage(Usage::new(10, 0)),
        StreamEvent::Usage(Usage::new(10, 25).with_cache_read(8)),
        // A later report is the truth, even where a figure went down.
        StreamEvent::Usage(Usage::new(10, 25).with_cache_read(4)),
    ] {
        acc.push(&event);
    }
    let reply = acc.finish();
    assert_eq!(reply.id, "r1");
    assert_eq!(reply.text(), "Checking both.");
    let calls: Vec<_> = reply.tool_calls().collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, "call_a");
    assert_eq!(calls[0].arguments_json().unwrap()["city"], "Paris");
    assert_eq!(calls[1].id, "call_b");
    assert_eq!(calls[1].arguments_json().unwrap()["city"], "Tokyo");
    assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
    // Usage events are cumulative: the last one is kept as it is.
    let usage = reply.usage.unwrap();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens),
        (10, 25, 4)
    );
}

#[test]
fn a_tool_name_repeated_in_every_fragment_is_set_once() {
    let mut acc = StreamAccumulator::new();
    for piece in ["{\"city\":", "\"Paris\"}"] {
        acc.push(&tool_delta(0, Some("call_a"), Some("get_weather"), piece));
    }
    let reply = acc.finish();
    let call = reply.tool_calls().next().unwrap();
    assert_eq!(call.name, "get_weather");
    assert_eq!(call.arguments, "{\"city\":\"Paris\"}");
}

#[test]
fn many_tool_calls_fold_in_order() {
    // Distinct indices, out of order at first: each is found again by index.
    let mut acc = StreamAccumulator::new();
    let n = 20_000;
    for index in (0..n).rev().chain(0..n) {
        acc.push(&tool_delta(index, None, Some("f"), "x"));
    }
    let reply = acc.finish();
    let calls: Vec<_> = reply.tool_calls().collect();
    assert_eq!(calls.len(), n);
    assert_eq!(calls[0].id, format!("call_{}", n - 1));
    assert!(calls.iter().all(|c| c.arguments == "xx"));
}

#[test]
fn tool_call_without_id_gets_one_from_its_index() {
    let mut acc = StreamAccumulator::new();
    acc.push(&tool_delta(3, None, Some("f"), "{}"));
    assert_eq!(acc.finish().tool_calls().collect::<Vec<_>>()[0].id, "call_3");
}

#[test]
fn reasoning_signature_and_redacted_blocks_stay_apart() {
    let mut acc = StreamAccumulator::new();
    for event in [
        StreamEvent::ReasoningDelta {
            text: "Let me ".into(),
            signature: None,
            redacted: None,
        },
        StreamEvent::ReasoningDelta {
            text: "think.".into(),
            signature: None,
            redacted: None,
        },
        StreamEvent::ReasoningDelta {
            text: String::new(),
            signature: Some("sig".into()),
            redacted: None,
        },
        StreamEvent::ReasoningDelta {
            text: String::new(),
            signature: None,
            redacted: Some("opaque".into()),
        },
        StreamEvent::text("Answer."),
    ] {
        acc.push(&event);
    }
    let reply = acc.finish();
    let reasoning: Vec<_> = reply.reasoning().collect();
    assert_eq!(reasoning.len(), 2);
    assert_eq!(reasoning[0].text, "Let me think.");
    assert_eq!(reasoning[0].signature.as_deref(), Some("sig"));
    assert_eq!(reasoning[1].redacted.as_deref(), Some("opaque"));
    assert_eq!(reply.text(), "Answer.");
}

fn rich_reply() -> ChatResponse {
    let message = Message::new(
        Role::Assistant,
        vec![
            ContentPart::Reasoning(Reasoning {
                text: "hmm".into(),
                signature: Some("s".into()),
                redacted: None,
            }),
            ContentPart::text("Here you are."),
            ContentPart::ToolCall(ToolCall::new("c1", "lookup", "{\"q\":1}")),
            ContentPart::ToolCall(ToolCall::new("c2", "lookup", "{\"q\":2}")),
        ],
    );
    ChatResponse::new("id-1", "model-x", message)
        .with_finish_reason(FinishReason::ToolCalls)
        .with_usage(Usage::new(100, 20).with_cache_read(64).with_reasoning(5))
}

#[tokio::test]
async fn a_complete_reply_replayed_as_a_stream_accumulates_back_unchanged() {
    let reply = rich_reply();
    let again = ChatStream::from_response(&reply)
        .collect_response()
        .await
        .unwrap();
    assert_eq!(again, reply);
}

#[tokio::test]
async fn a_stream_error_is_returned_by_collect() {
    let stream = ChatStream::from_events([
        Ok(StreamEvent::text("partial")),
        Err(Error::StreamTruncated { provider: "p".into() }),
    ]);
    let err = stream.collect_response().await.unwrap_err();
    assert!(matches!(err, Error::StreamTruncated { .. }));
    assert!(err.is_retryable());
}

#[test]
fn requests_and_replies_round_trip_through_serde() {
    let request = ChatRequest::new("m")
        .system("sys")
        .user("hi")
        .message(Message::new(
            Role::User,
            vec![
                ContentPart::image_url("https://example.com/a.png"),
                ContentPart::image_base64("image/png", "iVBORw0KGgo="),
            ],
        ))
        .message(Message::new(
            Role::Tool,
            vec![ContentPart::ToolResult(ToolResult::new("c1", "42").error())],
        ))
        .extra("vendor_flag", serde_json::json!(true));
    let json = serde_json::to_string(&request).unwrap();
    let back: ChatRequest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, request);

    let reply = rich_reply();
    let back: ChatResponse = serde_json::from_str(&serde_json::to_string(&reply).unwrap()).unwrap();
    assert_eq!(back, reply);
}

#[test]
fn tool_name_is_found_from_the_conversation() {
    let request = ChatRequest::new("m").message(Message::new(
        Role::Assistant,
        vec![ContentPart::ToolCall(ToolCall::new("c9", "search", "{}"))],
    ));
    assert_eq!(request.tool_name_for("c9"), Some("search"));
    assert_eq!(request.tool_name_for("nope"), None);
}

#[test]
fn usage_figures() {
    let usage = Usage::new(1200, 80).with_cache_read(1000).with_cache_write(100);
    assert_eq!(usage.total_tokens(), 1280);
    assert_eq!(usage.uncached_input_tokens(), 100);
    assert_eq!(usage.source, UsageSource::Reported);
}

#[test]
fn error_predicates() {
    let limited = Error::RateLimited(
        ApiError::new("openai", "slow down")
            .with_status(http::StatusCode::TOO_MANY_REQUESTS)
            .with_retry_after(Duration::from_secs(3))
            .into(),
    );
    assert!(limited.is_retryable());
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(limited.status().map(|s| s.as_u16()), Some(429));
    assert_eq!(limited.kind(), "rate_limited");

    let auth = Error::Authentication(
        ApiError::new("openai", "bad key")
            .with_status(http::StatusCode::UNAUTHORIZED)
            .into(),
    );
    assert!(!auth.is_retryable());
    assert_eq!(auth.retry_after(), None);
    let context = Error::ContextLengthExceeded(ApiError::new("anthropic", "too long").into());
    assert!(!context.is_retryable());
    let timeout = Error::timeout(TimeoutKind::Idle, None);
    assert!(timeout.is_retryable());
    assert_eq!(timeout.status(), None);
}

#[test]
fn boxed_errors_from_tower_layers_become_typed_again() {
    let boxed: tower_ai::BoxError = Box::new(Error::timeout(TimeoutKind::Total, None));
    assert!(matches!(
        tower_ai::error::from_box_error(boxed),
        Error::Timeout { .. }
    ));
    let elapsed: tower_ai::BoxError = Box::new(tower::timeout::error::Elapsed::new());
    assert!(matches!(
        tower_ai::error::from_box_error(elapsed),
        Error::Timeout { .. }
    ));
}

#[test]
fn a_new_id_on_a_known_index_begins_a_new_call() {
    // Some servers number every call 0, one after the other.
    let mut acc = StreamAccumulator::new();
    acc.push(&tool_delta(0, Some("call_a"), Some("first"), "{}"));
    acc.push(&tool_delta(0, Some("call_b"), Some("second"), "{\"x\""));
    acc.push(&tool_delta(0, None, None, ":1}"));
    let reply = acc.finish();
    let calls: Vec<_> = reply.tool_calls().collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (
            calls[0].id.as_str(),
            calls[0].name.as_str(),
            calls[0].arguments.as_str()
        ),
        ("call_a", "first", "{}")
    );
    assert_eq!(
        (
            calls[1].id.as_str(),
            calls[1].name.as_str(),
            calls[1].arguments.as_str()
        ),
        ("call_b", "second", "{\"x\":1}")
    );
}

#[tokio::test]
async fn folding_a_stream_is_bounded() {
    let endless =
        futures_util::stream::iter(std::iter::repeat_with(|| Ok(StreamEvent::text("x".repeat(1024)))));
    let err = tower_ai::types::ChatStream::new(endless)
        .collect_response_within(64 * 1024)
        .await
        .unwrap_err();
    assert!(
        matches!(err, tower_ai::Error::ResponseTooLarge { limit: 65536 }),
        "{err:?}"
    );
    let mut acc = StreamAccumulator::with_limit(10);
    acc.try_push(&StreamEvent::text("0123456789")).unwrap();
    assert!(acc.try_push(&StreamEvent::text("a")).is_err());
    assert_eq!(acc.text(), "0123456789");
}
