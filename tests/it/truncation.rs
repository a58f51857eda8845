//! Untrusted bytes: every cut of a recorded reply, and damaged bodies, give a
//! typed error or a correct reply; never a panic, never a clean finish of a
//! cut stream.

use crate::support;

use bytes::Bytes;
use tower_ai::provider::anthropic::Anthropic;
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::Provider;
use tower_ai::types::ChatRequest;
use tower_ai::Error;

fn openai(body: Bytes) -> OpenAi {
    OpenAi::builder()
        .api_key("sk-test")
        .transport(support::canned(200, &[], body, usize::MAX))
        .build()
        .unwrap()
}

fn anthropic(body: Bytes) -> Anthropic {
    Anthropic::builder()
        .api_key("sk-ant-test")
        .transport(support::canned(200, &[], body, usize::MAX))
        .build()
        .unwrap()
}

/// Streams every prefix of `file` and checks that exactly the prefixes that
/// hold the vendor's terminal line finish; every other one ends in an error.
async fn every_cut_of<P: Provider>(file: &str, terminal: &str, provider: impl Fn(Bytes) -> P) {
    let whole = support::fixture_bytes(file);
    let request = ChatRequest::new("m").user("hi");
    let complete = support::streamed(&provider(whole.clone()), request.clone())
        .await
        .unwrap();
    for cut in 0..whole.len() {
        let prefix = whole.slice(..cut);
        let finished = String::from_utf8_lossy(&prefix).contains(terminal);
        let result = support::streamed(&provider(prefix), request.clone()).await;
        match result {
            Ok(reply) => {
                assert!(
                    finished,
                    "{file} cut at {cut} of {} finished cleanly",
                    whole.len()
                );
                assert_eq!(reply, complete, "{file} cut at {cut}");
            }
            Err(err) => {
                assert!(
                    !finished,
                    "{file} cut at {cut} failed after its terminal event: {err:?}"
                );
                assert!(
                    matches!(err, Error::StreamTruncated { .. } | Error::Decode { .. }),
                    "{file} cut at {cut}: {err:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_cut_of_an_openai_stream_is_an_error_until_done() {
    every_cut_of("openai/stream_text.sse", "data: [DONE]\n", openai).await;
    every_cut_of("openai/stream_tool_calls.sse", "data: [DONE]\n", openai).await;
}

#[tokio::test]
async fn every_cut_of_an_anthropic_stream_is_an_error_until_message_stop() {
    let terminal = "data: {\"type\":\"message_stop\"}\n";
    every_cut_of("anthropic/stream_text.sse", terminal, anthropic).await;
    every_cut_of("anthropic/stream_tool_use.sse", terminal, anthropic).await;
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
            let _ = openai(body).chat(request.clone()).await;
        }
    }
    for file in [
        "anthropic/message.json",
        "anthropic/message_tool_use.json",
        "anthropic/message_thinking.json",
    ] {
        for body in damaged(&support::fixture_bytes(file)) {
            let _ = anthropic(body).chat(request.clone()).await;
        }
    }
}

#[tokio::test]
async fn damaged_streams_never_panic() {
    let request = ChatRequest::new("m").user("hi");
    for file in ["openai/stream_tool_calls.sse", "openai/stream_text.sse"] {
        for body in damaged(&support::fixture_bytes(file)) {
            if let Ok(stream) = openai(body).chat_stream(request.clone()).await {
                let _ = stream.collect_response().await;
            }
        }
    }
    for file in ["anthropic/stream_tool_use.sse", "anthropic/stream_thinking.sse"] {
        for body in damaged(&support::fixture_bytes(file)) {
            if let Ok(stream) = anthropic(body).chat_stream(request.clone()).await {
                let _ = stream.collect_response().await;
            }
        }
    }
}
