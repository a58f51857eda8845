//! [`FakeUpstream`]: a real HTTP/1.1 server on 127.0.0.1 that answers like a vendor.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::scripted::{Disconnects, Scripted};
use super::wire;

/// A request the fake upstream received.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SeenRequest {
    /// The method.
    pub method: Method,
    /// The path and query string, e.g. `/openai/deployments/d/chat/completions?api-version=1`.
    pub path_and_query: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl SeenRequest {
    /// The body parsed as JSON.
    ///
    /// # Panics
    ///
    /// If the body is not JSON; the message shows the body.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "request body is not JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value, if present and visible ASCII. Names are case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The path, without the query string.
    pub fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(path, _)| path)
    }

    /// Whether the body asks for a stream (`"stream": true`).
    pub fn is_stream(&self) -> bool {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool))
            .unwrap_or(false)
    }
}

type Fallback = Arc<dyn Fn(&SeenRequest) -> Scripted + Send + Sync>;

struct State {
    replies: Mutex<VecDeque<Scripted>>,
    requests: Mutex<Vec<SeenRequest>>,
    disconnects: Arc<Disconnects>,
    fallback: Fallback,
}

impl State {
    fn replies(&self) -> MutexGuard<'_, VecDeque<Scripted>> {
        // A panic while holding the lock cannot leave the queue inconsistent.
        self.replies.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn requests(&self) -> MutexGuard<'_, Vec<SeenRequest>> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A fake LLM vendor: an HTTP/1.1 server bound to `127.0.0.1` on a free port,
/// answering from a queue of [`Scripted`] replies and recording every request.
///
/// Each request takes the next pushed reply, whatever its path; with the
/// queue empty, the server answers like the vendor the path names (see
/// [`default_reply`]), or with the fallback set on the
/// [`builder`](Self::builder). The server stops when the value is dropped.
///
/// ```
/// use tower_ai::testing::{FakeUpstream, Scripted};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let upstream = FakeUpstream::start().await;
/// upstream.push(Scripted::openai_error(429, "requests", "slow down"));
/// // A provider pointed at `format!("{}/v1", upstream.base_url())` now gets
/// // one 429, then the default replies.
/// assert!(upstream.base_url().starts_with("http://127.0.0.1:"));
/// assert!(upstream.requests().is_empty());
/// # }
/// ```
pub struct FakeUpstream {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl fmt::Debug for FakeUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeUpstream")
            .field("addr", &self.addr)
            .field("queued", &self.state.replies().len())
            .field("requests", &self.state.requests().len())
            .field("disconnects", &self.disconnects())
            .finish_non_exhaustive()
    }
}

/// Builds a [`FakeUpstream`] with a reply of its own for an empty queue.
#[must_use]
pub struct FakeUpstreamBuilder {
    fallback: Fallback,
}

impl fmt::Debug for FakeUpstreamBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeUpstreamBuilder").finish_non_exhaustive()
    }
}

impl FakeUpstreamBuilder {
    /// Answers `fallback(request)` whenever no pushed reply is left, in place
    /// of [`default_reply`].
    pub fn fallback(mut self, fallback: impl Fn(&SeenRequest) -> Scripted + Send + Sync + 'static) -> Self {
        self.fallback = Arc::new(fallback);
        self
    }

    /// Binds `127.0.0.1:0` and serves in a task of the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if no local port can be bound.
    pub async fn start(self) -> FakeUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake upstream to 127.0.0.1");
        let addr = listener.local_addr().expect("the fake upstream's address");
        let state = Arc::new(State {
            replies: Mutex::default(),
            requests: Mutex::default(),
            disconnects: Arc::default(),
            fallback: self.fallback,
        });
        let (shutdown, stop) = oneshot::channel();
        tokio::spawn(serve(listener, Arc::clone(&state), stop));
        FakeUpstream {
            addr,
            state,
            shutdown: Some(shutdown),
        }
    }
}

impl FakeUpstream {
    /// Starts a server with the default replies; see [`FakeUpstreamBuilder::start`].
    pub async fn start() -> FakeUpstream {
        Self::builder().start().await
    }

    /// A builder, to set the reply for an empty queue.
    pub fn builder() -> FakeUpstreamBuilder {
        FakeUpstreamBuilder {
            fallback: Arc::new(default_reply),
        }
    }

    /// `"http://127.0.0.1:PORT"`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a reply: replies are used in order, one per request, on any path.
    pub fn push(&self, reply: Scripted) -> &Self {
        self.state.replies().push_back(reply);
        self
    }

    /// How many pushed replies are still queued.
    pub fn queued(&self) -> usize {
        self.state.replies().len()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.state.requests().clone()
    }

    /// How many replies sent frame by frame lost their client before their
    /// last frame (the client dropped the stream, or timed out).
    pub fn disconnects(&self) -> usize {
        self.state.disconnects.count.load(Ordering::SeqCst)
    }

