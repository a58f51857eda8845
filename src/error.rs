//! The one error type of the crate.
//!
//! Every layer and provider answers with [`Error`]. Its predicates tell a caller
//! (or a retrying router) what happened without matching on every variant:
//!
//! ```
//! use std::time::Duration;
//! use tower_ai::{ApiError, Error};
//!
//! let err = Error::RateLimited(
//!     ApiError::new("openai", "slow down")
//!         .with_status(429)
//!         .with_retry_after(Duration::from_secs(20))
//!         .into(),
//! );
//! assert!(err.is_retryable());
//! assert_eq!(err.retry_after(), Some(Duration::from_secs(20)));
//! assert_eq!(err.status(), Some(http::StatusCode::TOO_MANY_REQUESTS));
//! ```

use std::fmt;
use std::time::Duration;

/// A type-erased error, used only at generic boundaries (transports, user hooks).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an upstream API said when it refused a request.
///
/// Carried by the variants of [`Error`] that come from a provider's answer.
/// It never holds credentials: codecs build it from the response only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The provider that answered, for example `"openai"` or `"anthropic"`.
    pub provider: String,
    /// The HTTP status of the answer, when there was one.
    pub status: Option<u16>,
    /// The vendor's error type or code, for example `"rate_limit_error"` or `"context_length_exceeded"`.
    pub code: Option<String>,
    /// The vendor's human-readable message.
    pub message: String,
    /// How long the vendor asked the caller to wait before retrying.
    pub retry_after: Option<Duration>,
    /// The vendor's request id, when it sent one (useful in support tickets).
    pub request_id: Option<String>,
}

impl ApiError {
    /// An error from `provider` with a message and nothing else.
    pub fn new(provider: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            status: None,
            code: None,
            message: message.into(),
            retry_after: None,
            request_id: None,
        }
    }

    /// Sets the HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets the vendor's error code.
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the delay the vendor asked for.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Sets the vendor's request id.
    #[must_use]
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.provider)?;
        if let Some(status) = self.status {
            write!(f, " ({status})")?;
        }
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Everything that can go wrong on the way to a model and back.
///
/// The vendor's details are boxed, so the error stays small (a `Result`
/// carrying it costs little to move) and `Error::RateLimited(api.into())`
/// builds one from an [`ApiError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The provider rate-limited the caller (HTTP 429). Retryable, often with a delay.
    #[error("rate limited by {0}")]
    RateLimited(Box<ApiError>),
    /// The provider is temporarily overloaded (Anthropic 529, HTTP 503). Retryable.
    #[error("provider overloaded: {0}")]
    Overloaded(Box<ApiError>),
    /// The provider failed on its side (HTTP 5xx). Retryable.
    #[error("provider server error: {0}")]
    Server(Box<ApiError>),
    /// The credentials were missing or refused (HTTP 401, 403).
    #[error("authentication failed: {0}")]
    Authentication(Box<ApiError>),
    /// The request was refused as invalid (HTTP 400, 404, 413, 422).
    #[error("invalid request: {0}")]
    InvalidRequest(Box<ApiError>),
    /// The prompt does not fit the model's context window.
    #[error("context length exceeded: {0}")]
    ContextLengthExceeded(Box<ApiError>),
    /// The provider's content filter blocked the prompt or the reply.
    #[error("content filtered: {0}")]
    ContentFiltered(Box<ApiError>),
    /// The provider's answer could not be understood (malformed JSON, unknown shape).
    #[error("could not decode the {provider} response: {message}")]
    Decode {
        /// The provider whose answer was malformed.
        provider: String,
        /// What was wrong with it.
        message: String,
    },
    /// A stream ended before its terminal event: the reply is incomplete.
    #[error("the {provider} stream ended before it finished")]
    StreamTruncated {
        /// The provider whose stream was cut.
        provider: String,
    },
    /// A stream sent an event larger than the configured limit.
    #[error("a stream event exceeded the limit of {limit} bytes")]
    EventTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A complete response body exceeded the configured limit.
    #[error("the response body exceeded the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The provider does not support what the request asked for.
    #[error("{provider} does not support {feature}")]
    Unsupported {
        /// The provider.
        provider: String,
        /// The feature that is missing.
        feature: String,
    },
    /// The request could not be built: bad configuration or input that no provider could accept.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The request timed out.
    #[error("request timed out")]
    Timeout,
    /// The HTTP transport failed (connection refused, reset, TLS, body read).
    #[error("transport error: {0}")]
    Transport(#[source] BoxError),
    /// An error raised by a user-supplied layer or hook.
    #[error(transparent)]
    Other(BoxError),
}

