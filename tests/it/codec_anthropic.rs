//! The Anthropic codec against the recorded wire fixtures in `tests/it/fixtures/anthropic/`.

use crate::support;
use tower_ai::testing::{canned, Scripted};

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};
use tower_ai::provider::anthropic::{Anthropic, AnthropicCodec, DEFAULT_MAX_TOKENS};
use tower_ai::provider::HttpProviderBuilder;
use tower_ai::provider::{Codec, Provider, StreamDecoder};
use tower_ai::transport::{SseDecoder, Transport};
use tower_ai::types::{
    ChatRequest, ChatResponse, ContentPart, FinishReason, Message, Reasoning, ReasoningConfig,
    ReasoningEffort, ResponseFormat, Role, StreamAccumulator, StreamEvent, Tool, ToolCall, ToolChoice,
    ToolResult,
};
use tower_ai::types::{ReplyMode, RequestMeta};
use tower_ai::Error;

const KEY: &str = "sk-ant-test-0123456789";
const MODEL: &str = "claude-sonnet-4-5";

fn codec() -> AnthropicCodec {
    Anthropic::builder()
        .api_key(KEY)
        .base_url("https://api.anthropic.com")
        .build_codec()
        .expect("codec")
}

fn fixture(name: &str) -> Vec<u8> {
    support::fixture_bytes(&format!("anthropic/{name}")).to_vec()
}

fn encode_with(codec: &AnthropicCodec, request: &ChatRequest) -> Value {
    let http = codec
        .encode_chat(request, ReplyMode::Complete, &RequestMeta::new())
        .expect("encode");
    serde_json::from_slice(http.body()).expect("the body is JSON")
}

fn encode(request: &ChatRequest) -> Value {
    encode_with(&codec(), request)
}

fn weather_tool() -> Tool {
    Tool::function(
        "get_weather",
        "Current weather for a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

// ---------------------------------------------------------------------------
// Streams: fed whole and re-split at many chunk boundaries
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct StreamRun {
    events: Vec<StreamEvent>,
    error: Option<Error>,
    done: bool,
}

/// Feeds `body` through the SSE decoder and the codec's stream decoder in
/// chunks of the given sizes (the last chunk takes the rest).
fn run_stream(codec: &AnthropicCodec, body: &[u8], chunks: &[usize]) -> StreamRun {
    let mut sse = SseDecoder::new();
    let mut decoder = codec.stream_decoder();
    let mut out = VecDeque::new();
    let mut error = None;
    let mut rest = body;
    let mut sizes = chunks.iter().copied();
    'feed: while !rest.is_empty() {
        let size = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        sse.push(chunk);
        while let Some(event) = sse.next_event().expect("sse") {
            if let Err(e) = decoder.decode(&event, &mut out) {
                error = Some(e);
                break 'feed;
            }
        }
    }
    if error.is_none() {
        while let Some(event) = sse.finish().expect("sse") {
            if let Err(e) = decoder.decode(&event, &mut out) {
                error = Some(e);
                break;
            }
        }
    }
    StreamRun {
        events: out.into_iter().collect(),
        error,
        done: decoder.is_done(),
    }
}

/// Chunkings: the whole body; every split into two; fixed sizes; an uneven pattern.
fn chunkings(len: usize) -> Vec<Vec<usize>> {
    let mut all = vec![vec![len]];
    for split in 1..len {
        all.push(vec![split]);
    }
    for size in [1, 2, 3, 5, 7, 16, 64, 100] {
        all.push(vec![size; len / size + 1]);
    }
    let pattern: Vec<usize> = (0..len).map(|i| 1 + (i * 7919) % 37).collect();
    all.push(pattern);
    all
}

/// Decodes a fixture stream whole, checks every chunking gives the same
/// events (and the same error), and returns the whole run.
fn stream_fixture(name: &str) -> StreamRun {
    let codec = codec();
    let body = fixture(name);
    let whole = run_stream(&codec, &body, &[body.len()]);
    for chunks in chunkings(body.len()) {
        let run = run_stream(&codec, &body, &chunks);
        assert_eq!(run.events, whole.events, "{name} split as {chunks:?}");
        assert_eq!(run.done, whole.done, "{name} split as {chunks:?}");
        assert_eq!(
            run.error.as_ref().map(Error::kind),
            whole.error.as_ref().map(Error::kind),
            "{name} split as {chunks:?}"
        );
    }
    whole
}

fn accumulate(events: &[StreamEvent]) -> ChatResponse {
    let mut acc = StreamAccumulator::new();
    for event in events {
        acc.push(event);
    }
    acc.finish()
}

#[test]
fn stream_text() {
    let run = stream_fixture("stream_text.sse");
    assert!(run.error.is_none());
    assert!(run.done);
    assert_eq!(
        run.events[0],
        StreamEvent::Start {
            id: "msg_01NzdL29xx5MUA1yADyHTEsn".into(),
            model: "claude-sonnet-4-5-20250929".into()
        }
    );
    let texts: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["Hello", "!", " How can I", " help?"]);
    assert_eq!(
        run.events.last(),
        Some(&StreamEvent::Finish {
            reason: FinishReason::Stop
        })
    );

    let reply = accumulate(&run.events);
    assert_eq!(reply.text(), "Hello! How can I help?");
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    let usage = reply.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (25, 15));
    assert_eq!((usage.cache_read_tokens, usage.cache_write_tokens), (0, 0));
}

#[test]
fn stream_text_usage_events_carry_full_figures() {
    let run = stream_fixture("stream_text.sse");
    let usages: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Usage(u) => Some(*u),
            _ => None,
        })
        .collect();
    assert_eq!(usages.len(), 2);
    assert_eq!((usages[0].input_tokens, usages[0].output_tokens), (25, 1));
    // message_delta has only output_tokens: the input figures of message_start are kept.
    assert_eq!((usages[1].input_tokens, usages[1].output_tokens), (25, 15));
}

