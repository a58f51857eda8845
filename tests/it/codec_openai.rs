//! The OpenAI codec against the recorded wire fixtures in `tests/it/fixtures/openai/`,
//! without a socket: request encoding, reply and stream decoding, error mapping.

use tower_ai::testing::{canned, Scripted};

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};
use tower_ai::provider::openai::OpenAiSettings;
use tower_ai::provider::openai::{
    MaxTokensField, OpenAi, OpenAiBuilder, OpenAiCodec, SystemRole, AZURE_DEFAULT_API_VERSION,
};
use tower_ai::provider::HttpProviderBuilder;
use tower_ai::provider::{Codec, Provider, StreamDecoder};
use tower_ai::transport::SseDecoder;
use tower_ai::types::{
    ChatRequest, ContentPart, EmbeddingRequest, FinishReason, ImageDetail, Message, Reasoning,
    ReasoningConfig, ReasoningEffort, ResponseFormat, Role, StreamAccumulator, StreamEvent, Tool, ToolCall,
    ToolChoice, ToolResult, Usage,
};
use tower_ai::types::{ReplyMode, RequestMeta};
use tower_ai::Error;

const KEY: &str = "sk-test-9f8e7d6c5b4a";

/// The bytes of `tests/it/fixtures/openai/{name}`, read at compile time.
macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/fixtures/openai/",
            $name
        ))
    };
}

const CHAT_COMPLETION: &[u8] = fixture!("chat_completion.json");
const CHAT_TOOL_CALLS: &[u8] = fixture!("chat_completion_tool_calls.json");
const CHAT_JSON: &[u8] = fixture!("chat_completion_json.json");
const CHAT_REASONING: &[u8] = fixture!("chat_completion_reasoning.json");
const CHAT_CONTENT_FILTER: &[u8] = fixture!("chat_completion_content_filter.json");
const EMBEDDINGS: &[u8] = fixture!("embeddings.json");
const STREAM_TEXT: &[u8] = fixture!("stream_text.sse");
const STREAM_TOOL_CALLS: &[u8] = fixture!("stream_tool_calls.sse");
const ERROR_AUTH: &[u8] = fixture!("error_auth.json");
const ERROR_CONTENT_FILTER: &[u8] = fixture!("error_content_filter.json");
const ERROR_CONTEXT_LENGTH: &[u8] = fixture!("error_context_length.json");
const ERROR_RATE_LIMIT: &[u8] = fixture!("error_rate_limit.json");
const ERROR_SERVER: &[u8] = fixture!("error_server.json");

fn openai() -> OpenAiCodec {
    OpenAi::builder()
        .api_key(KEY)
        .base_url("https://api.openai.com/v1")
        .build_codec()
        .expect("codec")
}

fn azure() -> OpenAiCodec {
    OpenAi::azure()
        .endpoint("https://my-resource.openai.azure.com/")
        .deployment("gpt-4o-prod")
        .api_key(KEY)
        .build_codec()
        .expect("codec")
}

fn body_of(request: &http::Request<Bytes>) -> Value {
    serde_json::from_slice(request.body()).expect("the body is JSON")
}

