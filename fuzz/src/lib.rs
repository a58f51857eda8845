//! What the fuzz targets share: an upstream that answers with the fuzz
//! input, cut into body frames of varied sizes, and the checks every
//! decoded reply, stream and error must pass.
//!
//! The targets go through the public API, as an application does: a
//! provider built with `.transport(...)` over a `tower::service_fn`, called
//! with `chat` / `chat_stream`.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::StreamExt;
use tower_ai::provider::anthropic::Anthropic;
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::{HttpProviderBuilder, Provider, DEFAULT_MAX_RETRY_AFTER};
use tower_ai::transport::Transport;
use tower_ai::types::{ChatRequest, ChatResponse, ChatStream, RequestMeta, StreamEvent};
use tower_ai::Error;

/// The API key the providers are built with; no error may show it.
pub const SECRET: &str = "sk-fuzz-7Hq2Lw9xK";

/// The vendor under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// OpenAI and the compatible servers.
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
}

/// One canned answer: status, headers, and the body in frames.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(&'static str, http::HeaderValue)>,
    /// The body frames, in order.
    pub frames: Vec<Bytes>,
}

impl Answer {
    /// A `status` answer with `body` cut into frames after `seed` (see [`frames`]).
    pub fn new(status: u16, body: &[u8], seed: u8) -> Self {
        Self {
            status,
            headers: Vec::new(),
            frames: frames(body, seed),
        }
    }

    /// Adds a header, if its value is a valid one.
    pub fn header(mut self, name: &'static str, value: &[u8]) -> Self {
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            self.headers.push((name, value));
        }
        self
    }
}

/// Cuts `body` into frames: whole when `seed` is 0, else frames of 1 to
/// `seed % 64 + 1` bytes drawn from a generator seeded with `seed`, so that
/// every split point is tried, line ends and UTF-8 sequences included.
pub fn frames(body: &[u8], seed: u8) -> Vec<Bytes> {
    let body = Bytes::copy_from_slice(body);
    if seed == 0 {
        return vec![body];
    }
    let max = usize::from(seed % 64) + 1;
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = (state as usize % max + 1).min(body.len() - at);
        out.push(body.slice(at..at + len));
        at += len;
    }
    out
}

/// A transport that answers every request with `answer`.
pub fn transport(answer: Answer) -> Transport {
    Transport::new(tower::service_fn(move |_request: http::Request<Bytes>| {
        let frames: Vec<Result<http_body::Frame<Bytes>, Infallible>> = answer
            .frames
            .iter()
            .cloned()
            .map(|f| Ok(http_body::Frame::data(f)))
            .collect();
        let mut response = http::Response::builder().status(answer.status);
        for (name, value) in &answer.headers {
            response = response.header(*name, value.clone());
        }
        let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
        std::future::ready(Ok::<_, Infallible>(
            response.body(body).expect("a valid response"),
        ))
    }))
}

/// A provider of `vendor` whose every request is answered with `answer`.
pub fn provider(vendor: Vendor, answer: Answer) -> Box<dyn Provider> {
    let transport = transport(answer);
    match vendor {
        Vendor::OpenAi => Box::new(
            OpenAi::builder()
                .api_key(SECRET)
                .transport(transport)
                .build()
                .expect("an OpenAI provider"),
        ),
        Vendor::Anthropic => Box::new(
            Anthropic::builder()
                .api_key(SECRET)
                .transport(transport)
                .build()
                .expect("an Anthropic provider"),
        ),
    }
}

/// Runs `future` to its end on this thread's runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
    }
    RUNTIME.with(|rt| rt.block_on(future))
}

/// A request to send.
pub fn request() -> ChatRequest {
    ChatRequest::new("fuzz-model").user("Hi")
}

/// A complete reply from `vendor` answered with `answer`.
pub fn chat(vendor: Vendor, answer: Answer) -> Result<ChatResponse, Error> {
    let provider = provider(vendor, answer);
    block_on(provider.chat(&request(), &RequestMeta::new()))
}