#[test]
fn stream_tool_use() {
    let run = stream_fixture("stream_tool_use.sse");
    assert!(run.error.is_none());
    assert!(run.done);

    // Tool calls are numbered 0 and 1, not by Anthropic's block indexes 1 and 2.
    let starts: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta {
                index,
                id: Some(id),
                name,
                ..
            } => Some((*index, id.clone(), name.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        [
            (
                0,
                "toolu_01T1x1fJ34qAmk2tNTrN7Up6".to_owned(),
                Some("get_weather".to_owned())
            ),
            (
                1,
                "toolu_01V8cQm2RzKx9LpW3sYbNd7E".to_owned(),
                Some("get_weather".to_owned())
            ),
        ]
    );
    let indexes: Vec<usize> = run
        .events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert!(indexes.iter().all(|i| *i < 2), "{indexes:?}");

    let reply = accumulate(&run.events);
    assert_eq!(reply.text(), "I'll check both cities.");
    let calls: Vec<_> = reply.tool_calls().collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].arguments_json().unwrap(), json!({"city": "Paris"}));
    assert_eq!(calls[1].arguments_json().unwrap(), json!({"city": "Tokyo"}));
    assert_eq!(calls[1].id, "toolu_01V8cQm2RzKx9LpW3sYbNd7E");
    assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
    let usage = reply.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (472, 89));
}

#[test]
fn stream_thinking() {
    let run = stream_fixture("stream_thinking.sse");
    assert!(run.error.is_none());
    assert!(run.done);
    let reply = accumulate(&run.events);
    let reasoning: Vec<_> = reply.reasoning().collect();
    assert_eq!(reasoning.len(), 1);
    assert!(reasoning[0].text.starts_with("Let me solve this step by step:"));
    assert!(reasoning[0].text.ends_with("10,800 + 1,350 + 81 = 12,231"));
    assert_eq!(
        reasoning[0].signature.as_deref(),
        Some(
            "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYdsXk7QyP3n9vT2wR8mZcF0aLh5JqUe6sN4tBgYvKoD1r"
        )
    );
    assert_eq!(reply.text(), "27 * 453 = 12,231");
    assert!(matches!(reply.message.content[0], ContentPart::Reasoning(_)));
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    assert_eq!(reply.usage.unwrap().output_tokens, 187);
}

#[test]
fn stream_error_event_is_a_typed_error() {
    let run = stream_fixture("stream_error.sse");
    assert!(!run.done);
    let err = run.error.expect("the error event ends the stream");
    assert!(matches!(err, Error::Overloaded(_)), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.api().unwrap().code.as_deref(), Some("overloaded_error"));
    assert_eq!(err.api().unwrap().message, "Overloaded");
    assert_eq!(accumulate(&run.events).text(), "Once upon a time, in a");
}

#[test]
fn stream_cut_before_message_stop_is_not_done() {
    let body = fixture("stream_text.sse");
    let text = String::from_utf8(body).unwrap();
    let cut = text.find("event: message_stop").unwrap();
    let run = run_stream(&codec(), &text.as_bytes()[..cut], &[]);
    assert!(run.error.is_none());
    assert!(!run.done);
}

#[test]
fn stream_ignores_unknown_events_and_named_pings() {
    let codec = codec();
    let body = b"event: ping\ndata:\n\nevent: brand_new_event\ndata: not json at all\n\n\
        event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\"}}\n\n\
        data: {\"type\":\"some_future_type\",\"x\":1}\n\n\
        event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"q\\\":1}\"}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"citations_delta\",\"citation\":{}}}\n\n\
        event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let run = run_stream(&codec, body, &[]);
    assert!(run.error.is_none(), "{:?}", run.error);
    assert!(run.done);
    assert_eq!(
        run.events,
        [StreamEvent::Start {
            id: "m".into(),
            model: "c".into()
        }]
    );
}

#[test]
fn stream_redacted_thinking_and_unnamed_events() {
    let codec = codec();
    // No `event:` lines: the JSON `type` decides.
    let body = b"data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":5,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n\
        data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"EmwKAhgBEgy\"}}\n\n\
        data: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
        data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_x\",\"name\":\"noop\",\"input\":{}}}\n\n\
        data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n\
        data: {\"type\":\"content_block_stop\",\"index\":1}\n\n\
        data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"pause_turn\"},\"usage\":{\"output_tokens\":7}}\n\n\
        data: {\"type\":\"message_stop\"}\n\n";
    let run = run_stream(&codec, body, &[]);
    assert!(run.error.is_none(), "{:?}", run.error);
    assert!(run.done);
    let reply = accumulate(&run.events);
    assert_eq!(
        reply.reasoning().collect::<Vec<_>>()[0].redacted.as_deref(),
        Some("EmwKAhgBEgy")
    );
    let call = reply.tool_calls().collect::<Vec<_>>()[0].clone();
    assert_eq!((call.id.as_str(), call.name.as_str()), ("toolu_x", "noop"));
    assert_eq!(call.arguments_json().unwrap(), json!({}));
    assert_eq!(
        reply.finish_reason,
        Some(FinishReason::Other("pause_turn".into()))
    );
    let usage = reply.usage.unwrap();
    assert_eq!(usage.input_tokens, 115);
    assert_eq!((usage.cache_read_tokens, usage.cache_write_tokens), (100, 5));
    assert_eq!(usage.output_tokens, 7);
}

#[test]
fn stream_malformed_events_are_decode_errors() {
    let codec = codec();
    let cases: &[&[u8]] = &[
        b"event: message_start\ndata: {not json\n\n",
        b"event: content_block_delta\ndata: [1,2,3]\n\n",
        b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":5}}\n\n",
        b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":9,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n",
        b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
        b"data: {\"no_type\":true}\n\n",
        b"data: [DONE]\n\n",
    ];
    for body in cases {
        let run = run_stream(&codec, body, &[]);
        assert!(
            matches!(run.error, Some(Error::Decode { .. })),
            "{}: {:?}",
            String::from_utf8_lossy(body),
            run.error
        );
    }
}

