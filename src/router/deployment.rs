//! [`Deployment`]: one inner service a router can send calls to, and the
//! live state the router keeps about it (calls in flight, latency,
//! cooldown, circuit, rate-limit window).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower::util::BoxCloneSyncService;
use tower_service::Service;

use super::policy::HealthPolicy;
use crate::error::Error;
use crate::provider::{Provider, ProviderService};
use crate::types::{LlmRequest, LlmResponse, ModelInfo};

/// The inner service of a [`Deployment`], boxed: any
/// `Service<LlmRequest, Response = LlmResponse, Error = Error>` that is
/// `Clone + Send + Sync` (a [`ProviderService`], or one under the
/// deployment's own layers).
pub type DeploymentService = BoxCloneSyncService<LlmRequest, LlmResponse, Error>;

/// One place a router can send a call: an inner service, the concrete
/// model it serves, and what the router needs to choose it (weight, limits,
/// [`ModelInfo`], tags).
///
/// ```
/// use tower_ai::provider::mock::MockProvider;
/// use tower_ai::router::Deployment;
/// use tower_ai::types::{ModelInfo, Prices};
///
/// let east = Deployment::provider("openai-east", "gpt-4o-mini", MockProvider::new())
///     .weight(3)
///     .rpm(500)
///     .info(ModelInfo::new("gpt-4o-mini", "openai").with_prices(Prices::per_million(0.15, 0.6)))
///     .tag("region", "us-east");
/// assert_eq!(east.name(), "openai-east");
/// ```
#[derive(Clone)]
#[must_use]
pub struct Deployment {
    pub(crate) name: String,
    pub(crate) model: String,
    pub(crate) service: DeploymentService,
    pub(crate) weight: u32,
    pub(crate) info: Option<ModelInfo>,
    pub(crate) rpm: Option<u32>,
    pub(crate) tpm: Option<u64>,
    pub(crate) tags: BTreeMap<String, String>,
}

impl Deployment {
    /// A deployment named `name` (unique within the router) that sends
    /// calls to `service`, asking it for the concrete `model` (which
    /// replaces the model or alias of the request on the way down).
    /// Weight 1, no limit, no [`ModelInfo`], no tag.
    pub fn new<S>(name: impl Into<String>, model: impl Into<String>, service: S) -> Self
    where
        S: Service<LlmRequest, Response = LlmResponse, Error = Error> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
    {
        Self {
            name: name.into(),
            model: model.into(),
            service: BoxCloneSyncService::new(service),
            weight: 1,
            info: None,
            rpm: None,
            tpm: None,
            tags: BTreeMap::new(),
        }
    }

    /// A deployment that sends calls to `provider` through a [`ProviderService`].
    pub fn provider(name: impl Into<String>, model: impl Into<String>, provider: impl Provider) -> Self {
        Self::new(name, model, ProviderService::new(provider))
    }

    /// Sets the weight (default 1): its share of the traffic under
    /// [`WeightedRandom`](super::WeightedRandom). A weight of 0 gets calls
    /// only when every available deployment of its group has weight 0.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets what the model costs and can do, for [`LowestCost`](super::LowestCost)
    /// and for the application's own strategies.
    pub fn info(mut self, info: ModelInfo) -> Self {
        self.info = Some(info);
        self
    }

    /// At most `rpm` calls per minute: the deployment is skipped while at
    /// its limit (counted in this process, in fixed one-minute windows).
    pub fn rpm(mut self, rpm: u32) -> Self {
        self.rpm = Some(rpm);
        self
    }

    /// At most `tpm` prompt tokens per minute, counted from each request's
    /// estimate ([`estimated_prompt_tokens`](super::estimated_prompt_tokens)):
    /// the deployment is skipped while at its limit.
    pub fn tpm(mut self, tpm: u64) -> Self {
        self.tpm = Some(tpm);
        self
    }

    /// Adds a tag (region, tier, vendor...), for rules and custom strategies.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// The deployment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The concrete model it serves.
    pub fn model(&self) -> &str {
        &self.model
    }
}