fn encode(codec: &OpenAiCodec, request: &ChatRequest, stream: bool) -> Value {
    body_of(
        &codec
            .encode_chat(
                request,
                if stream {
                    ReplyMode::Stream
                } else {
                    ReplyMode::Complete
                },
                &RequestMeta::new(),
            )
            .expect("encodes"),
    )
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

/// Feeds `pieces` through an SSE decoder and the codec's stream decoder.
fn decode_pieces<'a>(
    codec: &OpenAiCodec,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> (Result<Vec<StreamEvent>, Error>, bool) {
    let mut sse = SseDecoder::new();
    let mut decoder = codec.stream_decoder();
    let mut out = VecDeque::new();
    let mut error = None;
    'feed: for piece in pieces {
        sse.push(piece);
        loop {
            match sse.next_event() {
                Ok(Some(event)) => {
                    if let Err(err) = decoder.decode(&event, &mut out) {
                        error = Some(err);
                        break 'feed;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    error = Some(err);
                    break 'feed;
                }
            }
        }
    }
    while error.is_none() {
        match sse.finish() {
            Ok(Some(event)) => error = decoder.decode(&event, &mut out).err(),
            Ok(None) => break,
            Err(err) => error = Some(err),
        }
    }
    let done = decoder.is_done();
    match error {
        Some(err) => (Err(err), done),
        None => (Ok(out.into_iter().collect()), done),
    }
}

fn decode_stream(codec: &OpenAiCodec, body: &[u8]) -> Vec<StreamEvent> {
    let (events, done) = decode_pieces(codec, [body]);
    assert!(done, "the stream saw [DONE]");
    events.expect("the stream decodes")
}

fn accumulate(events: &[StreamEvent]) -> tower_ai::types::ChatResponse {
    let mut acc = StreamAccumulator::new();
    for event in events {
        acc.push(event);
    }
    acc.finish()
}

fn sse(chunks: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend_from_slice(format!("data: {chunk}\n\n").as_bytes());
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

fn assert_decode_error(result: Result<impl std::fmt::Debug, Error>) {
    match result {
        Err(Error::Decode { provider, .. }) => assert_eq!(provider, "openai"),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Complete replies
// ---------------------------------------------------------------------------

#[test]
fn decodes_a_text_completion() {
    let reply = openai().decode_chat(CHAT_COMPLETION).unwrap();
    assert_eq!(reply.id, "chatcmpl-B3kQ7vXy9TnL2mR4sW8pZc1dE6fGh");
    assert_eq!(reply.model, "gpt-4o-mini-2024-07-18");
    assert_eq!(reply.message.role, Role::Assistant);
    assert_eq!(
        reply.message.content,
        vec![ContentPart::text("Hello! How can I help you today?")]
    );
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    assert_eq!(reply.usage, Some(Usage::new(19, 9)));
}

#[test]
fn decodes_parallel_tool_calls_and_cached_tokens() {
    let reply = openai().decode_chat(CHAT_TOOL_CALLS).unwrap();
    assert_eq!(reply.text(), "");
    assert_eq!(
        reply.tool_calls().collect::<Vec<_>>(),
        vec![
            &ToolCall::new(
                "call_Q7mZp2Lx9VbN4cTy8RkW1sHd",
                "get_weather",
                r#"{"city":"Paris"}"#
            ),
            &ToolCall::new(
                "call_Jf3Kd8Ws5PqZ1nMx7YbV2cRt",
                "get_weather",
                r#"{"city":"Tokyo"}"#
            ),
        ]
    );
    assert_eq!(
        reply.tool_calls().collect::<Vec<_>>()[1]
            .arguments_json()
            .unwrap(),
        json!({"city": "Tokyo"})
    );
    assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
    let usage = reply.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (1200, 46));
    assert_eq!(usage.cache_read_tokens, 1024);
    assert_eq!(usage.uncached_input_tokens(), 176);
}

#[test]
fn decodes_a_structured_output_reply() {
    let reply = openai().decode_chat(CHAT_JSON).unwrap();
    let value: Value = serde_json::from_str(&reply.text()).unwrap();
    assert_eq!(value, json!({"city": "Paris", "temperature_c": 18}));
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
}

#[test]
fn decodes_reasoning_tokens() {
    let reply = openai().decode_chat(CHAT_REASONING).unwrap();
    assert_eq!(reply.model, "o3-mini-2025-01-31");
    assert!(reply.text().starts_with("17 is prime"));
    assert!(
        reply.reasoning().next().is_none(),
        "OpenAI does not show its reasoning"
    );
    assert_eq!(reply.usage, Some(Usage::new(24, 230).with_reasoning(192)));
}

#[test]
fn decodes_an_azure_filtered_completion() {
    let reply = azure().decode_chat(CHAT_CONTENT_FILTER).unwrap();
    assert_eq!(reply.finish_reason, Some(FinishReason::ContentFilter));
    assert!(reply.message.content.is_empty());
    assert_eq!(reply.model, "gpt-4o-2024-11-20");
    assert_eq!(reply.usage, Some(Usage::new(27, 38)));
}

#[test]
fn a_refusal_is_text_with_the_refusal_finish_reason() {
    let body = json!({
        "id": "chatcmpl-r", "object": "chat.completion", "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}}]
    });
    let reply = openai().decode_chat(body.to_string().as_bytes()).unwrap();
    assert_eq!(reply.text(), "I can't help with that.");
    assert_eq!(reply.finish_reason, Some(FinishReason::Refusal));
}

#[test]
fn tool_calls_finish_as_tool_calls_even_when_the_server_says_stop() {
    // OpenAI answers "stop" when `tool_choice` names the function.
    let body = json!({
        "id": "c", "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]
    });
    let reply = openai().decode_chat(body.to_string().as_bytes()).unwrap();
    assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
}

#[test]
fn tolerates_what_compatible_servers_send() {
    let body = json!({
        // no id, no usage details, content as parts, reasoning, object arguments, no tool-call ids
        "model": "deepseek-reasoner",
        "choices": [{
            "message": {
                "role": "assistant",
                "reasoning_content": "Think first.",
                "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}, {"type": "image", "url": "x"}],
                "tool_calls": [
                    {"type": "function", "function": {"name": "f", "arguments": {"a": 1}}},
                    {"id": "", "type": "function", "function": {"name": "g", "arguments": null}}
                ]
            },
            "finish_reason": "tool_calls"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": null, "prompt_tokens_details": null,
                  "completion_tokens_details": {"reasoning_tokens": null}, "prompt_cache_hit_tokens": 4}
    });
    let reply = openai().decode_chat(body.to_string().as_bytes()).unwrap();
    assert_eq!(reply.id, "");
    assert_eq!(
        reply.reasoning().collect::<Vec<_>>(),
        vec![&Reasoning {
            text: "Think first.".into(),
            ..Reasoning::default()
        }]
    );
    assert_eq!(reply.text(), "Hello");
    assert_eq!(
        reply.tool_calls().collect::<Vec<_>>(),
        vec![
            &ToolCall::new("call_0", "f", r#"{"a":1}"#),
            &ToolCall::new("call_1", "g", "")
        ]
    );
    assert_eq!(reply.usage, Some(Usage::new(10, 0).with_cache_read(4)));

    // `usage: null`, a missing finish reason, the legacy `function_call`, another choice first.
    let body = json!({
        "id": "c", "model": "m", "usage": null,
        "choices": [
            {"index": 1, "message": {"content": "second"}, "finish_reason": "stop"},
            {"index": 0, "message": {"content": null, "function_call": {"name": "f", "arguments": "{\"x\":1}"}},
             "finish_reason": "function_call"}
        ]
    });
    let reply = openai().decode_chat(body.to_string().as_bytes()).unwrap();
    assert_eq!(reply.usage, None);
    assert_eq!(
        reply.tool_calls().collect::<Vec<_>>(),
        vec![&ToolCall::new("call_0", "f", "{\"x\":1}")]
    );
    assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));

    let body = json!({"id": "c", "model": "m", "choices": [{"index": 0, "message": {"content": "x"},
        "finish_reason": "something_new"}]});
    let reply = openai().decode_chat(body.to_string().as_bytes()).unwrap();
    assert_eq!(
        reply.finish_reason,
        Some(FinishReason::Other("something_new".into()))
    );
}

#[test]
fn an_error_in_a_successful_body_is_typed() {
    let body = br#"{"error": {"message": "The server had an error", "type": "server_error", "param": null, "code": null}}"#;
    let err = openai().decode_chat(body).unwrap_err();
    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[test]
fn malformed_replies_are_decode_errors() {
    let codec = openai();
    // Every truncation of a real reply.
    let full = std::str::from_utf8(CHAT_COMPLETION).unwrap().trim_end();
    for end in 0..full.len() {
        assert_decode_error(codec.decode_chat(&full.as_bytes()[..end]));
    }
    // Wrong shapes.
    for body in [
        "",
        "null",
        "[]",
        "42",
        "\"text\"",
        "{}",
        r#"{"choices": []}"#,
        r#"{"choices": "x"}"#,
        r#"{"choices": [5]}"#,
        r#"{"choices": [{"message": 5}]}"#,
        r#"{"id": 5, "choices": [{"message": {"content": "x"}}]}"#,
        r#"{"choices": [{"message": {"content": "x", "tool_calls": {}}}]}"#,
        r#"{"choices": [{"message": {"content": "x"}}], "usage": "lots"}"#,
        r#"{"choices": [{"message": {"content": "x"}, "finish_reason": 3}]}"#,
    ] {
        assert_decode_error(codec.decode_chat(body.as_bytes()));
    }
    // Binary garbage.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for len in [1usize, 7, 64, 1000] {
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert_decode_error(codec.decode_chat(&garbage));
        assert_decode_error(codec.decode_embeddings(&garbage));
    }
}

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

#[test]
fn decodes_the_text_stream() {
    let events = decode_stream(&openai(), STREAM_TEXT);
    assert_eq!(
        events.first(),
        Some(&StreamEvent::Start {
            id: "chatcmpl-B3kV8dLw2QxN5tZ9mR3cY7pKf1vHs".into(),
            model: "gpt-4o-mini-2024-07-18".into()
        })
    );
    let starts = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::Start { .. }))
        .count();
    assert_eq!(starts, 1);
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["Hello", "!", " How", " can", " I", " help", "?"]);
    assert_eq!(
        &events[events.len() - 2..],
        &[
            StreamEvent::Finish {
                reason: FinishReason::Stop
            },
            StreamEvent::Usage(Usage::new(19, 7)),
        ]
    );
    let reply = accumulate(&events);
    assert_eq!(reply.text(), "Hello! How can I help?");
    assert_eq!(reply.usage, Some(Usage::new(19, 7)));
}

