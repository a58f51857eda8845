//! Token, cost and request budgets that concurrent calls never overspend:
//! reserve the worst case before the call, settle to the reported usage at
//! the reply's real end.
//!
//! ```
//! use tower::{Service, ServiceBuilder, ServiceExt};
//! use tower_ai::budget::{BudgetLayer, Limit, Metric, Period, Scope};
//! use tower_ai::provider::{mock::MockProvider, ProviderService};
//! use tower_ai::store::MemoryCounterStore;
//! use tower_ai::types::ChatRequest;
//! use tower_ai::{Error, LlmRequest, Principal};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let budget = BudgetLayer::new(MemoryCounterStore::new())
//!     .limit(Limit::new(Scope::User, Metric::Requests, Period::Day, 2));
//! let mut service = ServiceBuilder::new()
//!     .layer(budget.clone())
//!     .service(ProviderService::new(MockProvider::new().with_text_reply("hi")));
//!
//! let ann = || LlmRequest::new(ChatRequest::new("gpt-4o").user("hello"))
//!     .with_principal(Principal::new().user("ann"));
//! for _ in 0..2 {
//!     service.ready().await?.call(ann()).await?.into_complete().await?;
//! }
//! let refused = service.ready().await?.call(ann()).await.unwrap_err();
//! assert!(matches!(refused, Error::BudgetExceeded { .. }));
//! assert_eq!(refused.to_string().contains("user:ann"), true);
//! # Ok(())
//! # }
//! ```
//!
//! # Reserve, then settle
//!
//! Before the call, the layer counts the prompt ([`TokenCounter`]), checks
//! it against the model's context window, and reserves the call's worst
//! case against **every** limit that applies to it, in one atomic step of
//! the [`CounterStore`]: the prompt's tokens plus the most the reply may
//! generate (`max_tokens`, else the model's maximum output, else
//! [`BudgetLayer::default_max_output_tokens`]), priced at the model's
//! prices. If any limit would be passed, nothing is reserved and the call
//! fails with [`Error::BudgetExceeded`] naming the scope, the limit and when
//! it resets, without calling upstream.
//!
//! At the reply's real end (a stream's last event, its error, or its drop)
//! the reservation is settled to the usage the vendor reported: the unused
//! part is let go, and what was really spent is recorded, cached and
//! reasoning tokens priced at their own rates. A reply without usage is
//! settled on the prompt's count and the generated text counted with the
//! tokenizer. A failure before the reply's head spends nothing. The
//! settlement is left in the response's [`BudgetCharge`] for telemetry and
//! audit.
//!
//! Reservations are leases ([`BudgetLayer::lease_ttl`], 10 minutes by
//! default): a process that dies holding one gives it back when it expires.
//!
//! # When the store fails
//!
//! By default a call whose reservation cannot be made (the store is down)
//! fails with the store's error: the budget is never passed. With
//! [`BudgetLayer::fail_open`], it goes through unreserved, and a warning is
//! logged.

mod limit;

use limit::Prepared;
pub use limit::{Limit, Metric, Period, Scope};

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::ServiceExt;
use tower_layer::Layer;
use tower_service::Service;

use crate::background::{take_ready, Background};
use crate::error::{ApiError, Error, Result};
use crate::observe::{observe, End, Observer};
use crate::store::{Admission, CounterOp, CounterStore, CounterValue};
use crate::tokens::TokenCounter;
use crate::types::{
    BudgetCharge, BuiltinCatalog, Charge, ChatResponse, EmbeddingResponse, LlmRequest, LlmResponse,
    ModelCatalog, Operation, Prices, Reply, Settlement, Usage, UsageSource,
};

/// How long a reservation is held before it expires, by default.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(600);

/// The most output reserved for a model whose maximum is unknown and a
/// request without `max_tokens`, by default.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 4_096;

