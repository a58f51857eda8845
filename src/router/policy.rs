//! What a router does when a deployment fails: [`HealthPolicy`] (cooldown
//! and circuit), [`RetryPolicy`] (retries with backoff and a budget) and
//! [`FallbackOn`] (which failures move a call to another group).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower::retry::budget::{Budget, TpsBudget};

use crate::error::Error;

/// How a router judges a deployment's health.
///
/// - A rate limit (HTTP 429) cools the deployment down for the delay the
///   upstream asked for (`retry-after`), at most
///   [`max_cooldown`](Self::max_cooldown), or for
///   [`default_cooldown`](Self::default_cooldown) when it named none; any
///   other retryable failure that names a delay cools it down for that delay.
/// - [`failure_threshold`](Self::failure_threshold) failures of the
///   deployment (server errors, overload, time-outs, transport failures,
///   cut streams, refused credentials) within
///   [`failure_window`](Self::failure_window) open its circuit for
///   [`open_for`](Self::open_for); then one probe call is let through
///   (half-open): its success closes the circuit, its failure opens it again.
/// - A failure of the request itself (invalid, too long, filtered) says
///   nothing about the deployment and is not counted.
///
/// A deployment cooling down or with an open circuit gets no new call;
/// calls in flight finish.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct HealthPolicy {
    /// The cooldown after a rate limit that names no delay. Default 5 s.
    pub default_cooldown: Duration,
    /// The longest cooldown, whatever the upstream asked for. Default 60 s.
    pub max_cooldown: Duration,
    /// Failures within [`failure_window`](Self::failure_window) that open the circuit. Default 5.
    pub failure_threshold: u32,
    /// The window failures are counted in. Default 10 s.
    pub failure_window: Duration,
    /// How long an open circuit stays open before a probe. Default 30 s.
    pub open_for: Duration,
    /// How fast a latency estimate forgets: the time constant of its decay,
    /// both between samples and while a deployment is idle (an idle slow
    /// deployment looks faster and faster until a call measures it again).
    /// Default 10 s.
    pub latency_decay: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            default_cooldown: Duration::from_secs(5),
            max_cooldown: Duration::from_secs(60),
            failure_threshold: 5,
            failure_window: Duration::from_secs(10),
            open_for: Duration::from_secs(30),
            latency_decay: Duration::from_secs(10),
        }
    }
}

impl HealthPolicy {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the cooldown after a rate limit that names no delay.
    pub fn default_cooldown(mut self, cooldown: Duration) -> Self {
        self.default_cooldown = cooldown;
        self
    }

    /// Sets the longest cooldown.
    pub fn max_cooldown(mut self, cooldown: Duration) -> Self {
        self.max_cooldown = cooldown;
        self
    }

    /// Opens the circuit after `failures` failures within `window`, for `open_for`.
    pub fn circuit(mut self, failures: u32, window: Duration, open_for: Duration) -> Self {
        self.failure_threshold = failures.max(1);
        self.failure_window = window;
        self.open_for = open_for;
        self
    }

    /// Sets the time constant of the latency estimate's decay.
    pub fn latency_decay(mut self, decay: Duration) -> Self {
        self.latency_decay = decay;
        self
    }
}

/// How a router retries a call that failed with a
/// [retryable](Error::is_retryable) error.
///
/// A retry goes first to another deployment of the group that was not tried
/// yet, at once; when every one was tried, the router waits (exponential
/// backoff with full jitter, or the delay the upstream asked for when it is
/// longer, up to [`max_retry_after`](Self::max_retry_after)) and tries the
/// group again. No wait runs past the call's deadline
/// ([`RequestMeta::deadline`](crate::types::RequestMeta::deadline)), and no
/// retry starts after it. Each retry takes a token from the retry budget
/// ([`RetryBudget`]); with the budget spent, the call fails (or falls back)
/// at once.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use]
pub struct RetryPolicy {
    /// Retries per call (attempts after the first on retryable errors). Default 2.
    pub max_retries: u32,
    /// The first backoff's upper bound, doubled per retry. Default 100 ms.
    pub base_backoff: Duration,
    /// The largest backoff. Default 5 s.
    pub max_backoff: Duration,
    /// The longest delay asked for by an upstream that is honoured; a longer
    /// one ends the retries in this group. Default 30 s.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// No retry at all: after a retryable failure the call goes to the
    /// group's fallbacks at once, not even to another deployment of its
    /// group (a move to another deployment after a retryable failure is a
    /// retry, counted and budgeted).
    pub fn none() -> Self {
        Self::default().max_retries(0)
    }