#[test]
fn decodes_the_tool_call_stream() {
    let events = decode_stream(&openai(), STREAM_TOOL_CALLS);
    assert!(matches!(events[0], StreamEvent::Start { .. }));
    assert_eq!(
        events[1],
        StreamEvent::ToolCallDelta {
            index: 0,
            id: Some("call_Q7mZp2Lx9VbN4cTy8RkW1sHd".into()),
            name: Some("get_weather".into()),
            arguments: String::new(),
        }
    );
    assert_eq!(
        events[2],
        StreamEvent::ToolCallDelta {
            index: 0,
            id: None,
            name: None,
            arguments: "{\"ci".into(),
        }
    );
    let reply = accumulate(&events);
    assert_eq!(
        reply.tool_calls().collect::<Vec<_>>(),
        vec![
            &ToolCall::new(
                "call_Q7mZp2Lx9VbN4cTy8RkW1sHd",
                "get_weather",
                r#"{"city": "Paris"}"#
            ),
            &ToolCall::new(
                "call_Jf3Kd8Ws5PqZ1nMx7YbV2cRt",
                "get_weather",
                r#"{"city": "Tokyo"}"#
            ),
        ]
    );
    assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(reply.usage, Some(Usage::new(84, 50)));
    assert_eq!(reply.text(), "");
}

#[test]
fn streams_decode_the_same_whatever_the_chunk_boundaries() {
    let codec = openai();
    for body in [STREAM_TEXT, STREAM_TOOL_CALLS] {
        let expected = decode_stream(&codec, body);
        // Every single split point.
        for split in 0..=body.len() {
            let (events, done) = decode_pieces(&codec, [&body[..split], &body[split..]]);
            assert!(done, "split at {split}");
            assert_eq!(events.unwrap(), expected, "split at {split}");
        }
        // Byte by byte.
        let (events, done) = decode_pieces(&codec, body.chunks(1));
        assert!(done);
        assert_eq!(events.unwrap(), expected);
        // Pairs of split points, and fixed-size pieces of many sizes.
        for first in (0..body.len()).step_by(53) {
            for second in (first..body.len()).step_by(89) {
                let pieces = [&body[..first], &body[first..second], &body[second..]];
                let (events, _) = decode_pieces(&codec, pieces);
                assert_eq!(events.unwrap(), expected, "splits at {first} and {second}");
            }
        }
        for size in [2, 3, 5, 16, 100, 511] {
            let (events, _) = decode_pieces(&codec, body.chunks(size));
            assert_eq!(events.unwrap(), expected, "pieces of {size}");
        }
    }
}

#[test]
fn a_stream_cut_before_done_is_not_done() {
    let codec = openai();
    let cut = STREAM_TEXT
        .windows(b"data: [DONE]".len())
        .position(|w| w == b"data: [DONE]")
        .unwrap();
    let (events, done) = decode_pieces(&codec, [&STREAM_TEXT[..cut]]);
    assert!(events.is_ok());
    assert!(!done, "a stream without [DONE] is truncated");
}

#[test]
fn decodes_an_azure_stream() {
    let body = sse(&[
        json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
               "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {"hate": {"filtered": false, "severity": "safe"}}}]}),
        json!({"choices": [{"content_filter_results": {}, "delta": {"content": "", "role": "assistant"}, "finish_reason": null, "index": 0}],
               "created": 1, "id": "chatcmpl-az", "model": "gpt-4o-2024-11-20", "object": "chat.completion.chunk", "usage": null}),
        json!({"choices": [{"content_filter_results": {"hate": {"filtered": false, "severity": "safe"}}, "delta": {"content": "Par"}, "finish_reason": null, "index": 0}],
               "created": 1, "id": "chatcmpl-az", "model": "gpt-4o-2024-11-20", "object": "chat.completion.chunk"}),
        json!({"choices": [{"content_filter_results": {"violence": {"filtered": true, "severity": "medium"}}, "delta": {}, "finish_reason": "content_filter", "index": 0}],
               "created": 1, "id": "chatcmpl-az", "model": "gpt-4o-2024-11-20", "object": "chat.completion.chunk"}),
        json!({"choices": [], "id": "chatcmpl-az", "model": "gpt-4o-2024-11-20", "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}),
    ]);
    let events = decode_stream(&azure(), &body);
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "chatcmpl-az".into(),
                model: "gpt-4o-2024-11-20".into()
            },
            StreamEvent::text("Par"),
            StreamEvent::Finish {
                reason: FinishReason::ContentFilter
            },
            StreamEvent::Usage(Usage::new(5, 1)),
        ]
    );
}