#[test]
fn stream_error_event_kinds() {
    let codec = codec();
    let cases = [
        ("rate_limit_error", "rate_limited"),
        ("api_error", "server"),
        ("invalid_request_error", "invalid_request"),
        ("authentication_error", "authentication"),
        ("something_new_error", "server"),
    ];
    for (kind, expected) in cases {
        let body = format!(
            "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"{kind}\",\"message\":\"m\"}},\"request_id\":\"req_1\"}}\n\n"
        );
        let err = run_stream(&codec, body.as_bytes(), &[]).error.unwrap();
        assert_eq!(err.kind(), expected, "{kind}");
        assert_eq!(err.api().unwrap().request_id.as_deref(), Some("req_1"));
    }
}

// ---------------------------------------------------------------------------
// Complete replies
// ---------------------------------------------------------------------------

#[test]
fn decode_message() {
    let reply = codec().decode_chat(&fixture("message.json")).unwrap();
    assert_eq!(reply.id, "msg_01XFDUDYJgAACzvnptvVoYEL");
    assert_eq!(reply.model, "claude-sonnet-4-5-20250929");
    assert_eq!(reply.message.role, Role::Assistant);
    assert_eq!(reply.text(), "Hello! How can I help you today?");
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    let usage = reply.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (12, 10));
}

#[test]
fn decode_message_tool_use() {
    let reply = codec().decode_chat(&fixture("message_tool_use.json")).unwrap();
    assert_eq!(reply.text(), "I'll check both cities.");
    let calls: Vec<_> = reply.tool_calls().collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, "toolu_01A09q90qw90lq917835lq9a");
    assert_eq!(calls[0].name, "get_weather");
    assert_eq!(calls[0].arguments_json().unwrap(), json!({"city": "Paris"}));
    assert_eq!(calls[1].arguments_json().unwrap(), json!({"city": "Tokyo"}));
    assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
    // input_tokens does not count cached tokens on the wire; the neutral figure does.
    let usage = reply.usage.unwrap();
    assert_eq!(usage.input_tokens, 150 + 1024);
    assert_eq!(usage.cache_read_tokens, 1024);
    assert_eq!(usage.cache_write_tokens, 0);
    assert_eq!(usage.uncached_input_tokens(), 150);
    assert_eq!(usage.output_tokens, 96);
}

#[test]
fn decode_message_thinking() {
    let reply = codec().decode_chat(&fixture("message_thinking.json")).unwrap();
    let reasoning: Vec<_> = reply.reasoning().collect();
    assert_eq!(reasoning.len(), 1);
    assert!(reasoning[0].text.starts_with("The user asks for 27 * 453."));
    assert!(reasoning[0]
        .signature
        .as_deref()
        .unwrap()
        .starts_with("EqQBCgIYAhIM"));
    assert_eq!(reasoning[0].redacted, None);
    assert_eq!(reply.text(), "27 * 453 = 12,231");
    assert_eq!(reply.usage.unwrap().output_tokens, 187);
}

#[test]
fn decode_stop_reasons_and_unknown_blocks() {
    let codec = codec();
    let cases = [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("model_context_window_exceeded", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("refusal", FinishReason::Refusal),
        ("pause_turn", FinishReason::Other("pause_turn".into())),
    ];
    for (wire, expected) in cases {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [{"type": "web_search_result", "url": "u"}]},
                {"type": "text", "text": "ok", "citations": null},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "tool_use", "id": "toolu_1", "name": "noop", "input": {}, "caller": {"type": "direct"}}
            ],
            "stop_reason": wire, "stop_sequence": null,
            "stop_details": null, "container": null,
            "usage": {"input_tokens": 1, "output_tokens": 2, "cache_creation_input_tokens": null}
        });
        let reply = codec.decode_chat(body.to_string().as_bytes()).unwrap();
        assert_eq!(reply.finish_reason, Some(expected));
        assert_eq!(reply.text(), "ok");
        assert_eq!(
            reply.reasoning().collect::<Vec<_>>()[0].redacted.as_deref(),
            Some("opaque")
        );
        assert_eq!(reply.tool_calls().collect::<Vec<_>>()[0].arguments, "{}");
        assert_eq!(reply.message.content.len(), 3);
    }
}

#[test]
fn decode_error_envelope_with_200_is_an_error() {
    let err = codec()
        .decode_chat(&fixture("error_overloaded.json"))
        .unwrap_err();
    assert!(matches!(err, Error::Overloaded(_)), "{err:?}");
}

#[test]
fn decode_malformed_replies_are_decode_errors() {
    let codec = codec();
    let cases: &[&[u8]] = &[
        b"",
        b"not json",
        b"{\"id\":\"msg\",\"content\":[",
        b"{}",
        b"[]",
        b"null",
        b"{\"content\":\"text\"}",
        b"{\"content\":[{\"type\":\"text\"}]}",
        b"{\"content\":[{\"type\":\"text\",\"text\":7}]}",
        b"{\"content\":[{\"type\":\"tool_use\",\"name\":\"f\"}]}",
        b"{\"content\":[{\"text\":\"no type\"}]}",
    ];
    for body in cases {
        let result = codec.decode_chat(body);
        assert!(
            matches!(result, Err(Error::Decode { .. })),
            "{}: {result:?}",
            String::from_utf8_lossy(body)
        );
    }
    // Counts are read leniently, as for every vendor: an odd figure is not a
    // reason to lose the reply.
    let reply = codec
        .decode_chat(b"{\"content\":[],\"usage\":{\"input_tokens\":-1,\"output_tokens\":\"7\"}}")
        .unwrap();
    assert_eq!(
        reply.usage.map(|u| (u.input_tokens, u.output_tokens)),
        Some((0, 7))
    );
}

