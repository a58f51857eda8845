//! The HTTP seam between codecs and the network.
//!
//! A provider never opens sockets itself: it hands an `http::Request<Bytes>`
//! to a [`Transport`]. Any tower service that answers
//! `http::Response<B: http_body::Body>` can be one: reqwest (the default), a
//! hyper-util client, or the application's own client wrapped in its own
//! tower-http layers.
//!
//! ```no_run
//! use tower::ServiceBuilder;
//! use tower_ai::provider::openai::OpenAi;
//! use tower_ai::provider::HttpProviderBuilder;
//! use tower_ai::transport::Transport;
//!
//! # fn main() -> Result<(), tower_ai::Error> {
//! // The application's own client, with its own layers.
//! let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
//!     .build_http::<http_body_util::Full<bytes::Bytes>>();
//! let client = ServiceBuilder::new()
//!     .map_request(|req: http::Request<bytes::Bytes>| req.map(http_body_util::Full::new))
//!     .service(client);
//!
//! let provider = OpenAi::builder()
//!     .api_key("sk-test")
//!     .base_url("http://127.0.0.1:8080/v1")
//!     .transport(Transport::new(client))
//!     .build()?;
//! # let _ = provider;
//! # Ok(())
//! # }
//! ```

mod framing;
mod sse;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures_util::FutureExt;
use http_body_util::BodyExt;
use tower::{Service, ServiceExt};

use crate::error::{BoxError, Error};

pub use framing::{Framer, NdjsonFramer};
pub use sse::{SseDecoder, SseEvent, DEFAULT_MAX_EVENT_BYTES};

/// The body of a response as providers read it: a boxed body of [`Bytes`].
pub type ResponseBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

type SendFuture = Pin<Box<dyn Future<Output = Result<http::Response<ResponseBody>, Error>> + Send>>;

trait DynTransport: Send + Sync {
    fn send(&self, request: http::Request<Bytes>) -> SendFuture;
}

struct ServiceTransport<S>(S);

/// A tower service that can carry a provider's requests: it takes
/// `http::Request<Bytes>` and answers `http::Response` with an [`HttpBody`],
/// its errors convert into [`BoxError`], and it is cheap to clone and
/// shareable across tasks. Implemented for every such service.
pub trait HttpService:
    Service<
        http::Request<Bytes>,
        Response = http::Response<Self::Body>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The body of its responses.
    type Body: HttpBody;
}

impl<S, B> HttpService for S
where
    S: Service<
            http::Request<Bytes>,
            Response = http::Response<B>,
            Error: Into<BoxError>,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static,
    B: HttpBody,
{
    type Body = B;
}

/// A response body a [`Transport`] can read: any `http_body::Body` whose
/// chunks are `Buf`s and whose errors convert into [`BoxError`]. Implemented
/// for every such body (reqwest's, hyper's, `http_body_util`'s).
pub trait HttpBody: http_body::Body<Data: Buf + Send, Error: Into<BoxError>> + Send + 'static {}

impl<B> HttpBody for B where B: http_body::Body<Data: Buf + Send, Error: Into<BoxError>> + Send + 'static {}

impl<S: HttpService> DynTransport for ServiceTransport<S> {
    fn send(&self, request: http::Request<Bytes>) -> SendFuture {
        // Cloning and then driving the clone to readiness is the pattern tower
        // documents for services shared behind `&self`.
        let service = self.0.clone();
        async move {
            let response = service
                .oneshot(request)
                .await
                .map_err(|e| transport_error(e.into()))?;
            Ok(response.map(|body| {
                body.map_frame(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining())))
                    .map_err(Into::into)
                    .boxed_unsync()
            }))
        }
        .boxed()
    }
}