#[test]
fn decodes_compatible_server_streams() {
    // DeepSeek reasoning, a refusal, tool calls without `index`, usage in `x_groq`, no id or model.
    let body = sse(&[
        json!({"choices": [{"delta": {"reasoning_content": "Hmm"}}]}),
        json!({"choices": [{"delta": {"reasoning": "..."}}]}),
        json!({"choices": [{"delta": {"refusal": "No."}}]}),
        json!({"choices": [{"delta": {"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{"}}]}}]}),
        json!({"choices": [{"delta": {"tool_calls": [{"function": {"arguments": "}"}}]}}]}),
        json!({"choices": [{"delta": {"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": {"k": true}}}]}}]}),
        json!({"choices": [{"delta": null, "finish_reason": "stop"}], "x_groq": {"usage": {"prompt_tokens": 3, "completion_tokens": 4}}}),
    ]);
    let events = decode_stream(&openai(), &body);
    assert_eq!(
        events[0],
        StreamEvent::Start {
            id: String::new(),
            model: String::new()
        }
    );
    let reply = accumulate(&events);
    assert_eq!(reply.reasoning().collect::<Vec<_>>()[0].text, "Hmm...");
    assert_eq!(reply.text(), "No.");
    assert_eq!(
        reply.tool_calls().collect::<Vec<_>>(),
        vec![
            &ToolCall::new("a", "f", "{}"),
            &ToolCall::new("b", "g", r#"{"k":true}"#)
        ]
    );
    // Tool calls outrank the refusal: the caller has calls to run.
    assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(reply.usage, Some(Usage::new(3, 4)));

    let body = sse(&[
        json!({"id": "x", "model": "m", "choices": [{"index": 0, "delta": {"refusal": "I can't."}}]}),
        json!({"id": "x", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ]);
    let reply = accumulate(&decode_stream(&openai(), &body));
    assert_eq!(reply.text(), "I can't.");
    assert_eq!(reply.finish_reason, Some(FinishReason::Refusal));
}

#[test]
fn an_error_inside_a_stream_is_typed() {
    let codec = openai();
    type Check = fn(&Error) -> bool;
    let cases: [(&[u8], Check); 5] = [
        (
            b"data: {\"error\": {\"message\": \"The server had an error while processing your request.\", \"type\": \"server_error\", \"param\": null, \"code\": null}}\n\n",
            |e| matches!(e, Error::Server(_)),
        ),
        (
            b"data: {\"error\": {\"message\": \"Rate limit reached. Please try again in 1.5s.\", \"type\": \"tokens\", \"code\": \"rate_limit_exceeded\"}}\n\n",
            |e| matches!(e, Error::RateLimited(_)) && e.retry_after() == Some(Duration::from_millis(1500)),
        ),
        (
            b"data: {\"error\": {\"message\": \"Overloaded\", \"type\": \"service_unavailable_error\", \"code\": \"server_is_overloaded\"}}\n\n",
            |e| matches!(e, Error::Overloaded(_)),
        ),
        // vLLM reports errors at the top level, with the status as the code.
        (
            b"data: {\"object\": \"error\", \"message\": \"This model's maximum context length is 4096 tokens.\", \"type\": \"BadRequestError\", \"param\": null, \"code\": 400}\n\n",
            |e| matches!(e, Error::ContextLengthExceeded(_)) && e.status() == Some(StatusCode::BAD_REQUEST),
        ),
        (b"event: error\ndata: {\"error\": \"boom\"}\n\n", |e| matches!(e, Error::Server(_))),
    ];
    for (body, expected) in cases {
        let mut pieces = STREAM_TEXT[..400].to_vec();
        // Keep the first whole event, then the error.
        let first_end = pieces.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
        pieces.truncate(first_end);
        pieces.extend_from_slice(body);
        let (events, _) = decode_pieces(&codec, [pieces.as_slice()]);
        let err = events.unwrap_err();
        assert!(expected(&err), "{err:?}");
        assert_eq!(err.api().unwrap().provider, "openai");
    }
}

#[test]
fn malformed_stream_chunks_are_decode_errors() {
    let codec = openai();
    for body in [
        &b"data: {not json\n\n"[..],
        b"data: [1, 2]\n\n",
        b"data: 42\n\n",
        b"data: {\"choices\": [{\"delta\": {\"tool_calls\": 7}}]}\n\n",
        b"data: {\"choices\": {\"delta\": {}}}\n\n",
        b"data: \xff\xfe{\"x\n\n",
    ] {
        let (events, _) = decode_pieces(&codec, [body]);
        assert_decode_error(events);
    }
    // Empty data lines and keep-alive comments are not errors.
    let (events, done) = decode_pieces(&codec, [&b": keep-alive\n\ndata:\n\ndata: [DONE]\n\n"[..]]);
    assert_eq!(events.unwrap(), vec![]);
    assert!(done);
    // Garbage never panics.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..200 {
        let garbage: Vec<u8> = (0..256)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i % 17 == 0 {
                    b'\n'
                } else {
                    state as u8
                }
            })
            .collect();
        let mut body = b"data: ".to_vec();
        body.extend_from_slice(&garbage);
        let (events, _) = decode_pieces(&codec, [body.as_slice()]);
        if let Err(err) = events {
            assert!(matches!(err, Error::Decode { .. } | Error::Server(_)), "{err:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn rate_limits_carry_the_delay_from_the_headers() {
    let codec = openai();
    let status = StatusCode::TOO_MANY_REQUESTS;
    let h = headers(&[("retry-after", "20"), ("x-request-id", "req_abc123")]);
    let err = codec.decode_error(status, &h, ERROR_RATE_LIMIT);
    let Error::RateLimited(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.provider, "openai");
    assert_eq!(api.status, Some(http::StatusCode::from_u16(429).unwrap()));
    assert_eq!(api.code.as_deref(), Some("rate_limit_exceeded"));
    assert_eq!(api.request_id.as_deref(), Some("req_abc123"));
    assert!(api.message.starts_with("Rate limit reached for gpt-4o-mini"));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(20)));
    assert!(err.is_retryable());

    let retry = |pairs: &[(&'static str, &str)]| {
        codec
            .decode_error(status, &headers(pairs), ERROR_RATE_LIMIT)
            .retry_after()
    };
    assert_eq!(
        retry(&[("retry-after-ms", "1500"), ("retry-after", "2")]),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(retry(&[("retry-after", "0.5")]), Some(Duration::from_millis(500)));
    assert_eq!(
        retry(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]),
        Some(Duration::ZERO)
    );
    let far = retry(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]).unwrap();
    assert!(far > Duration::from_secs(100 * 365 * 86_400));
    // Without a usable header, the message's "try again in 20s".
    assert_eq!(retry(&[]), Some(Duration::from_secs(20)));
    assert_eq!(retry(&[("retry-after", "soon")]), Some(Duration::from_secs(20)));
}

#[test]
fn azure_rate_limits_are_rate_limits() {
    let body = br#"{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds."}}"#;
    let h = headers(&[
        ("retry-after", "6"),
        ("retry-after-ms", "5800"),
        ("apim-request-id", "apim-1"),
    ]);
    let err = azure().decode_error(StatusCode::TOO_MANY_REQUESTS, &h, body);
    let Error::RateLimited(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.provider, "azure_openai");
    assert_eq!(api.code.as_deref(), Some("429"));
    assert_eq!(api.retry_after, Some(Duration::from_millis(5800)));
    assert_eq!(api.request_id.as_deref(), Some("apim-1"));
    // The message's own delay when there is no header.
    let err = azure().decode_error(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(6)));
}

#[test]
/// Out of quota, the account cannot make the call until someone pays: no
/// retry cures it, but another deployment (another account) may serve it.
fn an_exhausted_quota_is_not_retryable_but_may_fall_back() {
    let body = br#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#;
    let err = openai().decode_error(
        StatusCode::TOO_MANY_REQUESTS,
        &headers(&[("retry-after", "1")]),
        body,
    );
    let Error::Authentication(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, Some(http::StatusCode::from_u16(429).unwrap()));
    assert_eq!(api.code.as_deref(), Some("insufficient_quota"));
    assert!(!err.is_retryable());
    assert!(err.is_fallback_candidate());
    assert_eq!(err.retry_after(), None);
}

