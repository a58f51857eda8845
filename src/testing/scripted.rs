//! [`Scripted`]: one reply of a fake upstream, as it goes on the wire.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use tokio::sync::Notify;

use super::wire;

/// The body of a scripted reply.
pub(crate) type ScriptedBody = UnsyncBoxBody<Bytes, io::Error>;

/// How long a reply that aborts its connection waits after its last frame,
/// so that the frames reach the client before the connection goes.
const ABORT_FLUSH: Duration = Duration::from_millis(20);

/// One scripted reply: a status, headers and a body sent as one or several
/// frames, with the timing and the ending a test asks for.
///
/// Build one with a constructor (raw: [`json`](Self::json), [`raw`](Self::raw),
/// [`sse`](Self::sse), [`sse_bytes`](Self::sse_bytes),
/// [`sse_frames`](Self::sse_frames), [`close`](Self::close); in a vendor's
/// shape: [`openai_text`](Self::openai_text),
/// [`anthropic_stream`](Self::anthropic_stream), ...), then change it with
/// the modifiers: [`with_header`](Self::with_header),
/// [`with_retry_after`](Self::with_retry_after),
/// [`with_latency`](Self::with_latency) (before the head),
/// [`with_event_delay`](Self::with_event_delay) (between frames),
/// [`chunked`](Self::chunked), [`cut_after`](Self::cut_after) (the body ends
/// early but cleanly) and [`abort_after`](Self::abort_after) (the connection
/// breaks mid-body).
///
/// A reply made of one frame, with no delay and no early end, is sent with a
/// `content-length`; any other is sent frame by frame (chunked transfer
/// encoding), each frame flushed on its own.
///
/// ```
/// use std::time::Duration;
/// use tower_ai::testing::Scripted;
///
/// let reply = Scripted::openai_stream(["Hel", "lo"])
///     .with_latency(Duration::from_millis(5))
///     .with_event_delay(Duration::from_millis(1))
///     .cut_after(2);
/// assert_eq!(reply.status(), 200);
/// assert_eq!(reply.frames().len(), 6); // role, 2 pieces, finish, usage, [DONE]
/// ```
#[derive(Clone)]
pub struct Scripted {
    close: bool,
    status: StatusCode,
    headers: HeaderMap,
    frames: Vec<Bytes>,
    streamed: bool,
    latency: Duration,
    event_delay: Duration,
    end: End,
}

/// How the body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// After every frame.
    Whole,
    /// Cleanly, after this many frames.
    Cut(usize),
    /// With a broken connection, after this many frames.
    Abort(usize),
}

impl fmt::Debug for Scripted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Scripted");
        if self.close {
            d.field("close", &true);
        } else {
            d.field("status", &self.status.as_u16())
                .field("headers", &self.headers)
                .field("frames", &self.frames.len())
                .field("bytes", &self.frames.iter().map(Bytes::len).sum::<usize>());
        }
        d.field("latency", &self.latency)
            .field("event_delay", &self.event_delay)
            .field("end", &self.end)
            .finish()
    }
}

