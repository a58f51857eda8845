//! A fake upstream LLM HTTP server for tests, examples and benchmarks.
//!
//! The integration tests (`tests/it/main.rs`) hold it as `mod support;`; an example
//! or bench includes it with `#[path = "../tests/it/support/mod.rs"] mod support;`.
//!
//! The server serves recorded fixtures from `tests/it/fixtures/` by default and can
//! be scripted with [`FakeUpstream::push`]. Every request is recorded.
//!
//! `calls` holds the helpers that call a service or a provider and read its reply.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use tokio::sync::{oneshot, Notify};

mod calls;

// Examples and benches include this module too and use none of these.
#[allow(unused_imports)]
pub use calls::{call, collect, complete, streamed, Collected};

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures");

/// Reads `tests/it/fixtures/{rel_path}` (panics with a helpful message if it is missing).
pub fn fixture_bytes(rel_path: &str) -> Bytes {
    let path = format!("{FIXTURE_DIR}/{}", rel_path.trim_start_matches('/'));
    match std::fs::read(&path) {
        Ok(data) => Bytes::from(data),
        Err(err) => panic!("cannot read fixture {path}: {err}"),
    }
}

/// A transport that answers every request at once, without a socket, with
/// `status`, `headers` and `body` sent in frames of `chunk` bytes.
pub fn canned(
    status: u16,
    headers: &[(&'static str, &'static str)],
    body: impl Into<Bytes>,
    chunk: usize,
) -> tower_ai::transport::Transport {
    let headers = headers.to_vec();
    let body: Bytes = body.into();
    tower_ai::transport::Transport::new(tower::service_fn(move |_request: http::Request<Bytes>| {
        let frames: Vec<Result<http_body::Frame<Bytes>, Infallible>> = body
            .chunks(chunk.max(1))
            .map(|c| Ok(http_body::Frame::data(body.slice_ref(c))))
            .collect();
        let mut response = http::Response::builder().status(status);
        for (name, value) in &headers {
            response = response.header(*name, *value);
        }
        let response = response
            .body(http_body_util::StreamBody::new(stream::iter(frames)))
            .unwrap();
        std::future::ready(Ok::<_, Infallible>(response))
    }))
}

/// Splits SSE bytes into events: each chunk ends with (and keeps) its blank line
/// (`"\n\n"`, also accepting `"\n\r\n"`). A trailing remainder without a blank line
/// becomes a final chunk; a remainder of only line breaks is appended to the
/// previous chunk, so that the concatenation of the chunks is always the input.
fn split_sse_events(data: &Bytes) -> Vec<Bytes> {
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

/// Builds an SSE body of `n` OpenAI `chat.completion.chunk` events (each a short
/// content delta), followed by a finish chunk, a usage chunk and `data: [DONE]`.
pub fn openai_stream_of(n: usize) -> Vec<Bytes> {
    const ID: &str = "chatcmpl-fake-stream";
    const MODEL: &str = "gpt-4o-mini-2024-07-18";
    const CREATED: u64 = 1_700_000_000;
    let event = |value: serde_json::Value| Bytes::from(format!("data: {value}\n\n"));
    let mut chunks = Vec::with_capacity(n + 3);
    for i in 0..n {
        let delta = if i == 0 {
            serde_json::json!({ "role": "assistant", "content": format!("tok{i} ") })
        } else {
            serde_json::json!({ "content": format!("tok{i} ") })
        };
        chunks.push(event(serde_json::json!({
            "id": ID,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "system_fingerprint": "fp_fake",
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": null }],
        })));
    }
    chunks.push(event(serde_json::json!({
        "id": ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "system_fingerprint": "fp_fake",
        "choices": [{ "index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop" }],
    })));
    chunks.push(event(serde_json::json!({
        "id": ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "system_fingerprint": "fp_fake",
        "choices": [],
        "usage": { "prompt_tokens": 10, "completion_tokens": n, "total_tokens": n + 10 },
    })));
    chunks.push(Bytes::from_static(b"data: [DONE]\n\n"));
    chunks
}

// ---------------------------------------------------------------------------
// Reply
// ---------------------------------------------------------------------------

/// A scripted reply of the fake upstream.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response with this status, extra headers and body
    /// (content-type application/json unless a header says otherwise).
    Status {
        /// HTTP status code.
        status: u16,
        /// Extra response headers.
        headers: Vec<(String, String)>,
        /// Response body.
        body: Bytes,
    },
    /// 200 with an SSE body (content-type text/event-stream) made of these chunks,
    /// sent as separate body frames, `delay` between chunks. When `cut_after` is
    /// `Some(k)`, only the first k chunks are sent and then the body ends cleanly.
    Sse {
        /// Body frames, in order.
        chunks: Vec<Bytes>,
        /// Pause between two chunks (not before the first).
        delay: Duration,
        /// Send only this many chunks, then end the body cleanly.
        cut_after: Option<usize>,
    },
    /// Wait this long, then answer with the inner reply.
    Delayed(Duration, Box<Reply>),
    /// 200, content-type application/json, body is not valid JSON.
    MalformedJson,
    /// 200 headers are sent, then the connection is aborted mid-body.
    DropConnection,
}