/// A layer that reserves each call's worst case against its limits and
/// settles it to the real usage. See the [module docs](self).
#[derive(Clone)]
pub struct BudgetLayer {
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Shared {
    store: Arc<dyn CounterStore>,
    limits: Vec<Limit>,
    /// `limits`, each made ready for calls.
    prepared: Vec<Prepared>,
    counter: TokenCounter,
    catalog: Arc<dyn ModelCatalog>,
    lease_ttl: Duration,
    default_max_output: u32,
    fail_open: bool,
    /// Settlements still running (shared with a layer configured from this one).
    background: Arc<Background>,
}

impl BudgetLayer {
    /// A budget keeping its counters in `store`, with no limit yet.
    pub fn new(store: impl CounterStore) -> Self {
        Self {
            shared: Arc::new(Shared {
                store: Arc::new(store),
                limits: Vec::new(),
                prepared: Vec::new(),
                counter: TokenCounter::new(),
                catalog: Arc::new(BuiltinCatalog::new()),
                lease_ttl: DEFAULT_LEASE_TTL,
                default_max_output: DEFAULT_MAX_OUTPUT_TOKENS,
                fail_open: false,
                background: Arc::default(),
            }),
        }
    }

    fn edit(mut self, change: impl FnOnce(&mut Shared)) -> Self {
        // Configured after a clone: the clone keeps the old settings.
        change(Arc::make_mut(&mut self.shared));
        self
    }

    /// Adds a limit. A limit of the same scope, metric, period and value
    /// (`only`) as one added before replaces it: two such limits would
    /// count on one counter.
    #[must_use]
    pub fn limit(self, limit: Limit) -> Self {
        self.limits([limit])
    }

    /// Adds limits (from configuration, say), as [`limit`](Self::limit) does.
    #[must_use]
    pub fn limits(self, limits: impl IntoIterator<Item = Limit>) -> Self {
        self.edit(|s| {
            for limit in limits {
                s.limits.retain(|old| !old.same_counter(&limit));
                s.limits.push(limit);
            }
            s.prepared = s.limits.iter().map(|limit| limit.prepare(&s.limits)).collect();
        })
    }

    /// Where context windows, maximum outputs and prices come from (default:
    /// the built-in table).
    #[must_use]
    pub fn catalog(self, catalog: impl ModelCatalog) -> Self {
        self.edit(|s| s.catalog = Arc::new(catalog))
    }

    /// The token counter (share one between layers to share its memo).
    #[must_use]
    pub fn counter(self, counter: TokenCounter) -> Self {
        self.edit(|s| s.counter = counter)
    }

    /// How long a reservation lives if it is never settled (default
    /// [`DEFAULT_LEASE_TTL`]). Longer than the longest call.
    #[must_use]
    pub fn lease_ttl(self, ttl: Duration) -> Self {
        self.edit(|s| s.lease_ttl = ttl)
    }

    /// The output reserved when neither the request nor the catalog bounds
    /// it (default [`DEFAULT_MAX_OUTPUT_TOKENS`]).
    #[must_use]
    pub fn default_max_output_tokens(self, tokens: u32) -> Self {
        self.edit(|s| s.default_max_output = tokens)
    }

    /// Lets calls through unreserved when the store fails, instead of
    /// failing them (the default).
    #[must_use]
    pub fn fail_open(self, yes: bool) -> Self {
        self.edit(|s| s.fail_open = yes)
    }

    /// Waits until every settlement begun so far reached the store.
    ///
    /// A settlement the store cannot finish at once (a network store) runs
    /// on a task spawned at the reply's end; a test or a shutdown that reads
    /// the ledger right after a call waits here first.
    pub async fn settled(&self) {
        self.shared.background.idle().await;
    }

    /// What `limit` has counted for one value of its scope (`"ann"` for a
    /// per-user limit; anything for a global one), in its current window.
    pub async fn spend(&self, limit: &Limit, value: &str) -> Result<Spend> {
        let key = limit.key_for(value);
        let value = self.shared.store.value(&key, limit.period.window()).await?;
        Ok(Spend {
            limit: limit.clone(),
            value,
        })
    }
}

impl fmt::Debug for BudgetLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetLayer")
            .field("store", &self.shared.store)
            .field("limits", &self.shared.limits)
            .field("lease_ttl", &self.shared.lease_ttl)
            .field("fail_open", &self.shared.fail_open)
            .finish_non_exhaustive()
    }
}

