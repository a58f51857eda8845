//! A cache of chat replies: keyed by everything that changes the reply,
//! never shared between tenants, one upstream call for many identical
//! concurrent requests, and a hit replayed as a stream or a complete reply.
//!
//! ```
//! use tower::{Service, ServiceBuilder, ServiceExt};
//! use tower_ai::cache::CacheLayer;
//! use tower_ai::provider::{mock::MockProvider, ProviderService};
//! use tower_ai::store::MemoryCacheStore;
//! use tower_ai::types::{CacheStatus, ChatRequest};
//! use tower_ai::{Error, LlmRequest, Principal};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let mock = MockProvider::new().with_text_reply("Tides follow the moon.");
//! let mut service = ServiceBuilder::new()
//!     .layer(CacheLayer::new(MemoryCacheStore::new()))
//!     .service(ProviderService::new(mock.clone()));
//!
//! let ask = || LlmRequest::new(ChatRequest::new("gpt-4o").user("Why are there tides?"))
//!     .with_principal(Principal::new().tenant("acme"));
//! let first = service.ready().await?.call(ask()).await?;
//! assert_eq!(first.extensions.get::<CacheStatus>(), Some(&CacheStatus::Miss));
//! let again = service.ready().await?.call(ask()).await?;
//! assert_eq!(again.extensions.get::<CacheStatus>(), Some(&CacheStatus::HitExact));
//! assert_eq!(again.into_complete().await?.text(), "Tides follow the moon.");
//! assert_eq!(mock.requests().len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # The key
//!
//! An entry's key is the request's [`RequestKey`]: SHA-256 over a canonical
//! encoding of the model, every message and part, the tools and their
//! schemas, the tool choice, every generation parameter, the response
//! format, the reasoning settings and vendor extras (see [`RequestKey`]
//! for what is normalised). It is then scoped ([`RequestKey::scoped`]) by
//! the caller's tenant, or with [`CacheScope::Principal`] by tenant, user
//! and key id, so no entry is ever served across tenants. Requests without
//! a tenant share one space of their own.
//!
//! # What is stored
//!
//! A reply is stored only once it has finished cleanly: a complete reply,
//! or a stream read to its end, whose finish reason is `stop` or
//! `tool_calls` (`length` and `content_filter` with
//! [`store_truncated`](CacheLayer::store_truncated) and
//! [`store_filtered`](CacheLayer::store_filtered)). A failed stream, one
//! the caller dropped, an error, and a reply without a finish reason are
//! never stored. Which requests are cached at all is the layer's
//! [`cacheable`](CacheLayer::cacheable) predicate: by default every chat
//! request, whatever its temperature, since the key holds the temperature
//! and a team that puts a cache in front of sampled replies has chosen
//! repeatable answers over fresh samples; a predicate such as
//! [`deterministic_only`] caches only requests at temperature 0.
//! Embeddings pass through untouched.
//!
//! A reply a guard below the cache blocked (an error, or a block in the
//! [`GuardVerdicts`] it hands up) is never stored. For a layer above the
//! cache that refuses a reply after the cache let it through, every
//! response the cache stores or replays carries a [`CacheDiscard`]:
//! `discard()` keeps the reply out, or removes its entry.
//!
//! Each request may set a [`CachePolicy`] in its extensions: use the cache
//! (the default), bypass it (neither read nor write), refresh (do not read,
//! do write) or no-store (read, do not write).
//!
//! # A hit
//!
//! A hit answers in the mode asked: a complete reply, or a stream with the
//! events a provider gives (start, the text in deltas of a few dozen bytes,
//! tool calls, usage, finish). Its usage keeps the stored token counts,
//! marked [`UsageSource::CacheHit`], so a budget layer further out charges
//! it nothing (and counts it as a request, if a request limit says so).
//! The response carries [`CacheStatus::HitExact`], so its
//! [`Outcome`](crate::types::Outcome) is `Cached`, and the [`ServedBy`] of
//! the call that stored it.
//!
//! # Single-flight
//!
//! Identical requests that miss at the same time make one upstream call:
//! the first leads, the others wait for its reply and replay it, complete
//! or streamed, as a hit. If the leader fails, they fail with its error;
//! if it is cancelled (its caller dropped it), one of them takes over; a
//! follower waits at most [`follower_patience`](CacheLayer::follower_patience)
//! (two minutes by default), then calls upstream itself, so nobody hangs.
//! A follower that asked for a stream, of a leader whose reply streams,
//! receives the leader's events as the leader reads them, each follower at
//! its own pace: the leader never waits for one. The latest
//! [`follower_buffer`](CacheLayer::follower_buffer) events (default
//! [`DEFAULT_FOLLOWER_BUFFER`]) are kept for the followers; a follower that
//! falls further behind waits for the stored reply and goes on from where
//! it was, so its caller still gets every byte once. A streamed leader
//! whose caller goes away while followers read is read to its end for
//! them; with no follower reading, its upstream call is cancelled.
//!
//! # Semantic lookup
//!
//! With [`CacheLayer::semantic`], an exact miss looks for a stored prompt
//! whose last user turn is similar (by an [`Embedder`]) and whose
//! everything else is the same, unless a lexical guard finds the two turns
//! differ in negation, numbers, quoted text, names or the order of words
//! around `from`/`to`; a match answers with [`CacheStatus::HitSemantic`].
//! The guide ([`guide::caching`](crate::guide::caching)) has the measured
//! precision and recall.
//!
//! # When the store fails
//!
//! A cache is never the reason a call fails: a lookup the store cannot
//! answer is a miss, and a reply it cannot store is served all the same
//! (both logged as warnings).