impl Reply {
    /// A `Status` reply with no extra headers.
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::Status {
            status,
            headers: Vec::new(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    /// A `Status` reply whose body is read from `tests/it/fixtures/{rel_path}`.
    pub fn fixture(status: u16, rel_path: &str) -> Reply {
        Reply::Status {
            status,
            headers: Vec::new(),
            body: fixture_bytes(rel_path),
        }
    }

    /// An SSE reply from a fixture file, one chunk per event (split at blank lines,
    /// each chunk keeps its trailing blank line). No delay, no cut.
    pub fn sse_fixture(rel_path: &str) -> Reply {
        Reply::Sse {
            chunks: split_sse_events(&fixture_bytes(rel_path)),
            delay: Duration::ZERO,
            cut_after: None,
        }
    }

    /// Same bytes as [`Reply::sse_fixture`], re-chunked into pieces of `size` bytes
    /// regardless of event boundaries.
    pub fn sse_fixture_chunked(rel_path: &str, size: usize) -> Reply {
        assert!(size > 0, "chunk size must be > 0");
        let data = fixture_bytes(rel_path);
        let chunks = (0..data.len())
            .step_by(size)
            .map(|start| data.slice(start..(start + size).min(data.len())))
            .collect();
        Reply::Sse {
            chunks,
            delay: Duration::ZERO,
            cut_after: None,
        }
    }

    /// Adds a response header (for `Status`, possibly inside `Delayed`; panics otherwise).
    pub fn with_header(self, name: &str, value: &str) -> Reply {
        match self {
            Reply::Status {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.to_owned(), value.to_owned()));
                Reply::Status {
                    status,
                    headers,
                    body,
                }
            }
            Reply::Delayed(d, inner) => Reply::Delayed(d, Box::new(inner.with_header(name, value))),
            other => panic!("Reply::with_header is only for Status replies, got {other:?}"),
        }
    }

    /// For `Sse`: sets the per-chunk delay. Otherwise: wraps in `Delayed`.
    pub fn with_delay(self, delay: Duration) -> Reply {
        match self {
            Reply::Sse {
                chunks, cut_after, ..
            } => Reply::Sse {
                chunks,
                delay,
                cut_after,
            },
            other => Reply::Delayed(delay, Box::new(other)),
        }
    }

    /// For `Sse` (possibly inside `Delayed`): send only the first `k` chunks, then
    /// end the body cleanly. Panics for other replies.
    pub fn cut_after(self, k: usize) -> Reply {
        match self {
            Reply::Sse { chunks, delay, .. } => Reply::Sse {
                chunks,
                delay,
                cut_after: Some(k),
            },
            Reply::Delayed(d, inner) => Reply::Delayed(d, Box::new(inner.cut_after(k))),
            other => panic!("Reply::cut_after is only for Sse replies, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Seen requests
// ---------------------------------------------------------------------------

/// A request received by the fake upstream.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// Request method.
    pub method: Method,
    /// Path and query string, e.g. `/openai/deployments/d/chat/completions?api-version=1`.
    pub path_and_query: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
}

impl SeenRequest {
    /// The body parsed as JSON (panics if it is not valid JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "request body is not JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header value as a string, if present and valid UTF-8/ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(path, _)| path)
    }
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

#[derive(Default)]
struct State {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<SeenRequest>>,
    disconnects: AtomicUsize,
    notify: Notify,
}

/// A fake upstream LLM server bound to `127.0.0.1` on a random port.
pub struct FakeUpstream {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl fmt::Debug for FakeUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeUpstream")
            .field("addr", &self.addr)
            .field("disconnects", &self.disconnects())
            .finish_non_exhaustive()
    }
}

impl FakeUpstream {
    /// Binds `127.0.0.1:0` and serves in a tokio task. Must be called inside a tokio runtime.
    pub async fn start() -> FakeUpstream {
        use axum::serve::ListenerExt;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake upstream");
        let addr = listener.local_addr().expect("fake upstream local addr");
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let state = Arc::new(State::default());
        let app = Router::new().fallback(handle).with_state(Arc::clone(&state));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        FakeUpstream {
            addr,
            state,
            shutdown: Some(tx),
        }
    }

    /// `"http://127.0.0.1:PORT"`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a scripted reply; replies are used in FIFO order, one per request,
    /// on any route (including unknown paths). When the queue is empty, each
    /// route answers with its default fixture.
    pub fn push(&self, reply: Reply) {
        self.state.replies.lock().unwrap().push_back(reply);
    }

    /// Every request seen so far, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Number of streamed responses whose body was dropped before it was fully sent.
    pub fn disconnects(&self) -> usize {
        self.state.disconnects.load(Ordering::SeqCst)
    }

    /// Waits until `disconnects() >= n` or `timeout` passes; returns whether it was reached.
    pub async fn wait_for_disconnects(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.disconnects() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.disconnects() >= n;
            }
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Chat,
    Embeddings,
    Messages,
}

fn route_of(path: &str) -> Option<Route> {
    match path {
        "/v1/chat/completions" => return Some(Route::Chat),
        "/v1/embeddings" => return Some(Route::Embeddings),
        "/v1/messages" => return Some(Route::Messages),
        _ => {}
    }
    let rest = path.strip_prefix("/openai/deployments/")?;
    let (deployment, tail) = rest.split_once('/')?;
    if deployment.is_empty() {
        return None;
    }
    match tail {
        "chat/completions" => Some(Route::Chat),
        "embeddings" => Some(Route::Embeddings),
        _ => None,
    }
}

fn is_stream_request(body: &Bytes) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

fn error_reply(status: u16, message: &str, kind: &str, code: &str) -> Reply {
    let body = serde_json::json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    });
    Reply::json(status, &body.to_string())
}