#[test]
fn no_panic_on_mangled_input() {
    let codec = codec();
    let status_headers = [StatusCode::BAD_REQUEST, StatusCode::TOO_MANY_REQUESTS];
    for name in [
        "message.json",
        "message_tool_use.json",
        "message_thinking.json",
        "error_rate_limit.json",
        "stream_text.sse",
        "stream_tool_use.sse",
        "stream_thinking.sse",
        "stream_error.sse",
    ] {
        let body = fixture(name);
        for cut in 0..body.len() {
            let _ = codec.decode_chat(&body[..cut]);
            let _ = codec.decode_error(status_headers[cut % 2], &HeaderMap::new(), &body[..cut]);
            let _ = run_stream(&codec, &body[..cut], &[]);
        }
        for (i, byte) in [b'{', b'"', b'\\', b'0', 0xff, b'\n', b']']
            .into_iter()
            .enumerate()
        {
            for pos in (i..body.len()).step_by(5) {
                let mut mangled = body.clone();
                mangled[pos] = byte;
                let _ = codec.decode_chat(&mangled);
                let _ = run_stream(&codec, &mangled, &[]);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Error responses
// ---------------------------------------------------------------------------

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

#[test]
fn error_rate_limit_with_retry_after() {
    let hs = headers(&[
        ("retry-after", "20"),
        ("request-id", "req_from_header"),
        ("anthropic-ratelimit-input-tokens-remaining", "0"),
    ]);
    let err = codec().decode_error(
        StatusCode::TOO_MANY_REQUESTS,
        &hs,
        &fixture("error_rate_limit.json"),
    );
    assert!(matches!(err, Error::RateLimited(_)), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(20)));
    assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS));
    let api = err.api().unwrap();
    assert_eq!(api.provider, "anthropic");
    assert_eq!(api.code.as_deref(), Some("rate_limit_error"));
    assert!(api
        .message
        .starts_with("This request would exceed the rate limit"));
    // The body's request_id comes first.
    assert_eq!(api.request_id.as_deref(), Some("req_011CSHoEeqs5C35K2UUqR7Fy"));
}

#[test]
fn error_overloaded() {
    let hs = headers(&[("retry-after", "1.5")]);
    let err = codec().decode_error(
        StatusCode::from_u16(529).unwrap(),
        &hs,
        &fixture("error_overloaded.json"),
    );
    assert!(matches!(err, Error::Overloaded(_)), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_millis(1500)));
    assert_eq!(
        err.api().unwrap().status,
        Some(http::StatusCode::from_u16(529).unwrap())
    );
    assert_eq!(
        err.api().unwrap().request_id.as_deref(),
        Some("req_011CSHpQ7mVz2aXk9BfT4cLw")
    );
}

#[test]
fn error_auth() {
    let err = codec().decode_error(
        StatusCode::UNAUTHORIZED,
        &HeaderMap::new(),
        &fixture("error_auth.json"),
    );
    assert!(matches!(err, Error::Authentication(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(err.api().unwrap().message, "invalid x-api-key");
    assert_eq!(err.retry_after(), None);
    assert!(!err.to_string().contains(KEY));
}

#[test]
fn error_prompt_too_long_is_context_length() {
    let err = codec().decode_error(
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        &fixture("error_invalid_request.json"),
    );
    assert!(matches!(err, Error::ContextLengthExceeded(_)), "{err:?}");
    assert_eq!(err.api().unwrap().code.as_deref(), Some("invalid_request_error"));
    assert_eq!(
        err.api().unwrap().request_id.as_deref(),
        Some("req_011CSHqR3nWa8bYl1CgU5dMx")
    );
}

#[test]
fn error_api_is_server() {
    let err = codec().decode_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &HeaderMap::new(),
        &fixture("error_api.json"),
    );
    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.api().unwrap().message, "Internal server error");
}

#[test]
fn error_mapping_by_type_and_status() {
    let codec = codec();
    let body = |kind: &str, message: &str| {
        json!({"type": "error", "error": {"type": kind, "message": message}})
            .to_string()
            .into_bytes()
    };
    let cases: Vec<(u16, Vec<u8>, &str)> = vec![
        (403, body("permission_error", "no"), "authentication"),
        (402, body("billing_error", "pay"), "authentication"),
        (404, body("not_found_error", "no model"), "invalid_request"),
        (413, body("request_too_large", "big"), "invalid_request"),
        (
            400,
            body("invalid_request_error", "messages: roles must alternate"),
            "invalid_request",
        ),
        (
            400,
            body(
                "invalid_request_error",
                "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000",
            ),
            "context_length_exceeded",
        ),
        (504, body("timeout_error", "slow"), "server"),
        // Unknown types go by status.
        (429, body("rate_limit_exceeded", "slow down"), "rate_limited"),
        (529, body("brand_new_error", "x"), "overloaded"),
        (503, body("brand_new_error", "x"), "overloaded"),
        (401, body("brand_new_error", "x"), "authentication"),
        (422, body("brand_new_error", "x"), "invalid_request"),
        (502, body("brand_new_error", "x"), "server"),
        // Bodies that are not JSON.
        (502, b"<html>Bad Gateway</html>".to_vec(), "server"),
        (
            413,
            b"<html>413 Request Entity Too Large</html>".to_vec(),
            "invalid_request",
        ),
        (429, Vec::new(), "rate_limited"),
        (500, b"\xff\xfe garbage".to_vec(), "server"),
        (400, b"{\"error\":\"plain string\"}".to_vec(), "invalid_request"),
    ];
    for (status, body, expected) in cases {
        let status = StatusCode::from_u16(status).unwrap();
        let err = codec.decode_error(status, &HeaderMap::new(), &body);
        assert_eq!(
            err.kind(),
            expected,
            "{status} {}",
            String::from_utf8_lossy(&body)
        );
        let api = err.api().unwrap();
        assert_eq!(api.status, Some(status));
        assert!(!api.message.is_empty());
    }

    let err = codec.decode_error(
        StatusCode::BAD_GATEWAY,
        &headers(&[("request-id", "req_hdr")]),
        b"<html>Bad Gateway</html>",
    );
    assert_eq!(err.api().unwrap().message, "<html>Bad Gateway</html>");
    assert_eq!(err.api().unwrap().request_id.as_deref(), Some("req_hdr"));
    assert_eq!(err.api().unwrap().code, None);

    let err = codec.decode_error(
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "soon")]),
        b"",
    );
    assert_eq!(err.retry_after(), None);
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn request_line_and_headers() {
    let provider = Anthropic::builder()
        .api_key(KEY)
        .base_url("https://proxy.example.com/anthropic/")
        .version("2099-01-01")
        .beta("a-beta-2025-01-01")
        .beta("b-beta-2025-02-02")
        .transport(offline())
        .build()
        .unwrap();
    // What goes on the wire: encoded by the codec, signed by the provider.
    let http = provider
        .prepare_chat(
            &ChatRequest::new(MODEL).user("hi"),
            ReplyMode::Complete,
            &RequestMeta::new(),
        )
        .await
        .unwrap();
    assert_eq!(http.method(), http::Method::POST);
    assert_eq!(http.uri(), "https://proxy.example.com/anthropic/v1/messages");
    let h = http.headers();
    assert_eq!(h["x-api-key"], KEY);
    assert!(h["x-api-key"].is_sensitive());
    assert_eq!(h["anthropic-version"], "2099-01-01");
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["anthropic-beta"], "a-beta-2025-01-01,b-beta-2025-02-02");
    assert!(h.get("authorization").is_none());

    let http = self::codec()
        .encode_chat(
            &ChatRequest::new(MODEL).user("hi"),
            ReplyMode::Complete,
            &RequestMeta::new(),
        )
        .unwrap();
    assert_eq!(http.uri(), "https://api.anthropic.com/v1/messages");
    assert_eq!(http.headers()["anthropic-version"], "2023-06-01");
    assert!(http.headers().get("anthropic-beta").is_none());
}