impl Scripted {
    fn new(status: u16, content_type: &str, frames: Vec<Bytes>, streamed: bool) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or_else(|_| panic!("invalid HTTP status {status}"));
        let mut headers = HeaderMap::new();
        if !content_type.is_empty() {
            headers.insert(CONTENT_TYPE, header_value(content_type));
        }
        Scripted {
            close: false,
            status,
            headers,
            frames,
            streamed,
            latency: Duration::ZERO,
            event_delay: Duration::ZERO,
            end: End::Whole,
        }
    }

    /// A reply with this status and body, `content-type: application/json`.
    /// The body is sent as is, valid JSON or not.
    ///
    /// # Panics
    ///
    /// If `status` is not between 100 and 999.
    pub fn json(status: u16, body: impl AsRef<[u8]>) -> Self {
        Self::raw(status, "application/json", body)
    }

    /// A reply with this status, content type and body; an empty
    /// `content_type` sends none, as some servers do.
    ///
    /// # Panics
    ///
    /// If `status` is not between 100 and 999, or `content_type` is not a
    /// valid header value.
    pub fn raw(status: u16, content_type: &str, body: impl AsRef<[u8]>) -> Self {
        let body = Bytes::copy_from_slice(body.as_ref());
        Self::new(status, content_type, vec![body], false)
    }

    /// A 200 `text/event-stream` reply with one event per item, each item
    /// the event's data (`data: {item}`, one `data:` line per line of the item).
    pub fn sse<I>(events: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let frames: Vec<Bytes> = events
            .into_iter()
            .map(|data| {
                let mut event = String::new();
                for line in data.as_ref().split('\n') {
                    event.push_str("data: ");
                    event.push_str(line);
                    event.push('\n');
                }
                event.push('\n');
                Bytes::from(event)
            })
            .collect();
        Self::sse_frames(frames)
    }

    /// A 200 `text/event-stream` reply of this raw SSE body, sent one event
    /// (up to and with its blank line) per frame.
    pub fn sse_bytes(body: impl Into<Bytes>) -> Self {
        Self::sse_frames(wire::split_sse_events(&body.into()))
    }

    /// A 200 `text/event-stream` reply sent as exactly these frames, whatever
    /// they hold (half an event, several events, comments).
    pub fn sse_frames<I>(frames: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Bytes>,
    {
        let mut reply = Self::new(
            200,
            "text/event-stream",
            frames.into_iter().map(Into::into).collect(),
            true,
        );
        reply
            .headers
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        reply
    }

    /// No reply at all: the connection is closed once the request is read
    /// (after the latency, if any). The client sees a connection error.
    pub fn close() -> Self {
        let mut reply = Self::new(200, "application/json", Vec::new(), false);
        reply.close = true;
        reply
    }

    /// A 200 OpenAI `chat.completion` whose message is `text`.
    pub fn openai_text(text: &str) -> Self {
        Self::json(200, wire::openai_completion(text))
    }

    /// A 200 OpenAI stream of `chat.completion.chunk` events: a role chunk,
    /// one content chunk per piece, a chunk with `finish_reason: "stop"`, a
    /// usage chunk (as with `stream_options.include_usage`) and `data: [DONE]`.
    pub fn openai_stream<I>(pieces: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let pieces: Vec<I::Item> = pieces.into_iter().collect();
        Self::sse_frames(wire::openai_stream_events(&pieces))
    }

    /// A 200 OpenAI `chat.completion` that calls these tools, in parallel,
    /// with these arguments (ids `call_fake_0`, `call_fake_1`, ...),
    /// `finish_reason: "tool_calls"`.
    pub fn openai_tool_calls<I, N>(calls: I) -> Self
    where
        I: IntoIterator<Item = (N, serde_json::Value)>,
        N: Into<String>,
    {
        let calls: Vec<(String, serde_json::Value)> = calls.into_iter().map(|(n, a)| (n.into(), a)).collect();
        Self::json(200, wire::openai_tool_calls(&calls))
    }

    /// An OpenAI error: `{"error": {"message", "type", "param": null, "code": null}}`
    /// with this status. Add a `code` with [`json`](Self::json) where a test
    /// needs one.
    pub fn openai_error(status: u16, kind: &str, message: &str) -> Self {
        Self::json(status, wire::openai_error(kind, message))
    }

    /// A 200 OpenAI embeddings `list` with `inputs` vectors of 8 dimensions.
    pub fn openai_embeddings(inputs: usize) -> Self {
        Self::json(200, wire::openai_embeddings(inputs))
    }

    /// A 200 Anthropic `message` with one text block holding `text`.
    pub fn anthropic_text(text: &str) -> Self {
        Self::json(200, wire::anthropic_message(text))
    }

    /// A 200 Anthropic `message` that calls these tools with these inputs
    /// (`tool_use` blocks, ids `toolu_fake_0`, ...), `stop_reason: "tool_use"`.
    pub fn anthropic_tool_calls<I, N>(calls: I) -> Self
    where
        I: IntoIterator<Item = (N, serde_json::Value)>,
        N: Into<String>,
    {
        let calls: Vec<(String, serde_json::Value)> = calls.into_iter().map(|(n, a)| (n.into(), a)).collect();
        Self::json(200, wire::anthropic_tool_calls(&calls))
    }

    /// A 200 Anthropic stream: `message_start`, a text block with one
    /// `text_delta` per piece (and a `ping`), `message_delta` with the stop
    /// reason and usage, `message_stop`.
    pub fn anthropic_stream<I>(pieces: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let pieces: Vec<I::Item> = pieces.into_iter().collect();
        Self::sse_frames(wire::anthropic_stream_events(&pieces))
    }

    /// An Anthropic error: `{"type": "error", "error": {"type", "message"}}`
    /// with this status (`rate_limit_error` with 429, `overloaded_error`
    /// with 529, ...).
    pub fn anthropic_error(status: u16, kind: &str, message: &str) -> Self {
        Self::json(status, wire::anthropic_error(kind, message))
    }

    /// Adds a response header (a second value of the same name is added, not
    /// replaced; `content-type` replaces the reply's own).
    ///
    /// # Panics
    ///
    /// If `name` or `value` is not valid in an HTTP header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|_| panic!("invalid header name {name:?}"));
        if name == CONTENT_TYPE {
            self.headers.insert(name, header_value(value));
        } else {
            self.headers.append(name, header_value(value));
        }
        self
    }

    /// Adds `retry-after` in whole seconds (rounded up).
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        self.headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        self
    }

    /// Waits this long before sending the reply's head (or closing).
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Waits this long between two frames of the body (not before the first).
    #[must_use]
    pub fn with_event_delay(mut self, delay: Duration) -> Self {
        self.event_delay = delay;
        self.streamed = true;
        self
    }

    /// Sends the body in frames of `size` bytes (at least 1), whatever the
    /// event boundaries: a test of a decoder that must join split events.
    #[must_use]
    pub fn chunked(mut self, size: usize) -> Self {
        let size = size.max(1);
        let body = self.body();
        self.frames = body.chunks(size).map(|c| body.slice_ref(c)).collect();
        self.streamed = true;
        self
    }

    /// Sends only the first `frames` frames, then ends the body cleanly: a
    /// stream that stops before the vendor's end marker (`[DONE]`,
    /// `message_stop`), as when a proxy gives up.
    #[must_use]
    pub fn cut_after(mut self, frames: usize) -> Self {
        self.end = End::Cut(frames);
        self.streamed = true;
        self
    }

    /// Sends only the first `frames` frames, then breaks the connection: the
    /// client's body read fails.
    #[must_use]
    pub fn abort_after(mut self, frames: usize) -> Self {
        self.end = End::Abort(frames);
        self.streamed = true;
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The frames of the body, in order (all of them, even those a cut or an
    /// abort leaves unsent).
    pub fn frames(&self) -> &[Bytes] {
        &self.frames
    }

    /// The whole body: the frames joined.
    pub fn body(&self) -> Bytes {
        match self.frames.as_slice() {
            [one] => one.clone(),
            frames => Bytes::from(frames.concat()),
        }
    }

    /// The latency before the head.
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// Waits the latency, then gives the response, or an error where the
    /// connection must close without one. `watch` counts the body dropped
    /// before its end.
    pub(crate) async fn render(
        self,
        watch: Option<Arc<Disconnects>>,
    ) -> io::Result<http::Response<ScriptedBody>> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if self.close {
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "scripted close"));
        }
        let mut response = http::Response::new(self.render_body(watch));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        Ok(response)
    }

    fn render_body(&self, watch: Option<Arc<Disconnects>>) -> ScriptedBody {
        if !self.streamed {
            return Full::new(self.body())
                .map_err(|never: Infallible| match never {})
                .boxed_unsync();
        }
        let mut frames = self.frames.clone();
        let abort = match self.end {
            End::Whole => false,
            End::Cut(n) => {
                frames.truncate(n);
                false
            }
            End::Abort(n) => {
                frames.truncate(n);
                true
            }
        };
        let delay = self.event_delay;
        let guard = DropGuard { watch, armed: true };
        let state = (frames.into_iter(), guard, true);
        let body = stream::unfold(state, move |(mut frames, mut guard, first)| async move {
            match frames.next() {
                Some(frame) => {
                    if !first && !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Some((Ok(http_body::Frame::data(frame)), (frames, guard, false)))
                }
                None if abort && guard.armed => {
                    guard.disarm();
                    tokio::time::sleep(ABORT_FLUSH).await;
                    let error = io::Error::new(io::ErrorKind::ConnectionAborted, "scripted abort");
                    Some((Err(error), (frames, guard, false)))
                }
                None => {
                    guard.disarm();
                    None
                }
            }
        });
        StreamBody::new(body).boxed_unsync()
    }
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| panic!("invalid header value {value:?}"))
}

