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
//!         .with_status(http::StatusCode::TOO_MANY_REQUESTS)
//!         .with_retry_after(Duration::from_secs(20))
//!         .into(),
//! );
//! assert!(err.is_retryable());
//! assert!(err.is_fallback_candidate());
//! assert_eq!(err.retry_after(), Some(Duration::from_secs(20)));
//! assert_eq!(err.status(), Some(http::StatusCode::TOO_MANY_REQUESTS));
//!
//! // A guardrail's refusal is neither: the same request fails everywhere.
//! let blocked = Error::blocked("pii", "the prompt contains a card number");
//! assert!(!blocked.is_retryable() && !blocked.is_fallback_candidate());
//! ```
//!
//! # What the predicates say
//!
//! [`is_retryable`](Error::is_retryable) means "the same deployment may
//! succeed if asked again, after [`retry_after`](Error::retry_after)";
//! [`is_fallback_candidate`](Error::is_fallback_candidate) means "another
//! deployment or vendor may succeed where this one failed". A router retries
//! on the first and falls back on the second.
//!
//! | variant | retryable | fallback candidate |
//! |---|---|---|
//! | [`RateLimited`](Error::RateLimited) | yes | yes |
//! | [`Overloaded`](Error::Overloaded) | yes | yes |
//! | [`Server`](Error::Server) | yes | yes |
//! | [`Timeout`](Error::Timeout) | yes | yes |
//! | [`Transport`](Error::Transport) | yes | yes |
//! | [`StreamTruncated`](Error::StreamTruncated) | yes | yes |
//! | [`ContextLengthExceeded`](Error::ContextLengthExceeded) | no | yes (a model with a larger window) |
//! | [`ContentFiltered`](Error::ContentFiltered) | no | yes (another vendor's filter) |
//! | [`Unsupported`](Error::Unsupported), [`Encode`](Error::Encode) | no | yes (a vendor that supports it) |
//! | [`Authentication`](Error::Authentication) | no | yes (another deployment has its own key) |
//! | [`Decode`](Error::Decode), [`EventTooLarge`](Error::EventTooLarge), [`ResponseTooLarge`](Error::ResponseTooLarge) | no | yes (another vendor answers differently) |
//! | [`Redirected`](Error::Redirected) | no | yes (another deployment's base URL may be right) |
//! | [`InvalidRequest`](Error::InvalidRequest) | no | no |
//! | [`Config`](Error::Config) | no | no |
//! | [`Blocked`](Error::Blocked), [`BudgetExceeded`](Error::BudgetExceeded) | no | no |
//! | [`HoldLimitExceeded`](Error::HoldLimitExceeded) | no | no |
//! | [`Store`](Error::Store) | no | no (the layer that holds the store decides) |
//! | [`AuditUnavailable`](Error::AuditUnavailable) | no | no (refused above every deployment) |
//! | [`Unavailable`](Error::Unavailable) | yes | yes (another group may have a deployment free) |
//! | [`NoRoute`](Error::NoRoute), [`AllAttemptsFailed`](Error::AllAttemptsFailed), [`Other`](Error::Other) | no | no |
//!
//! # Sharing one failure
//!
//! `Error` is [`Clone`]: the sources it wraps are held behind [`Arc`], so a
//! layer that answers many waiters from one upstream call (a cache's
//! single-flight) hands each of them a clone of the same failure, with its
//! whole `source()` chain, for the price of a few reference counts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

