//! [`MemoryCounterStore`]: counters and leases in this process.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::{Admission, CounterOp, CounterStore, CounterValue, Window};
use crate::error::Result;

/// A map with a fast hasher, seeded per map (keys come from requests).
type Map<K, V> = HashMap<K, V, foldhash::quality::RandomState>;

/// The number of buckets a rolling window is counted in.
pub(crate) const ROLLING_BUCKETS: u64 = 60;

/// Counters and leases in this process's memory.
///
/// Counters live in 16 shards by their key's hash, each behind its
/// own lock, held for a few map lookups and never across an `await`. A
/// reservation locks the shards of all its counters at once, in shard
/// order, so it is atomic across counters and concurrent calls never pass a
/// limit, while calls on other counters (other users, other tenants) go on
/// in parallel. Leases are sharded the same way by their id. Counters of
/// windows that have ended are dropped as later calls go by; leases past
/// their time are let go at the next reservation.
///
/// ```
/// use std::time::Duration;
/// use tower_ai::store::{CounterOp, CounterStore, MemoryCounterStore, Window};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> tower_ai::Result<()> {
/// let store = MemoryCounterStore::new();
/// let op = CounterOp::new("tokens:user:ann", 700, 1_000, Window::DAY);
/// let ttl = Duration::from_secs(600);
/// assert!(store.reserve("call-1", &[op.clone()], ttl).await?.is_admitted());
/// assert!(!store.reserve("call-2", &[op.clone()], ttl).await?.is_admitted());
/// // The first call used 200 tokens: the rest of its reservation is let go.
/// store.settle("call-1", &[op.clone()], &[200]).await?;
/// assert!(store.reserve("call-2", &[op], ttl).await?.is_admitted());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryCounterStore {
    inner: Arc<Inner>,
    clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
}

/// How many shards the counters (and, apart, the leases) are spread over.
const SHARDS: usize = 16;

struct Inner {
    /// Picks a key's shard; seeded per store (keys come from requests).
    hasher: foldhash::quality::RandomState,
    counters: [Mutex<Shard>; SHARDS],
    leases: [LeaseShard; SHARDS],
}

/// The counters of one shard.
#[derive(Default)]
struct Shard {
    /// Key → its counters: looked up by `&str`, so reading a counter
    /// allocates nothing.
    counters: hashbrown::HashMap<Arc<str>, Counters, foldhash::quality::RandomState>,
    /// Operations since the last sweep of ended windows.
    since_sweep: u32,
}

/// The leases of one shard.
#[derive(Default)]
struct LeaseShard {
    /// No lease of this shard expires before this many milliseconds since
    /// the epoch (`u64::MAX`: none): read without the lock, so a
    /// reservation looks into a shard's leases only once it has passed.
    earliest_ms: AtomicU64,
    leases: Mutex<Map<String, Lease>>,
}

/// One key's counters, and the key itself, which leases share.
struct Counters {
    key: Arc<str>,
    /// (window, window or bucket number) → counter.
    windows: Map<(Window, u64), Counter>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    spent: u64,
    held: u64,
}

struct Lease {
    expires: SystemTime,
    /// (key, window, window number, amount) of each counter held.
    holds: Vec<(Arc<str>, Window, u64, u64)>,
}

impl Default for MemoryCounterStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Locks `mutex`. A panic while holding it leaves plain numbers behind:
/// usable, so a poisoned lock is taken as it is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The shards one operation holds, each locked once, taken in shard order
/// so that two operations never wait on each other in a circle.
struct Locked<'a> {
    guards: [Option<MutexGuard<'a, Shard>>; SHARDS],
}

impl<'a> Locked<'a> {
    fn shard(&mut self, at: usize) -> &mut Shard {
        self.guards[at]
            .as_mut()
            .expect("every shard of the operation is locked")
    }
}