mod embed;
#[cfg(feature = "local-embedder")]
mod local;
mod relay;
mod semantic;

pub use embed::{embedder_fn, Embedder, EmbedderFn, StackEmbedder};
#[cfg(feature = "local-embedder")]
#[cfg_attr(docsrs, doc(cfg(feature = "local-embedder")))]
pub use local::LocalEmbedder;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;
use tower::ServiceExt;
use tower_layer::Layer;
use tower_service::Service;

use crate::background::{take_ready, Background};
use crate::error::{Error, Result};
use crate::observe::{observe, End, Observer};
use crate::store::{CacheStore, CachedReply};
use crate::types::{
    CacheDiscard, CacheStatus, ChatResponse, ChatStream, FinishReason, GuardVerdicts, LlmRequest,
    LlmResponse, Operation, Reply, ReplyMode, RequestKey, ServedBy, StreamEvent, Usage, UsageSource,
};
use relay::{Ended, Relay};
use semantic::{Probe, Semantic};

/// How long an entry lives by default: an hour.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3_600);

/// How many of a streamed leader's latest events are kept for its
/// streaming followers by default ([`CacheLayer::follower_buffer`]): a reply of
/// several thousand tokens, as providers stream them.
pub const DEFAULT_FOLLOWER_BUFFER: usize = 4_096;

/// How long a follower waits for a leader's reply by default.
pub const DEFAULT_FOLLOWER_PATIENCE: Duration = Duration::from_secs(120);

/// How many prompts the semantic lookup indexes per tenant by default.
pub const DEFAULT_SEMANTIC_CAPACITY: usize = 10_000;

/// The most text a replayed stream puts in one delta.
const REPLAY_CHUNK_BYTES: usize = 48;

/// What one request asks of the cache, set in its extensions.
///
/// ```
/// use tower_ai::cache::CachePolicy;
/// use tower_ai::types::ChatRequest;
/// use tower_ai::LlmRequest;
///
/// let mut request = LlmRequest::new(ChatRequest::new("gpt-4o").user("What time is it?"));
/// request.extensions.insert(CachePolicy::Bypass);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CachePolicy {
    /// Read an entry if there is one; store the reply if there is none.
    #[default]
    Use,
    /// Neither read nor write: the call goes upstream as if there were no cache.
    Bypass,
    /// Do not read; store the fresh reply in place of any entry.
    Refresh,
    /// Read an entry if there is one; do not store the reply.
    NoStore,
}

/// How long this request's reply is kept, in place of the layer's
/// [`ttl`](CacheLayer::ttl), set in the request's extensions.
///
/// ```
/// use std::time::Duration;
/// use tower_ai::cache::CacheTtl;
/// use tower_ai::types::ChatRequest;
/// use tower_ai::LlmRequest;
///
/// let mut request = LlmRequest::new(ChatRequest::new("gpt-4o").user("Today's headlines?"));
/// request.extensions.insert(CacheTtl(Duration::from_secs(300)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheTtl(pub Duration);

/// Whose requests share entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CacheScope {
    /// Requests of one tenant share entries (the default).
    #[default]
    Tenant,
    /// Only requests of one tenant, user and key id share entries.
    Principal,
}

