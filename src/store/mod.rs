//! Where state that outlives one call is kept: budget counters, cache
//! entries, the audit stream.
//!
//! Each is a trait, so one process keeps its state in memory and several
//! processes share it through Redis (feature `redis`), with the same layer
//! code. The traits are shaped for atomicity: a budget reserves against
//! every scope's limit in **one** operation (all or nothing), so concurrent
//! calls, in one process or many, never overspend; an audit append is
//! acknowledged only once it is durable in the store and in chain order.
//!
//! [`MemoryCounterStore`] keeps counters in this process;
//! `RedisCounterStore` (feature `redis`) shares them between processes
//! through one Redis server; an application can write its own
//! against another database.
//!
//! ```
//! use std::time::Duration;
//! use tower_ai::store::{Admission, CounterOp, Window};
//!
//! // What a budget asks of a counter store for one call: 1 200 tokens
//! // against the tenant's daily limit and the user's hourly one, atomically.
//! let ops = [
//!     CounterOp::new("tokens:tenant:acme", 1_200, 1_000_000, Window::DAY),
//!     CounterOp::new("tokens:user:u-42", 1_200, 50_000, Window::HOUR),
//! ];
//! # let _ = ops;
//! let refused = Admission::Refused { op: 1, current: 49_500, reset_after: Some(Duration::from_secs(600)) };
//! assert!(!refused.is_admitted());
//! ```

#[cfg(feature = "cache")]
mod cache;
mod memory;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;

#[cfg(all(feature = "cache", feature = "redis"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "cache", feature = "redis"))))]
pub use self::redis::RedisCacheStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::RedisCounterStore;
#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub use cache::{CacheStore, CachedReply, MemoryCacheStore, DEFAULT_CACHE_BYTES};
pub use memory::MemoryCounterStore;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::Result;

/// The time window a counter counts in. Windows are read on the store's
/// clock (for Redis, the server's `TIME`), so processes with skewed clocks
/// agree on when a window resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Window {
    /// Fixed windows of this length, aligned on the Unix epoch: a minute,
    /// an hour or a day (`86 400` s) then begin on the minute, the hour or
    /// midnight UTC.
    Fixed(Duration),
    /// The calendar month, in UTC.
    Month,
    /// The last `Duration` before now. Counted in 60 buckets of a sixtieth
    /// of the window; the oldest bucket counts whole until it has entirely
    /// left the window, so a rolling limit is never passed, and may admit up
    /// to a bucket's worth less than the limit.
    Rolling(Duration),
    /// No window: the counter never resets (a lifetime budget).
    Unbounded,
}

impl Window {
    /// A fixed minute.
    pub const MINUTE: Window = Window::Fixed(Duration::from_secs(60));
    /// A fixed hour.
    pub const HOUR: Window = Window::Fixed(Duration::from_secs(3_600));
    /// A fixed day, from midnight UTC.
    pub const DAY: Window = Window::Fixed(Duration::from_secs(86_400));
}

/// One counter a call adds to, with the limit it must stay within.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CounterOp {
    /// The counter's key, for example `tokens:tenant:acme`.
    pub key: String,
    /// How much to add.
    pub amount: u64,
    /// The most the counter may hold after the addition.
    pub limit: u64,
    /// The window the counter counts in.
    pub window: Window,
}

impl CounterOp {
    /// Adds `amount` to `key`, within `limit`, in `window`.
    pub fn new(key: impl Into<String>, amount: u64, limit: u64, window: Window) -> Self {
        Self {
            key: key.into(),
            amount,
            limit,
            window,
        }
    }
}

/// What a [`CounterStore`] answered to a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// Every counter took its amount.
    Admitted,
    /// Nothing was added: the counter at index `op` would have passed its limit.
    Refused {
        /// The index of the first refusing operation.
        op: usize,
        /// That counter's value (spent and held), in its current window.
        current: u64,
        /// When its window resets, for a windowed counter.
        reset_after: Option<Duration>,
    },
}

impl Admission {
    /// Whether the reservation was admitted.
    pub fn is_admitted(&self) -> bool {
        matches!(self, Admission::Admitted)
    }
}

