//! [`MemoryCounterStore`]: counters and leases in this process.

use std::collections::HashMap;
use std::fmt;
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
/// Every operation takes one lock for the time of a few map lookups (never
/// across an `await`), so a reservation across several counters is atomic
/// and concurrent calls never pass a limit. Counters of windows that have
/// ended are dropped as later calls go by; leases past their time are let
/// go at the next reservation.
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
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
}

#[derive(Default)]
struct State {
    /// Key → (window, window or bucket number) → counter: looked up by
    /// `&str`, so reading a counter allocates nothing.
    counters: Map<Arc<str>, Map<(Window, u64), Counter>>,
    leases: Map<String, Lease>,
    /// No lease expires before this: leases are scanned only once it passed.
    earliest_expiry: Option<SystemTime>,
    /// Operations since the last sweep of ended windows.
    since_sweep: u32,
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

impl MemoryCounterStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemTime::now)
    }

    /// An empty store reading the time from `clock`: for tests that move
    /// time on (a window's roll-over, a lease's expiry).
    pub fn with_clock(clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        Self {
            state: Arc::default(),
            clock: Arc::new(clock),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain numbers behind: usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now(&self) -> Duration {
        (self.clock)().duration_since(UNIX_EPOCH).unwrap_or_default()
    }
}

impl State {
    fn expire(&mut self, now: SystemTime) {
        if self.earliest_expiry.is_none_or(|earliest| earliest > now) {
            return;
        }
        let counters = &mut self.counters;
        let mut earliest: Option<SystemTime> = None;
        self.leases.retain(|_, lease| {
            if lease.expires > now {
                earliest = Some(earliest.map_or(lease.expires, |e| e.min(lease.expires)));
                return true;
            }
            for (key, window, index, amount) in &lease.holds {
                if let Some(counter) = counters
                    .get_mut(&**key)
                    .and_then(|c| c.get_mut(&(*window, *index)))
                {
                    counter.held = counter.held.saturating_sub(*amount);
                }
            }
            false
        });
        self.earliest_expiry = earliest;
    }

    /// Spent and held in `key`'s current `window`.
    fn value(&self, key: &str, window: Window, now: Duration) -> Counter {
        let mut total = Counter::default();
        let Some(windows) = self.counters.get(key) else {
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

    /// The counter of `slot`, made if need be.
    /// The counter's key is kept once, shared with the leases that hold it.
    fn counter(&mut self, key: &str, window: Window, index: u64) -> (Arc<str>, &mut Counter) {
        let shared = match self.counters.get_key_value(key) {
            Some((shared, _)) => Arc::clone(shared),
            None => {
                let shared: Arc<str> = Arc::from(key);
                self.counters.insert(Arc::clone(&shared), Map::default());
                shared
            }
        };
        let windows = self.counters.get_mut(key).expect("present above");
        (shared, windows.entry((window, index)).or_default())
    }

    /// Takes `amount` off what `slot`'s counter holds.
    fn unhold(&mut self, key: &str, window: Window, index: u64, amount: u64) {
        if let Some(counter) = self
            .counters
            .get_mut(key)
            .and_then(|c| c.get_mut(&(window, index)))
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
        self.counters.retain(|_, windows| {
            windows
                .retain(|(window, index), counter| counter.held > 0 || indices(*window, now).contains(index));
            !windows.is_empty()
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
        let mut state = self.lock();
        state.expire(wall);
        state.sweep(now);
        for (at, op) in ops.iter().enumerate() {
            let current = state.value(&op.key, op.window, now);
            let total = current.spent.saturating_add(current.held);
            // A counter named twice in one reservation takes both amounts.
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
        for op in ops {
            let at = index(op.window, now);
            let (key, counter) = state.counter(&op.key, op.window, at);
            counter.held = counter.held.saturating_add(op.amount);
            holds.push((key, op.window, at, op.amount));
        }
        let expires = wall + ttl;
        state.earliest_expiry = Some(state.earliest_expiry.map_or(expires, |e| e.min(expires)));
        if let Some(old) = state.leases.insert(lease.to_owned(), Lease { expires, holds }) {
            // A lease id used twice: the older holding is let go, not leaked.
            for (key, window, at, amount) in old.holds {
                state.unhold(&key, window, at, amount);
            }
        }
        Admission::Admitted
    }

    fn settle_sync(&self, lease: &str, ops: &[CounterOp], spent: &[u64]) {
        let now = self.now();
        let mut state = self.lock();
        let charge = |state: &mut State, key: &str, window: Window, at: u64, amount: u64| {
            if amount > 0 {
                let (_, counter) = state.counter(key, window, at);
                counter.spent = counter.spent.saturating_add(amount);
            }
        };
        match state.leases.remove(lease) {
            Some(lease) => {
                for (i, (key, window, at, held)) in lease.holds.into_iter().enumerate() {
                    state.unhold(&key, window, at, held);
                    charge(&mut state, &key, window, at, spent.get(i).copied().unwrap_or(0));
                }
            }
            None => {
                for (op, amount) in ops.iter().zip(spent) {
                    charge(&mut state, &op.key, op.window, index(op.window, now), *amount);
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
        let mut state = self.lock();
        state.expire(UNIX_EPOCH + now);
        let counter = state.value(key, window, now);
        Ok(CounterValue {
            spent: counter.spent,
            held: counter.held,
            reset_after: reset_after(window, now),
        })
    }
}

impl fmt::Debug for MemoryCounterStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryCounterStore")
            .field("counters", &state.counters.len())
            .field("leases", &state.leases.len())
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