#[test]
fn maps_each_error_fixture_to_its_variant() {
    let codec = openai();
    let none = HeaderMap::new();

    let err = codec.decode_error(StatusCode::UNAUTHORIZED, &none, ERROR_AUTH);
    assert!(
        matches!(&err, Error::Authentication(api) if api.code.as_deref() == Some("invalid_api_key")),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    let err = codec.decode_error(StatusCode::FORBIDDEN, &none, br#"{"error": {"message": "Project does not have access", "type": "invalid_request_error", "code": null}}"#);
    assert!(matches!(err, Error::Authentication(_)), "{err:?}");

    let err = codec.decode_error(StatusCode::BAD_REQUEST, &none, ERROR_CONTEXT_LENGTH);
    assert!(
        matches!(&err, Error::ContextLengthExceeded(api) if api.status.map(|s| s.as_u16()) == Some(400)),
        "{err:?}"
    );

    let err = azure().decode_error(StatusCode::BAD_REQUEST, &none, ERROR_CONTENT_FILTER);
    assert!(
        matches!(&err, Error::ContentFiltered(api) if api.code.as_deref() == Some("content_filter")),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    let err = codec.decode_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &headers(&[("x-request-id", "req_5")]),
        ERROR_SERVER,
    );
    let Error::Server(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        api.code.as_deref(),
        Some("server_error"),
        "the type stands in for a null code"
    );
    assert_eq!(
        api.message,
        "The server had an error while processing your request. Sorry about that!"
    );
    assert_eq!(api.request_id.as_deref(), Some("req_5"));
    assert!(err.is_retryable());
}

#[test]
fn maps_statuses_and_odd_bodies() {
    let codec = openai();
    let none = HeaderMap::new();
    let overloaded = br#"{"error": {"message": "That model is currently overloaded with other requests.", "type": "service_unavailable_error", "code": "server_is_overloaded"}}"#;
    assert!(matches!(
        codec.decode_error(StatusCode::SERVICE_UNAVAILABLE, &none, overloaded),
        Error::Overloaded(_)
    ));
    assert!(matches!(
        codec.decode_error(StatusCode::BAD_GATEWAY, &none, overloaded),
        Error::Overloaded(_)
    ));

    // Not JSON: the text is kept (and cut), the status decides.
    let err = codec.decode_error(
        StatusCode::BAD_GATEWAY,
        &none,
        b"<html><body>502 Bad Gateway</body></html>",
    );
    let Error::Server(api) = &err else {
        panic!("{err:?}")
    };
    assert!(api.message.contains("502 Bad Gateway"));
    let huge = vec![b'x'; 100_000];
    let err = codec.decode_error(StatusCode::INTERNAL_SERVER_ERROR, &none, &huge);
    assert!(err.api().unwrap().message.len() < 1000);

    // An empty body: the reason phrase.
    let err = codec.decode_error(StatusCode::NOT_FOUND, &none, b"");
    assert!(
        matches!(&err, Error::InvalidRequest(api) if api.message == "Not Found"),
        "{err:?}"
    );

    // Compatible servers: a context overflow said only in words (vLLM), Mistral's
    // top-level 422, `{"error": "text"}` (Ollama), `{"detail": ...}` (FastAPI), numeric codes.
    let err = codec.decode_error(
        StatusCode::BAD_REQUEST,
        &none,
        br#"{"object": "error", "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.", "type": "BadRequestError", "param": null, "code": 400}"#,
    );
    assert!(matches!(err, Error::ContextLengthExceeded(_)), "{err:?}");
    let err = codec.decode_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &none,
        br#"{"object": "error", "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "stream_options"]}]}, "type": "invalid_request_error", "param": null, "code": null}"#,
    );
    let Error::InvalidRequest(api) = &err else {
        panic!("{err:?}")
    };
    assert!(api.message.contains("extra_forbidden"));
    assert_eq!(api.code.as_deref(), Some("invalid_request_error"));
    let err = codec.decode_error(
        StatusCode::NOT_FOUND,
        &none,
        br#"{"error": "model \"llama9\" not found, try pulling it first"}"#,
    );
    assert!(
        matches!(&err, Error::InvalidRequest(api) if api.message.starts_with("model")),
        "{err:?}"
    );
    let err = codec.decode_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &none,
        br#"{"detail": "Field required"}"#,
    );
    assert!(
        matches!(&err, Error::InvalidRequest(api) if api.message == "Field required"),
        "{err:?}"
    );
    let err = codec.decode_error(
        StatusCode::BAD_REQUEST,
        &none,
        br#"{"error": {"message": "bad", "code": 1234, "type": null}}"#,
    );
    assert!(
        matches!(&err, Error::InvalidRequest(api) if api.code.as_deref() == Some("1234")),
        "{err:?}"
    );
    let err = codec.decode_error(StatusCode::BAD_REQUEST, &none, b"\xff\x00\xfe garbage");
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
}

#[test]
fn errors_never_show_the_api_key() {
    let codec = openai();
    let err = codec.decode_error(StatusCode::UNAUTHORIZED, &HeaderMap::new(), ERROR_AUTH);
    assert!(!format!("{err} {err:?}").contains(KEY));
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

fn conversation() -> ChatRequest {
    let weather = Tool {
        strict: Some(true),
        ..Tool::function(
            "get_weather",
            "Current weather for a city",
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        )
    };
    let mut image = ContentPart::image_url("https://example.com/cat.png");
    if let ContentPart::Image(img) = &mut image {
        img.detail = Some(ImageDetail::High);
    }
    ChatRequest::new("gpt-4o-mini")
        .system("You are terse.")
        .message(Message::new(
            Role::User,
            vec![
                ContentPart::text("What is in these pictures, and what is the weather in Paris?"),
                image,
                ContentPart::image_base64("image/png", "iVBORw0KGgo="),
            ],
        ))
        .message(Message::new(
            Role::Assistant,
            vec![
                ContentPart::Reasoning(Reasoning {
                    text: "secret thoughts".into(),
                    signature: Some("sig".into()),
                    redacted: None,
                }),
                ContentPart::text("Let me check."),
                ContentPart::ToolCall(ToolCall::new("call_1", "get_weather", r#"{"city":"Paris"}"#)),
                ContentPart::ToolCall(ToolCall::new("call_2", "get_time", "")),
            ],
        ))
        .message(Message::tool_result("call_1", "18°C, sunny"))
        // An Anthropic-style turn: a tool result inside a user message, then text.
        .message(Message::new(
            Role::User,
            vec![
                ContentPart::ToolResult(ToolResult::new("call_2", "14:05").error()),
                ContentPart::text("Thanks. And tomorrow?"),
            ],
        ))
        .tool(weather)
        .tool(Tool {
            description: None,
            ..Tool::function("get_time", "", json!({"type": "object"}))
        })
        .tool_choice(ToolChoice::Tool {
            name: "get_weather".into(),
        })
        .max_tokens(300)
        .temperature(0.5)
        .top_p(0.9)
        .stop("\n\n")
        .seed(7)
        .response_format(ResponseFormat::json_schema(
            "weather",
            json!({"type": "object", "properties": {"temp": {"type": "number"}}}),
        ))
        .reasoning(ReasoningConfig::effort(ReasoningEffort::Low))
}

#[test]
fn encodes_a_whole_conversation() {
    let codec = openai();
    let mut request = conversation();
    request.parallel_tool_calls = Some(false);
    request.frequency_penalty = Some(0.25);
    request.presence_penalty = Some(-0.5);
    request.top_k = Some(40);
    let http = codec
        .encode_chat(&request, ReplyMode::Complete, &RequestMeta::new())
        .unwrap();

    assert_eq!(http.method(), Method::POST);
    assert_eq!(http.uri(), "https://api.openai.com/v1/chat/completions");
    assert_eq!(http.headers()["content-type"], "application/json");
    // The codec holds no credentials: the provider's signer adds them.
    assert!(http.headers().get("authorization").is_none());

    let body = body_of(&http);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these pictures, and what is the weather in Paris?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18°C, sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": "14:05"},
            {"role": "user", "content": "Thanks. And tomorrow?"}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([
            {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                "strict": true}},
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
        ])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(body["parallel_tool_calls"], false);
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["max_completion_tokens"], 300);
    assert!(body.get("max_tokens").is_none());
    assert_eq!(body["temperature"], 0.5);
    assert!((body["top_p"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    assert_eq!(body["stop"], json!(["\n\n"]));
    assert_eq!(body["seed"], 7);
    assert_eq!(body["frequency_penalty"], 0.25);
    assert_eq!(body["presence_penalty"], -0.5);
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "weather", "strict": true,
            "schema": {"type": "object", "properties": {"temp": {"type": "number"}}}}})
    );
    assert_eq!(body["reasoning_effort"], "low");
    assert!(body.get("top_k").is_none(), "OpenAI has no top_k");
    assert!(body.get("stream").is_none());
    assert!(body.get("stream_options").is_none());
    assert!(
        !body.to_string().contains("secret thoughts"),
        "reasoning is not sent back"
    );
}