/// What one limit has counted, in its current window.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Spend {
    /// The limit.
    pub limit: Limit,
    /// Spent and held, and when the window resets.
    pub value: CounterValue,
}

impl Spend {
    /// What is left before the limit, held reservations counted as spent.
    pub fn remaining(&self) -> u64 {
        self.limit.max.saturating_sub(self.value.total())
    }
}

impl<S> Layer<S> for BudgetLayer {
    type Service = Budget<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Budget {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`BudgetLayer`] makes.
#[derive(Clone)]
pub struct Budget<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for Budget<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> Service<LlmRequest> for Budget<S>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = LlmResponse;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<LlmResponse>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: LlmRequest) -> Self::Future {
        let inner = take_ready(&mut self.inner);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { shared.call(inner, request).await })
    }
}

/// The call's worst case, and what it is reserved against.
struct Plan {
    ops: Vec<CounterOp>,
    scopes: Vec<String>,
    /// Each op's limit, as its index in the layer's limits.
    limits: Vec<usize>,
    prompt_tokens: u64,
    /// The model's prices, when the catalog knows them.
    prices: Option<Prices>,
    reserved: Charge,
}

impl Shared {
    async fn call<S>(self: Arc<Self>, inner: S, request: LlmRequest) -> Result<LlmResponse>
    where
        S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
    {
        let plan = self.plan(&request)?;
        let lease = request.meta.id.clone();
        let mut reserved = !plan.ops.is_empty();
        if reserved {
            let answer = match self.store.reserve_now(&lease, &plan.ops, self.lease_ttl) {
                Some(answer) => answer,
                None => self.store.reserve(&lease, &plan.ops, self.lease_ttl).await,
            };
            match answer {
                Ok(Admission::Admitted) => {}
                Ok(Admission::Refused {
                    op,
                    current,
                    reset_after,
                }) => {
                    let limit = &self.limits[plan.limits[op]];
                    let left = limit.max.saturating_sub(current);
                    return Err(Error::budget_exceeded(
                        plan.scopes[op].clone(),
                        format!("{limit}: {left} left, this call may use {}", plan.ops[op].amount),
                        reset_after,
                    ));
                }
                Err(error) if self.fail_open => {
                    tracing::warn!(%error, "budget store failed; the call goes through unreserved");
                    reserved = false;
                }
                Err(error) => return Err(error),
            }
        }
        let mut plan = plan;
        let charge = BudgetCharge::new(std::mem::take(&mut plan.scopes), plan.reserved);
        let settled = charge.settlement();
        // Dropped with the call before its head (a time-out above, a
        // `select!`), the guard lets the reservation go.
        let mut guard = Unsettled(Some(Settle {
            shared: Arc::clone(&self),
            lease,
            plan,
            settled,
            reserved,
        }));
        let result = inner.oneshot(request).await;
        let settle = guard.0.take().expect("taken only here");
        match result {
            Ok(mut response) => {
                response.extensions.insert(charge);
                Ok(match response.reply {
                    // A complete reply has ended already: settled at once,
                    // without replaying it to an observer.
                    Reply::Complete(ref reply) => {
                        let usage = settle.usage_of(reply);
                        settle.spend(usage);
                        response
                    }
                    _ => observe(response, settle),
                })
            }
            Err(error) => {
                // Nothing was generated: the reservation is let go whole.
                settle.release().await;
                Err(error)
            }
        }
    }