impl MemoryCounterStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemTime::now)
    }

    /// An empty store reading the time from `clock`: for tests that move
    /// time on (a window's roll-over, a lease's expiry).
    pub fn with_clock(clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        Self {
            inner: Arc::new(Inner {
                hasher: foldhash::quality::RandomState::default(),
                counters: std::array::from_fn(|_| Mutex::default()),
                leases: std::array::from_fn(|_| LeaseShard {
                    earliest_ms: AtomicU64::new(u64::MAX),
                    leases: Mutex::default(),
                }),
            }),
            clock: Arc::new(clock),
        }
    }

    fn now(&self) -> Duration {
        (self.clock)().duration_since(UNIX_EPOCH).unwrap_or_default()
    }

    /// The shard of a counter's key or a lease's id.
    fn shard_of(&self, key: &str) -> usize {
        (self.inner.hasher.hash_one(key) as usize) & (SHARDS - 1)
    }

    /// Locks the shards of `keys`, in shard order.
    fn lock_shards<'k>(&self, keys: impl Iterator<Item = &'k str>) -> Locked<'_> {
        let mut wanted = 0u32;
        for key in keys {
            wanted |= 1 << self.shard_of(key);
        }
        self.lock_wanted(wanted)
    }

    /// Locks the shards of `n` ops, each op's shard given by `shard_at`.
    fn lock_ops(&self, n: usize, shard_at: impl Fn(usize) -> usize) -> Locked<'_> {
        let wanted = (0..n).fold(0u32, |wanted, at| wanted | 1 << shard_at(at));
        self.lock_wanted(wanted)
    }

    /// Locks the shards whose bits are set in `wanted`, in shard order.
    fn lock_wanted(&self, wanted: u32) -> Locked<'_> {
        let mut locked = Locked {
            guards: Default::default(),
        };
        for (at, shard) in self.inner.counters.iter().enumerate() {
            if wanted & (1 << at) != 0 {
                locked.guards[at] = Some(lock(shard));
            }
        }
        locked
    }

    /// Lets go the leases past their time, and what they hold.
    fn expire(&self, now: SystemTime) {
        let now_ms = millis(now);
        for shard in &self.inner.leases {
            if shard.earliest_ms.load(Ordering::Acquire) > now_ms {
                continue;
            }
            let mut expired = Vec::new();
            {
                let mut leases = lock(&shard.leases);
                let mut earliest = u64::MAX;
                leases.retain(|_, lease| {
                    if lease.expires > now {
                        earliest = earliest.min(millis(lease.expires));
                        return true;
                    }
                    expired.push(std::mem::take(&mut lease.holds));
                    false
                });
                shard.earliest_ms.store(earliest, Ordering::Release);
            }
            for holds in expired {
                self.unhold_all(holds);
            }
        }
    }

    /// Takes what `holds` hold off their counters.
    fn unhold_all(&self, holds: Vec<(Arc<str>, Window, u64, u64)>) {
        let mut locked = self.lock_shards(holds.iter().map(|(key, ..)| &**key));
        for (key, window, at, amount) in holds {
            locked.shard(self.shard_of(&key)).unhold(&key, window, at, amount);
        }
    }
}

impl Shard {
    /// What `key`'s counter of `window` sums at `now`.
    fn value(&self, key: &str, window: Window, now: Duration) -> Counter {
        let mut total = Counter::default();
        let Some(Counters { windows, .. }) = self.counters.get(key) else {
            return total;
        };
        for index in indices(window, now) {
            if let Some(counter) = windows.get(&(window, index)) {
                total.spent = total.spent.saturating_add(counter.spent);
                total.held = total.held.saturating_add(counter.held);
            }
        }
        total
    }

    /// The counter of `key` in window number `index`, made if missing, with
    /// the key as the map holds it (for a lease to share).
    fn counter(&mut self, key: &str, window: Window, index: u64) -> (Arc<str>, &mut Counter) {
        // One lookup, which allocates only for a key not counted before.
        let counters = self.counters.entry_ref(key).or_insert_with(|| Counters {
            key: Arc::from(key),
            windows: Map::default(),
        });
        (
            Arc::clone(&counters.key),
            counters.windows.entry((window, index)).or_default(),
        )
    }

    /// Lets `held` go and records `spent` on one counter, in one lookup.
    fn settle(&mut self, key: &str, window: Window, index: u64, held: u64, spent: u64) {
        if held == 0 && spent == 0 {
            return;
        }
        let (_, counter) = self.counter(key, window, index);
        counter.held = counter.held.saturating_sub(held);
        counter.spent = counter.spent.saturating_add(spent);
    }

    /// Takes `amount` off what `slot`'s counter holds.
    fn unhold(&mut self, key: &str, window: Window, index: u64, amount: u64) {
        if let Some(counter) = self
            .counters
            .get_mut(key)
            .and_then(|c| c.windows.get_mut(&(window, index)))
        {
            counter.held = counter.held.saturating_sub(amount);
        }
    }

