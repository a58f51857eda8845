//! Codec costs: encoding a request, decoding a complete reply, decoding a stream.
//!
//! ```text
//! cargo bench --bench codec --features testing
//! ```

use std::collections::VecDeque;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tower_ai::provider::anthropic::Anthropic;
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::{Codec, StreamDecoder};
use tower_ai::testing::Scripted;
use tower_ai::transport::{Framer, SseDecoder, DEFAULT_MAX_EVENT_BYTES};
use tower_ai::types::{
    ChatRequest, ContentPart, Message, ReplyMode, RequestMeta, Role, StreamAccumulator, StreamEvent, Tool,
    ToolCall,
};

/// A 20-message conversation with tools, tool calls and tool results.
fn conversation() -> ChatRequest {
    let mut request = ChatRequest::new("gpt-4o-mini")
        .system("You are a helpful assistant that answers in one paragraph.")
        .tool(Tool::function(
            "get_weather",
            "Current weather for a city",
            serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        ))
        .max_tokens(512)
        .temperature(0.3);
    for turn in 0..6 {
        request = request.user(format!(
            "Question {turn}: what should I pack for a trip to Paris in spring, given the forecast?"
        ));
        request = request.message(Message::new(
            Role::Assistant,
            vec![ContentPart::ToolCall(ToolCall::new(
                format!("call_{turn}"),
                "get_weather",
                "{\"city\":\"Paris\"}",
            ))],
        ));
        request = request.message(Message::tool_result(
            format!("call_{turn}"),
            "14°C, light rain in the afternoon",
        ));
    }
    request.assistant("Pack a light raincoat, layers and comfortable shoes.")
}

fn sse_events(chunks: &[bytes::Bytes]) -> Vec<tower_ai::transport::SseEvent> {
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        while let Some(event) = decoder.next_event().unwrap() {
            events.push(event);
        }
    }
    events
}

fn benches(c: &mut Criterion) {
    let openai = OpenAi::builder().api_key("sk-bench").build().unwrap();
    let anthropic = Anthropic::builder().api_key("sk-bench").build().unwrap();
    let request = conversation();
    let ctx = RequestMeta::new();
    assert_eq!(request.messages.len(), 20);

    let mut group = c.benchmark_group("encode_20_messages");
    group.bench_function("openai", |b| {
        b.iter(|| {
            openai
                .codec()
                .encode_chat(black_box(&request), ReplyMode::Complete, &ctx)
                .unwrap()
        })
    });
    group.bench_function("anthropic", |b| {
        b.iter(|| {
            anthropic
                .codec()
                .encode_chat(black_box(&request), ReplyMode::Complete, &ctx)
                .unwrap()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("decode_complete");
    let body = bytes::Bytes::from_static(include_bytes!(
        "../tests/it/fixtures/openai/chat_completion_tool_calls.json"
    ));
    group.bench_function("openai", |b| {
        b.iter(|| openai.codec().decode_chat(black_box(&body)).unwrap())
    });
    let body = bytes::Bytes::from_static(include_bytes!(
        "../tests/it/fixtures/anthropic/message_tool_use.json"
    ));
    group.bench_function("anthropic", |b| {
        b.iter(|| anthropic.codec().decode_chat(black_box(&body)).unwrap())
    });
    group.finish();

    // 1,000 content events plus role, finish, usage and [DONE].
    let chunks = Scripted::openai_stream((0..1000).map(|i| format!("tok{i} ")))
        .frames()
        .to_vec();
    let bytes: usize = chunks.iter().map(|c| c.len()).sum();
    let events = sse_events(&chunks);
    let mut group = c.benchmark_group("decode_stream_1000_events");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("openai_codec_only", |b| {
        b.iter_batched(
            || openai.codec().stream_decoder(),
            |mut decoder| {
                let mut out = VecDeque::with_capacity(4);
                for event in &events {
                    decoder.decode(event, &mut out).unwrap();
                    out.clear();
                }
                assert!(decoder.is_done());
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("openai_sse_and_codec", |b| {
        b.iter_batched(
            || openai.codec().stream_decoder(),
            |decoder| decode_body(decoder, &chunks),
            BatchSize::SmallInput,
        )
    });
    let chunks = anthropic_stream_of(1000);
    let events = sse_events(&chunks);
    group.bench_function("anthropic_sse_and_codec", |b| {
        b.iter_batched(
            || anthropic.codec().stream_decoder(),
            |decoder| decode_body(decoder, &chunks),
            BatchSize::SmallInput,
        )
    });
    assert!(events.len() > 1000);
    group.finish();
    let _ = bytes;

    // Folding a reply with many distinct tool calls: linear in their number
    // (the time per call stays flat from 10 000 to 100 000 calls).
    let mut group = c.benchmark_group("fold_tool_calls");
    for calls in [10_000usize, 100_000] {
        let events: Vec<StreamEvent> = (0..calls)
            .flat_map(|index| {
                [
                    StreamEvent::ToolCallDelta {
                        index,
                        id: Some(format!("call_{index}")),
                        name: Some("f".into()),
                        arguments: "{\"a\"".into(),
                    },
                    StreamEvent::ToolCallDelta {
                        index,
                        id: None,
                        name: None,
                        arguments: ":1}".into(),
                    },
                ]
            })
            .collect();
        group.throughput(Throughput::Elements(calls as u64));
        group.bench_function(format!("{calls}_calls"), |b| {
            b.iter(|| {
                let mut acc = StreamAccumulator::new();
                for event in &events {
                    acc.push(event);
                }
                black_box(acc.finish())
            })
        });
    }
    group.finish();
}

/// Decodes a whole body as a provider does: framing, then the codec.
fn decode_body<D: StreamDecoder>(mut decoder: D, chunks: &[bytes::Bytes]) {
    let mut framer = D::Framer::with_max_frame_bytes(DEFAULT_MAX_EVENT_BYTES);
    let mut out = VecDeque::with_capacity(4);
    for chunk in chunks {
        framer.push(chunk);
        while let Some(event) = framer.next_frame().unwrap() {
            decoder.decode(&event, &mut out).unwrap();
            out.clear();
        }
    }
    assert!(decoder.is_done());
}

/// An Anthropic stream of `n` text deltas, framed as the Messages API streams them.
fn anthropic_stream_of(n: usize) -> Vec<bytes::Bytes> {
    let mut chunks = vec![
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n".to_string(),
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_string(),
    ];
    for i in 0..n {
        chunks.push(format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"tok{i} \"}}}}\n\n"
        ));
    }
    chunks.push(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n".to_string(),
    );
    chunks.push(format!(
        "event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}},\"usage\":{{\"output_tokens\":{n}}}}}\n\n"
    ));
    chunks.push("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_string());
    chunks.into_iter().map(bytes::Bytes::from).collect()
}

criterion_group!(codec, benches);
criterion_main!(codec);