#[test]
fn minimal_request_body() {
    let body = encode(&ChatRequest::new(MODEL).user("Hello"));
    assert_eq!(
        body,
        json!({
            "model": MODEL,
            "max_tokens": DEFAULT_MAX_TOKENS,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
        })
    );
}

#[test]
fn system_messages_are_hoisted() {
    let one = encode(&ChatRequest::new(MODEL).system("Be terse.").user("Hi"));
    assert_eq!(one["system"], "Be terse.");
    assert_eq!(one["messages"].as_array().unwrap().len(), 1);

    // Several system messages, one in the middle of the conversation.
    let request = ChatRequest::new(MODEL)
        .system("Be terse.")
        .user("Hi")
        .system("Answer in French.")
        .user("How are you?");
    let body = encode(&request);
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Answer in French."}])
    );
    // The two user turns around the system message are merged.
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [
            {"type": "text", "text": "Hi"},
            {"type": "text", "text": "How are you?"}
        ]}])
    );
}

#[test]
fn system_message_with_an_image_is_refused() {
    let request = ChatRequest::new(MODEL)
        .message(Message::new(
            Role::System,
            vec![ContentPart::image_url("https://x/y.png")],
        ))
        .user("Hi");
    let err = codec()
        .encode_chat(&request, ReplyMode::Complete, &RequestMeta::new())
        .unwrap_err();
    assert!(matches!(err, Error::Encode { .. }), "{err:?}");
}

#[test]
fn consecutive_roles_are_merged() {
    let request = ChatRequest::new(MODEL)
        .user("one")
        .user("two")
        .assistant("three")
        .assistant("four")
        .user("five");
    let body = encode(&request);
    let roles: Vec<_> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert_eq!(body["messages"][0]["content"].as_array().unwrap().len(), 2);
    assert_eq!(body["messages"][1]["content"][1]["text"], "four");
}

#[test]
fn openai_style_tool_history() {
    // An assistant turn of only tool calls (with the empty text OpenAI
    // histories carry), then one Role::Tool message per result.
    let assistant = Message::new(
        Role::Assistant,
        vec![
            ContentPart::text(""),
            ContentPart::ToolCall(ToolCall::new("call_paris", "get_weather", r#"{"city":"Paris"}"#)),
            ContentPart::ToolCall(ToolCall::new("call_tokyo", "get_weather", r#"{"city": "Tokyo"}"#)),
        ],
    );
    let request = ChatRequest::new(MODEL)
        .system("You report weather.")
        .user("Weather in Paris and Tokyo?")
        .message(assistant)
        .message(Message::tool_result("call_paris", "15 degrees"))
        .message(Message::new(
            Role::Tool,
            vec![ContentPart::ToolResult(
                ToolResult::new("call_tokyo", "timeout").error(),
            )],
        ))
        .user("Thanks. And tomorrow?")
        .tool(weather_tool());
    let body = encode(&request);
    assert_eq!(body["system"], "You report weather.");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Tokyo?"}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_paris", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_tokyo", "name": "get_weather", "input": {"city": "Tokyo"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_paris", "content": "15 degrees"},
                {"type": "tool_result", "tool_use_id": "call_tokyo", "content": "timeout", "is_error": true},
                {"type": "text", "text": "Thanks. And tomorrow?"}
            ]}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{
            "name": "get_weather",
            "description": "Current weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }])
    );
}

#[test]
fn tool_results_are_moved_before_text() {
    let request = ChatRequest::new(MODEL)
        .message(Message::new(
            Role::Assistant,
            vec![ContentPart::ToolCall(ToolCall::new("t1", "f", ""))],
        ))
        .user("Here is the result:")
        .message(Message::tool_result("t1", "done"));
    let body = encode(&request);
    let user = &body["messages"][1]["content"];
    assert_eq!(user[0]["type"], "tool_result");
    assert_eq!(user[1]["type"], "text");
    // Empty arguments are an empty object.
    assert_eq!(body["messages"][0]["content"][0]["input"], json!({}));
}

#[test]
fn tool_result_with_blocks() {
    let result = ToolResult {
        content: vec![
            ContentPart::text("see chart"),
            ContentPart::image_base64("image/png", "iVBORw0KGgo="),
        ],
        ..ToolResult::new("t1", "")
    };
    let empty = ToolResult {
        content: Vec::new(),
        ..ToolResult::new("t2", "")
    };
    let request = ChatRequest::new(MODEL).message(Message::new(
        Role::Tool,
        vec![ContentPart::ToolResult(result), ContentPart::ToolResult(empty)],
    ));
    let body = encode(&request);
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "t1", "content": [
                {"type": "text", "text": "see chart"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
            ]},
            {"type": "tool_result", "tool_use_id": "t2"}
        ])
    );
}

