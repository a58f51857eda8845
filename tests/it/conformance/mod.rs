//! The vendor conformance kit: the checks every provider passes on its recorded
//! fixtures.
//!
//! A vendor describes itself once, in a [`Vendor`]: how to build its provider
//! against an [`Endpoint`], the fixture files of a complete reply, a streamed
//! one, tool calls (complete and streamed) and its error bodies, and what those
//! fixtures hold. `conformance_tests!(VENDOR)` then writes one `#[tokio::test]`
//! per check into the calling module. The vendors are `openai.rs` and
//! `anthropic.rs`; a new vendor is one more file of the same shape.
//!
//! The checks go through `ProviderService` to the fake upstream server (over
//! the crate's reqwest transport when the `reqwest` feature is on, over a
//! hyper-util client otherwise), except the byte-by-byte cuts, which call the
//! provider over a canned transport.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use tower_ai::provider::{Provider, ProviderService};
use tower_ai::transport::Transport;
use tower_ai::types::{ChatRequest, ChatResponse, FinishReason, StreamEvent};
use tower_ai::Error;
use tower_ai::{LlmRequest, ReplyMode};

use crate::support::{self, call, collect, complete, json_fixture, sse_fixture};
use tower_ai::testing::{canned, FakeUpstream, Scripted};
use tower_ai::types::RequestMeta;

#[cfg(feature = "anthropic")]
pub(crate) mod anthropic;
#[cfg(feature = "openai")]
pub(crate) mod openai;

/// Where a provider under test sends its requests.
pub(crate) struct Endpoint {
    /// The server root, `http://127.0.0.1:PORT` (a vendor adds its own path, such as `/v1`).
    pub(crate) base_url: String,
    /// The transport to build the provider with; `None` keeps the provider's default.
    pub(crate) transport: Option<Transport>,
}

impl Endpoint {
    /// The fake upstream server, over the transport the kit uses (see the module docs).
    pub(crate) fn upstream(up: &FakeUpstream) -> Self {
        Endpoint {
            base_url: up.base_url(),
            transport: default_transport(),
        }
    }

    /// No server: every request is answered at once with `status` and `body`.
    pub(crate) fn canned(status: u16, headers: &[(&'static str, &'static str)], body: Bytes) -> Self {
        // No content type, as the fixtures carry none: the body alone decides.
        let mut reply = Scripted::raw(status, "", body);
        for (name, value) in headers {
            reply = reply.with_header(name, value);
        }
        Endpoint {
            base_url: "http://canned.invalid".to_owned(),
            transport: Some(canned(reply)),
        }
    }
}

#[cfg(feature = "reqwest")]
fn default_transport() -> Option<Transport> {
    None
}

#[cfg(not(feature = "reqwest"))]
fn default_transport() -> Option<Transport> {
    use http_body_util::Full;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let service = tower::ServiceBuilder::new()
        .map_request(|request: http::Request<Bytes>| request.map(Full::new))
        .service(client);
    Some(Transport::new(service))
}

/// One vendor, as the kit sees it. Fixture names are relative to `tests/it/fixtures/`.
pub(crate) struct Vendor<P> {
    /// The provider's name, as its errors carry it.
    pub(crate) name: &'static str,
    /// The API key `provider` builds with; it must never show in `Debug` or `Display`.
    pub(crate) api_key: &'static str,
    /// The header the key is sent in, and what comes before the key in it.
    pub(crate) key_header: (&'static str, &'static str),
    /// Builds the provider against an endpoint, with `api_key`.
    pub(crate) provider: fn(Endpoint) -> P,
    /// A model name for the requests.
    pub(crate) model: &'static str,
    /// A complete text reply, finished with a stop.
    pub(crate) complete: &'static str,
    /// A streamed text reply, finished with a stop.
    pub(crate) stream: &'static str,
    /// A complete reply with the tool calls in `calls`.
    pub(crate) tool_calls: &'static str,
    /// A streamed reply with the tool calls in `calls`.
    pub(crate) stream_tool_calls: &'static str,
    /// The response header the vendor puts its id for the request in.
    pub(crate) request_id_header: &'static str,
    /// The line that ends a finished stream: a stream cut before it is an error.
    pub(crate) terminal: &'static str,
    /// The text of `complete`.
    pub(crate) complete_text: &'static str,
    /// The (input, output) tokens of `complete`.
    pub(crate) complete_usage: (u64, u64),
    /// The text of `stream`.
    pub(crate) stream_text: &'static str,
    /// The (input, output) tokens of `stream`.
    pub(crate) stream_usage: (u64, u64),
    /// A streamed reply with what vendors repeat (a start, a finish, a
    /// usage report whose last figure is smaller): one start, one finish,
    /// the text `"Hi there"`, and the last usage, (9, 3).
    pub(crate) stream_repeats: &'static str,
    /// The tool calls of `tool_calls` and `stream_tool_calls`, in order.
    pub(crate) calls: &'static [Call],
    /// The error bodies.
    pub(crate) errors: Errors,
}