impl fmt::Debug for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deployment")
            .field("name", &self.name)
            .field("model", &self.model)
            .field("weight", &self.weight)
            .field("rpm", &self.rpm)
            .field("tpm", &self.tpm)
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

/// The state of a deployment's circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CircuitState {
    /// Calls flow.
    Closed,
    /// Too many failures: no call until the open time is over.
    Open,
    /// One probe call is in flight; its outcome closes or reopens the circuit.
    HalfOpen,
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// A deployment as the router holds it: the configuration and its live state.
pub(crate) struct Member {
    pub(crate) spec: Deployment,
    pub(crate) group: String,
    pub(crate) weight: AtomicU32,
    in_flight: AtomicUsize,
    drained: AtomicBool,
    removed: AtomicBool,
    /// Router-clock nanoseconds until which the deployment cools down (0: none).
    cooldown_until: AtomicU64,
    circuit: AtomicU8,
    open_until: AtomicU64,
    /// (window start, failures in the window).
    failures: Mutex<(u64, u32)>,
    latency: Mutex<Ewma>,
    /// (window start, calls, tokens) of the current minute; only with limits.
    rate: Option<Mutex<(u64, u32, u64)>>,
}

/// Why a member cannot take a call now.
pub(crate) enum Unfit {
    /// Until this router-clock instant.
    Until(u64),
    /// For a time not known (drained, removed, a probe in flight).
    Unknown,
}

const MINUTE: u64 = 60_000_000_000;

