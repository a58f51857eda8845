//! Where a cache keeps its replies: [`CacheStore`], and
//! [`MemoryCacheStore`] in this process.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::types::{ChatResponse, ContentPart, RequestKey, ServedBy};

/// One stored reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CachedReply {
    /// The reply, whole, as the provider gave it (its usage as reported).
    pub reply: ChatResponse,
    /// The provider and model that answered it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The model the provider was asked for, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_model: Option<String>,
    /// When it was stored.
    pub stored_at: SystemTime,
}

impl CachedReply {
    /// A reply stored now, with who served it.
    pub fn new(reply: ChatResponse, served_by: Option<&ServedBy>) -> Self {
        Self {
            reply,
            provider: served_by.map(|s| s.provider.clone()),
            served_model: served_by.map(|s| s.model.clone()),
            stored_at: SystemTime::now(),
        }
    }

    /// About how many bytes the entry holds: its texts and a fixed share
    /// for the rest. What a memory store weighs it by.
    pub fn weight(&self) -> u32 {
        let mut bytes = 256 + self.reply.id.len() + self.reply.model.len();
        for part in &self.reply.message.content {
            bytes += 32
                + match part {
                    ContentPart::Text { text } => text.len(),
                    ContentPart::Reasoning(r) => {
                        r.text.len()
                            + r.signature.as_ref().map_or(0, String::len)
                            + r.redacted.as_ref().map_or(0, String::len)
                    }
                    ContentPart::ToolCall(call) => call.id.len() + call.name.len() + call.arguments.len(),
                    ContentPart::ToolResult(result) => serde_json::to_string(result).map_or(0, |s| s.len()),
                    ContentPart::Image(image) => serde_json::to_string(image).map_or(0, |s| s.len()),
                };
        }
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

/// Where a cache layer keeps replies, by key.
///
/// The in-memory [`MemoryCacheStore`] answers at once, through
/// [`get_now`](Self::get_now) and [`put_now`](Self::put_now), so a hit costs
/// no future; a network store (`RedisCacheStore`, feature `redis`) answers
/// through [`get`](Self::get) and [`put`](Self::put).
///
/// An entry is never shared between tenants: the layer scopes every key
/// before it reaches the store ([`RequestKey::scoped`]).
#[async_trait]
pub trait CacheStore: Send + Sync + fmt::Debug + 'static {
    /// The entry under `key`, if there is one that has not expired.
    async fn get(&self, key: &RequestKey) -> Result<Option<Arc<CachedReply>>>;

    /// Stores `entry` under `key` for `ttl`, replacing any entry there.
    async fn put(&self, key: &RequestKey, entry: Arc<CachedReply>, ttl: Duration) -> Result<()>;

    /// Forgets the entry under `key`, if any.
    async fn remove(&self, key: &RequestKey) -> Result<()>;

    /// [`get`](Self::get) without a future, for a store that answers
    /// without I/O; `None` (the default) sends the caller to `get`.
    fn get_now(&self, key: &RequestKey) -> Option<Result<Option<Arc<CachedReply>>>> {
        let _ = key;
        None
    }

    /// [`put`](Self::put) without a future, as [`get_now`](Self::get_now).
    fn put_now(&self, key: &RequestKey, entry: &Arc<CachedReply>, ttl: Duration) -> Option<Result<()>> {
        let _ = (key, entry, ttl);
        None
    }
}

/// The most a [`MemoryCacheStore`] holds by default: 64 MiB of replies.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Replies in this process's memory, bounded by their weight in bytes
/// ([`CachedReply::weight`]), each expiring after the time to live it was
/// stored with. Kept in a [`moka`](https://docs.rs/moka) cache: concurrent
/// reads take no lock, and the least valuable entries (by moka's TinyLFU
/// policy) are evicted first when the bound is reached.
///
/// ```
/// use std::time::Duration;
/// use tower_ai::store::{CacheStore, CachedReply, MemoryCacheStore};
/// use tower_ai::types::{ChatRequest, ChatResponse};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> tower_ai::Result<()> {
/// let store = MemoryCacheStore::with_max_bytes(1024 * 1024);
/// let key = ChatRequest::new("gpt-4o").user("Hi!").canonical_key().scoped("acme");
/// let entry = CachedReply::new(ChatResponse::text_reply("r-1", "gpt-4o", "Hello!"), None);
/// store.put(&key, entry.into(), Duration::from_secs(60)).await?;
/// assert_eq!(store.get(&key).await?.unwrap().reply.text(), "Hello!");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryCacheStore {
    // Keys are SHA-256 digests already; foldhash mixes them for the table
    // at a fraction of SipHash's cost, and stays seeded per process.
    entries: moka::sync::Cache<RequestKey, Stored, foldhash::fast::RandomState>,
    evictions: Arc<AtomicU64>,
}