#[test]
fn invalid_tool_arguments_are_refused() {
    for arguments in ["{\"city\": \"Par", "[1, 2]", "\"Paris\"", "null"] {
        let request = ChatRequest::new(MODEL).user("hi").message(Message::new(
            Role::Assistant,
            vec![ContentPart::ToolCall(ToolCall::new(
                "t1",
                "get_weather",
                arguments,
            ))],
        ));
        let err = codec()
            .encode_chat(&request, ReplyMode::Complete, &RequestMeta::new())
            .unwrap_err();
        // Refused locally, not disguised as an upstream 400: another vendor may accept it.
        let Error::Encode {
            provider, message, ..
        } = &err
        else {
            panic!("{arguments}: {err:?}");
        };
        assert_eq!(provider, "anthropic");
        assert!(message.contains("t1"), "{message}");
        assert!(err.is_fallback_candidate() && !err.is_retryable());
    }
}

#[test]
fn images() {
    let request = ChatRequest::new(MODEL).message(Message::new(
        Role::User,
        vec![
            ContentPart::image_base64("image/jpeg", "/9j/4AAQ"),
            ContentPart::image_url("https://example.com/a.png"),
            ContentPart::image_url("data:image/webp;base64,UklGRg=="),
            ContentPart::text("What is in these?"),
        ],
    ));
    let body = encode(&request);
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": "UklGRg=="}},
            {"type": "text", "text": "What is in these?"}
        ])
    );
}

#[test]
fn thinking_round_trip_keeps_signatures() {
    let codec = codec();
    let reply = codec.decode_chat(&fixture("message_thinking.json")).unwrap();
    let signature = reply.reasoning().collect::<Vec<_>>()[0]
        .signature
        .clone()
        .unwrap();
    let thought = reply.reasoning().collect::<Vec<_>>()[0].text.clone();

    let mut assistant = reply.message.clone();
    assistant.content.push(ContentPart::Reasoning(Reasoning {
        redacted: Some("EmwKAhgBEgy".into()),
        ..Reasoning::default()
    }));
    // Reasoning from another vendor has no signature: Anthropic would refuse it.
    assistant.content.push(ContentPart::Reasoning(Reasoning {
        text: "an OpenAI summary".into(),
        ..Reasoning::default()
    }));
    let request = ChatRequest::new(MODEL)
        .user("What is 27 * 453?")
        .message(assistant)
        .user("And times 2?")
        .reasoning(ReasoningConfig::budget(2048));
    let body = encode_with(&codec, &request);
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": thought, "signature": signature},
            {"type": "text", "text": "27 * 453 = 12,231"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy"}
        ])
    );
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(body["max_tokens"], 4096);
}

#[test]
fn thinking_budget_and_max_tokens() {
    let thinking = |request: ChatRequest| {
        let body = encode(&request);
        (body["max_tokens"].as_u64().unwrap(), body["thinking"].clone())
    };
    let base = || ChatRequest::new(MODEL).user("think");

    // Effort maps to a budget; the default max_tokens is raised above it.
    let (max, t) = thinking(base().reasoning(ReasoningConfig::effort(ReasoningEffort::High)));
    assert_eq!(t, json!({"type": "enabled", "budget_tokens": 24576}));
    assert_eq!(max, 24576 + 4096);

    let (max, t) = thinking(base().reasoning(ReasoningConfig::effort(ReasoningEffort::Low)));
    assert_eq!(t["budget_tokens"], 2048);
    assert_eq!(max, 4096);

    // A budget wins over an effort.
    let mut config = ReasoningConfig::effort(ReasoningEffort::High);
    config.budget_tokens = Some(3000);
    assert_eq!(thinking(base().reasoning(config)).1["budget_tokens"], 3000);

    // An explicit max_tokens above the budget is kept.
    let (max, t) = thinking(base().max_tokens(20000).reasoning(ReasoningConfig::budget(10000)));
    assert_eq!((max, t["budget_tokens"].as_u64()), (20000, Some(10000)));

    // An explicit max_tokens is never raised: the budget is lowered.
    let (max, t) = thinking(base().max_tokens(8000).reasoning(ReasoningConfig::budget(10000)));
    assert_eq!((max, t["budget_tokens"].as_u64()), (8000, Some(4000)));
    let (max, t) = thinking(
        base()
            .max_tokens(1500)
            .reasoning(ReasoningConfig::effort(ReasoningEffort::Medium)),
    );
    assert_eq!((max, t["budget_tokens"].as_u64()), (1500, Some(1024)));

    // ... unless no budget Anthropic accepts fits.
    let err = codec()
        .encode_chat(
            &base().max_tokens(1000).reasoning(ReasoningConfig::budget(2000)),
            ReplyMode::Complete,
            &RequestMeta::new(),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Encode { message, .. } if message.contains("thinking")),
        "{err:?}"
    );

    // No budget, no thinking.
    let body = encode(&base().reasoning(ReasoningConfig::default()));
    assert!(body.get("thinking").is_none());
    let body = encode(&base().reasoning(ReasoningConfig::budget(0)));
    assert!(body.get("thinking").is_none());
}