    /// Drops counters of windows that have ended, now and then.
    fn sweep(&mut self, now: Duration) {
        self.since_sweep += 1;
        if self.since_sweep < 1024 {
            return;
        }
        self.since_sweep = 0;
        self.counters.retain(|_, counters| {
            counters
                .windows
                .retain(|(window, index), counter| counter.held > 0 || indices(*window, now).contains(index));
            !counters.windows.is_empty()
        });
    }
}

/// The window (or bucket) numbers that make up `window`'s current span.
fn indices(window: Window, now: Duration) -> std::ops::RangeInclusive<u64> {
    let current = index(window, now);
    match window {
        Window::Rolling(_) => current.saturating_sub(ROLLING_BUCKETS - 1)..=current,
        _ => current..=current,
    }
}

/// The number of the window (or rolling bucket) `now` falls in.
pub(crate) fn index(window: Window, now: Duration) -> u64 {
    match window {
        Window::Fixed(length) => now.as_secs() / length.as_secs().max(1),
        Window::Rolling(length) => now.as_millis() as u64 / bucket_millis(length),
        Window::Month => {
            let (year, month) = civil(now.as_secs() / 86_400);
            year * 12 + (month - 1)
        }
        Window::Unbounded => 0,
        #[allow(unreachable_patterns)]
        _ => 0,
    }
}

fn bucket_millis(length: Duration) -> u64 {
    (length.as_millis() as u64 / ROLLING_BUCKETS).max(1)
}

/// How long until `window`'s current span resets (for a rolling window,
/// until its oldest bucket leaves it).
pub(crate) fn reset_after(window: Window, now: Duration) -> Option<Duration> {
    match window {
        Window::Fixed(length) => {
            let length = length.as_secs().max(1);
            let end = (now.as_secs() / length + 1) * length;
            Some(Duration::from_secs(end).saturating_sub(now))
        }
        Window::Rolling(length) => {
            let bucket = bucket_millis(length);
            let end = (now.as_millis() as u64 / bucket + 1) * bucket;
            Some(Duration::from_millis(end).saturating_sub(now))
        }
        Window::Month => {
            let (year, month) = civil(now.as_secs() / 86_400);
            let (year, month) = if month == 12 {
                (year + 1, 1)
            } else {
                (year, month + 1)
            };
            let start = days_from_civil(year, month) * 86_400;
            Some(Duration::from_secs(start).saturating_sub(now))
        }
        _ => None,
    }
}

/// The (year, month) of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil(days: u64) -> (u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month)
}

/// The day number, from 1970-01-01, of the first of `month` in `year`.
fn days_from_civil(year: u64, month: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let yoe = year - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl MemoryCounterStore {
    fn reserve_sync(&self, lease: &str, ops: &[CounterOp], ttl: Duration) -> Admission {
        let now = self.now();
        let wall = UNIX_EPOCH + now;
        self.expire(wall);
        // Each op's shard, hashed once (for the first ops; later ones, rare,
        // are hashed again where needed).
        let mut shard_of_op = [0u8; 16];
        for (op, shard) in ops.iter().zip(shard_of_op.iter_mut()) {
            *shard = self.shard_of(&op.key) as u8;
        }
        let shard_at = |at: usize| match shard_of_op.get(at) {
            Some(shard) => usize::from(*shard),
            None => self.shard_of(&ops[at].key),
        };
        let mut locked = self.lock_ops(ops.len(), shard_at);
        for guard in locked.guards.iter_mut().flatten() {
            guard.sweep(now);
        }
        for (at, op) in ops.iter().enumerate() {
            let current = locked.shard(shard_at(at)).value(&op.key, op.window, now);
            let total = current.spent.saturating_add(current.held);
            // Two ops on one counter (two limits sharing a key) count together.
            let earlier: u64 = ops[..at]
                .iter()
                .filter(|o| o.key == op.key && o.window == op.window)
                .fold(0, |sum, o| sum.saturating_add(o.amount));
            if total.saturating_add(earlier).saturating_add(op.amount) > op.limit {
                return Admission::Refused {
                    op: at,
                    current: total,
                    reset_after: reset_after(op.window, now),
                };
            }
        }
        let mut holds = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let at = index(op.window, now);
            let (key, counter) = locked.shard(shard_at(i)).counter(&op.key, op.window, at);
            counter.held = counter.held.saturating_add(op.amount);
            holds.push((key, op.window, at, op.amount));
        }
        drop(locked);
        // The lease is recorded after its holds: an expiry running meanwhile
        // cannot miss it, and a settlement cannot come before this returns.
        let expires = wall + ttl;
        let shard = &self.inner.leases[self.shard_of(lease)];
        let old = {
            let mut leases = lock(&shard.leases);
            shard.earliest_ms.fetch_min(millis(expires), Ordering::AcqRel);
            leases.insert(lease.to_owned(), Lease { expires, holds })
        };
        if let Some(old) = old {
            // A lease id used twice: the older holding is let go, not leaked.
            self.unhold_all(old.holds);
        }
        Admission::Admitted
    }

    fn settle_sync(&self, lease: &str, ops: &[CounterOp], spent: &[u64]) {
        let now = self.now();
        let held = lock(&self.inner.leases[self.shard_of(lease)].leases).remove(lease);
        match held {
            Some(lease) => {
                let mut locked = self.lock_shards(lease.holds.iter().map(|(key, ..)| &**key));
                for (i, (key, window, at, held)) in lease.holds.iter().enumerate() {
                    let spent = spent.get(i).copied().unwrap_or(0);
                    locked
                        .shard(self.shard_of(key))
                        .settle(key, *window, *at, *held, spent);
                }
            }
            None => {
                // The lease expired (or never was): what was spent is still
                // recorded, in the windows of now.
                let mut locked = self.lock_shards(ops.iter().map(|op| op.key.as_str()));
                for (op, amount) in ops.iter().zip(spent) {
                    let at = index(op.window, now);
                    locked
                        .shard(self.shard_of(&op.key))
                        .settle(&op.key, op.window, at, 0, *amount);
                }
            }
        }
    }
}

