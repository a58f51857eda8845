//! The guardrail layer on a streamed reply: a `GuardrailLayer` with a
//! `PiiGuard` (cards masked, a deny-listed word refused, the rest as
//! placeholders) over a `MockProvider`. The first input byte picks the
//! stream window (8 to 64 bytes), then cut points (see `take_cuts`), then
//! the reply's text (read as UTF-8, invalid bytes replaced), streamed in
//! deltas cut there. Unless a finding is longer than the window (which may
//! be passed on in part, as `stream_window` says, and so may a token the
//! high-entropy scan reads), the caller reads the same
//! text as when the same layer streams the text as one delta, or both end
//! with the same kind of error;
//! a stream ends with `Finish` exactly when it ends without an error.
#![no_main]

use std::sync::LazyLock;

use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt};
use tower_ai::guardrail::detect::{Detector, EntityKind};
use tower_ai::guardrail::{GuardrailLayer, PiiGuard, Redaction};
use tower_ai::provider::mock::{MockProvider, MockReply};
use tower_ai::provider::ProviderService;
use tower_ai::types::{ChatRequest, StreamEvent};
use tower_ai::LlmRequest;
use tower_ai_fuzz::{block_on, split_text, take_cuts};

static DETECTOR: LazyLock<Detector> = LazyLock::new(|| {
    Detector::builder()
        .deny_list("CODENAME", ["bluebird"])
        .expect("a deny list")
        .build()
        .expect("a detector")
});

/// A prompt with an address and a key, so that the vault holds
/// `<EMAIL_1>` and `<OPENAI_KEY_1>` for the reply to be restored from.
fn prompt() -> ChatRequest {
    ChatRequest::new("m").user("Mail ana.lima@example.com, key sk-proj-Zx8Q2mR7vT4kL9pW3nB6yH1cF5dJ0sA2.")
}

/// What the caller reads of a reply streamed as `pieces` through the layer
/// with `window`: the text, and the kind of the error it ended with.
fn outcome(window: usize, pieces: &[&str]) -> (String, Option<&'static str>) {
    let mock = MockProvider::new().push(MockReply::text_stream(pieces));
    let guard = PiiGuard::new(DETECTOR.clone())
        .action(EntityKind::Card, Redaction::Mask)
        .action(EntityKind::DenyListed("CODENAME".into()), Redaction::Block);
    let service = GuardrailLayer::new()
        .guard(guard)
        .stream_window(window)
        .layer(ProviderService::new(mock));
    block_on(async move {
        let response = service
            .oneshot(LlmRequest::stream(prompt()))
            .await
            .expect("the request passes");
        let mut stream = response.into_stream();
        let (mut text, mut error, mut finished) = (String::new(), None, false);
        while let Some(item) = stream.next().await {
            assert!(error.is_none(), "an item after the error");
            match item {
                Ok(StreamEvent::TextDelta { text: delta }) => {
                    assert!(!finished, "text after Finish");
                    text.push_str(&delta);
                }
                Ok(StreamEvent::Finish { .. }) => {
                    assert!(!finished, "two Finish events");
                    finished = true;
                }
                Ok(_) => {}
                Err(err) => error = Some(err.kind()),
            }
        }
        assert_eq!(finished, error.is_none(), "Finish and an error: {error:?}");
        (text, error)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((window, rest)) = data.split_first() else {
        return;
    };
    let window = 8 + usize::from(*window % 57);
    let Some((cuts, rest)) = take_cuts(rest, 32) else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let pieces = split_text(&text, cuts);
    let split = outcome(window, &pieces);
    let whole = outcome(window, &[&text]);
    // A finding longer than the window may be passed on in part before it
    // is whole (as `stream_window` says), so the text may differ then.
    if DETECTOR.find(&text).iter().any(|f| f.range.len() > window) {
        return;
    }
    // So may a run of the high-entropy scan's alphabet longer than the
    // window (from its 24-byte minimum on): a part of a token may score over
    // the threshold where the whole does not, or the other way round.
    let token_byte = |c: char| c.is_ascii_alphanumeric() || "+/_-=".contains(c);
    if text.split(|c: char| !token_byte(c)).any(|run| run.len() >= 24 && run.len() > window) {
        return;
    }
    match (&split.1, &whole.1) {
        (None, None) => assert_eq!(split.0, whole.0, "window {window}, cut into {pieces:?}"),
        _ => assert_eq!(
            split.1, whole.1,
            "window {window}, cut into {pieces:?}: {split:?} vs {whole:?}"
        ),
    }
});