#[test]
fn encodes_tool_choices() {
    let codec = openai();
    let tool = Tool::function("f", "does f", json!({"type": "object"}));
    for (choice, expected) in [
        (ToolChoice::Auto, json!("auto")),
        (ToolChoice::None, json!("none")),
        (ToolChoice::Required, json!("required")),
        (
            ToolChoice::Tool { name: "f".into() },
            json!({"type": "function", "function": {"name": "f"}}),
        ),
    ] {
        let request = ChatRequest::new("m")
            .user("hi")
            .tool(tool.clone())
            .tool_choice(choice);
        assert_eq!(encode(&codec, &request, false)["tool_choice"], expected);
    }
    // Without tools, only "none" means something; `parallel_tool_calls` would be refused.
    let mut request = ChatRequest::new("m").user("hi").tool_choice(ToolChoice::Auto);
    request.parallel_tool_calls = Some(true);
    let body = encode(&codec, &request, false);
    assert!(body.get("tool_choice").is_none());
    assert!(body.get("parallel_tool_calls").is_none());
    assert!(body.get("tools").is_none());
    let request = ChatRequest::new("m").user("hi").tool_choice(ToolChoice::None);
    assert_eq!(encode(&codec, &request, false)["tool_choice"], "none");
}

#[test]
fn encodes_response_formats() {
    let codec = openai();
    let request = |format| ChatRequest::new("m").user("hi").response_format(format);
    assert_eq!(
        encode(&codec, &request(ResponseFormat::JsonObject), false)["response_format"],
        json!({"type": "json_object"})
    );
    assert_eq!(
        encode(&codec, &request(ResponseFormat::Text), false)["response_format"],
        json!({"type": "text"})
    );
    let format = ResponseFormat::JsonSchema {
        name: "s".into(),
        schema: json!({"type": "object"}),
        strict: None,
        description: Some("a thing".into()),
    };
    assert_eq!(
        encode(&codec, &request(format), false)["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "s", "description": "a thing", "schema": {"type": "object"}}})
    );
}

#[test]
fn encodes_the_stream_flag_and_usage_request() {
    let request = ChatRequest::new("m").user("hi");
    let body = encode(&openai(), &request, true);
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    let body = encode(&openai(), &request, false);
    assert!(body.get("stream").is_none());

    let quiet = OpenAiBuilder::compatible("http://127.0.0.1:9/v1")
        .include_usage(false)
        .build_codec()
        .unwrap();
    let body = encode(&quiet, &request, true);
    assert_eq!(body["stream"], true);
    assert!(body.get("stream_options").is_none());

    let mistral = OpenAiBuilder::mistral().api_key("k").build_codec().unwrap();
    assert!(encode(&mistral, &request, true).get("stream_options").is_none());
}

#[test]
fn encodes_settings_per_server() {
    let request = ChatRequest::new("m").system("Rules.").user("hi").max_tokens(64);
    let ollama = OpenAiBuilder::ollama().build_codec().unwrap();
    let body = encode(&ollama, &request, false);
    assert_eq!(body["max_tokens"], 64);
    assert!(body.get("max_completion_tokens").is_none());

    let developer = OpenAi::builder()
        .api_key("k")
        .base_url("https://api.openai.com/v1")
        .system_role(SystemRole::Developer)
        .max_tokens_field(MaxTokensField::MaxTokens)
        .build_codec()
        .unwrap();
    let body = encode(&developer, &request, false);
    assert_eq!(
        body["messages"][0],
        json!({"role": "developer", "content": "Rules."})
    );
    assert_eq!(body["max_tokens"], 64);

    // A bare budget maps to the effort of the same order.
    let request = ChatRequest::new("m")
        .user("hi")
        .reasoning(ReasoningConfig::budget(8000));
    assert_eq!(encode(&openai(), &request, false)["reasoning_effort"], "medium");
}

#[test]
fn extra_fields_are_merged_last_and_win() {
    let request = ChatRequest::new("m")
        .user("hi")
        .temperature(0.1)
        .extra("temperature", json!(0.9))
        .extra("top_k", json!(40))
        .extra("user", json!("u-1"));
    let http = openai()
        .encode_chat(&request, ReplyMode::Complete, &RequestMeta::new())
        .unwrap();
    let text = std::str::from_utf8(http.body()).unwrap();
    assert_eq!(
        text.matches("\"temperature\"").count(),
        1,
        "no duplicate keys: {text}"
    );
    let body = body_of(&http);
    assert_eq!(body["temperature"], 0.9);
    assert_eq!(body["top_k"], 40);
    assert_eq!(body["user"], "u-1");
}

#[test]
fn encodes_odd_messages() {
    let codec = openai();
    let request = ChatRequest::new("m")
        .message(Message::new(
            Role::System,
            vec![ContentPart::text("a"), ContentPart::text("b")],
        ))
        .message(Message::new(Role::Assistant, vec![]))
        .message(Message::user("named").with_name("alice"))
        // A tool result with an image: OpenAI tool messages take text only.
        .message(Message::new(
            Role::Tool,
            vec![ContentPart::ToolResult(ToolResult {
                tool_call_id: "call_9".into(),
                name: None,
                content: vec![
                    ContentPart::text("see"),
                    ContentPart::image_base64("image/jpeg", "AAAA"),
                ],
                is_error: false,
            })],
        ));
    let body = encode(&codec, &request, false);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "ab"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "named", "name": "alice"},
            {"role": "tool", "tool_call_id": "call_9", "content": "see"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}}]}
        ])
    );
}

#[test]
fn encodes_embeddings() {
    let codec = openai();
    let http = codec
        .encode_embeddings(
            &EmbeddingRequest::new("text-embedding-3-small", ["first", "second"]).dimensions(8),
            &RequestMeta::new(),
        )
        .unwrap();
    assert_eq!(http.uri(), "https://api.openai.com/v1/embeddings");
    assert_eq!(
        body_of(&http),
        json!({"model": "text-embedding-3-small", "input": ["first", "second"], "dimensions": 8, "encoding_format": "float"})
    );
}