/// A counter's figures in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CounterValue {
    /// What settled calls spent.
    pub spent: u64,
    /// What live reservations hold.
    pub held: u64,
    /// When the window resets, for a windowed counter.
    pub reset_after: Option<Duration>,
}

impl CounterValue {
    /// Spent and held, together: what a new reservation is checked against.
    pub fn total(&self) -> u64 {
        self.spent.saturating_add(self.held)
    }
}

/// Counters for budgets and rate limits, with reservations held as leases.
///
/// The one rule: [`reserve`](Self::reserve) checks and adds in one atomic
/// step across all its operations. A check followed by a separate add lets
/// concurrent calls overspend; this trait has no such pair.
///
/// A reservation is a lease: it holds its amounts until it is settled, or
/// until its time to live passes. A process that dies holding one leaks
/// nothing for longer than that.
#[async_trait]
pub trait CounterStore: Send + Sync + fmt::Debug + 'static {
    /// Atomically, across every operation: lets go of leases past their
    /// time; then, if every counter's spent and held amounts plus the
    /// operation's amount stay within its limit, records the lease `lease`
    /// holding each amount (in each counter's current window) for `ttl`;
    /// otherwise changes nothing.
    ///
    /// Lease ids are unique per call (the crate uses the call's id).
    async fn reserve(&self, lease: &str, ops: &[CounterOp], ttl: Duration) -> Result<Admission>;

    /// Ends the lease `lease`: what it held is let go, and `spent[i]` is
    /// added to the counter of the lease's operation `i`, in the window the
    /// lease was counted in, whatever the limit (a call's real cost is
    /// recorded as it is). `spent` of zeros releases the lease.
    ///
    /// A lease past its time that was not let go yet is settled as above,
    /// in its own windows; one already let go (by a later reservation) adds
    /// its spending to the counters' current windows. An unknown lease with
    /// no operations adds nothing.
    async fn settle(&self, lease: &str, ops: &[CounterOp], spent: &[u64]) -> Result<()>;

    /// A counter's figures in its current window.
    async fn value(&self, key: &str, window: Window) -> Result<CounterValue>;

    /// [`reserve`](Self::reserve) without waiting, for a store that needs
    /// no I/O (in memory): `None` when the store cannot answer at once, and
    /// the caller awaits `reserve`. The same atomicity rules hold.
    fn reserve_now(&self, lease: &str, ops: &[CounterOp], ttl: Duration) -> Option<Result<Admission>> {
        let _ = (lease, ops, ttl);
        None
    }

    /// [`settle`](Self::settle) without waiting, as
    /// [`reserve_now`](Self::reserve_now).
    fn settle_now(&self, lease: &str, ops: &[CounterOp], spent: &[u64]) -> Option<Result<()>> {
        let _ = (lease, ops, spent);
        None
    }
}

/// A stored audit record with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEntry {
    /// Its position in the stream, from 0, without gaps.
    pub seq: u64,
    /// The record, as the audit layer encoded it (its hash chains to the previous one).
    pub record: Bytes,
}

impl AuditEntry {
    /// An entry at `seq`.
    pub fn new(seq: u64, record: Bytes) -> Self {
        Self { seq, record }
    }
}

/// What an append answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Appended {
    /// The record is durable at this position.
    At(u64),
    /// Another writer appended first: the stream is now this long. The
    /// writer re-chains its record to the new head and tries again.
    Conflict {
        /// The stream's length.
        len: u64,
    },
}

/// An append-only stream of audit records.
///
/// Appends are conditional on the stream's length, so writers in several
/// processes keep one unbroken hash chain: each record names the hash of
/// the one before it, and a store never accepts two records at one place.
#[async_trait]
pub trait AuditStore: Send + Sync + fmt::Debug + 'static {
    /// Appends `record` at position `expected_len`, if the stream is that
    /// long. An answer of [`Appended::At`] means the record is durable.
    async fn append(&self, expected_len: u64, record: Bytes) -> Result<Appended>;

    /// The last entry, if any.
    async fn head(&self) -> Result<Option<AuditEntry>>;

    /// Up to `limit` entries from position `from`, in order.
    async fn read(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>>;
}