/// A [`cacheable`](CacheLayer::cacheable) predicate that caches only
/// requests at temperature 0 (or with no sampling at all: `top_k` 1).
pub fn deterministic_only(request: &LlmRequest) -> bool {
    match &request.operation {
        Operation::Chat(chat) => chat.temperature == Some(0.0) || chat.top_k == Some(1),
        _ => false,
    }
}

type Predicate = Arc<dyn Fn(&LlmRequest) -> bool + Send + Sync>;

/// A layer that answers repeated chat requests from a [`CacheStore`]. See
/// the [module docs](self).
#[derive(Clone)]
pub struct CacheLayer {
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Shared {
    store: Arc<dyn CacheStore>,
    ttl: Duration,
    scope: CacheScope,
    cacheable: Option<Predicate>,
    store_truncated: bool,
    store_filtered: bool,
    single_flight: bool,
    patience: Duration,
    follower_buffer: usize,
    semantic: Option<Arc<Semantic>>,
    /// Calls in flight, and writes still running: shared with a layer
    /// configured from this one.
    flights: Arc<Flights>,
    background: Arc<Background>,
}

/// The misses being answered, by key: where followers wait.
#[derive(Default)]
struct Flights {
    table: Mutex<HashMap<RequestKey, Flight, foldhash::fast::RandomState>>,
    next: AtomicU64,
}

/// Where a follower learns how its leader's call ended.
type Follow = watch::Receiver<Option<Landing>>;

/// One miss being answered: its number, where its end is told, and, for a
/// leader that asked for a stream, its events for streaming followers.
struct Flight {
    id: u64,
    landing: Follow,
    relay: Option<Arc<Relay>>,
}

/// How a leader's call ended, for its followers.
#[derive(Clone)]
enum Landing {
    /// A reply that finished (stored or not) or a semantic match, which
    /// the followers replay with this status.
    Reply(Arc<CachedReply>, CacheStatus),
    /// The call failed: the followers fail alike.
    Failed(Error),
}

impl CacheLayer {
    /// A cache keeping its entries in `store`.
    pub fn new(store: impl CacheStore) -> Self {
        Self {
            shared: Arc::new(Shared {
                store: Arc::new(store),
                ttl: DEFAULT_TTL,
                scope: CacheScope::Tenant,
                cacheable: None,
                store_truncated: false,
                store_filtered: false,
                single_flight: true,
                patience: DEFAULT_FOLLOWER_PATIENCE,
                follower_buffer: DEFAULT_FOLLOWER_BUFFER,
                semantic: None,
                flights: Arc::default(),
                background: Arc::default(),
            }),
        }
    }

    fn edit(mut self, change: impl FnOnce(&mut Shared)) -> Self {
        // Configured after a clone: the clone keeps the old settings.
        change(Arc::make_mut(&mut self.shared));
        self
    }

    /// How long an entry lives (default [`DEFAULT_TTL`]).
    #[must_use]
    pub fn ttl(self, ttl: Duration) -> Self {
        self.edit(|s| s.ttl = ttl)
    }

    /// Whose requests share entries (default [`CacheScope::Tenant`]).
    #[must_use]
    pub fn scope(self, scope: CacheScope) -> Self {
        self.edit(|s| s.scope = scope)
    }

    /// Which requests are cached at all (default: every chat request). A
    /// request the predicate refuses passes through with
    /// [`CacheStatus::Bypass`].
    #[must_use]
    pub fn cacheable(self, predicate: impl Fn(&LlmRequest) -> bool + Send + Sync + 'static) -> Self {
        self.edit(|s| s.cacheable = Some(Arc::new(predicate)))
    }

    /// Also stores replies cut at the token limit (finish reason `length`).
    #[must_use]
    pub fn store_truncated(self, yes: bool) -> Self {
        self.edit(|s| s.store_truncated = yes)
    }

    /// Also stores replies a vendor's content filter stopped.
    #[must_use]
    pub fn store_filtered(self, yes: bool) -> Self {
        self.edit(|s| s.store_filtered = yes)
    }

    /// Whether identical concurrent misses share one upstream call
    /// (default: yes).
    #[must_use]
    pub fn single_flight(self, yes: bool) -> Self {
        self.edit(|s| s.single_flight = yes)
    }

    /// How long a follower waits for its leader's reply before it calls
    /// upstream itself (default [`DEFAULT_FOLLOWER_PATIENCE`]).
    #[must_use]
    pub fn follower_patience(self, patience: Duration) -> Self {
        self.edit(|s| s.patience = patience)
    }