#[test]
fn decodes_embeddings_in_input_order() {
    let codec = openai();
    let reply = codec.decode_embeddings(EMBEDDINGS).unwrap();
    assert_eq!(reply.model, "text-embedding-3-small");
    assert_eq!(reply.embeddings.len(), 2);
    assert_eq!(reply.embeddings[0].len(), 8);
    assert!((reply.embeddings[0][0] - 0.002_306_425_5).abs() < 1e-9);
    assert!((reply.embeddings[1][0] + 0.012_843_091).abs() < 1e-9);
    assert_eq!(reply.usage, Some(Usage::new(8, 0)));

    let mut shuffled: Value = serde_json::from_slice(EMBEDDINGS).unwrap();
    shuffled["data"].as_array_mut().unwrap().reverse();
    let reordered = codec.decode_embeddings(shuffled.to_string().as_bytes()).unwrap();
    assert_eq!(reordered.embeddings, reply.embeddings);

    let repeated = json!({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]});
    assert_decode_error(codec.decode_embeddings(repeated.to_string().as_bytes()));
    assert_decode_error(codec.decode_embeddings(br#"{"data": [{"index": 0, "embedding": "AAAA"}]}"#));
    let err = codec
        .decode_embeddings(br#"{"error": {"message": "bad model", "type": "invalid_request_error"}}"#)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
}

// ---------------------------------------------------------------------------
// Azure and the builders
// ---------------------------------------------------------------------------

#[test]
fn azure_sends_the_api_key_header_and_the_api_version() {
    let codec = azure();
    let http = codec
        .encode_chat(
            &ChatRequest::new("").user("hi").max_tokens(5),
            ReplyMode::Stream,
            &RequestMeta::new(),
        )
        .unwrap();
    assert_eq!(
        http.uri(),
        &*format!(
            "https://my-resource.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version={AZURE_DEFAULT_API_VERSION}"
        )
    );
    assert_eq!(AZURE_DEFAULT_API_VERSION, "2024-10-21");
    let body = body_of(&http);
    assert!(body.get("model").is_none(), "the deployment picks the model");
    assert_eq!(body["max_completion_tokens"], 5);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(codec.name(), "azure_openai");

    let http = codec
        .encode_embeddings(&EmbeddingRequest::new("", ["x"]), &RequestMeta::new())
        .unwrap();
    assert_eq!(
        http.uri(),
        "https://my-resource.openai.azure.com/openai/deployments/gpt-4o-prod/embeddings?api-version=2024-10-21"
    );
}

#[test]
fn azure_variants() {
    let codec = OpenAi::azure()
        .endpoint("https://r.openai.azure.com")
        .deployment("chat")
        .embeddings_deployment("embed")
        .api_version("2025-04-01-preview")
        .entra_token("eyJ0eXAi")
        .build_codec()
        .unwrap();
    assert_eq!(
        codec.chat_url(),
        "https://r.openai.azure.com/openai/deployments/chat/chat/completions?api-version=2025-04-01-preview"
    );
    assert_eq!(
        codec.embeddings_url(),
        "https://r.openai.azure.com/openai/deployments/embed/embeddings?api-version=2025-04-01-preview"
    );
    let http = codec
        .encode_chat(
            &ChatRequest::new("gpt-4o").user("hi"),
            ReplyMode::Complete,
            &RequestMeta::new(),
        )
        .unwrap();
    assert_eq!(body_of(&http)["model"], "gpt-4o");

    // Without a deployment: the v1 API, the model names the deployment.
    let codec = OpenAi::azure()
        .endpoint("https://r.openai.azure.com")
        .api_key("k")
        .build_codec()
        .unwrap();
    assert_eq!(
        codec.chat_url(),
        "https://r.openai.azure.com/openai/v1/chat/completions"
    );

    for builder in [
        OpenAi::azure()
            .endpoint("https://r.openai.azure.com")
            .deployment("a/b")
            .api_key("k"),
        OpenAi::azure()
            .endpoint("https://r.openai.azure.com")
            .deployment("d")
            .api_version("x&y=1")
            .api_key("k"),
        OpenAi::azure().endpoint("not a url").deployment("d").api_key("k"),
    ] {
        assert!(matches!(builder.build_codec(), Err(Error::Config { .. })));
    }
}

#[test]
fn presets_point_at_their_servers() {
    let cases = [
        (
            OpenAiBuilder::ollama(),
            "ollama",
            "http://localhost:11434/v1/chat/completions",
        ),
        (
            OpenAiBuilder::lm_studio(),
            "lm_studio",
            "http://localhost:1234/v1/chat/completions",
        ),
        (
            OpenAiBuilder::vllm("http://gpu:8000/v1/"),
            "vllm",
            "http://gpu:8000/v1/chat/completions",
        ),
        (
            OpenAiBuilder::compatible("http://x:1/v1"),
            "openai_compatible",
            "http://x:1/v1/chat/completions",
        ),
        (
            OpenAiBuilder::groq().api_key("k"),
            "groq",
            "https://api.groq.com/openai/v1/chat/completions",
        ),
        (
            OpenAiBuilder::mistral().api_key("k"),
            "mistral",
            "https://api.mistral.ai/v1/chat/completions",
        ),
        (
            OpenAiBuilder::together().api_key("k"),
            "together",
            "https://api.together.ai/v1/chat/completions",
        ),
        (
            OpenAiBuilder::openrouter().api_key("k"),
            "openrouter",
            "https://openrouter.ai/api/v1/chat/completions",
        ),
        (
            OpenAiBuilder::deepseek().api_key("k"),
            "deepseek",
            "https://api.deepseek.com/chat/completions",
        ),
    ];
    for (builder, name, url) in cases {
        let codec = builder.build_codec().unwrap();
        assert_eq!(codec.name(), name);
        assert_eq!(codec.chat_url(), url);
        assert_eq!(codec.max_tokens_field(), MaxTokensField::MaxTokens);
    }
    // Local servers need no key, and send none.
    let http = OpenAiBuilder::ollama()
        .build_codec()
        .unwrap()
        .encode_chat(
            &ChatRequest::new("llama3.2").user("hi"),
            ReplyMode::Complete,
            &RequestMeta::new(),
        )
        .unwrap();
    assert!(http.headers().get("authorization").is_none());
    // The name can be changed; OpenAI's own headers can be added.
    let codec = OpenAi::builder()
        .api_key("k")
        .base_url("https://proxy.internal/v1")
        .name("openai_eu")
        .organization("org-1")
        .project("proj-1")
        .header("x-title", "my app")
        .build_codec()
        .unwrap();
    assert_eq!(codec.name(), "openai_eu");
    let http = codec
        .encode_chat(
            &ChatRequest::new("m").user("hi"),
            ReplyMode::Complete,
            &RequestMeta::new(),
        )
        .unwrap();
    assert_eq!(http.headers()["openai-organization"], "org-1");
    assert_eq!(http.headers()["openai-project"], "proj-1");
    assert_eq!(http.headers()["x-title"], "my app");
    assert_eq!(codec.max_tokens_field(), MaxTokensField::MaxCompletionTokens);
}

#[test]
fn builder_mistakes_are_config_errors() {
    let unset = "TOWER_AI_TEST_SURELY_UNSET_KEY";
    for builder in [
        OpenAi::builder().api_key_env(unset),
        OpenAiBuilder::groq().api_key_env(unset),
        OpenAi::builder().api_key(KEY).base_url("not a url"),
        OpenAi::builder().api_key(KEY).base_url("ftp://example.com/v1"),
        OpenAi::builder().api_key(KEY).base_url(""),
        OpenAi::builder().api_key(KEY).header("bad header", "v"),
        OpenAi::builder().api_key(KEY).header("x-ok", "bad\nvalue"),
        OpenAi::builder().api_key("bad\nkey"),
    ] {
        match builder.build() {
            Err(Error::Config { message, .. }) => assert!(!message.contains(KEY), "{message}"),
            other => panic!("expected a config error, got {other:?}"),
        }
    }
    assert!(matches!(
        OpenAi::builder().api_key_env(unset).build(),
        Err(Error::Config { .. })
    ));
    // A required key can be waived.
    assert!(OpenAi::builder()
        .api_key_env(unset)
        .require_api_key(false)
        .build_codec()
        .is_ok());
}

#[test]
fn debug_never_shows_the_key() {
    let builder = OpenAi::builder()
        .api_key(KEY)
        .header("authorization", format!("Bearer {KEY}"));
    let codec = builder.build_codec().unwrap();
    let provider = OpenAi::builder()
        .api_key(KEY)
        .transport(canned(Scripted::raw(200, "", Bytes::new())))
        .build()
        .unwrap();
    let azure_builder = OpenAi::azure()
        .endpoint("https://r.openai.azure.com")
        .api_key(KEY)
        .entra_token(KEY);
    let azure = azure_builder.build_codec().unwrap();
    for text in [
        format!("{builder:?}"),
        format!("{codec:?}"),
        format!("{provider:?}"),
        format!("{azure_builder:?}"),
        format!("{azure:?}"),
        format!(
            "{:?}",
            codec
                .encode_chat(
                    &ChatRequest::new("m").user("hi"),
                    ReplyMode::Complete,
                    &RequestMeta::new()
                )
                .unwrap()
        ),
    ] {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("9f8e7d"), "{text}");
    }
    assert!(format!("{provider:?}").contains("ApiKey(***)"));
}

#[tokio::test]
async fn azure_signs_with_the_api_key_header_or_an_entra_token() {
    let request = ChatRequest::new("gpt-4o").user("hi");
    let key = OpenAi::azure()
        .endpoint("https://r.openai.azure.com")
        .deployment("chat")
        .api_key(KEY)
        .transport(offline())
        .build()
        .unwrap();
    let http = key
        .prepare_chat(&request, ReplyMode::Complete, &RequestMeta::new())
        .await
        .unwrap();
    assert_eq!(http.headers()["api-key"], KEY);
    assert!(http.headers()["api-key"].is_sensitive());
    assert!(http.headers().get("authorization").is_none());

    let entra = OpenAi::azure()
        .endpoint("https://r.openai.azure.com")
        .deployment("chat")
        .entra_token("eyJ0eXAi")
        .transport(offline())
        .build()
        .unwrap();
    let http = entra
        .prepare_chat(&request, ReplyMode::Complete, &RequestMeta::new())
        .await
        .unwrap();
    assert_eq!(http.headers()["authorization"], "Bearer eyJ0eXAi");
    assert!(http.headers()["authorization"].is_sensitive());
    assert!(http.headers().get("api-key").is_none());
}

#[tokio::test]
async fn openai_signs_with_a_bearer_key_and_sends_the_request_id() {
    let provider = OpenAi::builder()
        .api_key(KEY)
        .transport(offline())
        .build()
        .unwrap();
    let ctx = RequestMeta::new();
    let http = provider
        .prepare_chat(&ChatRequest::new("m").user("hi"), ReplyMode::Complete, &ctx)
        .await
        .unwrap();
    let auth = &http.headers()["authorization"];
    assert_eq!(auth, &format!("Bearer {KEY}"));
    assert!(auth.is_sensitive());
    assert_eq!(http.headers()["x-request-id"], ctx.id.as_str());
}

// ---------------------------------------------------------------------------
// Through the provider, with a transport that answers from the fixtures
// ---------------------------------------------------------------------------

fn provider(body: &'static [u8], status: u16) -> OpenAi {
    OpenAi::builder()
        .api_key(KEY)
        .base_url("https://api.openai.com/v1")
        .transport(canned(Scripted::raw(status, "", Bytes::from_static(body))))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_provider_streams_and_completes_from_fixtures() {
    let request = ChatRequest::new("gpt-4o-mini").user("Hi");
    let reply = provider(STREAM_TEXT, 200)
        .chat_stream(&request.clone(), &RequestMeta::new())
        .await
        .unwrap()
        .collect_response()
        .await
        .unwrap();
    assert_eq!(reply.text(), "Hello! How can I help?");
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));

    let reply = provider(CHAT_TOOL_CALLS, 200)
        .chat(&request.clone(), &RequestMeta::new())
        .await
        .unwrap();
    assert_eq!(reply.tool_calls().count(), 2);

    let err = provider(ERROR_RATE_LIMIT, 429)
        .chat(&request.clone(), &RequestMeta::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited(_)), "{err:?}");

    let embeddings = provider(EMBEDDINGS, 200)
        .embed(
            &EmbeddingRequest::new("text-embedding-3-small", ["a", "b"]),
            &RequestMeta::new(),
        )
        .await
        .unwrap();
    assert_eq!(embeddings.embeddings.len(), 2);
}