/// A type-erased error, used only at generic boundaries (transports, user hooks).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A shared, type-erased error: the source of an [`Error`], cheap to clone.
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

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
    /// The HTTP status of the answer, when there was one (an error event
    /// inside a stream has none).
    pub status: Option<StatusCode>,
    /// The vendor's error type or code, for example `"rate_limit_error"` or `"context_length_exceeded"`.
    pub code: Option<String>,
    /// The vendor's human-readable message.
    pub message: String,
    /// How long the vendor asked the caller to wait before retrying, when it
    /// is within the provider's limit (see `max_retry_after`).
    pub retry_after: Option<Duration>,
    /// A delay the vendor asked for that was over the provider's limit:
    /// reported here, and not honoured.
    pub unusable_retry_after: Option<Duration>,
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
            unusable_retry_after: None,
            request_id: None,
        }
    }

    /// Sets the HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
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
            write!(f, " ({})", status.as_u16())?;
        }
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Which time limit fired, in [`Error::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// The reply's head did not arrive in time (tower's `timeout` layer, a
    /// transport's own timeout).
    Request,
    /// The first event of a streamed reply did not arrive in time.
    FirstEvent,
    /// The stream went quiet for too long between two events.
    Idle,
    /// The whole call, stream included, took too long.
    Total,
}

impl TimeoutKind {
    /// A short name: `request`, `first_event`, `idle`, `total`.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutKind::Request => "request",
            TimeoutKind::FirstEvent => "first_event",
            TimeoutKind::Idle => "idle",
            TimeoutKind::Total => "total",
        }
    }
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutKind::Request => "waiting for the reply",
            TimeoutKind::FirstEvent => "waiting for the first event",
            TimeoutKind::Idle => "waiting for the next event",
            TimeoutKind::Total => "the whole call",
        })
    }
}

/// One failed attempt of a routed call, kept by [`Error::AllAttemptsFailed`]
/// and in [`RouteTaken`](crate::types::RouteTaken).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Attempt {
    /// The deployment that was tried (a router's name for it).
    pub deployment: String,
    /// Why it failed.
    pub error: Error,
    /// How long the attempt took, from the call to the deployment until it
    /// failed (for a stream, until it failed before its first content), when
    /// measured.
    pub duration: Option<Duration>,
}

impl Attempt {
    /// An attempt at `deployment` that failed with `error`.
    pub fn new(deployment: impl Into<String>, error: Error) -> Self {
        Self {
            deployment: deployment.into(),
            error,
            duration: None,
        }
    }

    /// Sets how long the attempt took.
    #[must_use]
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }
}

/// The attempts of a routed call that all failed, oldest first. Its
/// `source()` is the last attempt's error.
#[derive(Debug, Clone)]
pub struct Attempts(Vec<Attempt>);

impl Attempts {
    /// The attempts, oldest first.
    pub fn new(attempts: Vec<Attempt>) -> Self {
        Self(attempts)
    }

    /// The last attempt, whose error is the source of the whole failure.
    pub fn last(&self) -> Option<&Attempt> {
        self.0.last()
    }

    /// Every attempt, oldest first.
    pub fn iter(&self) -> std::slice::Iter<'_, Attempt> {
        self.0.iter()
    }

    /// How many attempts were made.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no attempt was made.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            1 => f.write_str("1 attempt"),
            n => write!(f, "{n} attempts"),
        }?;
        let mut names = self.0.iter().map(|a| a.deployment.as_str());
        if let Some(first) = names.next() {
            write!(f, " ({first}")?;
            for name in names {
                write!(f, ", {name}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for Attempts {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .last()
            .map(|a| &a.error as &(dyn std::error::Error + 'static))
    }
}

/// Everything that can go wrong on the way to a model and back.
///
/// The vendor's details are boxed, so the error stays small (a `Result`
/// carrying it costs little to move) and `Error::RateLimited(api.into())`
/// builds one from an [`ApiError`]. Variants with several fields are
/// `#[non_exhaustive]`: build them with the constructors
/// ([`Error::blocked`], [`Error::budget_exceeded`], ...), match them with `..`.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// The credentials were missing or refused (HTTP 401, 403), or their
    /// account cannot pay for the call (out of quota or credit, a billing
    /// problem): not retryable, but another deployment may serve it.
    #[error("authentication failed: {0}")]
    Authentication(Box<ApiError>),
    /// The provider refused the request as invalid (HTTP 400, 404, 413, 422).
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
    #[non_exhaustive]
    Decode {
        /// The provider whose answer was malformed.
        provider: String,
        /// What was wrong with it.
        message: String,
        /// The parser's own error, when there is one.
        #[source]
        source: Option<SharedError>,
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
    /// The endpoint answered with a redirect, which is never followed: the
    /// credentials and the prompt would go to another host. Usually a base
    /// URL that is not quite right (`http` for `https`, a missing path).
    #[error("{provider} answered {} with a redirect to {location}: redirects are not followed, check the base URL", status.as_u16())]
    #[non_exhaustive]
    Redirected {
        /// The provider.
        provider: String,
        /// The 3xx status.
        status: StatusCode,
        /// The `location` the endpoint named (empty if it named none).
        location: String,
    },
    /// The provider does not support what the request asked for; another
    /// provider may.
    #[error("{provider} does not support {feature}")]
    Unsupported {
        /// The provider.
        provider: String,
        /// The feature that is missing.
        feature: String,
    },
    /// The provider's codec could not express the request in its vendor's
    /// wire format. Refused locally, before any network call; another vendor
    /// may accept the same request.
    #[error("{provider} cannot encode the request: {message}")]
    #[non_exhaustive]
    Encode {
        /// The provider whose codec refused.
        provider: String,
        /// What could not be expressed.
        message: String,
    },
    /// The provider or layer is misconfigured, or the request is one that no
    /// provider could accept.
    #[error("invalid configuration: {message}")]
    #[non_exhaustive]
    Config {
        /// What is wrong and what to change.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<SharedError>,
    },
    /// A time limit fired.
    #[error("timed out {kind}{}", after.map(|d| format!(" (limit {d:?})")).unwrap_or_default())]
    #[non_exhaustive]
    Timeout {
        /// Which limit.
        kind: TimeoutKind,
        /// The limit, when known.
        after: Option<Duration>,
    },
    /// The HTTP transport failed (connection refused, reset, DNS, TLS, body
    /// read). The message names the provider, the host and the cause once;
    /// the transport's own error is the source.
    #[error("{}", transport_message(provider, host, source))]
    #[non_exhaustive]
    Transport {
        /// The provider whose request failed (empty when not known).
        provider: String,
        /// The host (and port) the request went to (empty when not known).
        host: String,
        /// The transport's error.
        #[source]
        source: SharedError,
    },
    /// A guardrail refused the request or the reply.
    #[error("blocked by the {guard} guard: {reason}")]
    #[non_exhaustive]
    Blocked {
        /// The guard that refused (its name).
        guard: String,
        /// Why, in words safe to show the caller (never the offending content).
        reason: String,
    },
    /// A budget would be exceeded by the call.
    #[error("budget exceeded for {scope}: {limit}")]
    #[non_exhaustive]
    BudgetExceeded {
        /// Whose budget (for example `tenant:acme` or `key:k-1`).
        scope: String,
        /// Which limit (for example `100000 tokens per day`).
        limit: String,
        /// How long until the limit resets, when it does.
        reset_after: Option<Duration>,
    },
    /// No deployment serves the requested model.
    #[error("no route for model {model}")]
    #[non_exhaustive]
    NoRoute {
        /// The model or alias asked for.
        model: String,
    },
    /// Every deployment that could serve the model is cooling down, its
    /// circuit is open, it is at its rate limit, or it was drained: the
    /// router refused the call locally, without sending it anywhere.
    /// Retryable after [`retry_after`](Error::retry_after), the time until
    /// the first of them may take calls again, when known.
    #[error("no deployment of {model} is available{}", retry_after.map(|d| format!(" (the first one again in {d:?})")).unwrap_or_default())]
    #[non_exhaustive]
    Unavailable {
        /// The model or alias asked for.
        model: String,
        /// How long until a deployment may take calls again, when known.
        retry_after: Option<Duration>,
    },
    /// Every attempt of a routed call failed. The source is the last attempt's error.
    #[error("all attempts failed: {attempts}")]
    #[non_exhaustive]
    AllAttemptsFailed {
        /// The attempts, oldest first.
        #[source]
        attempts: Attempts,
    },
    /// A stream filter held back more than its limit.
    #[error("a stream filter held back more than {limit} bytes")]
    #[non_exhaustive]
    HoldLimitExceeded {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A shared store (counters, cache entries, the audit stream) could not
    /// answer: Redis is down or refused the command. Nothing is known of
    /// the operation's outcome beyond what the store's docs say; the layer
    /// holding the store decides whether to fail closed or open.
    #[error("the {store} store failed")]
    #[non_exhaustive]
    Store {
        /// The store (for example `redis`).
        store: String,
        /// The store's own error.
        #[source]
        source: SharedError,
    },
    /// The audit log could not take the call's record, and fails closed:
    /// the call was refused before anything was sent upstream. Its queue
    /// was full (the sink is behind or down), or its writer has stopped.
    #[error("the audit log cannot take the call's record: {reason}")]
    #[non_exhaustive]
    AuditUnavailable {
        /// Why: `"queue full"` or `"writer stopped"`.
        reason: &'static str,
    },
    /// An error raised by a user-supplied layer or hook.
    #[error(transparent)]
    Other(SharedError),
}

impl Error {
    /// Whether sending the same request to the same deployment again may
    /// succeed, after [`retry_after`](Self::retry_after) if it says so.
    ///
    /// True for rate limits, overload, server errors, time-outs, transport
    /// failures, streams cut before their end, and a router with no
    /// deployment available right now.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Unavailable { .. }
                | Error::RateLimited(_)
                | Error::Overloaded(_)
                | Error::Server(_)
                | Error::Timeout { .. }
                | Error::Transport { .. }
                | Error::StreamTruncated { .. }
        )
    }

    /// Whether another deployment or vendor may succeed where this one
    /// failed: everything retryable, and context length exceeded, content
    /// filtered, unsupported, encode, authentication, redirects and
    /// undecodable replies. See the [table](self#what-the-predicates-say).
    pub fn is_fallback_candidate(&self) -> bool {
        self.is_retryable()
            || matches!(
                self,
                Error::ContextLengthExceeded(_)
                    | Error::ContentFiltered(_)
                    | Error::Unsupported { .. }
                    | Error::Encode { .. }
                    | Error::Authentication(_)
                    | Error::Decode { .. }
                    | Error::EventTooLarge { .. }
                    | Error::ResponseTooLarge { .. }
                    | Error::Redirected { .. }
            )
    }

    /// The delay the provider (or a budget) asked for before a retry, if it named one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::BudgetExceeded { reset_after, .. } => *reset_after,
            Error::Unavailable { retry_after, .. } => *retry_after,
            _ => self.api().and_then(|e| e.retry_after),
        }
    }

    /// The HTTP status the provider answered with, if any.
    pub fn status(&self) -> Option<StatusCode> {
        self.api().and_then(|e| e.status)
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
            | Error::Unsupported { provider, .. }
            | Error::Encode { provider, .. }
            | Error::Redirected { provider, .. } => Some(provider),
            Error::Transport { provider, .. } if !provider.is_empty() => Some(provider),
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
            Error::Redirected { .. } => "redirected",
            Error::Encode { .. } => "encode",
            Error::Config { .. } => "config",
            Error::Timeout { .. } => "timeout",
            Error::Transport { .. } => "transport",
            Error::Blocked { .. } => "blocked",
            Error::BudgetExceeded { .. } => "budget_exceeded",
            Error::NoRoute { .. } => "no_route",
            Error::Unavailable { .. } => "unavailable",
            Error::AllAttemptsFailed { .. } => "all_attempts_failed",
            Error::HoldLimitExceeded { .. } => "hold_limit_exceeded",
            Error::Store { .. } => "store",
            Error::AuditUnavailable { .. } => "audit_unavailable",
            Error::Other(_) => "other",
        }
    }

    /// Wraps any error raised by user code.
    pub fn other(err: impl Into<BoxError>) -> Self {
        Error::Other(Arc::from(err.into()))
    }

    /// A failure of the store named `store` (for example `redis`), caused by `err`.
    pub fn store(store: impl Into<String>, err: impl Into<BoxError>) -> Self {
        Error::Store {
            store: store.into(),
            source: Arc::from(err.into()),
        }
    }

    /// Whether a shared store (counters, cache, audit stream) failed, rather
    /// than the call itself.
    pub fn is_store(&self) -> bool {
        matches!(self, Error::Store { .. })
    }

    /// A configuration error that says what to change.
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
            source: None,
        }
    }

    /// A configuration error caused by another error.
    pub fn config_with(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Config {
            message: message.into(),
            source: Some(Arc::from(source.into())),
        }
    }

    /// A guardrail's refusal: `guard` names the guard, `reason` is safe to
    /// show the caller.
    pub fn blocked(guard: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Blocked {
            guard: guard.into(),
            reason: reason.into(),
        }
    }

    /// A budget's refusal.
    pub fn budget_exceeded(
        scope: impl Into<String>,
        limit: impl Into<String>,
        reset_after: Option<Duration>,
    ) -> Self {
        Error::BudgetExceeded {
            scope: scope.into(),
            limit: limit.into(),
            reset_after,
        }
    }

    /// No deployment serves `model`.
    pub fn no_route(model: impl Into<String>) -> Self {
        Error::NoRoute { model: model.into() }
    }

    /// No deployment of `model` is available now; one may be after `retry_after`.
    pub fn unavailable(model: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Error::Unavailable {
            model: model.into(),
            retry_after,
        }
    }

    /// Every attempt failed; the last one is the source.
    pub fn all_attempts_failed(attempts: Vec<Attempt>) -> Self {
        Error::AllAttemptsFailed {
            attempts: Attempts::new(attempts),
        }
    }

    /// A time limit of this kind fired.
    pub fn timeout(kind: TimeoutKind, after: Option<Duration>) -> Self {
        Error::Timeout { kind, after }
    }

    /// A transport failure, at a place not known yet (see [`Error::at`]).
    pub fn transport(err: impl Into<BoxError>) -> Self {
        Error::Transport {
            provider: String::new(),
            host: String::new(),
            source: Arc::from(err.into()),
        }
    }

    /// Names the provider and the host of a transport failure that has none yet.
    #[must_use]
    pub fn at(mut self, provider: &str, host: &str) -> Self {
        if let Error::Transport {
            provider: p, host: h, ..
        } = &mut self
        {
            if p.is_empty() {
                provider.clone_into(p);
            }
            if h.is_empty() {
                host.clone_into(h);
            }
        }
        self
    }

    /// Sets a retry delay over `max` apart, in
    /// [`ApiError::unusable_retry_after`], so that it is never honoured.
    pub fn cap_retry_after(&mut self, max: Duration) {
        if let Some(api) = self.api_mut() {
            if api.retry_after.is_some_and(|d| d > max) {
                api.unusable_retry_after = api.retry_after.take();
            }
        }
    }

    pub(crate) fn api_mut(&mut self) -> Option<&mut ApiError> {
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

    /// Replaces every occurrence of `secret` in the text this error keeps
    /// from an upstream answer (message, code, request id, and a parser's
    /// error that quotes the answer) with `***`.
    /// Secrets shorter than 8 characters are left alone: replacing them
    /// would garble ordinary words and hide nothing.
    pub fn redact(&mut self, secret: &str) {
        if secret.len() < 8 {
            return;
        }
        let scrub = |text: &mut String| {
            if text.contains(secret) {
                *text = text.replace(secret, "***");
            }
        };
        if let Some(api) = self.api_mut() {
            scrub(&mut api.message);
            api.code.as_mut().map(scrub);
            api.request_id.as_mut().map(scrub);
            return;
        }
        match self {
            Error::Decode { message, source, .. } => {
                scrub(message);
                redact_source(source, secret);
            }
            Error::Encode { message, .. } => scrub(message),
            Error::Redirected { location, .. } => scrub(location),
            _ => {}
        }
    }

    /// An undecodable answer from `provider` (for codecs, in and out of this crate).
    pub fn decode(provider: &str, message: impl fmt::Display) -> Self {
        Error::Decode {
            provider: provider.to_owned(),
            message: message.to_string(),
            source: None,
        }
    }

    /// An undecodable answer from `provider`, with the parser's error as the source.
    pub fn decode_with(
        provider: &str,
        message: impl fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Decode {
            provider: provider.to_owned(),
            message: message.to_string(),
            source: Some(Arc::new(source)),
        }
    }

    /// The codec of `provider` cannot express the request.
    pub fn encode(provider: &str, message: impl fmt::Display) -> Self {
        Error::Encode {
            provider: provider.to_owned(),
            message: message.to_string(),
        }
    }

    /// `provider` does not support `feature`.
    pub fn unsupported(provider: &str, feature: impl Into<String>) -> Self {
        Error::Unsupported {
            provider: provider.to_owned(),
            feature: feature.into(),
        }
    }
}