    /// How many of a streamed leader's latest events are kept for its
    /// streaming followers (default [`DEFAULT_FOLLOWER_BUFFER`]). A follower
    /// that falls further behind the leader than this finishes from the
    /// stored reply instead; at 0 every streaming follower does.
    #[must_use]
    pub fn follower_buffer(self, events: usize) -> Self {
        self.edit(|s| s.follower_buffer = events)
    }

    /// Adds a semantic lookup: on an exact miss, the last user turn is
    /// embedded with `embedder` and compared with the stored prompts of the
    /// same tenant whose everything else (model, system prompt, tools,
    /// parameters, earlier turns) is the same; one at least `threshold`
    /// similar (cosine, 1.0 for the same direction) answers, unless the
    /// two turns differ in negation, numbers, quoted text or names (see
    /// the [guide](crate::guide::caching)). The threshold depends on the
    /// embedder: favour precision, since a wrong answer is worse than a
    /// miss.
    #[must_use]
    pub fn semantic(self, embedder: impl Embedder, threshold: f32) -> Self {
        let semantic = Semantic::new(Arc::new(embedder), threshold, DEFAULT_SEMANTIC_CAPACITY, true);
        self.edit(|s| s.semantic = Some(Arc::new(semantic)))
    }

    /// How many prompts the semantic lookup indexes per tenant (default
    /// [`DEFAULT_SEMANTIC_CAPACITY`]); the oldest go first.
    #[must_use]
    pub fn semantic_capacity(self, capacity: usize) -> Self {
        self.edit(|s| {
            if let Some(semantic) = &mut s.semantic {
                Arc::make_mut(semantic).capacity = capacity;
            }
        })
    }

    /// Whether the semantic lookup refuses similar prompts that differ in
    /// negation, numbers, quoted text or names (default: yes). Off only to
    /// measure what the check saves.
    #[must_use]
    pub fn semantic_guard(self, yes: bool) -> Self {
        self.edit(|s| {
            if let Some(semantic) = &mut s.semantic {
                Arc::make_mut(semantic).guard = yes;
            }
        })
    }

    /// Waits until every reply begun storing so far reached the store.
    ///
    /// A store that answers at once (the in-memory one) has stored a reply
    /// before its call returns (complete) or its stream ends; a network
    /// store is written on a spawned task, which a test or a shutdown waits
    /// for here.
    pub async fn stored(&self) {
        self.shared.background.idle().await;
    }
}

impl fmt::Debug for CacheLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayer")
            .field("store", &self.shared.store)
            .field("ttl", &self.shared.ttl)
            .field("scope", &self.shared.scope)
            .field("single_flight", &self.shared.single_flight)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = Cache<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Cache {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`CacheLayer`] makes.
#[derive(Clone)]
pub struct Cache<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for Cache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> Service<LlmRequest> for Cache<S>
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

/// A request that missed the exact lookup.
struct Miss {
    key: RequestKey,
    scope: String,
    read: bool,
    write: bool,
}

/// What a request found when it looked for a flight.
enum Join {
    Lead(Lead),
    Follow(Follow, Option<Arc<Relay>>),
}

impl Shared {
    async fn call<S>(self: Arc<Self>, inner: S, request: LlmRequest) -> Result<LlmResponse>
    where
        S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
    {
        let policy = request
            .extensions
            .get::<CachePolicy>()
            .copied()
            .unwrap_or_default();
        let Operation::Chat(chat) = &request.operation else {
            return inner.oneshot(request).await;
        };
        let cacheable = self.cacheable.as_ref().is_none_or(|p| p(&request));
        if policy == CachePolicy::Bypass || !cacheable {
            count("bypass");
            let mut response = inner.oneshot(request).await?;
            response.extensions.insert(CacheStatus::Bypass);
            return Ok(response);
        }
        let scope = self.scope_of(&request);
        let key = chat.canonical_key().scoped(&scope);
        let mode = request.mode;
        let read = matches!(policy, CachePolicy::Use | CachePolicy::NoStore);
        let write = matches!(policy, CachePolicy::Use | CachePolicy::Refresh);
        if read {
            if let Some(entry) = self.lookup(&key).await {
                count("hit");
                return Ok(self.hit(&entry, mode, CacheStatus::HitExact, key));
            }
        }
        let miss = Miss {
            key,
            scope,
            read,
            write,
        };
        if !(self.single_flight && read && write) {
            return self.miss(inner, request, miss, None).await;
        }
        let deadline = tokio::time::Instant::now() + self.patience;
        loop {
            let (mut follow, relay) = match self.join(key, mode) {
                Join::Lead(lead) => return self.miss(inner, request, miss, Some(lead)).await,
                Join::Follow(follow, relay) => (follow, relay),
            };
            if let (ReplyMode::Stream, Some(relay)) = (mode, relay) {
                let registration = relay.register();
                let started = tokio::time::timeout_at(deadline, async {
                    let landed = std::pin::pin!(landing_of(&mut follow));
                    let started = std::pin::pin!(relay.wait_started());
                    matches!(
                        futures_util::future::select(started, landed).await,
                        futures_util::future::Either::Left(_)
                    )
                })
                .await;
                if started == Ok(true) && !relay.abandoned() {
                    count("hit");
                    return Ok(self.follow_live(registration, follow, &relay, key));
                }
            }
            let Ok(landing) = tokio::time::timeout_at(deadline, landing_of(&mut follow)).await else {
                tracing::debug!("a cache follower waited its patience out; it calls upstream itself");
                return self.miss(inner, request, miss, None).await;
            };
            match landing {
                Some(Landing::Reply(entry, status)) => return Ok(self.hit(&entry, mode, status, key)),
                Some(Landing::Failed(error)) => return Err(error),
                // The leader was cancelled: look once more, then one of
                // the followers leads.
                None => {
                    if let Some(entry) = self.lookup(&key).await {
                        return Ok(self.hit(&entry, mode, CacheStatus::HitExact, key));
                    }
                }
            }
        }
    }

