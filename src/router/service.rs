//! [`Router`]: the service at the bottom of a stack that routes each call
//! to a deployment of its group, and [`RouterBuilder`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tower::ServiceExt;
use tower_service::Service;

use super::deployment::{nanos, Deployment, DeploymentStatus, InFlight, Member};
use super::group::{Group, Live};
use super::policy::{HealthPolicy, RetryBudget, RetryPolicy};
use crate::error::{Attempt, Error, Result};
use crate::observe::peek_content;
use crate::store::{Admission, CounterOp, CounterStore, Window};
use crate::types::{ChatStream, LlmRequest, LlmResponse, Operation, Reply, RouteTaken, StreamEvent};

/// The future of a [`Router`] call.
pub type RouterFuture = Pin<Box<dyn Future<Output = Result<LlmResponse>> + Send + 'static>>;

/// Routes each call to a deployment of the group its model names, with
/// retries, fallbacks, cooldowns and failover of streams before their first
/// content. Built with [`Router::builder`]; see the [module docs](super).
///
/// Clones share everything: the groups, the deployments' state, the retry
/// budget. A clone is a handle that changes the deployments at run time
/// ([`add_deployment`](Self::add_deployment),
/// [`remove_deployment`](Self::remove_deployment),
/// [`set_weight`](Self::set_weight), [`drain`](Self::drain), or
/// [`follow`](Self::follow) a `Discover` stream) while the stack built on
/// another clone keeps serving.
///
/// # Readiness
///
/// The router is always ready: `poll_ready` answers `Ready(Ok(()))` at once.
/// Which deployment serves a call is known only in `call`, from the
/// request (its model, its size, its principal) and the deployments' state
/// at that moment, so readiness cannot be asked of "the" inner service in
/// advance; polling every deployment and then calling one would reserve
/// capacity (a concurrency permit, a rate-limiter token) in all of them and
/// use it in one. Instead the call's future takes a clone of the chosen
/// deployment's service, drives that clone's readiness
/// (`ServiceExt::ready`) and calls it, in the same future: whatever the
/// clone reserved is used by this call and no other. A deployment that is
/// not ready yet (its own concurrency limit is full) makes that call wait,
/// not the router.
#[derive(Clone)]
pub struct Router {
    shared: Arc<Shared>,
}

struct Shared {
    table: RwLock<Arc<Table>>,
    retry: RetryPolicy,
    health: HealthPolicy,
    budget: Option<RetryBudget>,
    /// Where rpm and tpm limits are counted when processes share them.
    rates: Option<Arc<dyn CounterStore>>,
    epoch: tokio::time::Instant,
}

impl Shared {
    /// The router's clock, in nanoseconds: tokio's, so that paused time in
    /// tests moves cooldowns too.
    fn now(&self) -> u64 {
        nanos(tokio::time::Instant::now().saturating_duration_since(self.epoch))
    }