/// "{provider} could not reach {host}: {cause}", leaving out what is not known.
fn transport_message(provider: &str, host: &str, source: &SharedError) -> String {
    let who = if provider.is_empty() {
        "the transport"
    } else {
        provider
    };
    let place = if host.is_empty() { "the upstream" } else { host };
    match transport_cause(&**source) {
        CUT => format!("{who}: the connection to {place} {CUT}"),
        cause => format!("{who} could not reach {place}: {cause}"),
    }
}

/// The cause of a reply cut short: the connection was reached, then lost.
const CUT: &str = "closed before the reply was complete";

/// A short name for why a transport failed, found along its source chain.
fn transport_cause(err: &(dyn std::error::Error + 'static)) -> &'static str {
    let mut cause = "the connection failed";
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind;
            return match io.kind() {
                ErrorKind::ConnectionRefused => "connection refused",
                ErrorKind::ConnectionReset => "connection reset",
                ErrorKind::ConnectionAborted => "connection aborted",
                ErrorKind::TimedOut => "timed out",
                ErrorKind::UnexpectedEof => CUT,
                _ => "an I/O error",
            };
        }
        let text = err.to_string().to_ascii_lowercase();
        if text.contains("dns") || text.contains("lookup address") || text.contains("resolve") {
            cause = "DNS lookup failed";
        } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            cause = "TLS handshake failed";
        } else if text.contains("incomplete")
            || text.contains("closed before")
            || text.contains("unexpected eof")
        {
            cause = CUT;
        }
        next = err.source();
    }
    cause
}