    /// After an exact miss (as the flight's leader, when there is one): the
    /// semantic lookup if configured, else the upstream call.
    async fn miss<S>(
        self: &Arc<Self>,
        inner: S,
        request: LlmRequest,
        miss: Miss,
        lead: Option<Lead>,
    ) -> Result<LlmResponse>
    where
        S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
    {
        let mut probe = None;
        if let (Some(semantic), Operation::Chat(chat)) = (&self.semantic, &request.operation) {
            probe = semantic.probe(chat, &miss.scope).await;
            if let (true, Some(asked)) = (miss.read, &probe) {
                if let Some(found) = semantic.find(asked) {
                    match self.lookup(&found.exact).await {
                        Some(entry) => {
                            count("semantic_hit");
                            let status = CacheStatus::HitSemantic { score: found.score };
                            if let Some(lead) = lead {
                                lead.land(Landing::Reply(Arc::clone(&entry), status));
                            }
                            return Ok(self.hit(&entry, request.mode, status, found.exact));
                        }
                        None => semantic.forget(asked, &found),
                    }
                }
            }
        }
        count("miss");
        self.lead(inner, request, miss.key, lead, miss.write, probe).await
    }

    /// The scope a request's key is confined to: its tenant, or its tenant,
    /// user and key id, each written with its length so no two differ
    /// only in where one ends.
    fn scope_of(&self, request: &LlmRequest) -> String {
        let principal = &request.meta.principal;
        let mut scope = String::with_capacity(64);
        let mut part = |value: &Option<String>| match value {
            Some(value) => {
                push_decimal(&mut scope, value.len());
                scope.push(':');
                scope.push_str(value);
                scope.push(';');
            }
            None => scope.push_str("-;"),
        };
        part(&principal.tenant);
        if self.scope == CacheScope::Principal {
            part(&principal.user);
            part(&principal.key_id);
        }
        scope
    }

    /// The entry under `key`; a store that fails reads as a miss.
    async fn lookup(&self, key: &RequestKey) -> Option<Arc<CachedReply>> {
        let found = match self.store.get_now(key) {
            Some(found) => found,
            None => self.store.get(key).await,
        };
        found.unwrap_or_else(|error| {
            tracing::warn!(%error, "cache lookup failed; the call goes upstream");
            None
        })
    }

    /// Joins the flight for `key` as a follower, or opens it as its leader;
    /// a leader that asks for a stream (`mode`) gets a relay for its events.
    fn join(self: &Arc<Self>, key: RequestKey, mode: ReplyMode) -> Join {
        let mut flights = self.flights.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(flight) = flights.get(&key) {
            return Join::Follow(flight.landing.clone(), flight.relay.clone());
        }
        let id = self.flights.next.fetch_add(1, Ordering::Relaxed);
        let (tx, landing) = watch::channel(None);
        let relay = (mode == ReplyMode::Stream).then(|| Relay::new(self.follower_buffer));
        flights.insert(
            key,
            Flight {
                id,
                landing,
                relay: relay.clone(),
            },
        );
        Join::Lead(Lead {
            shared: Arc::clone(self),
            key,
            id,
            tx: Some(tx),
            relay,
        })
    }