/// An expected tool call.
pub(crate) struct Call {
    /// The tool's name.
    pub(crate) name: &'static str,
    /// The arguments, as JSON text (compared as JSON values).
    pub(crate) arguments: &'static str,
}

/// A vendor's error bodies; the kit serves each with the status that goes with it.
pub(crate) struct Errors {
    /// 429, served with `retry-after: 7`: `RateLimited`, retry after 7 s.
    pub(crate) rate_limited: &'static str,
    /// 401: `Authentication`.
    pub(crate) authentication: &'static str,
    /// 400: `InvalidRequest`.
    pub(crate) invalid_request: &'static str,
    /// 400 naming the context length: `ContextLengthExceeded`.
    pub(crate) context_length: &'static str,
    /// 500: `Server`.
    pub(crate) server: &'static str,
    /// The statuses the vendor answers when overloaded (503, 529), with their bodies: `Overloaded`.
    pub(crate) overloaded: &'static [(u16, &'static str)],
}

/// Writes one `#[tokio::test]` per conformance check for `$vendor` (a `Vendor` constant).
macro_rules! conformance_tests {
    ($vendor:expr) => {
        #[tokio::test]
        async fn complete_reply() {
            $crate::conformance::complete_reply(&$vendor).await;
        }

        #[tokio::test]
        async fn streamed_reply() {
            $crate::conformance::streamed_reply(&$vendor).await;
        }

        #[tokio::test]
        async fn tool_calls() {
            $crate::conformance::tool_calls(&$vendor).await;
        }

        #[tokio::test]
        async fn any_chunking_decodes_the_same() {
            $crate::conformance::any_chunking_decodes_the_same(&$vendor).await;
        }

        #[tokio::test]
        async fn http_errors_are_typed() {
            $crate::conformance::http_errors_are_typed(&$vendor).await;
        }

        #[tokio::test]
        async fn cut_streams_are_errors() {
            $crate::conformance::cut_streams_are_errors(&$vendor).await;
        }

        #[tokio::test]
        async fn every_byte_cut_of_the_streams() {
            $crate::conformance::every_byte_cut_of_the_streams(&$vendor).await;
        }

        #[tokio::test]
        async fn malformed_bodies_and_dropped_connections_are_errors() {
            $crate::conformance::malformed_bodies_and_dropped_connections_are_errors(&$vendor).await;
        }

        #[tokio::test]
        async fn dropping_a_stream_closes_the_upstream_request() {
            $crate::conformance::dropping_a_stream_closes_the_upstream_request(&$vendor).await;
        }

        #[tokio::test]
        async fn the_call_context_reaches_the_upstream() {
            $crate::conformance::the_call_context_reaches_the_upstream(&$vendor).await;
        }

        #[tokio::test]
        async fn repeated_starts_finishes_and_usage_reports_fold_to_one_reply() {
            $crate::conformance::repeated_starts_finishes_and_usage_reports_fold_to_one_reply(&$vendor).await;
        }

        #[tokio::test]
        async fn the_upstream_request_id_is_kept() {
            $crate::conformance::the_upstream_request_id_is_kept(&$vendor).await;
        }

        #[tokio::test]
        async fn the_api_key_never_shows() {
            $crate::conformance::the_api_key_never_shows(&$vendor).await;
        }
    };
}

pub(crate) use conformance_tests;

impl<P: Provider> Vendor<P> {
    fn service(&self, up: &FakeUpstream) -> ProviderService {
        ProviderService::new((self.provider)(Endpoint::upstream(up)))
    }

    fn request(&self) -> ChatRequest {
        ChatRequest::new(self.model).system("Be brief.").user("Hello")
    }

    fn stream_request(&self) -> LlmRequest {
        LlmRequest::stream(self.request())
    }