#[tokio::test]
async fn a_cut_stream_ends_with_an_error() {
    let cut = STREAM_TEXT
        .windows(b"data: [DONE]".len())
        .position(|w| w == b"data: [DONE]")
        .unwrap();
    let err = provider(&STREAM_TEXT[..cut], 200)
        .chat_stream(&ChatRequest::new("m").user("Hi"), &RequestMeta::new())
        .await
        .unwrap()
        .collect_response()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StreamTruncated { .. }), "{err:?}");
}

/// A transport that answers nothing useful: for providers that are built but
/// never sent anything (with the `reqwest` feature off, `build` needs one).
fn offline() -> tower_ai::transport::Transport {
    canned(Scripted::raw(200, "", Bytes::new()))
}

/// Mistral's reasoning models send their reasoning as a `thinking` content
/// part (itself a list of text parts), complete and streamed.
#[test]
fn mistral_thinking_parts_are_reasoning_complete_and_streamed() {
    let complete = openai()
        .decode_chat(fixture!("chat_completion_mistral_thinking.json"))
        .unwrap();
    let streamed = accumulate(&decode_stream(&openai(), fixture!("stream_mistral_thinking.sse")));
    for reply in [complete, streamed] {
        let reasoning: Vec<_> = reply.reasoning().map(|r| r.text.as_str()).collect();
        assert_eq!(reasoning.concat(), "The user asks for 17 * 3. 17 * 3 = 51.");
        assert_eq!(
            reply.text(),
            "17 × 3 = 51.",
            "the answer keeps only the text parts"
        );
        assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
        assert_eq!(reply.usage.unwrap().output_tokens, 32);
    }
}