    fn plan(&self, request: &LlmRequest) -> Result<Plan> {
        let model_name = request.model();
        // Borrowed from the catalog: only the prices outlive the plan.
        let model = self.catalog.model(model_name);
        let (prompt_tokens, max_output) = match &request.operation {
            Operation::Chat(chat) => {
                let count = self.counter.count_request(chat);
                let prompt = count.tokens;
                // The window is checked on the count without an estimate's
                // margin, so no prompt that fits is refused.
                let floor = count.counted;
                let window = model.as_ref().and_then(|m| m.context_window).map(u64::from);
                let model_max = model.as_ref().and_then(|m| m.max_output_tokens).map(u64::from);
                if let Some(window) = window {
                    let asked = chat.max_tokens.map(u64::from).unwrap_or(0);
                    if floor.saturating_add(asked) > window {
                        return Err(Error::ContextLengthExceeded(Box::new(ApiError::new(
                            "budget",
                            format!(
                                "the prompt ({floor} tokens, counted locally) and max_tokens ({asked}) \
                                 pass {model_name}'s context window of {window} tokens"
                            ),
                        ))));
                    }
                }
                let mut output = chat
                    .max_tokens
                    .map(u64::from)
                    .or(model_max)
                    .unwrap_or(u64::from(self.default_max_output));
                if let Some(window) = window {
                    output = output.min(window.saturating_sub(floor));
                }
                (prompt, output)
            }
            Operation::Embeddings(embedding) => {
                let prompt = embedding
                    .input
                    .iter()
                    .map(|text| self.counter.count_text(model_name, text).tokens)
                    .sum();
                (prompt, 0)
            }
            #[allow(unreachable_patterns)]
            _ => (0, 0),
        };
        let worst = Usage::new(prompt_tokens, max_output).with_source(UsageSource::Estimated);
        let worst_cost = model.as_ref().and_then(|m| m.cost(&worst));

        let mut plan = Plan {
            ops: Vec::with_capacity(self.limits.len()),
            scopes: Vec::with_capacity(self.limits.len()),
            limits: Vec::with_capacity(self.limits.len()),
            prompt_tokens,
            prices: model.as_ref().map(|m| m.prices),
            reserved: Charge::new(worst.total_tokens(), worst_cost).estimated(),
        };
        for (index, (limit, prepared)) in self.limits.iter().zip(&self.prepared).enumerate() {
            let Some(applied) = prepared.applies(limit, request) else {
                continue;
            };
            let amount = match limit.metric {
                Metric::CostMicros => match worst_cost {
                    Some(usd) => micros(usd),
                    None => {
                        return Err(Error::config(format!(
                            "a cost limit applies to this call, but {model_name}'s prices are unknown: \
                             add the model to the budget's catalog"
                        )))
                    }
                },
                metric => amount(metric, &worst, None),
            };
            plan.scopes.push(applied.scope().to_owned());
            plan.ops.push(CounterOp::new(
                applied.key,
                amount,
                limit.max,
                limit.period.window(),
            ));
            plan.limits.push(index);
        }
        Ok(plan)
    }
}

/// Micro-dollars, rounded up: a budget never undercharges.
fn micros(usd: f64) -> u64 {
    let micros = (usd * 1_000_000.0).ceil();
    if micros.is_finite() && micros > 0.0 {
        micros as u64
    } else {
        0
    }
}

/// What `usage` counts for `metric`; `cost` in micro-dollars for the cost metric.
fn amount(metric: Metric, usage: &Usage, cost: Option<u64>) -> u64 {
    match metric {
        Metric::Requests => 1,
        Metric::InputTokens => usage.input_tokens,
        Metric::OutputTokens => usage.output_tokens,
        Metric::TotalTokens => usage.total_tokens(),
        Metric::CostMicros => cost.unwrap_or(0),
    }
}

/// A reservation whose call has not answered yet: let go if dropped.
struct Unsettled(Option<Settle>);

impl Drop for Unsettled {
    fn drop(&mut self) {
        if let Some(settle) = self.0.take() {
            settle.spend_nothing();
        }
    }
}