    /// Panics if the API key, or its last six characters, shows in `value`'s `Debug`.
    fn assert_hidden_debug(&self, what: &str, value: &impl fmt::Debug) {
        self.assert_hidden_in(what, &format!("{value:?} {value:#?}"));
    }

    /// Panics if the API key shows in the error's `Display` or `Debug`.
    fn assert_hidden(&self, err: &Error) {
        self.assert_hidden_in("an error", &format!("{err} {err:?} {err:#?}"));
    }

    fn assert_hidden_in(&self, what: &str, text: &str) {
        let tail = &self.api_key[self.api_key.len().saturating_sub(6)..];
        assert!(
            !text.contains(self.api_key) && !text.contains(tail),
            "{}: the API key shows in {what}: {text}",
            self.name
        );
    }
}

/// The usage of a reply: present and non-zero, and equal to `expected` when given.
fn assert_usage(reply: &ChatResponse, expected: Option<(u64, u64)>) {
    let usage = reply.usage.unwrap_or_else(|| panic!("no usage: {reply:?}"));
    assert!(
        usage.input_tokens > 0 && usage.output_tokens > 0,
        "empty usage: {usage:?}"
    );
    if let Some(expected) = expected {
        assert_eq!((usage.input_tokens, usage.output_tokens), expected, "{reply:?}");
    }
}

/// The SSE events of a fixture, one chunk each, as the fake upstream sends them.
fn sse_events(file: &str) -> Vec<Bytes> {
    support::sse_fixture_events(file)
}

/// A complete reply: text, stop, usage; the request did not ask for a stream.
pub(crate) async fn complete_reply<P: Provider>(v: &Vendor<P>) {
    let up = FakeUpstream::start().await;
    up.push(json_fixture(200, v.complete));
    let mut service = v.service(&up);
    let response = call(&mut service, v.request()).await.unwrap();
    assert!(!response.is_stream());
    let reply = response.into_complete().await.unwrap();
    assert_eq!(reply.text(), v.complete_text);
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    assert!(!reply.id.is_empty() && !reply.model.is_empty(), "{reply:?}");
    assert_usage(&reply, Some(v.complete_usage));
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert_ne!(seen[0].json()["stream"], true);
}

/// A streamed reply: one Start (first) and one Finish, no error; the events fold to
/// the reply `into_complete` gives for the same stream; text, stop, usage.
pub(crate) async fn streamed_reply<P: Provider>(v: &Vendor<P>) {
    let up = FakeUpstream::start().await;
    up.push(sse_fixture(v.stream));
    up.push(sse_fixture(v.stream));
    let mut service = v.service(&up);

    let response = call(&mut service, v.stream_request()).await.unwrap();
    assert!(response.is_stream());
    let got = support::Collected::read(response.into_stream()).await;
    assert!(got.error.is_none(), "{got:?}");
    assert!(
        matches!(got.events.first(), Some(StreamEvent::Start { .. })),
        "{got:?}"
    );
    assert_eq!((got.starts(), got.finishes()), (1, 1), "{got:?}");
    let folded = got.fold();
    let whole = complete(&mut service, v.stream_request()).await.unwrap();
    assert_eq!(folded, whole);

    assert_eq!(whole.text(), v.stream_text);
    assert_eq!(whole.finish_reason, Some(FinishReason::Stop));
    assert!(!whole.id.is_empty() && !whole.model.is_empty(), "{whole:?}");
    assert_usage(&whole, Some(v.stream_usage));
    for seen in up.requests() {
        assert_eq!(seen.json()["stream"], true);
    }
}

/// Tool calls, complete and streamed: the expected names in order, distinct ids,
/// arguments that parse as the expected JSON; finish on tool calls; usage.
pub(crate) async fn tool_calls<P: Provider>(v: &Vendor<P>) {
    let up = FakeUpstream::start().await;
    up.push(json_fixture(200, v.tool_calls));
    up.push(sse_fixture(v.stream_tool_calls));
    let mut service = v.service(&up);

    let whole = complete(&mut service, v.request()).await.unwrap();
    let got = collect(&mut service, v.stream_request()).await.unwrap();
    assert!(got.error.is_none(), "{got:?}");
    assert_eq!((got.starts(), got.finishes()), (1, 1), "{got:?}");
    let streamed = got.fold();

    for reply in [&whole, &streamed] {
        assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls), "{reply:?}");
        let calls: Vec<_> = reply.tool_calls().collect();
        assert_eq!(calls.len(), v.calls.len(), "{reply:?}");
        let ids: HashSet<&str> = calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), calls.len(), "tool call ids are distinct: {calls:?}");
        for (call, expected) in calls.iter().zip(v.calls) {
            assert!(!call.id.is_empty(), "{call:?}");
            assert_eq!(call.name, expected.name);
            let arguments = call
                .arguments_json()
                .unwrap_or_else(|err| panic!("arguments are not JSON ({err}): {call:?}"));
            let want: serde_json::Value = serde_json::from_str(expected.arguments).unwrap();
            assert_eq!(arguments, want, "{call:?}");
        }
        assert_usage(reply, None);
    }
}

