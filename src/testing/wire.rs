//! The vendors' wire shapes the fake upstream speaks.
//!
//! OpenAI: "The chat completion object", "The chat completion chunk object"
//! (with `stream_options.include_usage`), "The embedding object" and the error
//! object `{"error": {"message", "type", "param", "code"}}` of the OpenAI API
//! reference. Anthropic: the Messages API response, its streaming events
//! (`message_start`, `content_block_start`, `ping`, `content_block_delta`,
//! `content_block_stop`, `message_delta`, `message_stop`) and the error shape
//! `{"type": "error", "error": {"type", "message"}}`. The ids, timestamps and
//! figures are made up; the shapes are the ones the crate's recorded fixtures
//! (`tests/it/fixtures/`) follow.

use bytes::Bytes;
use serde_json::{json, Value};

/// The model an OpenAI-compatible reply names.
pub(crate) const OPENAI_MODEL: &str = "gpt-4o-mini-2024-07-18";
/// The model an Anthropic reply names.
pub(crate) const ANTHROPIC_MODEL: &str = "claude-sonnet-4-5-20250929";
/// The text of the default complete replies.
pub(crate) const DEFAULT_TEXT: &str = "Hello! How can I help you today?";
/// The pieces of the default streamed replies.
pub(crate) const DEFAULT_PIECES: [&str; 4] = ["Hello", "!", " How can I", " help?"];
/// The prompt tokens every canned reply reports.
const PROMPT_TOKENS: u64 = 19;
const CREATED: u64 = 1_740_412_800;

/// About four characters a token, at least one.
fn tokens_of(text: &str) -> u64 {
    (text.chars().count().div_ceil(4) as u64).max(1)
}

fn openai_usage(completion: u64) -> Value {
    json!({
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion,
        "total_tokens": PROMPT_TOKENS + completion,
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// A `chat.completion` whose message is `text`, `finish_reason: "stop"`.
pub(crate) fn openai_completion(text: &str) -> Bytes {
    let body = json!({
        "id": "chatcmpl-fake-0001",
        "object": "chat.completion",
        "created": CREATED,
        "model": OPENAI_MODEL,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": text, "refusal": null, "annotations": [] },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": openai_usage(tokens_of(text)),
        "service_tier": "default",
        "system_fingerprint": "fp_fake"
    });
    Bytes::from(body.to_string())
}

/// A `chat.completion` whose message calls these tools (`content: null`,
/// the arguments as a JSON string), `finish_reason: "tool_calls"`.
pub(crate) fn openai_tool_calls(calls: &[(String, Value)]) -> Bytes {
    let tool_calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, arguments))| {
            json!({
                "id": format!("call_fake_{i}"),
                "type": "function",
                "function": { "name": name, "arguments": arguments.to_string() }
            })
        })
        .collect();
    let body = json!({
        "id": "chatcmpl-fake-0003",
        "object": "chat.completion",
        "created": CREATED,
        "model": OPENAI_MODEL,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": null,
                "tool_calls": tool_calls,
                "refusal": null,
                "annotations": []
            },
            "logprobs": null,
            "finish_reason": "tool_calls"
        }],
        "usage": openai_usage(16 * calls.len().max(1) as u64),
        "service_tier": "default",
        "system_fingerprint": "fp_fake"
    });
    Bytes::from(body.to_string())
}

/// The events of a streamed `chat.completion.chunk` reply: a role chunk, one
/// content chunk per piece, a finish chunk, a usage chunk, `[DONE]`.
pub(crate) fn openai_stream_events<S: AsRef<str>>(pieces: &[S]) -> Vec<Bytes> {
    let chunk = |choices: Value, usage: Value| {
        let value = json!({
            "id": "chatcmpl-fake-0002",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": OPENAI_MODEL,
            "system_fingerprint": "fp_fake",
            "choices": choices,
            "usage": usage,
        });
        Bytes::from(format!("data: {value}\n\n"))
    };
    let choice = |delta: Value, finish: Value| json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]);
    let mut events = Vec::with_capacity(pieces.len() + 4);
    events.push(chunk(
        choice(
            json!({ "role": "assistant", "content": "", "refusal": null }),
            Value::Null,
        ),
        Value::Null,
    ));
    let mut text = String::new();
    for piece in pieces {
        text.push_str(piece.as_ref());
        events.push(chunk(
            choice(json!({ "content": piece.as_ref() }), Value::Null),
            Value::Null,
        ));
    }
    events.push(chunk(choice(json!({}), json!("stop")), Value::Null));
    events.push(chunk(json!([]), openai_usage(tokens_of(&text))));
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

/// The OpenAI error object.
pub(crate) fn openai_error(kind: &str, message: &str) -> Bytes {
    let body = json!({
        "error": { "message": message, "type": kind, "param": null, "code": null }
    });
    Bytes::from(body.to_string())
}