/// An entry and how long it lives.
#[derive(Clone)]
struct Stored {
    entry: Arc<CachedReply>,
    ttl: Duration,
}

/// Each entry lives for the time to live it was stored with.
struct PerEntry;

impl moka::Expiry<RequestKey, Stored> for PerEntry {
    fn expire_after_create(&self, _: &RequestKey, value: &Stored, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _: &RequestKey,
        value: &Stored,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

impl Default for MemoryCacheStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCacheStore {
    /// A store of at most [`DEFAULT_CACHE_BYTES`].
    pub fn new() -> Self {
        Self::with_max_bytes(DEFAULT_CACHE_BYTES)
    }

    /// A store of at most `bytes` of replies.
    pub fn with_max_bytes(bytes: u64) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&evictions);
        let entries = moka::sync::Cache::builder()
            .max_capacity(bytes)
            .weigher(|_: &RequestKey, stored: &Stored| stored.entry.weight())
            .expire_after(PerEntry)
            .eviction_listener(move |_, _, cause| {
                if cause == moka::notification::RemovalCause::Size {
                    counted.fetch_add(1, Ordering::Relaxed);
                    #[cfg(feature = "telemetry")]
                    metrics::counter!("tower_ai.cache.evictions").increment(1);
                }
            })
            .build_with_hasher(foldhash::fast::RandomState::default());
        Self { entries, evictions }
    }

    /// How many entries it holds (approximately: moka counts lazily).
    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// How many bytes its entries weigh ([`CachedReply::weight`]).
    pub fn weighted_bytes(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }

    /// How many entries were evicted to keep within the bound (expiries
    /// not counted). Also counted in the metric `tower_ai.cache.evictions`
    /// (feature `telemetry`).
    pub fn evictions(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.evictions.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for MemoryCacheStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCacheStore")
            .field("entries", &self.entries.entry_count())
            .field("weighted_bytes", &self.entries.weighted_size())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl CacheStore for MemoryCacheStore {
    async fn get(&self, key: &RequestKey) -> Result<Option<Arc<CachedReply>>> {
        Ok(self.entries.get(key).map(|stored| stored.entry))
    }

    async fn put(&self, key: &RequestKey, entry: Arc<CachedReply>, ttl: Duration) -> Result<()> {
        self.entries.insert(*key, Stored { entry, ttl });
        Ok(())
    }

    async fn remove(&self, key: &RequestKey) -> Result<()> {
        self.entries.invalidate(key);
        Ok(())
    }

    fn get_now(&self, key: &RequestKey) -> Option<Result<Option<Arc<CachedReply>>>> {
        Some(Ok(self.entries.get(key).map(|stored| stored.entry)))
    }

    fn put_now(&self, key: &RequestKey, entry: &Arc<CachedReply>, ttl: Duration) -> Option<Result<()>> {
        self.entries.insert(
            *key,
            Stored {
                entry: Arc::clone(entry),
                ttl,
            },
        );
        Some(Ok(()))
    }
}