/// The streams, sent in frames of 1, 7 and 64 bytes, decode as when sent one event a frame.
pub(crate) async fn any_chunking_decodes_the_same<P: Provider>(v: &Vendor<P>) {
    let up = FakeUpstream::start().await;
    let mut service = v.service(&up);
    for file in [v.stream, v.stream_tool_calls] {
        up.push(sse_fixture(file));
        let reference = complete(&mut service, v.stream_request()).await.unwrap();
        for size in [1, 7, 64] {
            up.push(sse_fixture(file).chunked(size));
            let reply = complete(&mut service, v.stream_request()).await.unwrap();
            assert_eq!(reply, reference, "{file} in frames of {size} bytes");
        }
    }
}

/// Each error status, complete and streamed, is its typed error, with the status,
/// the provider's name and (for 429) the retry-after.
pub(crate) async fn http_errors_are_typed<P: Provider>(v: &Vendor<P>) {
    // (status, body, the error's kind)
    let bodies = &v.errors;
    let mut cases = vec![
        (429, bodies.rate_limited, "rate_limited"),
        (401, bodies.authentication, "authentication"),
        (400, bodies.invalid_request, "invalid_request"),
        (400, bodies.context_length, "context_length_exceeded"),
        (500, bodies.server, "server"),
    ];
    for &(status, file) in bodies.overloaded {
        cases.push((status, file, "overloaded"));
    }

    let up = FakeUpstream::start().await;
    let mut service = v.service(&up);
    for (status, file, kind) in cases {
        for stream in [false, true] {
            let reply = json_fixture(status, file);
            up.push(if status == 429 {
                reply.with_header("retry-after", "7")
            } else {
                reply
            });
            let mode = if stream {
                ReplyMode::Stream
            } else {
                ReplyMode::Complete
            };
            let request = LlmRequest::new(v.request()).with_mode(mode);
            let err = match call(&mut service, request).await {
                Err(err) => err,
                Ok(response) => response.into_complete().await.unwrap_err(),
            };
            let what = format!("{file} with {status} (stream: {stream})");
            assert_eq!(err.kind(), kind, "{what}: {err:?}");
            assert_eq!(err.status().map(|s| s.as_u16()), Some(status), "{what}: {err:?}");
            assert_eq!(err.provider(), Some(v.name), "{what}: {err:?}");
            let retryable = matches!(status, 429 | 500..);
            assert_eq!(err.is_retryable(), retryable, "{what}: {err:?}");
            if status == 429 {
                assert_eq!(err.retry_after(), Some(Duration::from_secs(7)), "{what}");
            }
            v.assert_hidden(&err);
        }
    }
}

/// A stream cut after each of its events (the connection then closes cleanly) ends
/// in `StreamTruncated` or `Decode` after a prefix of the full stream's events,
/// unless the events sent hold the terminal line: then it is the full stream.
pub(crate) async fn cut_streams_are_errors<P: Provider>(v: &Vendor<P>) {
    let up = FakeUpstream::start().await;
    let mut service = v.service(&up);
    for file in [v.stream, v.stream_tool_calls] {
        up.push(sse_fixture(file));
        let full = collect(&mut service, v.stream_request()).await.unwrap();
        assert!(full.error.is_none(), "{full:?}");
        let events = sse_events(file);
        for cut in 0..=events.len() {
            let sent: Vec<u8> = events[..cut].concat();
            let finished = String::from_utf8_lossy(&sent).contains(v.terminal);
            up.push(sse_fixture(file).cut_after(cut));
            let got = match collect(&mut service, v.stream_request()).await {
                Ok(got) => got,
                Err(err) => support::Collected {
                    events: Vec::new(),
                    error: Some(err),
                },
            };
            let what = format!("{file} cut after {cut} of {} events", events.len());
            match &got.error {
                None => {
                    assert!(finished, "{what} finished cleanly: {got:?}");
                    assert_eq!(got.events, full.events, "{what}");
                }
                Some(err) => {
                    assert!(!finished, "{what} failed after its terminal line: {err:?}");
                    assert!(
                        matches!(err, Error::StreamTruncated { .. } | Error::Decode { .. }),
                        "{what}: {err:?}"
                    );
                    assert!(
                        full.events.starts_with(&got.events),
                        "{what}: the events before the error are not the stream's first ones: {got:?}"
                    );
                    v.assert_hidden(err);
                }
            }
        }
    }
}