/// Turns a transport failure into an [`Error`], keeping a typed error if the
/// transport (or a layer in it) raised one, and recognising time-outs.
fn transport_error(err: BoxError) -> Error {
    match crate::error::from_box_error(err) {
        Error::Other(err) => {
            #[cfg(feature = "reqwest")]
            if let Some(e) = err.downcast_ref::<reqwest::Error>() {
                if e.is_timeout() {
                    return Error::timeout(crate::error::TimeoutKind::Request, None);
                }
            }
            Error::Transport {
                provider: String::new(),
                host: String::new(),
                source: err,
            }
        }
        typed => typed,
    }
}

/// Why reading a reply's body failed, as the provider seam tells it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFailure {
    /// The body ended before it was complete: a chunked body without its
    /// last chunk, or fewer bytes than its `content-length`.
    Cut,
    /// The transport's read timeout fired.
    TimedOut,
    /// Anything else (a reset connection, a TLS failure, ...).
    Other,
}

/// Classifies a body error along its source chain. Transports word these
/// their own way: reqwest marks time-outs; hyper reports a cut as an
/// incomplete message or an early end of file; an `io::Error` has its kind.
pub(crate) fn classify_body_error(err: &(dyn std::error::Error + 'static)) -> BodyFailure {
    let mut next = Some(err);
    while let Some(err) = next {
        #[cfg(feature = "reqwest")]
        if let Some(e) = err.downcast_ref::<reqwest::Error>() {
            if e.is_timeout() {
                return BodyFailure::TimedOut;
            }
        }
        if err.is::<tokio::time::error::Elapsed>() || err.is::<tower::timeout::error::Elapsed>() {
            return BodyFailure::TimedOut;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::TimedOut => return BodyFailure::TimedOut,
                std::io::ErrorKind::UnexpectedEof => return BodyFailure::Cut,
                _ => {}
            }
        }
        let text = err.to_string().to_ascii_lowercase();
        if text.contains("incomplete message")
            || text.contains("end of file before message length reached")
            || text.contains("closed before message completed")
        {
            return BodyFailure::Cut;
        }
        next = err.source();
    }
    BodyFailure::Other
}

/// A cheap-to-clone HTTP client that providers send their requests through.
///
/// Build it from any tower service with [`Transport::new`], or use
/// `Transport::reqwest_default` for a reqwest client (feature `reqwest`).
///
/// Providers never follow a redirect themselves, and the default transport
/// follows none: an LLM API has no reason to send one, and following it
/// would re-send the credentials and the whole prompt to another host. A 3xx
/// answer becomes [`Error::Redirected`]. A transport given by the
/// application follows its own client's policy.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<dyn DynTransport>,
}

impl Transport {
    /// A transport from any tower HTTP service.
    ///
    /// The service is cloned for each request, as tower recommends for shared
    /// services, so it should be cheap to clone (clients are).
    pub fn new<S: HttpService>(service: S) -> Self {
        Self {
            inner: Arc::new(ServiceTransport(service)),
        }
    }

    /// A transport over a reqwest client.
    #[cfg(feature = "reqwest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    pub fn reqwest(client: reqwest::Client) -> Self {
        Self::new(ReqwestService(client))
    }

    /// Sends a request and returns the response head with its body unread.
    pub async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<ResponseBody>, Error> {
        self.inner.send(request).await
    }
}

#[cfg(feature = "reqwest")]
impl Transport {
    /// The default transport: a reqwest client that follows no redirect,
    /// with reqwest's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the client cannot be built (its TLS backend
    /// failed to start).
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    pub fn reqwest_default() -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::config_with("the default HTTP client could not be built", e))?;
        Ok(Self::reqwest(client))
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

/// Adapts a [`reqwest::Client`] to a tower service of `http` types.
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
#[derive(Debug, Clone)]
pub struct ReqwestService(pub reqwest::Client);

#[cfg(feature = "reqwest")]
impl Service<http::Request<Bytes>> for ReqwestService {
    type Response = http::Response<reqwest::Body>;
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Bytes>) -> Self::Future {
        let client = self.0.clone();
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            Ok(http::Response::from(response))
        })
    }
}