/// Whether `err` is one of the errors a decoder may give for a body: the
/// vendor's error (in a 2xx body or a stream), undecodable data, a body or an
/// event over its limit, or a stream cut short. Never an untyped error.
pub fn is_body_error(err: &Error) -> bool {
    err.api().is_some()
        || matches!(
            err,
            Error::Decode { .. }
                | Error::StreamTruncated { .. }
                | Error::EventTooLarge { .. }
                | Error::ResponseTooLarge { .. }
        )
}

/// What every error must be, whatever the body: its text shows no
/// credential, and a retry delay it carries is within the provider's limit.
pub fn check_error(err: &Error) {
    let shown = err.to_string();
    assert!(!shown.contains(SECRET), "the key leaked: {shown}");
    if let Some(api) = err.api() {
        assert!(!api.message.contains(SECRET), "the key leaked: {api:?}");
        assert!(
            !api.code.as_deref().unwrap_or_default().contains(SECRET),
            "the key leaked: {api:?}"
        );
    }
    if let Some(delay) = err.retry_after() {
        assert!(delay <= DEFAULT_MAX_RETRY_AFTER, "{delay:?} passes the limit");
    }
    let _ = (
        err.is_retryable(),
        err.is_fallback_candidate(),
        err.status(),
        err.kind(),
    );
}

/// Checks a complete reply's result: a typed body error, or a reply that
/// replays as a stream with the same text.
pub fn check_complete(result: Result<ChatResponse, Error>) {
    match result {
        Err(err) => {
            assert!(is_body_error(&err), "untyped error: {err:?}");
            check_error(&err);
        }
        Ok(reply) => {
            let text = reply.text();
            let replayed = block_on(ChatStream::from_response(&reply).collect_response())
                .expect("a reply replays as a stream");
            assert_eq!(replayed.text(), text, "the replay changed the text");
        }
    }
}

/// A streamed reply from `vendor` answered with `answer`, checked: a stream
/// that ends, with at most one `Start` and one `Finish`, whose only error is
/// a typed one and its last item; and its events fold into a reply. The
/// same body in one frame gives the same events and the same error.
pub fn check_stream(vendor: Vendor, answer: Answer) {
    let whole = Answer {
        frames: vec![answer.frames.concat().into()],
        ..answer.clone()
    };
    let split = stream_outcome(vendor, answer);
    if let Some(whole) = stream_outcome(vendor, whole) {
        assert_eq!(split, Some(whole), "the frame sizes changed the stream");
    }
}

/// What a stream gave: its events, and the kind of the error it ended with;
/// `None` when the call failed before the stream.
fn stream_outcome(vendor: Vendor, answer: Answer) -> Option<(Vec<StreamEvent>, Option<&'static str>)> {
    let body_len: usize = answer.frames.iter().map(Bytes::len).sum();
    let provider = provider(vendor, answer);
    let stream = match block_on(provider.chat_stream(&request(), &RequestMeta::new())) {
        Ok(stream) => stream,
        Err(err) => {
            assert!(is_body_error(&err), "untyped error: {err:?}");
            check_error(&err);
            return None;
        }
    };
    // A finite body gives a finite stream: no event is made of nothing, so
    // a generous bound on the events per byte holds.
    let bound = 16 * body_len + 64;
    let (events, error) = block_on(async move {
        let mut stream = stream;
        let mut events = Vec::new();
        let mut error = None;
        let (mut starts, mut finishes) = (0, 0);
        while let Some(item) = stream.next().await {
            assert!(
                events.len() <= bound,
                "the stream does not end ({body_len} bytes)"
            );
            match item {
                Ok(event) => {
                    match &event {
                        StreamEvent::Start { .. } => starts += 1,
                        StreamEvent::Finish { .. } => finishes += 1,
                        _ => {}
                    }
                    events.push(event);
                }
                Err(err) => {
                    assert!(is_body_error(&err), "untyped error: {err:?}");
                    check_error(&err);
                    assert!(stream.next().await.is_none(), "an item after the error");
                    error = Some(err.kind());
                    break;
                }
            }
        }
        assert!(starts <= 1, "{starts} Start events");
        assert!(finishes <= 1, "{finishes} Finish events");
        (events, error)
    });
    let folded = block_on(ChatStream::from_events(events.clone().into_iter().map(Ok)).collect_response());
    if let Err(err) = folded {
        assert!(matches!(err, Error::ResponseTooLarge { .. }), "{err:?}");
    }
    Some((events, error))
}