    /// A streaming follower's response: the leader's events as they come.
    fn follow_live(
        self: &Arc<Self>,
        registration: relay::Registration,
        follow: Follow,
        relay: &Relay,
        key: RequestKey,
    ) -> LlmResponse {
        let mut response = LlmResponse::new(Reply::Stream(Relay::follow(registration, follow)));
        response.extensions.insert(CacheStatus::HitExact);
        response.extensions.insert(self.discard_stored(key));
        if let Some(served_by) = relay.served_by() {
            response.extensions.insert(served_by);
        }
        response
    }

    async fn lead<S>(
        self: &Arc<Self>,
        inner: S,
        request: LlmRequest,
        key: RequestKey,
        lead: Option<Lead>,
        write: bool,
        probe: Option<Probe>,
    ) -> Result<LlmResponse>
    where
        S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
    {
        let ttl = request.extensions.get::<CacheTtl>().map_or(self.ttl, |t| t.0);
        match inner.oneshot(request).await {
            Err(error) => {
                if let Some(lead) = lead {
                    lead.land(Landing::Failed(error.clone()));
                }
                Err(error)
            }
            Ok(mut response) => {
                response.extensions.insert(CacheStatus::Miss);
                let discard = write.then(CacheDiscard::new);
                if let Some(discard) = &discard {
                    response.extensions.insert(discard.clone());
                }
                let served_by = response.extensions.get::<ServedBy>().cloned();
                // A streamed leader passes its events on to streaming followers.
                let relay = match (lead.as_ref().and_then(|l| l.relay.as_ref()), &response.reply) {
                    (Some(relay), Reply::Stream(_)) => {
                        relay.set_served_by(served_by.clone());
                        Some(Arc::clone(relay))
                    }
                    _ => None,
                };
                let keeper = Keeper {
                    shared: Arc::clone(self),
                    key,
                    lead,
                    write,
                    ttl,
                    probe,
                    served_by,
                    relay: relay.clone(),
                    verdicts: response.extensions.get::<GuardVerdicts>().cloned(),
                    discard,
                };
                let LlmResponse { reply, extensions } = observe(response, keeper);
                let reply = match (reply, relay) {
                    (Reply::Stream(stream), Some(relay)) => {
                        let background = Arc::clone(&self.background);
                        Reply::Stream(
                            stream.map_stream(|inner| relay::Handoff::new(inner, relay, background)),
                        )
                    }
                    (reply, _) => reply,
                };
                Ok(LlmResponse { reply, extensions })
            }
        }
    }

    /// Whether a finished reply may be stored.
    fn storable(&self, reply: &ChatResponse) -> bool {
        match &reply.finish_reason {
            Some(FinishReason::Stop | FinishReason::ToolCalls) => true,
            Some(FinishReason::Length) => self.store_truncated,
            Some(FinishReason::ContentFilter) => self.store_filtered,
            _ => false,
        }
    }

    /// Stores `entry`: at once for a store that answers at once, else as
    /// background work that [`CacheLayer::stored`] waits for.
    /// A stored reply answered in the mode asked, as a hit on `key`.
    fn hit(
        self: &Arc<Self>,
        entry: &CachedReply,
        mode: ReplyMode,
        status: CacheStatus,
        key: RequestKey,
    ) -> LlmResponse {
        let mut response = replay(entry, mode, status);
        response.extensions.insert(self.discard_stored(key));
        response
    }

    /// A [`CacheDiscard`] that removes the entry stored under `key`.
    fn discard_stored(self: &Arc<Self>, key: RequestKey) -> CacheDiscard {
        let discard = CacheDiscard::new();
        let shared = Arc::clone(self);
        discard.store_unless_discarded(|| {}, move || shared.remove(key));
        discard
    }

    /// Removes the entry stored under `key`, in the background if the
    /// store needs I/O.
    fn remove(self: &Arc<Self>, key: RequestKey) {
        let store = Arc::clone(&self.store);
        self.background.run(async move {
            if let Err(error) = store.remove(&key).await {
                tracing::warn!(%error, "a discarded reply could not be removed from the cache");
            }
        });
    }