/// Every byte prefix of the recorded streams, over a canned transport: see [`every_cut_of`].
pub(crate) async fn every_byte_cut_of_the_streams<P: Provider>(v: &Vendor<P>) {
    for file in [v.stream, v.stream_tool_calls] {
        let errors = every_cut_of(file, v.terminal, |body| {
            (v.provider)(Endpoint::canned(200, &[], body))
        })
        .await;
        for err in &errors {
            v.assert_hidden(err);
        }
    }
}

/// A body that is not JSON is a `Decode` error; a connection dropped mid-body is a
/// `Transport` error, or a retryable error for a stream.
pub(crate) async fn malformed_bodies_and_dropped_connections_are_errors<P: Provider>(v: &Vendor<P>) {
    let up = FakeUpstream::start().await;
    up.push(Scripted::json(
        200,
        r#"{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"#,
    ));
    up.push(Scripted::json(200, r#"{"id": "chatcmpl-"#).abort_after(1));
    up.push(Scripted::json(200, r#"{"id": "chatcmpl-"#).abort_after(1));
    let mut service = v.service(&up);

    let err = call(&mut service, v.request()).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    v.assert_hidden(&err);

    let err = call(&mut service, v.request()).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    v.assert_hidden(&err);

    let err = match call(&mut service, v.stream_request()).await {
        Err(err) => err,
        Ok(response) => response.into_complete().await.unwrap_err(),
    };
    assert!(err.is_retryable(), "{err:?}");
    v.assert_hidden(&err);
}

/// Dropping a stream after its first event closes the request to the upstream.
pub(crate) async fn dropping_a_stream_closes_the_upstream_request<P: Provider>(v: &Vendor<P>) {
    let up = FakeUpstream::start().await;
    up.push(sse_fixture(v.stream).with_event_delay(Duration::from_millis(50)));
    let mut service = v.service(&up);
    let mut stream = call(&mut service, v.stream_request())
        .await
        .unwrap()
        .into_stream();
    let first = futures_util::StreamExt::next(&mut stream).await.unwrap().unwrap();
    assert!(matches!(first, StreamEvent::Start { .. }), "{first:?}");
    drop(stream);
    assert!(up.wait_for_disconnects(1, Duration::from_secs(5)).await);
}

/// The API key shows neither in the provider's nor in the service's `Debug`, nor in
/// any error body's error, complete or streamed (the other checks look at every
/// error they meet).
pub(crate) async fn the_api_key_never_shows<P: Provider>(v: &Vendor<P>) {
    let up = FakeUpstream::start().await;
    let provider = (v.provider)(Endpoint::upstream(&up));
    v.assert_hidden_debug("the provider", &provider);
    let service = ProviderService::new(provider);
    v.assert_hidden_debug("the service", &service);

    let e = &v.errors;
    let mut bodies = vec![
        (429, e.rate_limited),
        (401, e.authentication),
        (400, e.invalid_request),
        (400, e.context_length),
        (500, e.server),
    ];
    bodies.extend(e.overloaded.iter().copied());
    for (status, file) in bodies {
        let provider = (v.provider)(Endpoint::canned(status, &[], support::fixture_bytes(file)));
        let err = provider
            .chat(&v.request(), &RequestMeta::new())
            .await
            .unwrap_err();
        v.assert_hidden(&err);
        let err = support::streamed(&provider, v.request()).await.unwrap_err();
        v.assert_hidden(&err);
    }
}

/// Streams every byte prefix of `file` from a provider built by `provider` and
/// checks that exactly the prefixes that hold the vendor's `terminal` line finish,
/// with the whole stream's reply; every other one ends in `StreamTruncated` or
/// `Decode`, never a panic. Returns the errors, for further checks.
pub(crate) async fn every_cut_of<P: Provider>(
    file: &str,
    terminal: &str,
    provider: impl Fn(Bytes) -> P,
) -> Vec<Error> {
    let whole = support::fixture_bytes(file);
    let request = ChatRequest::new("m").user("hi");
    let complete = support::streamed(&provider(whole.clone()), request.clone())
        .await
        .unwrap();
    let mut errors = Vec::new();
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
                errors.push(err);
            }
        }
    }
    errors
}

/// The call's context on the wire: a credential given for one call replaces
/// the provider's key for that call only; the request id and the call's own
/// headers go upstream.
pub(crate) async fn the_call_context_reaches_the_upstream<P: Provider>(v: &Vendor<P>) {
    let up = FakeUpstream::start().await;
    up.push(json_fixture(200, v.complete));
    up.push(json_fixture(200, v.complete));
    let mut service = v.service(&up);
    let byok = LlmRequest::new(v.request())
        .with_credential("sk-tenant-0c4f2a")
        .with_header("x-trace-tag", "t-1")
        .unwrap();
    let id = byok.meta.id.clone();
    complete(&mut service, byok).await.unwrap();
    complete(&mut service, LlmRequest::new(v.request()))
        .await
        .unwrap();

    let seen = up.requests();
    let (header, prefix) = v.key_header;
    assert_eq!(
        seen[0].header(header),
        Some(format!("{prefix}sk-tenant-0c4f2a").as_str())
    );
    assert_eq!(seen[0].header("x-request-id"), Some(id.as_str()));
    assert_eq!(seen[0].header("x-trace-tag"), Some("t-1"));
    assert_eq!(
        seen[1].header(header),
        Some(format!("{prefix}{}", v.api_key).as_str())
    );
    assert_eq!(seen[1].header("x-trace-tag"), None);
    assert_ne!(seen[1].header("x-request-id"), Some(id.as_str()));
}

/// The vendor's id for the request (a response header) is kept on a
/// successful reply, complete and streamed: in `ServedBy`, in the complete
/// reply, on the stream and in the reply folded from it.
pub(crate) async fn repeated_starts_finishes_and_usage_reports_fold_to_one_reply<P: Provider>(v: &Vendor<P>) {
    let up = FakeUpstream::start().await;
    up.push(sse_fixture(v.stream_repeats));
    let mut service = v.service(&up);
    let got = collect(&mut service, v.stream_request()).await.unwrap();
    assert!(got.error.is_none(), "{got:?}");
    assert_eq!((got.starts(), got.finishes()), (1, 1), "{got:?}");
    let reply = got.fold();
    assert_eq!(reply.text(), "Hi there");
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    // Usage reports are cumulative: the last one is kept, even when smaller.
    assert_usage(&reply, Some((9, 3)));
}

pub(crate) async fn the_upstream_request_id_is_kept<P: Provider>(v: &Vendor<P>) {
    let up = FakeUpstream::start().await;
    up.push(json_fixture(200, v.complete).with_header(v.request_id_header, "req_complete_1"));
    up.push(
        json_fixture(200, v.stream)
            .with_header("content-type", "text/event-stream")
            .with_header(v.request_id_header, "req_stream_2"),
    );
    up.push(json_fixture(200, v.complete));
    let mut service = v.service(&up);

    let response = call(&mut service, v.request()).await.unwrap();
    let served = response.extensions.get::<tower_ai::ServedBy>().unwrap();
    assert_eq!(served.upstream_request_id.as_deref(), Some("req_complete_1"));
    let reply = response.into_complete().await.unwrap();
    assert_eq!(reply.upstream_request_id.as_deref(), Some("req_complete_1"));

    let response = call(&mut service, v.stream_request()).await.unwrap();
    let served = response.extensions.get::<tower_ai::ServedBy>().unwrap();
    assert_eq!(served.upstream_request_id.as_deref(), Some("req_stream_2"));
    let stream = response.into_stream();
    assert_eq!(stream.upstream_request_id(), Some("req_stream_2"));
    let reply = stream.collect_response().await.unwrap();
    assert_eq!(reply.upstream_request_id.as_deref(), Some("req_stream_2"));

    let response = call(&mut service, v.request()).await.unwrap();
    let served = response.extensions.get::<tower_ai::ServedBy>().unwrap();
    assert_eq!(served.upstream_request_id, None, "none sent, none made up");
}