    fn table(&self) -> Arc<Table> {
        Arc::clone(&self.table.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn edit<T>(&self, edit: impl FnOnce(&mut Table) -> T) -> T {
        let mut guard = self.table.write().unwrap_or_else(|e| e.into_inner());
        let mut table = Table::clone(&guard);
        let out = edit(&mut table);
        *guard = Arc::new(table);
        out
    }
}

#[derive(Clone, Default)]
struct Table {
    groups: Vec<Live>,
    index: HashMap<String, usize>,
}

impl Table {
    fn get(&self, name: &str) -> Option<&Live> {
        self.index.get(name).map(|&i| &self.groups[i])
    }

    fn member(&self, name: &str) -> Option<&Arc<Member>> {
        self.groups
            .iter()
            .flat_map(|g| &g.members)
            .find(|m| m.name() == name)
    }
}

impl Router {
    /// A builder with no group, the default [`RetryPolicy`],
    /// [`HealthPolicy`] and [`RetryBudget`].
    pub fn builder() -> RouterBuilder {
        RouterBuilder {
            groups: Vec::new(),
            retry: RetryPolicy::default(),
            health: HealthPolicy::default(),
            budget: Some(RetryBudget::default()),
            rates: None,
        }
    }

    /// Adds a deployment to the group named `group` (or one of its
    /// aliases), at run time: new calls may go to it at once.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when no group has that name, or a deployment with
    /// the same name exists.
    pub fn add_deployment(&self, group: &str, deployment: Deployment) -> Result<()> {
        self.shared.edit(|table| {
            if table.member(&deployment.name).is_some() {
                return Err(Error::config(format!(
                    "a deployment named {:?} is already routed to",
                    deployment.name
                )));
            }
            let Some(&i) = table.index.get(group) else {
                return Err(Error::config(format!("the router has no group named {group:?}")));
            };
            let live = &mut table.groups[i];
            live.members
                .push(Arc::new(Member::new(deployment, live.name.to_string())));
            Ok(())
        })
    }

    /// Removes the deployment named `name`: it receives no new call; calls
    /// in flight on it (open streams included) finish. Whether it existed.
    pub fn remove_deployment(&self, name: &str) -> bool {
        self.shared.edit(|table| {
            for group in &mut table.groups {
                if let Some(i) = group.members.iter().position(|m| m.name() == name) {
                    // Calls that already hold the old table skip it too.
                    group.members.remove(i).mark_removed();
                    return true;
                }
            }
            false
        })
    }

    /// Follows a [`Discover`](tower::discover::Discover) stream of
    /// deployments for the group named `group` until it ends: each
    /// `Change::Insert(name, deployment)` adds the deployment under that
    /// name (replacing one of the same name, whose calls in flight finish),
    /// each `Change::Remove(name)` removes it. Run it as a task of its own.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use tower::discover::Change;
    /// use tower_ai::provider::mock::MockProvider;
    /// use tower_ai::router::{Deployment, Group, Router};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_ai::Error> {
    /// let router = Router::builder().group(Group::new("gpt-4o-mini")).build()?;
    /// let changes = futures_util::stream::iter([
    ///     Ok::<_, Infallible>(Change::Insert(
    ///         "east".to_owned(),
    ///         Deployment::provider("east", "gpt-4o-mini", MockProvider::new()),
    ///     )),
    ///     Ok(Change::Remove("east".to_owned())),
    ///     Ok(Change::Insert(
    ///         "west".to_owned(),
    ///         Deployment::provider("west", "gpt-4o-mini", MockProvider::new()),
    ///     )),
    /// ]);
    /// router.follow("gpt-4o-mini", changes).await?;
    /// assert!(router.status("east").is_none());
    /// assert!(router.status("west").is_some());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The stream's own error (as [`Error::Other`]), or [`Error::Config`]
    /// when no group is named `group`.
    pub async fn follow<D>(&self, group: &str, discover: D) -> Result<()>
    where
        D: tower::discover::Discover<Key = String, Service = Deployment>,
        D::Error: Into<crate::error::BoxError>,
    {
        use tower::discover::Change;

        if self.shared.table().get(group).is_none() {
            return Err(Error::config(format!("the router has no group named {group:?}")));
        }
        let mut discover = std::pin::pin!(discover);
        while let Some(change) = std::future::poll_fn(|cx| discover.as_mut().poll_discover(cx)).await {
            match change.map_err(Error::other)? {
                Change::Insert(name, mut deployment) => {
                    deployment.name = name;
                    self.remove_deployment(&deployment.name);
                    self.add_deployment(group, deployment)?;
                }
                Change::Remove(name) => {
                    self.remove_deployment(&name);
                }
            }
        }
        Ok(())
    }

    /// Sets the weight of the deployment named `name`. Whether it exists.
    pub fn set_weight(&self, name: &str, weight: u32) -> bool {
        self.with_member(name, |m| {
            m.weight.store(weight, std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Drains the deployment named `name` (no new call; calls in flight
    /// finish), or takes it back with `drained = false`. Whether it exists.
    pub fn drain(&self, name: &str, drained: bool) -> bool {
        self.with_member(name, |m| m.set_drained(drained))
    }

    fn with_member(&self, name: &str, f: impl FnOnce(&Member)) -> bool {
        let table = self.shared.table();
        table.member(name).map(|m| f(m)).is_some()
    }

    /// What the router knows about the deployment named `name` now.
    pub fn status(&self, name: &str) -> Option<DeploymentStatus> {
        let table = self.shared.table();
        table.member(name).map(|m| self.status_of(m))
    }

    /// What the router knows about every deployment now, group by group.
    pub fn statuses(&self) -> Vec<DeploymentStatus> {
        let table = self.shared.table();
        table
            .groups
            .iter()
            .flat_map(|g| &g.members)
            .map(|m| self.status_of(m))
            .collect()
    }

    fn status_of(&self, member: &Member) -> DeploymentStatus {
        let now = self.shared.now();
        DeploymentStatus {
            name: member.name().to_owned(),
            group: member.group.clone(),
            model: member.spec.model.clone(),
            weight: member.weight.load(std::sync::atomic::Ordering::Relaxed),
            in_flight: member.in_flight(),
            cooldown: member
                .cooling_until(now)
                .map(|until| Duration::from_nanos(until - now)),
            circuit: member.circuit(),
            drained: member.is_drained(),
            latency: member.latency(now, self.shared.health.latency_decay),
        }
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.shared.table();
        let groups: Vec<&str> = table.groups.iter().map(|g| &*g.name).collect();
        f.debug_struct("Router")
            .field("groups", &groups)
            .field("retry", &self.shared.retry)
            .field("health", &self.shared.health)
            .field("budget", &self.shared.budget)
            .finish()
    }
}

/// Builds a [`Router`]: see [`Router::builder`].
#[derive(Debug)]
#[must_use]
pub struct RouterBuilder {
    groups: Vec<Group>,
    retry: RetryPolicy,
    health: HealthPolicy,
    budget: Option<RetryBudget>,
    rates: Option<Arc<dyn CounterStore>>,
}

impl RouterBuilder {
    /// Adds a group.
    pub fn group(mut self, group: Group) -> Self {
        self.groups.push(group);
        self
    }

    /// Sets how retryable failures are retried.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets how deployments' health is judged (cooldowns, circuits, latency decay).
    pub fn health(mut self, health: HealthPolicy) -> Self {
        self.health = health;
        self
    }

    /// Sets the retry budget shared by every call of the router (and its
    /// clones); `None` lets every call make all its retries.
    pub fn retry_budget(mut self, budget: Option<RetryBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// Counts the deployments' rpm and tpm limits in `store` as well as in
    /// this process, so that several processes (several routers over one
    /// Redis) share each deployment's limits. A deployment the store
    /// refuses is skipped until its minute is over, like one at its local
    /// limit, without counting as a retry. A store that fails is logged and
    /// the call goes on: the vendor enforces its own limits in the end.
    pub fn rate_store(mut self, store: impl CounterStore) -> Self {
        self.rates = Some(Arc::new(store));
        self
    }

    /// The router.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when two groups share a name or an alias, two
    /// deployments share a name, or a fallback names no group.
    pub fn build(self) -> Result<Router> {
        let mut table = Table::default();
        for (i, group) in self.groups.iter().enumerate() {
            for name in std::iter::once(&group.name).chain(&group.aliases) {
                if table.index.insert(name.clone(), i).is_some() {
                    return Err(Error::config(format!("two groups are named {name:?}")));
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        for group in self.groups {
            for (_, to) in &group.fallbacks {
                if !table.index.contains_key(to) {
                    return Err(Error::config(format!(
                        "the group {:?} falls back to {to:?}, which is no group",
                        group.name
                    )));
                }
            }
            let mut members = Vec::with_capacity(group.deployments.len());
            for deployment in group.deployments {
                if !names.insert(deployment.name.clone()) {
                    return Err(Error::config(format!(
                        "two deployments are named {:?}",
                        deployment.name
                    )));
                }
                members.push(Arc::new(Member::new(deployment, group.name.clone())));
            }
            table.groups.push(Live {
                name: group.name.as_str().into(),
                members,
                strategy: group.strategy,
                fallbacks: group.fallbacks.into(),
                hedge: group.hedge,
            });
        }
        Ok(Router {
            shared: Arc::new(Shared {
                table: RwLock::new(Arc::new(table)),
                retry: self.retry,
                health: self.health,
                budget: self.budget,
                rates: self.rates,
                epoch: tokio::time::Instant::now(),
            }),
        })
    }
}

impl Service<LlmRequest> for Router {
    type Response = LlmResponse;
    type Error = Error;
    type Future = RouterFuture;

    /// Always ready: see [Readiness](Router#readiness).
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: LlmRequest) -> Self::Future {
        Box::pin(route(Arc::clone(&self.shared), request))
    }
}

/// What the last attempt in the current group allows next.
enum Step {
    /// Nothing failed in this group yet.
    Fresh,
    /// A retryable failure: a retry (budgeted), at once on another
    /// deployment or after a wait on the same ones.
    Retry(Error),
    /// A failure another deployment may not have: the group's other
    /// deployments, once each, unbudgeted.
    Other(Error),
}

async fn route(shared: Arc<Shared>, request: LlmRequest) -> Result<LlmResponse> {
    let table = shared.table();
    let Some(mut group) = table.get(request.model()) else {
        return Err(Error::no_route(request.model()));
    };
    if let Some(budget) = &shared.budget {
        budget.deposit();
    }
    let mut tokens = None;
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut visited: Vec<Arc<str>> = vec![Arc::clone(&group.name)];
    let mut tried: Vec<usize> = Vec::new();
    let mut retries = 0;
    let mut rounds = 0;
    let mut step = Step::Fresh;
    loop {
        // Whether another attempt may start in this group, and on what.
        let pick = |tried: &[usize], tokens: &mut Option<u64>| {
            group.pick(&request, tried, shared.now(), shared.health.latency_decay, tokens)
        };
        let picked = match step {
            Step::Fresh => pick(&tried, &mut tokens),
            _ if deadline_passed(&request) => Err(None),
            Step::Other(_) => pick(&tried, &mut tokens),
            Step::Retry(_) if retries >= shared.retry.max_retries => Err(None),
            Step::Retry(_) if !shared.budget.as_ref().is_none_or(RetryBudget::withdraw) => Err(None),
            Step::Retry(ref error) => {
                retries += 1;
                match pick(&tried, &mut tokens) {
                    Err(_) => match shared.retry.wait(rounds, error) {
                        // Every deployment was tried: wait, then the group again.
                        Some(wait) if request.meta.remaining().is_none_or(|left| wait < left) => {
                            tokio::time::sleep(wait).await;
                            rounds += 1;
                            tried.clear();
                            pick(&tried, &mut tokens)
                        }
                        _ => Err(None),
                    },
                    picked => picked,
                }
            }
        };
        let (index, guard) = match picked {
            Ok(picked) => picked,
            Err(soonest) => {
                let error = match step {
                    Step::Fresh => {
                        let now = shared.now();
                        let wait = soonest.map(|until| Duration::from_nanos(until.saturating_sub(now)));
                        Error::unavailable(request.model(), wait)
                    }
                    Step::Retry(error) | Step::Other(error) => error,
                };
                match fall_back(&table, group, &error, &visited) {
                    Some(next) => {
                        visited.push(Arc::clone(&next.name));
                        group = next;
                        tried.clear();
                        rounds = 0;
                        step = Step::Fresh;
                        continue;
                    }
                    None => return Err(failure(attempts, error)),
                }
            }
        };
        tried.push(index);
        if let Some(store) = &shared.rates {
            let member = &group.members[index];
            let lease = format!("{}:{}:{}", request.meta.id, member.name(), tried.len());
            if let Some(wait) = shared_rate_refusal(store.as_ref(), member, &lease, tokens.unwrap_or(0)).await
            {
                member.cool_down(shared.now(), wait);
                guard.unused();
                // Another deployment, or a fallback: no upstream call was made.
                step = Step::Other(Error::unavailable(request.model(), Some(wait)));
                continue;
            }
        }
        let hedge = match (&step, group.hedge) {
            (Step::Fresh, Some(delay)) => Some(delay),
            _ => None,
        };
        let outcome = match hedge {
            Some(delay) => {
                let hedging = Hedging {
                    shared: &shared,
                    group,
                    request: &request,
                    delay,
                };
                // Boxed: the hedged path is the rare one, and its state
                // would otherwise enlarge every call's future.
                Box::pin(hedging.run(index, guard, &mut tried, &mut tokens, &mut attempts)).await
            }
            None => {
                let member = &group.members[index];
                let ended = timed(attempt(&shared, member, guard, &request)).await;
                settle(&mut attempts, member, index, ended)
            }
        };
        match outcome {
            Ok((index, mut response)) => {
                let member = &group.members[index];
                let mut route = RouteTaken::new(member.name(), member.spec.model.clone());
                route.failed_attempts = attempts;
                response.extensions.insert(route);
                return Ok(response);
            }
            Err(error) => {
                step = if error.is_retryable() {
                    Step::Retry(error)
                } else if error.is_fallback_candidate() {
                    if matches!(error, Error::ContextLengthExceeded(_)) {
                        // The group's deployments serve one window: no use trying them.
                        tried.extend(0..group.members.len());
                    }
                    Step::Other(error)
                } else {
                    return Err(failure(attempts, error));
                };
            }
        }
    }
}

/// Reserves one call (and its prompt's tokens) against the deployment's
/// rpm and tpm limits in the shared store: `Some(wait)` when the store
/// refuses, with the time until the limit's minute is over. The holding
/// lapses with its minute: the lease lives as long as the window.
async fn shared_rate_refusal(
    store: &dyn CounterStore,
    member: &Member,
    lease: &str,
    tokens: u64,
) -> Option<Duration> {
    let (rpm, tpm) = (member.spec.rpm, member.spec.tpm);
    if rpm.is_none() && tpm.is_none() {
        return None;
    }
    let key = |what: &str| format!("router:{what}:{}:{}", member.group, member.name());
    let mut ops = Vec::with_capacity(2);
    if let Some(max) = rpm {
        ops.push(CounterOp::new(key("rpm"), 1, u64::from(max), Window::MINUTE));
    }
    if let Some(max) = tpm {
        ops.push(CounterOp::new(key("tpm"), tokens, max, Window::MINUTE));
    }
    match store.reserve(lease, &ops, Duration::from_secs(60)).await {
        Ok(Admission::Refused { reset_after, .. }) => Some(reset_after.unwrap_or(Duration::from_secs(60))),
        Ok(_) => None,
        Err(error) => {
            tracing::warn!(%error, deployment = member.name(), "the shared rate store failed; the call goes on");
            None
        }
    }
}

/// Notes a failed attempt: in the call's attempts, and as an event of the
/// call's span (the telemetry layer's, when it is above).
fn failed(attempts: &mut Vec<Attempt>, member: &Member, error: &Error, took: Duration) {
    tracing::event!(
        target: "tower_ai::router",
        tracing::Level::INFO,
        tower_ai.deployment = member.name(),
        gen_ai.request.model = %member.spec.model,
        error.type = error.kind(),
        tower_ai.attempt.duration_ms = took.as_secs_f64() * 1000.0,
        error.message = %error,
        "attempt failed"
    );
    attempts.push(Attempt::new(member.name(), error.clone()).with_duration(took));
}

/// The outcome of the attempt on the member at `index`, noted in
/// `attempts` when it failed.
fn settle(
    attempts: &mut Vec<Attempt>,
    member: &Member,
    index: usize,
    (result, took): (Result<LlmResponse>, Duration),
) -> Result<(usize, LlmResponse)> {
    match result {
        Ok(response) => Ok((index, response)),
        Err(error) => {
            failed(attempts, member, &error, took);
            Err(error)
        }
    }
}

async fn timed<F: Future>(future: F) -> (F::Output, Duration) {
    let started = tokio::time::Instant::now();
    let output = future.await;
    (output, started.elapsed())
}

/// The first attempt of a call in a group that hedges.
struct Hedging<'a> {
    shared: &'a Arc<Shared>,
    group: &'a Live,
    request: &'a LlmRequest,
    delay: Duration,
}

impl Hedging<'_> {
    /// Runs the attempt on `first`; after the delay, races a second one on
    /// another deployment. The winner's index and response, or the last
    /// error when every attempt started failed (each noted in `attempts`).
    async fn run(
        &self,
        first: usize,
        guard: InFlight,
        tried: &mut Vec<usize>,
        tokens: &mut Option<u64>,
        attempts: &mut Vec<Attempt>,
    ) -> Result<(usize, LlmResponse)> {
        use futures_util::future::{select, Either};

        let (shared, group, request) = (self.shared, self.group, self.request);
        let one = &group.members[first];
        let mut first_call = Box::pin(timed(attempt(shared, one, guard, request)));
        let timer = Box::pin(tokio::time::sleep(self.delay));
        let first_call = match select(first_call.as_mut(), timer).await {
            Either::Left((ended, _)) => return settle(attempts, one, first, ended),
            Either::Right(((), _)) => first_call,
        };
        // Another deployment first, then a token of the budget: no token is
        // spent on a hedge that cannot start.
        let second = match group.pick(request, tried, shared.now(), shared.health.latency_decay, tokens) {
            Ok((second, guard)) if shared.budget.as_ref().is_none_or(RetryBudget::withdraw) => {
                Some((second, guard))
            }
            Ok((_, guard)) => {
                // No token for the hedge: the place it took is given back.
                guard.unused();
                None
            }
            Err(_) => None,
        };
        let Some((second, guard)) = second else {
            return settle(attempts, one, first, first_call.await);
        };
        tried.push(second);
        let other = &group.members[second];
        tracing::event!(
            target: "tower_ai::router",
            tracing::Level::INFO,
            tower_ai.deployment = other.name(),
            tower_ai.hedged_after_ms = self.delay.as_secs_f64() * 1000.0,
            "hedge started"
        );
        #[cfg(feature = "telemetry")]
        metrics::counter!("tower_ai.router.hedges", "group" => group.name.to_string(), "outcome" => "started")
            .increment(1);
        let second_call = Box::pin(timed(attempt(shared, other, guard, request)));
        // The first to answer wins; the other is dropped, which cancels it.
        let (done, (result, took), rest, rest_index) = match select(first_call, second_call).await {
            Either::Left((output, rest)) => (first, output, rest, second),
            Either::Right((output, rest)) => (second, output, rest, first),
        };
        #[cfg(feature = "telemetry")]
        {
            let outcome = if done == second { "hedge_won" } else { "first_won" };
            metrics::counter!("tower_ai.router.hedges", "group" => group.name.to_string(), "outcome" => outcome)
                .increment(1);
        }
        let error = match result {
            Ok(response) => return Ok((done, response)),
            Err(error) => error,
        };
        // The first to end failed: the other may still answer.
        failed(attempts, &group.members[done], &error, took);
        settle(attempts, &group.members[rest_index], rest_index, rest.await)
    }
}

/// The group to fall back to after `error`: the first of `group`'s
/// fallbacks for its class whose group the call has not visited.
fn fall_back<'t>(table: &'t Table, group: &Live, error: &Error, visited: &[Arc<str>]) -> Option<&'t Live> {
    group
        .fallbacks
        .iter()
        .filter(|(on, _)| on.matches(error))
        .filter_map(|(_, to)| table.get(to))
        .find(|next| !visited.contains(&next.name))
}

/// The error a call that found no more attempt fails with: the one
/// attempt's own error, or every attempt's in [`Error::AllAttemptsFailed`],
/// or `last` when no attempt was made.
fn failure(mut attempts: Vec<Attempt>, last: Error) -> Error {
    match attempts.len() {
        0 => last,
        1 => attempts.pop().map_or(last, |a| a.error),
        _ => Error::all_attempts_failed(attempts),
    }
}

fn deadline_passed(request: &LlmRequest) -> bool {
    request.meta.remaining().is_some_and(|left| left.is_zero())
}

/// One attempt on one deployment: the request retargeted to its model,
/// readiness driven on a clone of its service, the call, and for a stream
/// the wait for its first content event.
async fn attempt(
    shared: &Arc<Shared>,
    member: &Arc<Member>,
    guard: InFlight,
    request: &LlmRequest,
) -> Result<LlmResponse> {
    let mut request = request.clone();
    retarget(&mut request, &member.spec.model);
    let started = tokio::time::Instant::now();
    let mut service = member.spec.service.clone();
    let result = match service.ready().await {
        Ok(service) => service.call(request).await,
        Err(error) => Err(error),
    };
    let result = match result {
        Ok(LlmResponse {
            reply: Reply::Stream(stream),
            extensions,
        }) => match peek_content(stream).await {
            Ok(peeked) => {
                let stream = peeked.into_stream().map_stream(|inner| Tracked {
                    inner,
                    guard,
                    shared: Arc::clone(shared),
                });
                let mut response = LlmResponse::new(Reply::Stream(stream));
                response.extensions = extensions;
                Ok(response)
            }
            Err(error) => Err(error),
        },
        other => other,
    };
    let now = shared.now();
    match &result {
        Ok(_) => member.record_success(now, started.elapsed(), &shared.health),
        Err(error) => member.record_failure(now, error, &shared.health),
    }
    result
}

/// Puts the deployment's concrete model in place of the model or alias asked for.
fn retarget(request: &mut LlmRequest, model: &str) {
    if request.model() == model {
        return;
    }
    match request.operation {
        Operation::Chat(_) => {
            if let Some(chat) = request.chat_mut() {
                model.clone_into(&mut chat.model);
            }
        }
        Operation::Embeddings(_) => {
            if let Some(embeddings) = request.embedding_request_mut() {
                model.clone_into(&mut embeddings.model);
            }
        }
    }
}

/// A routed stream past its first content: counts as a call in flight on
/// its deployment until it ends or is dropped, and reports a failure after
/// content to the deployment's health (the caller gets the error; no
/// failover once content was passed on).
struct Tracked {
    inner: ChatStream,
    guard: InFlight,
    shared: Arc<Shared>,
}

impl Stream for Tracked {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = std::task::ready!(Pin::new(&mut self.inner).poll_next(cx));
        if let Some(Err(error)) = &item {
            let now = self.shared.now();
            self.guard.member.record_failure(now, error, &self.shared.health);
        }
        Poll::Ready(item)
    }
}