/// An error answer from `vendor`: `data[0]` picks the status (400 to 599),
/// `data[1]` whether a stream was asked for and which retry headers come;
/// the first line of the rest is the retry header's value, the rest the body.
pub fn check_error_answer(vendor: Vendor, data: &[u8]) {
    let [status, flags, rest @ ..] = data else {
        return;
    };
    let status = 400 + u16::from(*status) % 200;
    let (value, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(end) => (&rest[..end], &rest[end + 1..]),
        None => (&b""[..], rest),
    };
    let mut answer = Answer::new(status, body, flags >> 3);
    if flags & 1 != 0 {
        answer = answer.header("retry-after", value);
    }
    if flags & 2 != 0 {
        answer = answer.header("retry-after-ms", value);
    }
    if flags & 4 != 0 {
        answer = answer.header("content-type", b"application/json");
    }
    let stream = flags & 0x80 != 0;
    let provider = provider(vendor, answer);
    let err = block_on(async {
        if stream {
            provider.chat_stream(&request(), &RequestMeta::new()).await.err()
        } else {
            provider.chat(&request(), &RequestMeta::new()).await.err()
        }
    })
    .expect("an error status is an error");
    assert!(err.api().is_some(), "not a vendor error: {err:?}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(status), "{err:?}");
    check_error(&err);
}

/// The complete-reply target of `vendor`: the first byte picks the frame
/// sizes, the rest is a 200 JSON answer's body.
pub fn complete_target(vendor: Vendor, data: &[u8]) {
    let Some((seed, body)) = data.split_first() else {
        return;
    };
    let answer = Answer::new(200, body, *seed).header("content-type", b"application/json");
    check_complete(chat(vendor, answer));
}

/// The stream target of `vendor`: the first byte picks the frame sizes,
/// the second the content type (mostly an event stream, sometimes none or
/// JSON, which is replayed as a stream), the rest is a 200 answer's body.
pub fn stream_target(vendor: Vendor, data: &[u8]) {
    let [seed, kind, body @ ..] = data else {
        return;
    };
    let answer = Answer::new(200, body, *seed);
    let answer = match kind % 8 {
        6 => answer,
        7 => answer.header("content-type", b"application/json"),
        _ => answer.header("content-type", b"text/event-stream; charset=utf-8"),
    };
    check_stream(vendor, answer);
}

/// Reads cut points off the front of `data`: its first byte is how many (at
/// most `max`), the bytes after it the pieces' lengths (see [`split_text`]).
/// The cut bytes and the rest; `None` when `data` is too short.
pub fn take_cuts(data: &[u8], max: usize) -> Option<(&[u8], &[u8])> {
    let (count, rest) = data.split_first()?;
    let count = usize::from(*count) % (max + 1);
    (rest.len() >= count).then(|| rest.split_at(count))
}

/// Splits `text` into pieces whose lengths are the bytes of `cuts` (each
/// moved down to a character boundary, so a piece may be empty), and a
/// last piece with the rest. The pieces join into `text`.
pub fn split_text<'t>(text: &'t str, cuts: &[u8]) -> Vec<&'t str> {
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut at = 0;
    for len in cuts {
        let mut end = (at + usize::from(*len)).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        pieces.push(&text[at..end]);
        at = end;
    }
    pieces.push(&text[at..]);
    debug_assert_eq!(pieces.concat(), text);
    pieces
}