/// How many bodies were dropped before their end, and a wake-up for those
/// waiting on the count.
#[derive(Debug, Default)]
pub(crate) struct Disconnects {
    pub(crate) count: AtomicUsize,
    pub(crate) notify: Notify,
}

/// Counts a disconnect when a body is dropped before its end.
struct DropGuard {
    watch: Option<Arc<Disconnects>>,
    armed: bool,
}

impl DropGuard {
    /// The body reached its scripted end: dropping it now is no disconnect.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let (true, Some(watch)) = (self.armed, &self.watch) {
            watch.count.fetch_add(1, Ordering::SeqCst);
            watch.notify.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(reply: Scripted) -> (StatusCode, HeaderMap, Vec<Bytes>, Option<io::Error>) {
        let response = reply.render(None).await.expect("a response");
        let (parts, mut body) = response.into_parts();
        let mut frames = Vec::new();
        let mut error = None;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => frames.extend(frame.into_data().ok()),
                Err(err) => {
                    error = Some(err);
                    break;
                }
            }
        }
        (parts.status, parts.headers, frames, error)
    }

    #[test]
    fn headers_add_and_the_content_type_replaces() {
        let reply = Scripted::json(200, "{}")
            .with_header("x-a", "1")
            .with_header("x-a", "2")
            .with_header("Content-Type", "text/plain")
            .with_retry_after(Duration::from_secs(2));
        let values: Vec<_> = reply.headers().get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(reply.headers()[CONTENT_TYPE], "text/plain");
        assert_eq!(reply.headers()[RETRY_AFTER], "2");
        let rounded = Scripted::json(429, "{}").with_retry_after(Duration::from_millis(2_001));
        assert_eq!(rounded.headers()[RETRY_AFTER], "3");
        assert!(Scripted::raw(200, "", "x").headers().is_empty());
    }

    #[tokio::test]
    async fn a_whole_reply_is_one_frame_and_a_cut_one_stops_early() {
        let (status, _, frames, error) = read(Scripted::json(201, "{\"a\":1}")).await;
        assert_eq!((status.as_u16(), frames.len(), error.is_none()), (201, 1, true));

        let reply = Scripted::sse(["1", "2", "3"]);
        let (_, headers, frames, error) = read(reply.clone().cut_after(2)).await;
        assert_eq!(headers[CONTENT_TYPE], "text/event-stream");
        assert_eq!(frames, reply.frames()[..2]);
        assert!(error.is_none());

        let (_, _, frames, error) = read(reply.clone().chunked(4)).await;
        assert!(frames.iter().all(|f| f.len() <= 4));
        assert_eq!(frames.concat(), reply.body());
        assert!(error.is_none());
    }

    #[tokio::test]
    async fn an_aborted_reply_fails_after_its_frames_and_a_closed_one_has_no_head() {
        let reply = Scripted::sse(["1", "2", "3"]).abort_after(1);
        let (_, _, frames, error) = read(reply).await;
        assert_eq!(frames.len(), 1);
        assert_eq!(error.unwrap().kind(), io::ErrorKind::ConnectionAborted);

        assert!(Scripted::close().render(None).await.is_err());
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_counts_once() {
        let watch = Arc::new(Disconnects::default());
        let reply = Scripted::sse(["1", "2"]);
        let response = reply.clone().render(Some(Arc::clone(&watch))).await.unwrap();
        let mut body = response.into_body();
        assert!(body.frame().await.is_some());
        drop(body);
        assert_eq!(watch.count.load(Ordering::SeqCst), 1);

        // Read to its end, or cut by the script, it is no disconnect.
        for reply in [reply.clone(), reply.cut_after(1)] {
            let mut body = reply.render(Some(Arc::clone(&watch))).await.unwrap().into_body();
            while body.frame().await.is_some() {}
            drop(body);
        }
        assert_eq!(watch.count.load(Ordering::SeqCst), 1);
    }
}