    /// Sets the retries per call.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets the first backoff's bound and the largest backoff.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base_backoff = base;
        self.max_backoff = max.max(base);
        self
    }

    /// Sets the longest delay asked for by an upstream that is honoured.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// The wait before the `round`-th pass over a group (from 0), after
    /// `error`: full jitter over the exponential bound, or the upstream's
    /// delay when longer. `None` when the upstream asked for more than
    /// [`max_retry_after`](Self::max_retry_after).
    pub(crate) fn wait(&self, round: u32, error: &Error) -> Option<Duration> {
        let bound = self
            .base_backoff
            .saturating_mul(1u32.checked_shl(round.min(31)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let jitter = Duration::from_nanos(fastrand::u64(0..=super::deployment::nanos(bound)));
        match error.retry_after() {
            Some(asked) if asked > self.max_retry_after => None,
            Some(asked) => Some(asked.max(jitter)),
            None => Some(jitter),
        }
    }
}

/// Caps retries to a fraction of the calls, so that when everything fails
/// retries add a bounded load instead of multiplying an outage: tower's
/// [`TpsBudget`] (each call deposits, each retry withdraws).
///
/// With ratio `r` and floor `f` per second over a window `ttl`, the router
/// makes at most `(1 + r) × calls + f × ttl` retries and hedges in a
/// window. The first attempt in another group (a fallback) and moving to
/// another deployment after an error that is not retryable take no token:
/// they are bounded by the number of groups and deployments instead.
/// Clones share the budget.
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<TpsBudget>,
    ratio: f32,
}

impl RetryBudget {
    /// Retries of at most `ratio` (0.0 to 1000.0) of the calls over the
    /// last `ttl` (1 to 60 s), plus `min_per_sec` retries per second
    /// whatever the calls.
    ///
    /// # Panics
    ///
    /// When `ttl` or `ratio` are out of range (as [`TpsBudget::new`]).
    pub fn new(ttl: Duration, min_per_sec: u32, ratio: f32) -> Self {
        Self {
            inner: Arc::new(TpsBudget::new(ttl, min_per_sec, ratio)),
            ratio,
        }
    }

    /// The ratio of retries to calls.
    pub fn ratio(&self) -> f32 {
        self.ratio
    }

    pub(crate) fn deposit(&self) {
        self.inner.deposit();
    }

    pub(crate) fn withdraw(&self) -> bool {
        self.inner.withdraw()
    }
}

impl Default for RetryBudget {
    /// 20 % of the calls over 10 s, plus 10 retries per second.
    fn default() -> Self {
        Self::new(Duration::from_secs(10), 10, 0.2)
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("ratio", &self.ratio)
            .finish_non_exhaustive()
    }
}

/// Which failures move a call from one group to another
/// ([`Group::fallback`](super::Group::fallback)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FallbackOn {
    /// The prompt did not fit ([`Error::ContextLengthExceeded`]): a group
    /// with a larger window.
    ContextLength,
    /// A content filter refused ([`Error::ContentFiltered`]): another vendor.
    ContentFilter,
    /// The group could not answer now: a [retryable](Error::is_retryable)
    /// error after the retries, or no deployment available
    /// ([`Error::Unavailable`]).
    Unavailable,
    /// Any [fallback candidate](Error::is_fallback_candidate), including
    /// refused credentials, an exhausted quota and unsupported features.
    Any,
}

impl FallbackOn {
    /// Whether `error` belongs to this class.
    pub fn matches(self, error: &Error) -> bool {
        match self {
            FallbackOn::ContextLength => matches!(error, Error::ContextLengthExceeded(_)),
            FallbackOn::ContentFilter => matches!(error, Error::ContentFiltered(_)),
            FallbackOn::Unavailable => error.is_retryable(),
            FallbackOn::Any => error.is_fallback_candidate(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    #[test]
    fn waits_are_jittered_under_the_bound_or_the_asked_delay() {
        let policy = RetryPolicy::new().backoff(Duration::from_millis(100), Duration::from_secs(1));
        let server = Error::Server(ApiError::new("p", "boom").into());
        for round in 0..40 {
            let wait = policy.wait(round, &server).unwrap();
            assert!(wait <= Duration::from_secs(1), "{wait:?}");
        }
        let asked = |secs| {
            Error::RateLimited(
                ApiError::new("p", "slow")
                    .with_retry_after(Duration::from_secs(secs))
                    .into(),
            )
        };
        assert_eq!(policy.wait(0, &asked(2)), Some(Duration::from_secs(2)));
        assert_eq!(policy.wait(0, &asked(31)), None);
    }
}