    /// Waits until [`disconnects`](Self::disconnects) reaches `n`, at most
    /// `timeout`; tells whether it did.
    pub async fn wait_for_disconnects(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.disconnects.notify.notified();
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

/// Accepts connections until `stop` fires (or its sender is dropped); the
/// connections end with it.
async fn serve(listener: TcpListener, state: Arc<State>, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                // Out of file descriptors, or the like: try again shortly.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let state = Arc::clone(&state);
        connections.spawn(async move {
            let service = service_fn(move |request| answer(Arc::clone(&state), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn answer(
    state: Arc<State>,
    request: http::Request<hyper::body::Incoming>,
) -> std::io::Result<http::Response<super::scripted::ScriptedBody>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
    let seen = SeenRequest {
        method: parts.method,
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        headers: parts.headers,
        body,
    };
    let scripted = state.replies().pop_front();
    let reply = scripted.unwrap_or_else(|| (state.fallback)(&seen));
    state.requests().push(seen);
    reply.render(Some(Arc::clone(&state.disconnects))).await
}

/// The paths the default replies know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Chat,
    Embeddings,
    Messages,
}

fn route_of(path: &str) -> Option<Route> {
    match path {
        "/v1/chat/completions" | "/chat/completions" => return Some(Route::Chat),
        "/v1/embeddings" | "/embeddings" => return Some(Route::Embeddings),
        "/v1/messages" => return Some(Route::Messages),
        _ => {}
    }
    let rest = path.strip_prefix("/openai/deployments/")?;
    let (deployment, tail) = rest.split_once('/')?;
    match tail {
        _ if deployment.is_empty() => None,
        "chat/completions" => Some(Route::Chat),
        "embeddings" => Some(Route::Embeddings),
        _ => None,
    }
}

/// The reply of a [`FakeUpstream`] whose queue is empty, chosen by the path.
///
/// | `POST` to | reply |
/// |---|---|
/// | `/v1/chat/completions`, `/chat/completions`, `/openai/deployments/{d}/chat/completions` | [`Scripted::openai_text`], or [`Scripted::openai_stream`] for `"stream": true` |
/// | `/v1/embeddings`, `/embeddings`, `/openai/deployments/{d}/embeddings` | [`Scripted::openai_embeddings`], one vector per input |
/// | `/v1/messages` | [`Scripted::anthropic_text`], or [`Scripted::anthropic_stream`] for `"stream": true` |
///
/// The text is `"Hello! How can I help you today?"` (complete) or
/// `"Hello! How can I help?"` (streamed). Another method is a 405, another
/// path a 404, both as OpenAI error objects.
pub fn default_reply(request: &SeenRequest) -> Scripted {
    let Some(route) = route_of(request.path()) else {
        let message = format!("Unknown request URL: {} {}.", request.method, request.path());
        return Scripted::openai_error(StatusCode::NOT_FOUND.as_u16(), "invalid_request_error", &message);
    };
    if request.method != Method::POST {
        let message = format!("Method {} not allowed for {}.", request.method, request.path());
        return Scripted::openai_error(405, "invalid_request_error", &message);
    }
    match route {
        Route::Chat if request.is_stream() => Scripted::openai_stream(wire::DEFAULT_PIECES),
        Route::Chat => Scripted::openai_text(wire::DEFAULT_TEXT),
        Route::Embeddings => {
            let inputs = serde_json::from_slice::<serde_json::Value>(&request.body)
                .ok()
                .and_then(|body| body.get("input")?.as_array().map(Vec::len))
                .unwrap_or(1);
            Scripted::openai_embeddings(inputs)
        }
        Route::Messages if request.is_stream() => Scripted::anthropic_stream(wire::DEFAULT_PIECES),
        Route::Messages => Scripted::anthropic_text(wire::DEFAULT_TEXT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(method: Method, path: &str, body: &str) -> SeenRequest {
        SeenRequest {
            method,
            path_and_query: path.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    #[test]
    fn the_default_reply_follows_the_path_the_method_and_the_stream_flag() {
        let status = |method, path| default_reply(&seen(method, path, "{}")).status().as_u16();
        assert_eq!(status(Method::POST, "/v1/chat/completions"), 200);
        assert_eq!(status(Method::POST, "/chat/completions?x=1"), 200);
        assert_eq!(status(Method::POST, "/openai/deployments/d/embeddings"), 200);
        assert_eq!(status(Method::POST, "/openai/deployments//embeddings"), 404);
        assert_eq!(status(Method::POST, "/v2/messages"), 404);
        assert_eq!(status(Method::GET, "/v1/messages"), 405);

        let stream = default_reply(&seen(Method::POST, "/v1/messages", r#"{"stream":true}"#));
        assert_eq!(stream.headers()["content-type"], "text/event-stream");
        let whole = default_reply(&seen(Method::POST, "/v1/messages", r#"{"stream":false}"#));
        assert_eq!(whole.headers()["content-type"], "application/json");
        let embeddings = default_reply(&seen(Method::POST, "/v1/embeddings", "not json"));
        let body: serde_json::Value = serde_json::from_slice(&embeddings.body()).unwrap();
        assert_eq!(body["data"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_seen_request_reads_its_path_headers_and_json() {
        let mut request = seen(
            Method::POST,
            "/v1/chat/completions?api-version=1",
            r#"{"stream":true}"#,
        );
        request
            .headers
            .insert("x-key", http::HeaderValue::from_static("v"));
        assert_eq!(request.path(), "/v1/chat/completions");
        assert_eq!(request.header("X-Key"), Some("v"));
        assert!(request.is_stream());
        assert_eq!(request.json()["stream"], true);
    }
}