    fn put(self: &Arc<Self>, key: RequestKey, entry: Arc<CachedReply>, ttl: Duration) {
        if let Some(result) = self.store.put_now(&key, &entry, ttl) {
            if let Err(error) = result {
                tracing::warn!(%error, "a reply could not be cached");
            }
            return;
        }
        let store = Arc::clone(&self.store);
        self.background.run(async move {
            if let Err(error) = store.put(&key, entry, ttl).await {
                tracing::warn!(%error, "a reply could not be cached");
            }
        });
    }
}

/// Appends `value` in decimal, without the formatting machinery (this is
/// on every lookup's path).
fn push_decimal(out: &mut String, value: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

/// What the flight `follow` landed with; `None` if its leader was cancelled.
async fn landing_of(follow: &mut Follow) -> Option<Landing> {
    match follow.wait_for(Option::is_some).await {
        Ok(landed) => landed.clone(),
        Err(_) => None,
    }
}

/// Counts a lookup's result in the metric `tower_ai.cache.lookups`.
pub(crate) fn count(result: &'static str) {
    #[cfg(feature = "telemetry")]
    metrics::counter!("tower_ai.cache.lookups", "result" => result).increment(1);
    #[cfg(not(feature = "telemetry"))]
    let _ = result;
}

/// The leader of one flight: lands it with its reply or error, or, dropped
/// without landing (cancelled), lets a follower take over.
struct Lead {
    shared: Arc<Shared>,
    key: RequestKey,
    id: u64,
    tx: Option<watch::Sender<Option<Landing>>>,
    /// Where its events go for streaming followers, if it asked for a stream.
    relay: Option<Arc<Relay>>,
}

impl Lead {
    fn land(mut self, landing: Landing) {
        // Out of the table first: a request that comes after this finds
        // the entry in the store, or starts a flight of its own.
        self.leave();
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Some(landing));
        }
    }

    fn leave(&self) {
        let mut flights = self
            .shared
            .flights
            .table
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if flights.get(&self.key).is_some_and(|flight| flight.id == self.id) {
            flights.remove(&self.key);
        }
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        if self.tx.is_some() {
            // Cancelled: the followers see the channel close.
            self.leave();
        }
    }
}

/// Stores a leader's reply when it finishes, and lands its flight.
struct Keeper {
    shared: Arc<Shared>,
    key: RequestKey,
    lead: Option<Lead>,
    write: bool,
    /// How long the reply is kept.
    ttl: Duration,
    /// The prompt's place in the semantic index, once its reply is stored.
    probe: Option<Probe>,
    served_by: Option<ServedBy>,
    /// Where a streamed leader's events go for its streaming followers.
    relay: Option<Arc<Relay>>,
    /// The verdicts of guards below the cache: a reply one of them blocked
    /// is never stored, even if it ended cleanly.
    verdicts: Option<GuardVerdicts>,
    /// How a layer outside the cache keeps the reply out of it.
    discard: Option<CacheDiscard>,
}

impl Observer for Keeper {
    fn on_event(&mut self, event: &StreamEvent) {
        if let Some(relay) = &self.relay {
            relay.push(event);
        }
    }

    /// Events only matter to a relay, which only a stream has.
    fn watches_complete_events(&self) -> bool {
        self.relay.is_some()
    }

    fn on_end(self, end: End<'_>) {
        if let Some(relay) = &self.relay {
            relay.end(match &end {
                End::Failed { error, .. } => Ended::Failed((*error).clone()),
                _ => Ended::Finished,
            });
        }
        match end {
            End::Finished(reply) => {
                let entry = Arc::new(CachedReply::new(reply.clone(), self.served_by.as_ref()));
                let blocked = self.verdicts.as_ref().is_some_and(GuardVerdicts::any_blocked);
                if blocked {
                    tracing::debug!("a guard blocked the reply; it is not cached");
                }
                if self.write && !blocked && self.shared.storable(reply) {
                    let store = || {
                        self.shared.put(self.key, Arc::clone(&entry), self.ttl);
                        if let (Some(semantic), Some(probe)) = (&self.shared.semantic, self.probe) {
                            semantic.insert(probe, self.key);
                        }
                    };
                    match &self.discard {
                        Some(discard) => {
                            let (shared, key) = (Arc::clone(&self.shared), self.key);
                            if !discard.store_unless_discarded(store, move || shared.remove(key)) {
                                tracing::debug!("a layer outside the cache discarded the reply");
                            }
                        }
                        None => store(),
                    }
                }
                if let Some(lead) = self.lead {
                    lead.land(Landing::Reply(entry, CacheStatus::HitExact));
                }
            }
            End::Failed { error, .. } => {
                if let Some(lead) = self.lead {
                    lead.land(Landing::Failed(error.clone()));
                }
            }
            End::Embedded(_) => {}
        }
    }