#[test]
fn tool_choice_variants() {
    let choice = |request: ChatRequest| {
        encode(&request.user("hi").tool(weather_tool()))
            .get("tool_choice")
            .cloned()
    };
    let base = || ChatRequest::new(MODEL);

    assert_eq!(choice(base()), None);
    assert_eq!(
        choice(base().tool_choice(ToolChoice::Auto)),
        Some(json!({"type": "auto"}))
    );
    assert_eq!(
        choice(base().tool_choice(ToolChoice::Required)),
        Some(json!({"type": "any"}))
    );
    assert_eq!(
        choice(base().tool_choice(ToolChoice::Tool {
            name: "get_weather".into()
        })),
        Some(json!({"type": "tool", "name": "get_weather"}))
    );
    assert_eq!(
        choice(base().tool_choice(ToolChoice::None)),
        Some(json!({"type": "none"}))
    );

    let mut no_parallel = base().tool_choice(ToolChoice::Required);
    no_parallel.parallel_tool_calls = Some(false);
    assert_eq!(
        choice(no_parallel),
        Some(json!({"type": "any", "disable_parallel_tool_use": true}))
    );
    let mut no_parallel = base();
    no_parallel.parallel_tool_calls = Some(false);
    assert_eq!(
        choice(no_parallel),
        Some(json!({"type": "auto", "disable_parallel_tool_use": true}))
    );
    let mut parallel = base().tool_choice(ToolChoice::Auto);
    parallel.parallel_tool_calls = Some(true);
    assert_eq!(choice(parallel), Some(json!({"type": "auto"})));

    // No tools: no tool_choice (Anthropic refuses one).
    let body = encode(
        &ChatRequest::new(MODEL)
            .user("hi")
            .tool_choice(ToolChoice::Required),
    );
    assert!(body.get("tool_choice").is_none());
    assert!(body.get("tools").is_none());
}

#[test]
fn strict_tools() {
    let mut tool = weather_tool();
    tool.strict = Some(true);
    let body = encode(&ChatRequest::new(MODEL).user("hi").tool(tool));
    assert_eq!(body["tools"][0]["strict"], true);
}

#[test]
fn max_tokens_default_and_override() {
    let body = encode(&ChatRequest::new(MODEL).user("hi"));
    assert_eq!(body["max_tokens"], 4096);
    let body = encode(&ChatRequest::new(MODEL).user("hi").max_tokens(123));
    assert_eq!(body["max_tokens"], 123);
    let codec = Anthropic::builder()
        .api_key(KEY)
        .default_max_tokens(1000)
        .build_codec()
        .unwrap();
    assert_eq!(codec.default_max_tokens(), 1000);
    assert_eq!(
        encode_with(&codec, &ChatRequest::new(MODEL).user("hi"))["max_tokens"],
        1000
    );
}

#[test]
fn sampling_fields() {
    let mut request = ChatRequest::new(MODEL)
        .user("hi")
        .temperature(0.5)
        .top_p(0.9)
        .stop("END")
        .stop("STOP")
        .seed(42);
    request.top_k = Some(40);
    request.frequency_penalty = Some(0.5);
    request.presence_penalty = Some(0.5);
    let body = encode(&request);
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["top_k"], 40);
    assert_eq!(body["stop_sequences"], json!(["END", "STOP"]));
    for absent in [
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "stop",
        "stream",
        "n",
    ] {
        assert!(body.get(absent).is_none(), "{absent}");
    }
}

#[test]
fn structured_output() {
    let schema = json!({
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": false
    });
    let request = ChatRequest::new(MODEL)
        .user("27 * 453?")
        .response_format(ResponseFormat::json_schema("answer", schema.clone()));
    let body = encode(&request);
    assert_eq!(
        body["output_config"],
        json!({"format": {"type": "json_schema", "schema": schema}})
    );
    assert!(body.get("output_format").is_none());

    let body = encode(
        &ChatRequest::new(MODEL)
            .user("hi")
            .response_format(ResponseFormat::Text),
    );
    assert!(body.get("output_config").is_none());

    let request = ChatRequest::new(MODEL)
        .user("hi")
        .response_format(ResponseFormat::JsonObject);
    let err = codec()
        .encode_chat(&request, ReplyMode::Complete, &RequestMeta::new())
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert!(!codec().capabilities().json_mode);
    assert!(codec().capabilities().json_schema);
    assert!(!codec().capabilities().embeddings);
}

#[test]
fn stream_flag() {
    let codec = codec();
    let request = ChatRequest::new(MODEL).user("hi");
    let body: Value = serde_json::from_slice(
        codec
            .encode_chat(&request, ReplyMode::Stream, &RequestMeta::new())
            .unwrap()
            .body(),
    )
    .unwrap();
    assert_eq!(body["stream"], true);
    let body: Value = serde_json::from_slice(
        codec
            .encode_chat(&request, ReplyMode::Complete, &RequestMeta::new())
            .unwrap()
            .body(),
    )
    .unwrap();
    assert!(body.get("stream").is_none());
}

#[test]
fn extra_fields_win() {
    let request = ChatRequest::new(MODEL)
        .user("hi")
        .max_tokens(100)
        .extra("max_tokens", json!(555))
        .extra("metadata", json!({"user_id": "u-42"}))
        .extra("service_tier", json!("auto"));
    let http = codec()
        .encode_chat(&request, ReplyMode::Complete, &RequestMeta::new())
        .unwrap();
    let text = std::str::from_utf8(http.body()).unwrap();
    assert_eq!(text.matches("\"max_tokens\"").count(), 1, "{text}");
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["max_tokens"], 555);
    assert_eq!(body["metadata"], json!({"user_id": "u-42"}));
    assert_eq!(body["service_tier"], "auto");
    assert_eq!(body["model"], MODEL);
}

#[test]
fn empty_messages_are_dropped() {
    let request = ChatRequest::new(MODEL).user("one").assistant("").user("two");
    let body = encode(&request);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}])
    );
}

// ---------------------------------------------------------------------------
// Builder and provider
// ---------------------------------------------------------------------------

#[test]
fn debug_never_shows_the_key() {
    let provider = Anthropic::builder()
        .api_key(KEY)
        .transport(offline())
        .build()
        .unwrap();
    let shown = format!(
        "{provider:?} {:?} {:?}",
        provider.codec(),
        Anthropic::builder().api_key(KEY)
    );
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("AnthropicCodec"));
    let http = provider
        .codec()
        .encode_chat(
            &ChatRequest::new(MODEL).user("hi"),
            ReplyMode::Complete,
            &RequestMeta::new(),
        )
        .unwrap();
    assert!(!format!("{http:?}").contains(KEY));
}