impl Error {
    /// Whether sending the same request again (possibly elsewhere) may succeed.
    ///
    /// True for rate limits, overload, server errors, time-outs, transport
    /// failures and streams cut before their end.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::RateLimited(_)
                | Error::Overloaded(_)
                | Error::Server(_)
                | Error::Timeout
                | Error::Transport(_)
                | Error::StreamTruncated { .. }
        )
    }

    /// The delay the provider asked for before a retry, if it named one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().and_then(|e| e.retry_after)
    }

    /// The HTTP status the provider answered with, if any.
    pub fn status(&self) -> Option<http::StatusCode> {
        self.api()
            .and_then(|e| e.status)
            .and_then(|s| http::StatusCode::from_u16(s).ok())
    }

    /// The provider's error details, for the variants that carry them.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::RateLimited(e)
            | Error::Overloaded(e)
            | Error::Server(e)
            | Error::Authentication(e)
            | Error::InvalidRequest(e)
            | Error::ContextLengthExceeded(e)
            | Error::ContentFiltered(e) => Some(e),
            _ => None,
        }
    }

    /// The provider the error came from, when it is known.
    pub fn provider(&self) -> Option<&str> {
        match self {
            Error::Decode { provider, .. }
            | Error::StreamTruncated { provider }
            | Error::Unsupported { provider, .. } => Some(provider),
            other => other.api().map(|e| e.provider.as_str()),
        }
    }

    /// A short, stable name for the kind of error, suitable for metrics labels
    /// (`"rate_limited"`, `"timeout"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::RateLimited(_) => "rate_limited",
            Error::Overloaded(_) => "overloaded",
            Error::Server(_) => "server",
            Error::Authentication(_) => "authentication",
            Error::InvalidRequest(_) => "invalid_request",
            Error::ContextLengthExceeded(_) => "context_length_exceeded",
            Error::ContentFiltered(_) => "content_filtered",
            Error::Decode { .. } => "decode",
            Error::StreamTruncated { .. } => "stream_truncated",
            Error::EventTooLarge { .. } => "event_too_large",
            Error::ResponseTooLarge { .. } => "response_too_large",
            Error::Unsupported { .. } => "unsupported",
            Error::Config(_) => "config",
            Error::Timeout => "timeout",
            Error::Transport(_) => "transport",
            Error::Other(_) => "other",
        }
    }

    /// Wraps any error raised by user code.
    pub fn other(err: impl Into<BoxError>) -> Self {
        Error::Other(err.into())
    }

    #[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
    pub(crate) fn decode(provider: &str, message: impl fmt::Display) -> Self {
        Error::Decode {
            provider: provider.to_owned(),
            message: message.to_string(),
        }
    }

    pub(crate) fn unsupported(provider: &str, feature: impl Into<String>) -> Self {
        Error::Unsupported {
            provider: provider.to_owned(),
            feature: feature.into(),
        }
    }
}

impl From<tower::timeout::error::Elapsed> for Error {
    fn from(_: tower::timeout::error::Elapsed) -> Self {
        Error::Timeout
    }
}

/// Turns the boxed error of a generic tower stack back into an [`Error`].
///
/// Tower's own layers (timeout, buffer, concurrency limit) answer with
/// [`BoxError`]; this recovers the typed error when there is one inside.
pub fn from_box_error(err: BoxError) -> Error {
    match err.downcast::<Error>() {
        Ok(e) => *e,
        Err(err) => match err.downcast::<tower::timeout::error::Elapsed>() {
            Ok(_) => Error::Timeout,
            Err(err) => Error::Other(err),
        },
    }
}