    fn on_error(self, error: &Error) {
        if let Some(relay) = &self.relay {
            relay.end(Ended::Failed(error.clone()));
        }
        if let Some(lead) = self.lead {
            lead.land(Landing::Failed(error.clone()));
        }
    }

    fn on_cancel(self, _: Option<&ChatResponse>) {
        if let Some(relay) = &self.relay {
            relay.end(Ended::Abandoned);
        }
        // Dropping the lead lets a follower take over.
    }
}

/// A stored reply answered in the mode asked, marked as a hit.
fn replay(entry: &CachedReply, mode: ReplyMode, status: CacheStatus) -> LlmResponse {
    let mut reply = entry.reply.clone();
    reply.upstream_request_id = None;
    let usage = reply.usage.get_or_insert_with(|| Usage::new(0, 0));
    usage.source = UsageSource::CacheHit;
    let reply = match mode {
        ReplyMode::Stream => {
            Reply::Stream(ChatStream::from_events(replay_events(&reply).into_iter().map(Ok)))
        }
        _ => Reply::Complete(reply),
    };
    let mut response = LlmResponse::new(reply);
    response.extensions.insert(status);
    if let (Some(provider), Some(model)) = (&entry.provider, &entry.served_model) {
        response
            .extensions
            .insert(ServedBy::new(provider.clone(), model.clone()));
    }
    response
}

/// The reply's events as a provider streams them (see [`in_deltas`]).
fn replay_events(reply: &ChatResponse) -> Vec<StreamEvent> {
    in_deltas(reply.to_events())
}

/// `events` (a reply's [`ChatResponse::to_events`], or what is left of
/// them) as a provider streams them: texts, reasoning and tool-call
/// arguments in deltas of at most [`REPLAY_CHUNK_BYTES`]; a reasoning
/// block's signature or redacted data in an event of its own after its
/// text, a tool call's id and name before its arguments. Empty deltas are
/// left out.
fn in_deltas(events: impl IntoIterator<Item = StreamEvent>) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    for event in events {
        match event {
            StreamEvent::TextDelta { text } => {
                out.extend(chunks(&text).map(|piece| StreamEvent::text(piece.to_owned())));
            }
            StreamEvent::ReasoningDelta {
                text,
                signature,
                redacted,
            } => {
                out.extend(chunks(&text).map(|piece| StreamEvent::ReasoningDelta {
                    text: piece.to_owned(),
                    signature: None,
                    redacted: None,
                }));
                if signature.is_some() || redacted.is_some() {
                    out.push(StreamEvent::ReasoningDelta {
                        text: String::new(),
                        signature,
                        redacted,
                    });
                }
            }
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                if id.is_some() || name.is_some() {
                    out.push(StreamEvent::ToolCallDelta {
                        index,
                        id,
                        name,
                        arguments: String::new(),
                    });
                }
                out.extend(chunks(&arguments).map(|piece| StreamEvent::ToolCallDelta {
                    index,
                    id: None,
                    name: None,
                    arguments: piece.to_owned(),
                }));
            }
            other => out.push(other),
        }
    }
    out
}

/// `text` in pieces of at most [`REPLAY_CHUNK_BYTES`], cut on character
/// boundaries (a character longer than that is a piece of its own).
fn chunks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = REPLAY_CHUNK_BYTES.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_characters_whole_and_lose_nothing() {
        let text = "Größe — ".repeat(20) + "🦀🦀🦀";
        let pieces: Vec<&str> = chunks(&text).collect();
        assert!(pieces.len() > 3);
        assert!(pieces
            .iter()
            .all(|p| p.len() <= REPLAY_CHUNK_BYTES && !p.is_empty()));
        assert_eq!(pieces.concat(), text);
        assert_eq!(chunks("").count(), 0);
    }

    #[test]
    fn decimals_are_written_as_format_writes_them() {
        for value in [0, 7, 10, 99, 100, 4_096, usize::MAX] {
            let mut out = String::from("x");
            push_decimal(&mut out, value);
            assert_eq!(out, format!("x{value}"));
        }
    }
}