impl From<tower::timeout::error::Elapsed> for Error {
    fn from(_: tower::timeout::error::Elapsed) -> Self {
        Error::timeout(TimeoutKind::Request, None)
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
            Ok(_) => Error::timeout(TimeoutKind::Request, None),
            Err(err) => Error::Other(Arc::from(err)),
        },
    }
}

/// Replaces a source whose chain shows `secret` (a parser quoting the value
/// it could not read) with its text, redacted. The chain's types are lost;
/// its words are kept.
fn redact_source(source: &mut Option<SharedError>, secret: &str) {
    let Some(error) = source else { return };
    let mut text = String::new();
    let mut level: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
    while let Some(cause) = level {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        level = cause.source();
    }
    if text.contains(secret) || format!("{error:?}").contains(secret) {
        *source = Some(Arc::new(Redacted(text.replace(secret, "***"))));
    }
}

/// A source chain with a credential taken out of it.
#[derive(Debug)]
struct Redacted(String);

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Redacted {}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn api() -> Box<ApiError> {
        ApiError::new("p", "m").into()
    }

    #[test]
    fn the_predicate_table_holds() {
        // (error, retryable, fallback candidate), as the module docs' table says.
        let io = || std::io::Error::other("reset");
        let cases: Vec<(Error, bool, bool)> = vec![
            (Error::RateLimited(api()), true, true),
            (Error::Overloaded(api()), true, true),
            (Error::Server(api()), true, true),
            (Error::timeout(TimeoutKind::Idle, None), true, true),
            (Error::transport(io()), true, true),
            (Error::StreamTruncated { provider: "p".into() }, true, true),
            (Error::ContextLengthExceeded(api()), false, true),
            (Error::ContentFiltered(api()), false, true),
            (Error::unsupported("p", "images"), false, true),
            (Error::encode("p", "no"), false, true),
            (Error::Authentication(api()), false, true),
            (Error::decode("p", "bad"), false, true),
            (Error::EventTooLarge { limit: 1 }, false, true),
            (Error::ResponseTooLarge { limit: 1 }, false, true),
            (
                Error::Redirected {
                    provider: "p".into(),
                    status: StatusCode::TEMPORARY_REDIRECT,
                    location: "https://elsewhere.example/".into(),
                },
                false,
                true,
            ),
            (Error::InvalidRequest(api()), false, false),
            (Error::config("bad"), false, false),
            (Error::blocked("g", "r"), false, false),
            (Error::budget_exceeded("s", "l", None), false, false),
            (Error::HoldLimitExceeded { limit: 1 }, false, false),
            (Error::store("redis", io()), false, false),
            (Error::no_route("m"), false, false),
            (Error::unavailable("m", None), true, true),
            (Error::all_attempts_failed(vec![]), false, false),
            (Error::other(io()), false, false),
        ];
        for (error, retryable, fallback) in cases {
            assert_eq!(error.is_retryable(), retryable, "{error:?} retryable");
            assert_eq!(error.is_fallback_candidate(), fallback, "{error:?} fallback");
        }
    }

    #[test]
    fn a_clone_keeps_the_source_chain() {
        let parse = serde_json::from_str::<u32>("x").unwrap_err();
        let message = parse.to_string();
        let error = Error::decode_with("openai", "invalid chat completion", parse);
        let copy = error.clone();
        assert_eq!(
            copy.to_string(),
            "could not decode the openai response: invalid chat completion"
        );
        assert_eq!(copy.source().unwrap().to_string(), message);
        let config = Error::config_with("bad header", std::io::Error::other("inner"));
        assert_eq!(config.clone().source().unwrap().to_string(), "inner");
    }

    #[test]
    fn all_attempts_failed_names_them_and_chains_to_the_last() {
        let error = Error::all_attempts_failed(vec![
            Attempt::new("east", Error::RateLimited(api())),
            Attempt::new(
                "west",
                Error::timeout(TimeoutKind::Request, Some(Duration::from_secs(30))),
            ),
        ]);
        assert_eq!(error.to_string(), "all attempts failed: 2 attempts (east, west)");
        let attempts = error.source().unwrap();
        let last = attempts.source().unwrap();
        assert_eq!(last.to_string(), "timed out waiting for the reply (limit 30s)");
    }

    #[test]
    fn a_budget_refusal_says_when_to_retry() {
        let error = Error::budget_exceeded(
            "tenant:acme",
            "100 requests per minute",
            Some(Duration::from_secs(7)),
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(
            error.to_string(),
            "budget exceeded for tenant:acme: 100 requests per minute"
        );
    }

    #[test]
    fn the_error_stays_small() {
        // Small enough that a `Result` is cheap to move and clippy's
        // `result_large_err` (128 bytes) never fires in applications.
        assert!(
            std::mem::size_of::<Error>() <= 72,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn tower_timeouts_become_request_timeouts() {
        let boxed: BoxError = Box::new(tower::timeout::error::Elapsed::new());
        assert!(matches!(
            from_box_error(boxed),
            Error::Timeout {
                kind: TimeoutKind::Request,
                ..
            }
        ));
        let typed: BoxError = Box::new(Error::blocked("g", "r"));
        assert_eq!(from_box_error(typed).kind(), "blocked");
    }
}