/// An embeddings `list` with one 8-dimension vector per input.
pub(crate) fn openai_embeddings(inputs: usize) -> Bytes {
    let data: Vec<Value> = (0..inputs)
        .map(|index| {
            let embedding: Vec<f64> = (0..8)
                .map(|d| (((index * 8 + d) % 17) as f64 - 8.0) / 64.0)
                .collect();
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    let body = json!({
        "object": "list",
        "data": data,
        "model": "text-embedding-3-small",
        "usage": { "prompt_tokens": 8, "total_tokens": 8 }
    });
    Bytes::from(body.to_string())
}

fn anthropic_usage(output: u64) -> Value {
    json!({
        "input_tokens": PROMPT_TOKENS,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output
    })
}

/// A Messages API `message` with one text block, `stop_reason: "end_turn"`.
pub(crate) fn anthropic_message(text: &str) -> Bytes {
    let body = json!({
        "id": "msg_fake0001",
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_MODEL,
        "content": [{ "type": "text", "text": text }],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": anthropic_usage(tokens_of(text))
    });
    Bytes::from(body.to_string())
}

/// A Messages API `message` whose content calls these tools (`tool_use`
/// blocks, the input as an object), `stop_reason: "tool_use"`.
pub(crate) fn anthropic_tool_calls(calls: &[(String, Value)]) -> Bytes {
    let content: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, input))| {
            json!({ "type": "tool_use", "id": format!("toolu_fake_{i}"), "name": name, "input": input })
        })
        .collect();
    let body = json!({
        "id": "msg_fake0003",
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_MODEL,
        "content": content,
        "stop_reason": "tool_use",
        "stop_sequence": null,
        "usage": anthropic_usage(16 * calls.len().max(1) as u64)
    });
    Bytes::from(body.to_string())
}

/// The events of a streamed Messages API reply with one text block.
pub(crate) fn anthropic_stream_events<S: AsRef<str>>(pieces: &[S]) -> Vec<Bytes> {
    let event = |name: &str, data: Value| Bytes::from(format!("event: {name}\ndata: {data}\n\n"));
    let mut events = Vec::with_capacity(pieces.len() + 6);
    let start_usage = anthropic_usage(1);
    events.push(event(
        "message_start",
        json!({
            "type": "message_start",
            "message": {
                "id": "msg_fake0002",
                "type": "message",
                "role": "assistant",
                "model": ANTHROPIC_MODEL,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": start_usage
            }
        }),
    ));
    events.push(event(
        "content_block_start",
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
    ));
    events.push(event("ping", json!({ "type": "ping" })));
    let mut text = String::new();
    for piece in pieces {
        text.push_str(piece.as_ref());
        events.push(event(
            "content_block_delta",
            json!({
                "type": "content_block_delta",
                "index": 0,
                "delta": { "type": "text_delta", "text": piece.as_ref() }
            }),
        ));
    }
    events.push(event(
        "content_block_stop",
        json!({ "type": "content_block_stop", "index": 0 }),
    ));
    events.push(event(
        "message_delta",
        json!({
            "type": "message_delta",
            "delta": { "stop_reason": "end_turn", "stop_sequence": null },
            "usage": { "output_tokens": tokens_of(&text) }
        }),
    ));
    events.push(event("message_stop", json!({ "type": "message_stop" })));
    events
}

/// The Anthropic error shape.
pub(crate) fn anthropic_error(kind: &str, message: &str) -> Bytes {
    let body = json!({
        "type": "error",
        "error": { "type": kind, "message": message },
        "request_id": "req_fake0001"
    });
    Bytes::from(body.to_string())
}

/// Splits an SSE body into events: each piece ends with (and keeps) its blank
/// line (`"\n\n"`, also `"\n\r\n"`). A trailing remainder without a blank line
/// becomes a last piece; a remainder of only line breaks joins the piece
/// before it. The pieces always concatenate to the input.
pub(crate) fn split_sse_events(data: &Bytes) -> Vec<Bytes> {
    let bytes = data.as_ref();
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            let mut j = i + 1;
            if j < bytes.len() && bytes[j] == b'\r' {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'\n' {
                chunks.push(data.slice(start..=j));
                start = j + 1;
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    if start < bytes.len() {
        let rest = data.slice(start..);
        let only_newlines = rest.iter().all(|b| *b == b'\n' || *b == b'\r');
        match chunks.pop() {
            Some(last) if only_newlines => {
                let mut merged = Vec::with_capacity(last.len() + rest.len());
                merged.extend_from_slice(&last);
                merged.extend_from_slice(&rest);
                chunks.push(Bytes::from(merged));
            }
            Some(last) => {
                chunks.push(last);
                chunks.push(rest);
            }
            None => chunks.push(rest),
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_split_keeps_every_byte_and_blank_lines() {
        let body = Bytes::from_static(b"data: a\n\ndata: b\n\r\ndata: c");
        let parts = split_sse_events(&body);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "data: a\n\n");
        assert_eq!(parts[2], "data: c");
        assert_eq!(parts.concat(), body.to_vec());
        let trailing = split_sse_events(&Bytes::from_static(b"data: a\n\n\n"));
        assert_eq!(trailing, vec![Bytes::from_static(b"data: a\n\n\n")]);
    }

    #[test]
    fn openai_stream_ends_with_usage_and_done() {
        let events = openai_stream_events(&["a", "b"]);
        assert_eq!(events.len(), 6);
        assert_eq!(events[5], "data: [DONE]\n\n");
        let usage: Value =
            serde_json::from_slice(events[4].strip_prefix(b"data: ").unwrap().trim_ascii_end()).unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["completion_tokens"], 1);
    }
}