#[test]
fn builder_checks_its_settings() {
    let bad = [
        Anthropic::builder()
            .api_key(KEY)
            .base_url("not a url")
            .build_codec(),
        Anthropic::builder()
            .api_key(KEY)
            .version("bad\nversion")
            .build_codec(),
        Anthropic::builder()
            .api_key(KEY)
            .beta("bad\u{7f}beta")
            .build_codec(),
        Anthropic::builder()
            .api_key(KEY)
            .default_max_tokens(0)
            .build_codec(),
    ];
    // The key is checked by `build`, which makes the signer that sends it.
    assert!(matches!(
        Anthropic::builder().api_key("bad\nkey").build(),
        Err(Error::Config { .. })
    ));
    for result in bad {
        assert!(matches!(result, Err(Error::Config { .. })), "{result:?}");
    }
    if std::env::var_os("ANTHROPIC_API_KEY").is_none() {
        let err = Anthropic::builder().build().unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
    }
}

#[test]
fn builder_names_the_provider() {
    let provider = Anthropic::builder()
        .api_key(KEY)
        .name("claude-eu")
        .transport(offline())
        .build()
        .unwrap();
    assert_eq!(provider.name(), "claude-eu");
    let err = provider.codec().decode_error(
        StatusCode::UNAUTHORIZED,
        &HeaderMap::new(),
        &fixture("error_auth.json"),
    );
    assert_eq!(err.api().unwrap().provider, "claude-eu");
    assert_eq!(
        Anthropic::builder()
            .api_key(KEY)
            .transport(offline())
            .build()
            .unwrap()
            .name(),
        "anthropic"
    );
}

fn provider(transport: Transport) -> Anthropic {
    Anthropic::builder()
        .api_key(KEY)
        .transport(transport)
        .build()
        .unwrap()
}

#[tokio::test]
async fn provider_chat_and_stream_over_a_transport() {
    let request = ChatRequest::new(MODEL).user("Weather?");

    let reply = provider(canned(
        Scripted::raw(200, "", fixture("message_tool_use.json")).chunked(64),
    ))
    .chat(&request.clone(), &RequestMeta::new())
    .await
    .unwrap();
    assert_eq!(reply.tool_calls().count(), 2);

    for chunk in [1, 7, 4096] {
        let stream = provider(canned(
            Scripted::raw(200, "", fixture("stream_tool_use.sse")).chunked(chunk),
        ))
        .chat_stream(&request.clone(), &RequestMeta::new())
        .await
        .unwrap();
        let streamed = stream.collect_response().await.unwrap();
        assert_eq!(streamed.text(), "I'll check both cities.");
        assert_eq!(
            streamed.tool_calls().collect::<Vec<_>>()[1]
                .arguments_json()
                .unwrap(),
            json!({"city": "Tokyo"})
        );
        assert_eq!(streamed.usage.unwrap().output_tokens, 89);
    }

    let err = provider(canned(
        Scripted::raw(200, "", fixture("stream_error.sse")).chunked(13),
    ))
    .chat_stream(&request.clone(), &RequestMeta::new())
    .await
    .unwrap()
    .collect_response()
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Overloaded(_)), "{err:?}");

    let mut cut = fixture("stream_text.sse");
    cut.truncate(cut.len() - 40);
    let err = provider(canned(Scripted::raw(200, "", cut).chunked(10)))
        .chat_stream(&request.clone(), &RequestMeta::new())
        .await
        .unwrap()
        .collect_response()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StreamTruncated { .. }), "{err:?}");

    let err = provider(canned(
        Scripted::raw(429, "", fixture("error_rate_limit.json"))
            .with_header("retry-after", "20")
            .with_header("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy")
            .chunked(50),
    ))
    .chat(&request.clone(), &RequestMeta::new())
    .await
    .unwrap_err();
    assert!(matches!(err, Error::RateLimited(_)), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(20)));

    let err = provider(canned(Scripted::raw(200, "", Vec::new()).chunked(1)))
        .embed(
            &tower_ai::types::EmbeddingRequest::new("m", ["x"]),
            &RequestMeta::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
}

#[tokio::test]
async fn provider_sends_the_encoded_request() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let store = seen.clone();
    let transport = Transport::new(tower::service_fn(move |request: http::Request<Bytes>| {
        *store.lock().unwrap() = Some(request);
        async move {
            Ok::<_, Infallible>(
                http::Response::builder()
                    .status(200)
                    .body(Full::new(Bytes::from(fixture("message.json"))))
                    .unwrap(),
            )
        }
    }));
    let reply = provider(transport)
        .chat(
            &ChatRequest::new(MODEL).system("sys").user("hi"),
            &RequestMeta::new(),
        )
        .await
        .unwrap();
    assert_eq!(reply.text(), "Hello! How can I help you today?");
    let request = seen.lock().unwrap().take().unwrap();
    assert_eq!(request.headers()["x-api-key"], KEY);
    let body: Value = serde_json::from_slice(request.body()).unwrap();
    assert_eq!(body["system"], "sys");
    assert!(body.get("stream").is_none());
}

/// A transport that answers nothing useful: for providers that are built but
/// never sent anything (with the `reqwest` feature off, `build` needs one).
fn offline() -> tower_ai::transport::Transport {
    canned(Scripted::raw(200, "", Bytes::new()))
}

#[test]
fn the_base_url_may_be_given_with_or_without_its_version() {
    for base in [
        "https://proxy.example.com/anthropic",
        "https://proxy.example.com/anthropic/",
        "https://proxy.example.com/anthropic/v1",
        "https://proxy.example.com/anthropic/v1/",
    ] {
        let codec = Anthropic::builder()
            .api_key(KEY)
            .base_url(base)
            .build_codec()
            .unwrap();
        let http = codec
            .encode_chat(
                &ChatRequest::new(MODEL).user("hi"),
                ReplyMode::Complete,
                &RequestMeta::new(),
            )
            .unwrap();
        assert_eq!(
            http.uri(),
            "https://proxy.example.com/anthropic/v1/messages",
            "{base}"
        );
    }
}
