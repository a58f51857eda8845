//! Untrusted bytes: every cut of a recorded reply, and damaged bodies, give a
//! typed error or a correct reply; never a panic, never a clean finish of a
//! cut stream.

use bytes::Bytes;
use tower_ai::provider::anthropic::Anthropic;
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::Provider;
use tower_ai::types::ChatRequest;

use crate::conformance::{anthropic as anthropic_vendor, every_cut_of, openai as openai_vendor, Endpoint};
use crate::support;
use tower_ai::types::RequestMeta;

fn openai(body: Bytes) -> OpenAi {
    openai_vendor::provider(Endpoint::canned(200, &[], body))
}

fn anthropic(body: Bytes) -> Anthropic {
    anthropic_vendor::provider(Endpoint::canned(200, &[], body))
}

// Every cut of each vendor's text and tool-call streams is a conformance check
// (`conformance::*::every_byte_cut_of_the_streams`); the thinking stream is Anthropic's own.
#[tokio::test]
async fn every_cut_of_an_anthropic_thinking_stream_is_an_error_until_message_stop() {
    let terminal = anthropic_vendor::VENDOR.terminal;
    every_cut_of("anthropic/stream_thinking.sse", terminal, anthropic).await;
}

/// Deterministic damage: truncations and byte flips of complete replies.
fn damaged(body: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    for cut in (0..body.len()).step_by(7) {
        out.push(body.slice(..cut));
    }
    let mut state: u32 = 0x9e37_79b9;
    for _ in 0..200 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let mut bytes = body.to_vec();
        let at = state as usize % bytes.len();
        bytes[at] = (state >> 8) as u8;
        out.push(bytes.into());
    }
    out
}

#[tokio::test]
async fn damaged_complete_replies_never_panic() {
    let request = ChatRequest::new("m").user("hi");
    for file in [
        "openai/chat_completion.json",
        "openai/chat_completion_tool_calls.json",
        "openai/chat_completion_reasoning.json",
    ] {
        for body in damaged(&support::fixture_bytes(file)) {
            let _ = openai(body).chat(&request.clone(), &RequestMeta::new()).await;
        }
    }
    for file in [
        "anthropic/message.json",
        "anthropic/message_tool_use.json",
        "anthropic/message_thinking.json",
    ] {
        for body in damaged(&support::fixture_bytes(file)) {
            let _ = anthropic(body).chat(&request.clone(), &RequestMeta::new()).await;
        }
    }
}

#[tokio::test]
async fn damaged_streams_never_panic() {
    let request = ChatRequest::new("m").user("hi");
    for file in ["openai/stream_tool_calls.sse", "openai/stream_text.sse"] {
        for body in damaged(&support::fixture_bytes(file)) {
            if let Ok(stream) = openai(body)
                .chat_stream(&request.clone(), &RequestMeta::new())
                .await
            {
                let _ = stream.collect_response().await;
            }
        }
    }
    for file in ["anthropic/stream_tool_use.sse", "anthropic/stream_thinking.sse"] {
        for body in damaged(&support::fixture_bytes(file)) {
            if let Ok(stream) = anthropic(body)
                .chat_stream(&request.clone(), &RequestMeta::new())
                .await
            {
                let _ = stream.collect_response().await;
            }
        }
    }
}