#[async_trait]
impl CounterStore for MemoryCounterStore {
    async fn reserve(&self, lease: &str, ops: &[CounterOp], ttl: Duration) -> Result<Admission> {
        Ok(self.reserve_sync(lease, ops, ttl))
    }

    async fn settle(&self, lease: &str, ops: &[CounterOp], spent: &[u64]) -> Result<()> {
        self.settle_sync(lease, ops, spent);
        Ok(())
    }

    fn reserve_now(&self, lease: &str, ops: &[CounterOp], ttl: Duration) -> Option<Result<Admission>> {
        Some(Ok(self.reserve_sync(lease, ops, ttl)))
    }

    fn settle_now(&self, lease: &str, ops: &[CounterOp], spent: &[u64]) -> Option<Result<()>> {
        self.settle_sync(lease, ops, spent);
        Some(Ok(()))
    }

    async fn value(&self, key: &str, window: Window) -> Result<CounterValue> {
        let now = self.now();
        self.expire(UNIX_EPOCH + now);
        let counter = lock(&self.inner.counters[self.shard_of(key)]).value(key, window, now);
        Ok(CounterValue {
            spent: counter.spent,
            held: counter.held,
            reset_after: reset_after(window, now),
        })
    }
}

impl fmt::Debug for MemoryCounterStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counters: usize = self.inner.counters.iter().map(|s| lock(s).counters.len()).sum();
        let leases: usize = self.inner.leases.iter().map(|s| lock(&s.leases).len()).sum();
        f.debug_struct("MemoryCounterStore")
            .field("counters", &counters)
            .field("leases", &leases)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn months_are_calendar_months() {
        // 2024-02-29T12:00:00Z, a leap day.
        let leap = at(1_709_208_000);
        assert_eq!(civil(leap.as_secs() / 86_400), (2024, 2));
        assert_eq!(reset_after(Window::Month, leap), Some(at(12 * 3_600)));
        // 2026-12-31T23:59:59Z: one second to the new year.
        assert_eq!(reset_after(Window::Month, at(1_798_761_599)), Some(at(1)));
        assert_eq!(
            index(Window::Month, at(1_798_761_599)) + 1,
            index(Window::Month, at(1_798_761_600))
        );
        assert_eq!(days_from_civil(1970, 1), 0);
    }

    #[test]
    fn fixed_windows_align_on_utc() {
        assert_eq!(reset_after(Window::DAY, at(86_400 * 3 + 10)), Some(at(86_390)));
        assert_eq!(reset_after(Window::HOUR, at(7_200)), Some(at(3_600)));
        assert_eq!(index(Window::MINUTE, at(119)), 1);
    }

    #[test]
    fn a_rolling_window_spans_sixty_buckets() {
        let window = Window::Rolling(Duration::from_secs(60));
        let span = indices(window, at(1_000));
        assert_eq!(span.clone().count(), 60);
        assert_eq!(*span.end(), 1_000);
    }
}