/// Settles one call's reservation at the reply's end.
struct Settle {
    shared: Arc<Shared>,
    lease: String,
    plan: Plan,
    /// Where the call's [`BudgetCharge`] learns what it cost.
    settled: Settlement,
    reserved: bool,
}

impl Settle {
    /// Lets the whole reservation go (nothing spent).
    async fn release(self) {
        if self.reserved {
            let zeros = vec![0; self.plan.ops.len()];
            if let Err(error) = self
                .shared
                .store
                .settle(&self.lease, &self.plan.ops, &zeros)
                .await
            {
                tracing::warn!(%error, "budget release failed; the reservation expires with its lease");
            }
        }
        let mut nothing = Charge::new(0, Some(0.0));
        nothing.requests = 0;
        self.settled.settle(nothing);
    }

    /// What a reply spent: its usage, or the prompt's count and the text's.
    fn usage_of(&self, reply: &ChatResponse) -> Usage {
        if let Some(usage) = reply.usage {
            return usage;
        }
        let counter = &self.shared.counter;
        let model = &reply.model;
        let mut output = counter.count_text(model, &reply.text()).tokens;
        for call in reply.tool_calls() {
            output += counter.count_text(model, &call.arguments).tokens;
        }
        Usage::new(self.plan.prompt_tokens, output).with_source(UsageSource::Estimated)
    }

    /// Records `usage` as spent: in the end hook when the store answers at
    /// once, else on a spawned task (hooks never wait).
    fn spend(self, usage: Usage) {
        let cache_hit = usage.source == UsageSource::CacheHit;
        let cost_usd = if cache_hit {
            Some(0.0)
        } else {
            self.plan.prices.as_ref().and_then(|p| p.cost(&usage))
        };
        let cost = cost_usd.map(micros);
        let spent: Vec<u64> = self
            .plan
            .limits
            .iter()
            .map(|&limit| match (self.shared.limits[limit].metric, cache_hit) {
                (Metric::Requests, _) => 1,
                (_, true) => 0,
                (metric, false) => amount(metric, &usage, cost),
            })
            .collect();
        let mut charge = Charge::new(if cache_hit { 0 } else { usage.total_tokens() }, cost_usd);
        charge.estimated = usage.source == UsageSource::Estimated;
        self.settled.settle(charge);
        if !self.reserved {
            return;
        }
        // A store that answers at once settles here, without a future.
        if let Some(result) = self.shared.store.settle_now(&self.lease, &self.plan.ops, &spent) {
            if let Err(error) = result {
                tracing::warn!(%error, "budget settlement failed; the reservation expires with its lease");
            }
            return;
        }
        let background = Arc::clone(&self.shared.background);
        background.run(async move {
            let result = self
                .shared
                .store
                .settle(&self.lease, &self.plan.ops, &spent)
                .await;
            if let Err(error) = result {
                tracing::warn!(%error, "budget settlement failed; the reservation expires with its lease");
            }
        });
    }

    /// Lets the reservation go, from a hook.
    fn spend_nothing(self) {
        let background = Arc::clone(&self.shared.background);
        background.run(self.release());
    }
}

impl Settle {
    /// What an embeddings reply spent: its usage, or the inputs' count.
    fn embedding_usage(&self, embeddings: &EmbeddingResponse) -> Usage {
        embeddings
            .usage
            .unwrap_or_else(|| Usage::new(self.plan.prompt_tokens, 0).with_source(UsageSource::Estimated))
    }
}

impl Observer for Settle {
    fn on_end(self, end: End<'_>) {
        let usage = match end {
            End::Finished(reply) | End::Failed { partial: reply, .. } => self.usage_of(reply),
            End::Embedded(embeddings) => self.embedding_usage(embeddings),
        };
        self.spend(usage);
    }

    fn on_error(self, _: &Error) {
        self.spend_nothing();
    }

    fn on_cancel(self, partial: Option<&ChatResponse>) {
        match partial {
            Some(partial) => {
                let usage = self.usage_of(partial);
                self.spend(usage);
            }
            None => self.spend_nothing(),
        }
    }
}