impl Member {
    pub(crate) fn new(spec: Deployment, group: String) -> Self {
        let rate = (spec.rpm.is_some() || spec.tpm.is_some()).then(|| Mutex::new((0, 0, 0)));
        Self {
            weight: AtomicU32::new(spec.weight),
            spec,
            group,
            in_flight: AtomicUsize::new(0),
            drained: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            cooldown_until: AtomicU64::new(0),
            circuit: AtomicU8::new(CLOSED),
            open_until: AtomicU64::new(0),
            failures: Mutex::new((0, 0)),
            latency: Mutex::new(Ewma::default()),
            rate,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.spec.name
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn set_drained(&self, drained: bool) {
        self.drained.store(drained, Ordering::Relaxed);
    }

    pub(crate) fn is_drained(&self) -> bool {
        self.drained.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_removed(&self) {
        self.removed.store(true, Ordering::Relaxed);
    }

    pub(crate) fn circuit(&self) -> CircuitState {
        match self.circuit.load(Ordering::Acquire) {
            OPEN => CircuitState::Open,
            HALF_OPEN => CircuitState::HalfOpen,
            _ => CircuitState::Closed,
        }
    }

    /// Whether the member may take a new call at `now` (router clock).
    pub(crate) fn fit(&self, now: u64) -> Result<(), Unfit> {
        if self.removed.load(Ordering::Relaxed) || self.drained.load(Ordering::Relaxed) {
            return Err(Unfit::Unknown);
        }
        let cool = self.cooldown_until.load(Ordering::Relaxed);
        if cool > now {
            return Err(Unfit::Until(cool));
        }
        match self.circuit.load(Ordering::Acquire) {
            CLOSED => {}
            OPEN => {
                let until = self.open_until.load(Ordering::Relaxed);
                if until > now {
                    return Err(Unfit::Until(until));
                }
            }
            _ => return Err(Unfit::Unknown),
        }
        if let Some(rate) = &self.rate {
            let (start, calls, tokens) = *lock(rate);
            if now.saturating_sub(start) < MINUTE && self.at_limit(calls, tokens) {
                return Err(Unfit::Until(start + MINUTE));
            }
        }
        Ok(())
    }

    /// Takes the member for one call: the probe of a circuit whose open time
    /// is over, a place in its rate window, a call in flight. `None` when it
    /// lost a race for them since [`fit`](Self::fit).
    pub(crate) fn acquire(self: &Arc<Self>, now: u64, tokens: u64) -> Option<InFlight> {
        let probe = match self.circuit.load(Ordering::Acquire) {
            CLOSED => false,
            // Opened since `fit`, or its open time is not over: no call.
            OPEN if self.open_until.load(Ordering::Relaxed) > now => return None,
            OPEN => {
                self.circuit
                    .compare_exchange(OPEN, HALF_OPEN, Ordering::AcqRel, Ordering::Acquire)
                    .ok()?;
                true
            }
            _ => return None,
        };
        let mut taken = None;
        if let Some(rate) = &self.rate {
            let mut rate = lock(rate);
            if now.saturating_sub(rate.0) >= MINUTE {
                *rate = (now, 0, 0);
            }
            if self.at_limit(rate.1, rate.2) {
                return None;
            }
            rate.1 += 1;
            rate.2 = rate.2.saturating_add(tokens);
            taken = Some((rate.0, tokens));
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            member: Arc::clone(self),
            probe,
            taken,
        })
    }

    /// Whether `calls` and `tokens` in a minute reach the rpm or tpm limit.
    fn at_limit(&self, calls: u32, tokens: u64) -> bool {
        self.spec.rpm.is_some_and(|max| calls >= max) || self.spec.tpm.is_some_and(|max| tokens >= max)
    }

    /// A call succeeded after `latency` (to the first content of a stream,
    /// or to the whole complete reply).
    pub(crate) fn record_success(&self, now: u64, latency: Duration, policy: &HealthPolicy) {
        lock(&self.latency).observe(now, latency, policy.latency_decay);
        if self.circuit.load(Ordering::Acquire) == HALF_OPEN {
            *lock(&self.failures) = (now, 0);
            self.circuit.store(CLOSED, Ordering::Release);
        }
    }

    /// A call failed with `error`: a delay asked for cools the deployment
    /// down, a failure of the deployment (not of the request) counts
    /// towards opening its circuit.
    pub(crate) fn record_failure(&self, now: u64, error: &Error, policy: &HealthPolicy) {
        let cooldown = match error {
            Error::RateLimited(_) => Some(error.retry_after().unwrap_or(policy.default_cooldown)),
            other if other.is_retryable() => other.retry_after(),
            _ => None,
        };
        if let Some(delay) = cooldown {
            let until = now.saturating_add(nanos(delay.min(policy.max_cooldown)));
            self.cooldown_until.fetch_max(until, Ordering::Relaxed);
        }
        let half_open = self.circuit.load(Ordering::Acquire) == HALF_OPEN;
        if !is_health_failure(error) {
            if half_open {
                // The deployment answered; the request was at fault.
                self.circuit.store(CLOSED, Ordering::Release);
            }
            return;
        }
        let open = if half_open {
            true
        } else if matches!(error, Error::RateLimited(_)) {
            // A rate limit is load, not ill health: the cooldown covers it.
            false
        } else {
            let mut failures = lock(&self.failures);
            if now.saturating_sub(failures.0) > nanos(policy.failure_window) {
                *failures = (now, 0);
            }
            failures.1 += 1;
            let open = failures.1 >= policy.failure_threshold;
            if open {
                *failures = (now, 0);
            }
            open
        };
        if open {
            self.open_until
                .store(now.saturating_add(nanos(policy.open_for)), Ordering::Relaxed);
            self.circuit.store(OPEN, Ordering::Release);
        }
    }

    /// The latency estimate at `now`, decayed towards zero while no call
    /// measured it, so an idle deployment is tried again.
    pub(crate) fn latency(&self, now: u64, decay: Duration) -> Option<Duration> {
        lock(&self.latency).estimate(now, decay)
    }

    /// Cools the deployment down for `wait` from `now` (a shared limit that
    /// refused it, say).
    pub(crate) fn cool_down(&self, now: u64, wait: Duration) {
        self.cooldown_until
            .fetch_max(now.saturating_add(nanos(wait)), Ordering::Relaxed);
    }

    /// Until when the deployment cools down, if it does at `now`.
    pub(crate) fn cooling_until(&self, now: u64) -> Option<u64> {
        let until = self.cooldown_until.load(Ordering::Relaxed);
        (until > now).then_some(until)
    }
}

/// Whether a failure says something about the deployment's health rather
/// than about the request.
fn is_health_failure(error: &Error) -> bool {
    error.is_retryable() || matches!(error, Error::Authentication(_) | Error::Redirected { .. })
}

pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section here leaves plain numbers consistent.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A call in flight on a member; dropping it ends the call.
pub(crate) struct InFlight {
    pub(crate) member: Arc<Member>,
    /// Whether this call is the probe of a half-open circuit.
    probe: bool,
    /// The rate window (its start) the call took a place in, and its tokens.
    taken: Option<(u64, u64)>,
}

impl InFlight {
    /// Lets the place go without a call being made (a hedge the retry
    /// budget refused, a shared limit that refused the deployment): the
    /// local rate window gets its place back.
    pub(crate) fn unused(self) {
        if let (Some((start, tokens)), Some(rate)) = (self.taken, &self.member.rate) {
            let mut rate = lock(rate);
            if rate.0 == start {
                rate.1 = rate.1.saturating_sub(1);
                rate.2 = rate.2.saturating_sub(tokens);
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.member.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.probe {
            // A probe dropped before its outcome was known (the caller gave
            // up): the circuit opens again, with its open time over, so that
            // the next call probes instead of the circuit staying half-open.
            let _ =
                self.member
                    .circuit
                    .compare_exchange(HALF_OPEN, OPEN, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

impl fmt::Debug for InFlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlight")
            .field("deployment", &self.member.name())
            .field("probe", &self.probe)
            .finish()
    }
}

/// A peak-sensitive moving average of latency (after tower's `PeakEwma`): a
/// sample above the estimate replaces it at once, one below pulls it down
/// with a weight that grows with the time since the last sample.
#[derive(Debug, Default)]
struct Ewma {
    /// Nanoseconds; `None` before the first sample.
    estimate: Option<f64>,
    last: u64,
}

impl Ewma {
    fn observe(&mut self, now: u64, sample: Duration, decay: Duration) {
        let sample = sample.as_nanos() as f64;
        self.estimate = Some(match self.estimate {
            Some(estimate) if sample < estimate => {
                let elapsed = now.saturating_sub(self.last) as f64;
                let keep = (-elapsed / decay.as_nanos().max(1) as f64).exp();
                estimate * keep + sample * (1.0 - keep)
            }
            _ => sample,
        });
        self.last = now;
    }

    fn estimate(&self, now: u64, decay: Duration) -> Option<Duration> {
        let estimate = self.estimate?;
        let idle = now.saturating_sub(self.last) as f64;
        let keep = (-idle / decay.as_nanos().max(1) as f64).exp();
        Some(Duration::from_nanos((estimate * keep) as u64))
    }
}

/// What a router knows about one deployment at one moment: see
/// [`Router::status`](super::Router::status).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeploymentStatus {
    /// The deployment's name.
    pub name: String,
    /// The group it serves.
    pub group: String,
    /// The concrete model.
    pub model: String,
    /// Its weight now.
    pub weight: u32,
    /// Calls in flight, open streams included.
    pub in_flight: usize,
    /// How long it still cools down after a rate limit (or a delay an
    /// upstream asked for), if it does.
    pub cooldown: Option<Duration>,
    /// Its circuit.
    pub circuit: CircuitState,
    /// Whether it was drained by hand.
    pub drained: bool,
    /// The latency estimate the least-latency strategy reads, once measured.
    pub latency: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_jumps_to_a_peak_and_decays_when_idle() {
        let decay = Duration::from_secs(10);
        let mut ewma = Ewma::default();
        assert_eq!(ewma.estimate(0, decay), None);
        ewma.observe(0, Duration::from_millis(10), decay);
        ewma.observe(1, Duration::from_millis(100), decay);
        assert_eq!(ewma.estimate(1, decay), Some(Duration::from_millis(100)));
        // Ten decay periods of silence: the estimate is almost gone.
        let later = 1 + 100_000_000_000;
        assert!(ewma.estimate(later, decay).unwrap() < Duration::from_millis(1));
    }
}