fn default_reply(method: &Method, path: &str, body: &Bytes) -> Reply {
    let Some(route) = route_of(path) else {
        return error_reply(
            404,
            &format!("Unknown request URL: {method} {path}."),
            "invalid_request_error",
            "unknown_url",
        );
    };
    if method != Method::POST {
        return error_reply(
            405,
            &format!("Method {method} not allowed for {path}."),
            "invalid_request_error",
            "method_not_allowed",
        );
    }
    match route {
        Route::Chat if is_stream_request(body) => Reply::sse_fixture("openai/stream_text.sse"),
        Route::Chat => Reply::fixture(200, "openai/chat_completion.json"),
        Route::Embeddings => Reply::fixture(200, "openai/embeddings.json"),
        Route::Messages if is_stream_request(body) => Reply::sse_fixture("anthropic/stream_text.sse"),
        Route::Messages => Reply::fixture(200, "anthropic/message.json"),
    }
}

async fn handle(AxumState(state): AxumState<Arc<State>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    state.requests.lock().unwrap().push(SeenRequest {
        method: parts.method.clone(),
        path_and_query,
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let scripted = state.replies.lock().unwrap().pop_front();
    let reply = match scripted {
        Some(reply) => reply,
        None => default_reply(&parts.method, parts.uri.path(), &body),
    };
    render(reply, &state).await
}

async fn render(mut reply: Reply, state: &Arc<State>) -> Response {
    while let Reply::Delayed(delay, inner) = reply {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    match reply {
        Reply::Delayed(..) => unreachable!("Delayed replies are unwrapped above"),
        Reply::Status {
            status,
            headers,
            body,
        } => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = StatusCode::from_u16(status).expect("valid status code");
            let map = response.headers_mut();
            for (name, value) in &headers {
                let name = HeaderName::from_bytes(name.as_bytes()).expect("valid header name");
                let value = HeaderValue::from_str(value).expect("valid header value");
                map.append(name, value);
            }
            if !map.contains_key(http::header::CONTENT_TYPE) {
                map.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            response
        }
        Reply::Sse {
            mut chunks,
            delay,
            cut_after,
        } => {
            if let Some(k) = cut_after {
                chunks.truncate(k);
            }
            let guard = DisconnectGuard {
                state: Arc::clone(state),
                finished: false,
            };
            let body = stream::unfold(
                (chunks.into_iter(), guard, true),
                move |(mut chunks, mut guard, first)| async move {
                    match chunks.next() {
                        Some(chunk) => {
                            if !first && !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            Some((Ok::<_, Infallible>(chunk), (chunks, guard, false)))
                        }
                        None => {
                            guard.disarm();
                            None
                        }
                    }
                },
            );
            Response::builder()
                .status(StatusCode::OK)
                .header(http::header::CONTENT_TYPE, "text/event-stream")
                .header(http::header::CACHE_CONTROL, "no-cache")
                .body(Body::from_stream(body))
                .expect("valid SSE response")
        }
        Reply::MalformedJson => Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                r#"{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"#,
            ))
            .expect("valid response"),
        Reply::DropConnection => {
            // One partial frame, then a pause (so hyper flushes headers and that
            // frame), then an error that makes hyper abort the connection.
            let body = stream::unfold(0u8, |step| async move {
                match step {
                    0 => Some((Ok(Bytes::from_static(b"{\"id\": \"chatcmpl-")), 1)),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Some((
                            Err(std::io::Error::new(
                                std::io::ErrorKind::ConnectionAborted,
                                "fake upstream dropped the connection",
                            )),
                            2,
                        ))
                    }
                    _ => None,
                }
            });
            Response::builder()
                .status(StatusCode::OK)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(body))
                .expect("valid response")
        }
    }
}

/// Counts a disconnect when an SSE body is dropped before yielding all its chunks.
struct DisconnectGuard {
    state: Arc<State>,
    finished: bool,
}

impl DisconnectGuard {
    /// The stream yielded all its chunks: dropping it is not a disconnect.
    fn disarm(&mut self) {
        self.finished = true;
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.state.disconnects.fetch_add(1, Ordering::SeqCst);
            self.state.notify.notify_waiters();
        }
    }
}
