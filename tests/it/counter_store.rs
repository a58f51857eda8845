//! The checks every counter store passes, one test per check and store:
//! `memory::*` runs them on `MemoryCounterStore` (with a clock the test moves
//! on), `redis::*` on `RedisCounterStore` against a `redis-server` of the
//! test's own (on the server's real clock, with windows and leases of a
//! second or two). `shared::*` are Redis's own: several connections and
//! another process on one server, windows that agree with the memory
//! store's, a server that is down.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tower_ai::store::{Admission, CounterOp, CounterStore, MemoryCounterStore, Window};

/// 2026-01-01T00:00:00Z: where the memory store's clock starts.
const START: Duration = Duration::from_secs(1_767_225_600);
/// A lease's time to live when the check is not about expiry.
const TTL: Duration = Duration::from_secs(600);

/// A store under test: handles on one set of counters, and a clock.
trait Backend: Send + Sync + Sized + 'static {
    type Store: CounterStore + Clone;

    /// Another handle on the same counters (for Redis, its own connection).
    fn open(&self) -> impl Future<Output = Self::Store> + Send;

    /// Moves the store's clock on by at least `by`.
    fn advance(&self, by: Duration) -> impl Future<Output = ()> + Send;
}

/// The memory store, on a clock that moves only when the test says so.
struct Memory {
    store: MemoryCounterStore,
    offset: Arc<AtomicU64>,
}

impl Memory {
    fn new() -> Self {
        let offset = Arc::new(AtomicU64::new(0));
        let clock = Arc::clone(&offset);
        let store = MemoryCounterStore::with_clock(move || {
            UNIX_EPOCH + START + Duration::from_nanos(clock.load(Ordering::SeqCst))
        });
        Self { store, offset }
    }
}

impl Backend for Memory {
    type Store = MemoryCounterStore;

    async fn open(&self) -> MemoryCounterStore {
        self.store.clone()
    }

    async fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).expect("a short step");
        self.offset.fetch_add(nanos, Ordering::SeqCst);
    }
}

#[cfg(feature = "redis")]
mod redis_backend {
    use std::sync::Arc;
    use std::time::Duration;

    use tower_ai::store::RedisCounterStore;

    use super::Backend;
    use crate::support::redis::RedisServer;

    /// The Redis store, on a server of the test's own and its real clock.
    pub(super) struct Redis {
        pub(super) server: Arc<RedisServer>,
        pub(super) prefix: String,
    }

    impl Redis {
        /// `None` when `redis-server` is not installed (and not required).
        pub(super) fn start() -> Option<Self> {
            let server = RedisServer::start()?;
            Some(Self {
                server: Arc::new(server),
                prefix: "test:".to_owned(),
            })
        }
    }

    impl Backend for Redis {
        type Store = RedisCounterStore;

        async fn open(&self) -> RedisCounterStore {
            RedisCounterStore::connect(&self.server.url())
                .await
                .expect("the test's redis-server answers")
                .with_prefix(self.prefix.clone())
        }

        async fn advance(&self, by: Duration) {
            tokio::time::sleep(by).await;
        }
    }
}

/// Runs each check as a test on every store.
macro_rules! suite {
    ($($check:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $check() {
                    super::$check(super::Memory::new()).await;
                }
            )*
        }

        #[cfg(feature = "redis")]
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $check() {
                    let Some(backend) = super::redis_backend::Redis::start() else {
                        return;
                    };
                    super::$check(backend).await;
                }
            )*
        }
    };
}

suite!(
    a_reservation_is_all_or_nothing,
    concurrent_reservations_over_shared_and_own_counters_hold_both_limits,
    a_refusal_names_the_op_its_value_and_the_reset,
    one_counter_twice_in_a_reservation_counts_both_amounts,
    settling_lets_the_rest_go_and_records_the_real_spend,
    settling_zeros_releases,
    a_thousand_concurrent_reservations_admit_exactly_the_limit,
    an_unsettled_lease_comes_back_after_its_ttl,
    a_fixed_window_rolls_over,
    a_rolling_window_slides,
    an_unbounded_counter_never_resets,
    a_calendar_month_resets_at_the_months_end,
);

fn op(key: &str, amount: u64, limit: u64, window: Window) -> CounterOp {
    CounterOp::new(key, amount, limit, window)
}

async fn admitted(store: &impl CounterStore, lease: &str, ops: &[CounterOp]) -> bool {
    store
        .reserve(lease, ops, TTL)
        .await
        .expect("reserve")
        .is_admitted()
}

/// Reserves `op` and settles it at `spent`.
async fn spend(store: &impl CounterStore, lease: &str, op: &CounterOp, spent: u64) {
    assert!(
        admitted(store, lease, std::slice::from_ref(op)).await,
        "{lease} admitted"
    );
    store
        .settle(lease, std::slice::from_ref(op), &[spent])
        .await
        .expect("settle");
}

async fn figures(store: &impl CounterStore, key: &str, window: Window) -> (u64, u64) {
    let value = store.value(key, window).await.expect("value");
    (value.spent, value.held)
}

/// Waits for a fresh window when the current one ends within `margin`, so
/// a check is not cut in two by a roll-over it did not ask for.
async fn at_a_windows_start<B: Backend>(backend: &B, key: &str, window: Window, margin: Duration) {
    let store = backend.open().await;
    let left = store.value(key, window).await.expect("value").reset_after;
    if let Some(left) = left.filter(|left| *left < margin) {
        backend.advance(left + Duration::from_millis(20)).await;
    }
}

async fn a_reservation_is_all_or_nothing<B: Backend>(backend: B) {
    let store = backend.open().await;
    let roomy = op("all:roomy", 10, 100, Window::Unbounded);
    let full = op("all:full", 10, 15, Window::Unbounded);
    assert!(admitted(&store, "first", std::slice::from_ref(&full)).await);

    let answer = store
        .reserve("both", &[roomy.clone(), full.clone()], TTL)
        .await
        .unwrap();
    assert!(matches!(answer, Admission::Refused { op: 1, .. }), "{answer:?}");
    // The first counter had room, and took nothing.
    assert_eq!(figures(&store, "all:roomy", Window::Unbounded).await, (0, 0));
    assert_eq!(figures(&store, "all:full", Window::Unbounded).await, (0, 10));

    assert!(admitted(&store, "alone", &[roomy]).await);
    assert_eq!(figures(&store, "all:roomy", Window::Unbounded).await, (0, 10));
}

async fn a_refusal_names_the_op_its_value_and_the_reset<B: Backend>(backend: B) {
    let store = backend.open().await;
    let hour = op("refusal:hourly", 20, 100, Window::HOUR);
    at_a_windows_start(&backend, "refusal:hourly", Window::HOUR, Duration::from_secs(5)).await;
    spend(&store, "spent", &hour, 90).await;

    let lifetime = op("refusal:lifetime", 1, 10, Window::Unbounded);
    let answer = store
        .reserve("next", &[lifetime.clone(), hour.clone()], TTL)
        .await
        .unwrap();
    let Admission::Refused {
        op: at,
        current,
        reset_after,
    } = answer
    else {
        panic!("admitted past the limit");
    };
    assert_eq!((at, current), (1, 90));
    let reset_after = reset_after.expect("an hourly window resets");
    assert!(
        reset_after > Duration::ZERO && reset_after <= Duration::from_secs(3_600),
        "{reset_after:?}"
    );
    let value = store.value("refusal:hourly", Window::HOUR).await.unwrap();
    let told = value.reset_after.expect("an hourly window resets");
    assert!(
        reset_after >= told && reset_after - told < Duration::from_secs(2),
        "{reset_after:?} then {told:?}"
    );

    // An unbounded counter's refusal names no reset; the current value
    // counts what is held as well as what is spent.
    assert!(
        admitted(
            &store,
            "held",
            &[op("refusal:lifetime", 7, 10, Window::Unbounded)]
        )
        .await
    );
    let answer = store
        .reserve("over", &[op("refusal:lifetime", 4, 10, Window::Unbounded)], TTL)
        .await
        .unwrap();
    assert_eq!(answer, refused(0, 7, None));
}

fn refused(op: usize, current: u64, reset_after: Option<Duration>) -> Admission {
    Admission::Refused {
        op,
        current,
        reset_after,
    }
}

async fn one_counter_twice_in_a_reservation_counts_both_amounts<B: Backend>(backend: B) {
    let store = backend.open().await;
    let twice = op("twice", 60, 100, Window::Unbounded);
    let answer = store
        .reserve("double", &[twice.clone(), twice.clone()], TTL)
        .await
        .unwrap();
    assert!(
        matches!(
            answer,
            Admission::Refused {
                op: 1,
                current: 0,
                ..
            }
        ),
        "{answer:?}"
    );
    assert_eq!(figures(&store, "twice", Window::Unbounded).await, (0, 0));

    // The same key in another window is another counter.
    let other = op("twice", 60, 100, Window::DAY);
    assert!(admitted(&store, "apart", &[twice, other]).await);
    assert_eq!(figures(&store, "twice", Window::Unbounded).await, (0, 60));
}

async fn settling_lets_the_rest_go_and_records_the_real_spend<B: Backend>(backend: B) {
    let store = backend.open().await;
    let w = Window::Unbounded;
    let reserve = op("settle", 700, 1_000, w);
    assert!(admitted(&store, "call-1", std::slice::from_ref(&reserve)).await);
    assert_eq!(figures(&store, "settle", w).await, (0, 700));
    assert!(!admitted(&store, "call-2", std::slice::from_ref(&reserve)).await);

    store
        .settle("call-1", std::slice::from_ref(&reserve), &[200])
        .await
        .unwrap();
    assert_eq!(figures(&store, "settle", w).await, (200, 0));
    assert!(admitted(&store, "call-2", std::slice::from_ref(&reserve)).await);

    // The call cost more than it reserved: the real cost is recorded,
    // past the limit, and later calls are refused on it.
    store.settle("call-2", &[reserve], &[1_500]).await.unwrap();
    assert_eq!(figures(&store, "settle", w).await, (1_700, 0));
    let answer = store
        .reserve("call-3", &[op("settle", 1, 1_000, w)], TTL)
        .await
        .unwrap();
    assert_eq!(answer, refused(0, 1_700, None));
}

async fn settling_zeros_releases<B: Backend>(backend: B) {
    let store = backend.open().await;
    let w = Window::Unbounded;
    let half = op("release", 500, 1_000, w);
    assert!(admitted(&store, "a", std::slice::from_ref(&half)).await);
    assert!(admitted(&store, "b", std::slice::from_ref(&half)).await);
    assert!(!admitted(&store, "c", std::slice::from_ref(&half)).await);

    store
        .settle("a", std::slice::from_ref(&half), &[0])
        .await
        .unwrap();
    assert_eq!(figures(&store, "release", w).await, (0, 500));
    assert!(admitted(&store, "c", std::slice::from_ref(&half)).await);

    // Settling a lease twice, or one never reserved, with nothing spent
    // changes nothing.
    store
        .settle("a", std::slice::from_ref(&half), &[0])
        .await
        .unwrap();
    store.settle("unknown", &[], &[]).await.unwrap();
    assert_eq!(figures(&store, "release", w).await, (0, 1_000));
}

/// Each call reserves on a counter all calls share and on its user's own,
/// half of them naming the two in the other order: both limits hold, and
/// the shared one is filled exactly (a store that locks per counter must
/// take them in one order, or these calls would wait on each other for
/// ever).
async fn concurrent_reservations_over_shared_and_own_counters_hold_both_limits<B: Backend>(backend: B) {
    const SHARED: u64 = 200;
    const PER_USER: u64 = 30;
    const USERS: usize = 8;
    let store = backend.open().await;
    let w = Window::Unbounded;
    let calls: Vec<_> = (0..400)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let user = format!("user-{}", i % USERS);
                let mut ops = vec![op("everyone", 1, SHARED, w), op(&user, 1, PER_USER, w)];
                if i % 2 == 1 {
                    ops.reverse();
                }
                let admitted = store
                    .reserve(&format!("call-{i}"), &ops, TTL)
                    .await
                    .unwrap()
                    .is_admitted();
                (i % USERS, admitted)
            })
        })
        .collect();
    let mut per_user = [0u64; USERS];
    for call in calls {
        let (user, admitted) = call.await.unwrap();
        per_user[user] += u64::from(admitted);
    }
    // 8 users could take 240 between them: the shared limit binds, exactly.
    assert_eq!(per_user.iter().sum::<u64>(), SHARED);
    for (user, admitted) in per_user.iter().enumerate() {
        assert!(*admitted <= PER_USER, "user-{user} got {admitted}");
        assert_eq!(figures(&store, &format!("user-{user}"), w).await, (0, *admitted));
    }
    assert_eq!(figures(&store, "everyone", w).await, (0, SHARED));
}

async fn a_thousand_concurrent_reservations_admit_exactly_the_limit<B: Backend>(backend: B) {
    const LIMIT: u64 = 100;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(backend.open().await);
    }
    let w = Window::Unbounded;
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let store = stores[0].clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut looks = 0u32;
            while !done.load(Ordering::SeqCst) || looks == 0 {
                let value = store.value("crowd", w).await.unwrap();
                assert!(value.total() <= LIMIT, "{value:?} passes the limit");
                looks += 1;
                tokio::task::yield_now().await;
            }
            looks
        })
    };
    let calls: Vec<_> = (0..1_000)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            tokio::spawn(async move {
                let ops = [op("crowd", 1, LIMIT, w)];
                store
                    .reserve(&format!("call-{i}"), &ops, TTL)
                    .await
                    .unwrap()
                    .is_admitted()
            })
        })
        .collect();
    let mut admitted = 0;
    for call in calls {
        admitted += u64::from(call.await.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    assert!(watcher.await.unwrap() > 0);
    assert_eq!(admitted, LIMIT);
    assert_eq!(figures(&stores[1], "crowd", w).await, (0, LIMIT));
}

async fn an_unsettled_lease_comes_back_after_its_ttl<B: Backend>(backend: B) {
    let store = backend.open().await;
    let w = Window::Unbounded;
    let all = op("lease", 100, 100, w);
    let ttl = Duration::from_secs(1);
    assert!(store
        .reserve("dies", std::slice::from_ref(&all), ttl)
        .await
        .unwrap()
        .is_admitted());
    assert!(!admitted(&store, "waits", std::slice::from_ref(&all)).await);

    backend.advance(ttl + Duration::from_millis(200)).await;
    assert_eq!(figures(&store, "lease", w).await, (0, 0));
    assert!(admitted(&store, "waits", std::slice::from_ref(&all)).await);

    // The late settlement of the expired lease is still recorded, in the
    // current window; it lets go of nothing that is not its own.
    store
        .settle("dies", std::slice::from_ref(&all), &[30])
        .await
        .unwrap();
    assert_eq!(figures(&store, "lease", w).await, (30, 100));
}

async fn a_fixed_window_rolls_over<B: Backend>(backend: B) {
    let store = backend.open().await;
    let w = Window::Fixed(Duration::from_secs(2));
    at_a_windows_start(&backend, "fixed", w, Duration::from_secs(1)).await;
    let full = op("fixed", 100, 100, w);
    spend(&store, "first", &full, 100).await;
    let Admission::Refused { reset_after, .. } = store
        .reserve("second", std::slice::from_ref(&full), TTL)
        .await
        .unwrap()
    else {
        panic!("admitted past the limit");
    };
    let reset_after = reset_after.expect("a fixed window resets");
    assert!(reset_after <= Duration::from_secs(2), "{reset_after:?}");

    backend.advance(reset_after + Duration::from_millis(50)).await;
    assert_eq!(figures(&store, "fixed", w).await, (0, 0));
    assert!(admitted(&store, "second", &[full]).await);
    assert_eq!(figures(&store, "fixed", w).await, (0, 100));
}

async fn a_rolling_window_slides<B: Backend>(backend: B) {
    let store = backend.open().await;
    let w = Window::Rolling(Duration::from_secs(2));
    spend(&store, "early", &op("rolling", 60, 100, w), 60).await;
    backend.advance(Duration::from_secs(1)).await;
    spend(&store, "later", &op("rolling", 40, 100, w), 40).await;
    assert_eq!(figures(&store, "rolling", w).await, (100, 0));
    let answer = store
        .reserve("refused", &[op("rolling", 1, 100, w)], TTL)
        .await
        .unwrap();
    let Admission::Refused {
        current: 100,
        reset_after: Some(reset_after),
        ..
    } = answer
    else {
        panic!("{answer:?}");
    };
    // The next bucket's turn: a sixtieth of the window at most.
    assert!(reset_after <= Duration::from_millis(34), "{reset_after:?}");

    // The early spending has left the window; the later is still in it.
    backend.advance(Duration::from_millis(1_100)).await;
    assert_eq!(figures(&store, "rolling", w).await, (40, 0));
    assert!(admitted(&store, "room", &[op("rolling", 60, 100, w)]).await);
    assert!(!admitted(&store, "no-room", &[op("rolling", 1, 100, w)]).await);
}

async fn an_unbounded_counter_never_resets<B: Backend>(backend: B) {
    let store = backend.open().await;
    let w = Window::Unbounded;
    spend(&store, "once", &op("lifetime", 100, 100, w), 100).await;
    backend.advance(Duration::from_millis(1_100)).await;
    let value = store.value("lifetime", w).await.unwrap();
    assert_eq!((value.spent, value.held, value.reset_after), (100, 0, None));
    let answer = store
        .reserve("again", &[op("lifetime", 1, 100, w)], TTL)
        .await
        .unwrap();
    assert_eq!(answer, refused(0, 100, None));
}

async fn a_calendar_month_resets_at_the_months_end<B: Backend>(backend: B) {
    let store = backend.open().await;
    let w = Window::Month;
    at_a_windows_start(&backend, "monthly", w, Duration::from_secs(5)).await;
    spend(&store, "one", &op("monthly", 5, 10, w), 5).await;
    let value = store.value("monthly", w).await.unwrap();
    assert_eq!((value.spent, value.held), (5, 0));
    let left = value.reset_after.expect("a month resets");
    assert!(
        left > Duration::ZERO && left <= Duration::from_secs(31 * 86_400),
        "{left:?}"
    );
}

/// Redis's own checks: one limit across connections and processes.
#[cfg(feature = "redis")]
mod shared {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use tower_ai::store::{CounterStore, MemoryCounterStore, RedisCounterStore, Window};

    use super::redis_backend::Redis;
    use super::{op, Backend, TTL};
    use crate::support::redis::RedisServer;

    /// The child process's orders: the server's URL and the key prefix.
    const CHILD: &str = "TOWER_AI_COUNTER_STORE_CHILD";
    /// The limit both processes of `another_process_shares_one_limit` share.
    const SHARED_LIMIT: u64 = 2_000;

    #[tokio::test(flavor = "multi_thread")]
    async fn three_stores_under_load_never_pass_the_limit() {
        const LIMIT: u64 = 300;
        let Some(backend) = Redis::start() else {
            return;
        };
        let stores = [backend.open().await, backend.open().await, backend.open().await];
        let w = Window::Unbounded;
        let done = Arc::new(AtomicBool::new(false));
        let watcher = {
            let store = stores[0].clone();
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    let value = store.value("load", w).await.unwrap();
                    assert!(value.total() <= LIMIT, "{value:?} passes the limit");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        let reserved = Arc::new(AtomicU64::new(0));
        let settled = Arc::new(AtomicU64::new(0));
        // 16 workers on each store, 20 calls each, one after the other:
        // a worker's settled call makes room for its next.
        let mut calls = Vec::new();
        for (s, store) in stores.iter().enumerate() {
            for worker in 0..16u64 {
                let store = store.clone();
                let (reserved, settled) = (Arc::clone(&reserved), Arc::clone(&settled));
                calls.push(tokio::spawn(async move {
                    for i in 0..20u64 {
                        let amount = 1 + (worker + i) % 5;
                        let lease = format!("store-{s}-worker-{worker}-call-{i}");
                        let ops = [op("load", amount, LIMIT, w)];
                        if store.reserve(&lease, &ops, TTL).await.unwrap().is_admitted() {
                            reserved.fetch_add(amount, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(i % 3)).await;
                            // Half the calls use less than they reserved.
                            let spent = amount - i % 2;
                            store.settle(&lease, &ops, &[spent]).await.unwrap();
                            settled.fetch_add(spent, Ordering::SeqCst);
                        }
                    }
                }));
            }
        }
        for call in calls {
            call.await.unwrap();
        }
        done.store(true, Ordering::SeqCst);
        watcher.await.unwrap();
        let value = stores[2].value("load", w).await.unwrap();
        assert_eq!((value.spent, value.held), (settled.load(Ordering::SeqCst), 0));
        // Released reservations made room for more: more was reserved in
        // all than the limit, never more at once.
        assert!(reserved.load(Ordering::SeqCst) > LIMIT);
        assert!(value.spent <= LIMIT);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn another_process_shares_one_limit() {
        let Some(backend) = Redis::start() else {
            return;
        };
        let exe = std::env::current_exe().expect("the test binary");
        let child = tokio::process::Command::new(exe)
            .args([
                "counter_store::shared::reserves_for_another_process",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD, format!("{} {}", backend.server.url(), backend.prefix))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the test binary again");
        let store = backend.open().await;
        let url = backend.server.url();
        // Both sides start on a signal, once the child is connected.
        wait_for(&url, &backend.prefix, "ready").await;
        set(&url, &backend.prefix, "go").await;
        let here = reserve_many(&store, "parent").await;
        let output = child.wait_with_output().await.unwrap();
        assert!(output.status.success(), "the child failed");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let there: u64 = stdout
            .lines()
            .find_map(|line| line.strip_prefix("admitted in the child: "))
            .unwrap_or_else(|| panic!("the child's count, in {stdout}"))
            .trim()
            .parse()
            .unwrap();
        // Each side reserved until refused: together, exactly the limit.
        assert_eq!(here + there, SHARED_LIMIT, "{here} here, {there} in the child");
        println!("admitted: {here} here, {there} in the other process");
        assert!(here > 0 && there > 0, "the two processes reserved at once");
        let value = store.value("processes", Window::Unbounded).await.unwrap();
        assert_eq!(value.held, SHARED_LIMIT);
    }

    /// The other process of `another_process_shares_one_limit`; does
    /// nothing in a run of its own.
    #[tokio::test(flavor = "multi_thread")]
    async fn reserves_for_another_process() {
        let Ok(orders) = std::env::var(CHILD) else {
            return;
        };
        let (url, prefix) = orders.split_once(' ').expect("a URL and a prefix");
        let store = RedisCounterStore::connect(url).await.unwrap().with_prefix(prefix);
        set(url, prefix, "ready").await;
        wait_for(url, prefix, "go").await;
        let admitted = reserve_many(&store, "child").await;
        println!("admitted in the child: {admitted}");
    }

    /// Reserves 1 at a time from 16 tasks until the limit refuses them;
    /// answers how many reservations were admitted.
    async fn reserve_many(store: &RedisCounterStore, side: &str) -> u64 {
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let store = store.clone();
                let side = side.to_owned();
                tokio::spawn(async move {
                    let ops = [op("processes", 1, SHARED_LIMIT, Window::Unbounded)];
                    let mut admitted = 0;
                    for i in 0.. {
                        let lease = format!("{side}-{t}-{i}");
                        if !store.reserve(&lease, &ops, TTL).await.unwrap().is_admitted() {
                            break;
                        }
                        admitted += 1;
                    }
                    admitted
                })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            admitted += task.await.unwrap();
        }
        admitted
    }

    /// Raises `flag` on the server of `url`.
    async fn set(url: &str, prefix: &str, flag: &str) {
        let mut conn = connection(url).await;
        let _: () = ::redis::cmd("SET")
            .arg(format!("{prefix}{flag}"))
            .arg(1)
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    /// Waits (up to 10 s) until `flag` is raised on the server of `url`.
    async fn wait_for(url: &str, prefix: &str, flag: &str) {
        let mut conn = connection(url).await;
        for _ in 0..10_000 {
            let set: bool = ::redis::cmd("EXISTS")
                .arg(format!("{prefix}{flag}"))
                .query_async(&mut conn)
                .await
                .unwrap();
            if set {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("no {flag} within 10 s");
    }

    async fn connection(url: &str) -> ::redis::aio::MultiplexedConnection {
        ::redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn windows_agree_with_the_memory_store() {
        let Some(backend) = Redis::start() else {
            return;
        };
        let redis = backend.open().await;
        let memory = MemoryCounterStore::new();
        for window in [
            Window::MINUTE,
            Window::HOUR,
            Window::DAY,
            Window::Fixed(Duration::from_secs(7)),
            Window::Month,
            Window::Rolling(Duration::from_secs(60)),
            Window::Rolling(Duration::from_secs(3_600)),
            Window::Unbounded,
        ] {
            let there = redis.value("agree", window).await.unwrap().reset_after;
            let here = memory.value("agree", window).await.unwrap().reset_after;
            match (there, here) {
                (None, None) => {}
                (Some(there), Some(here)) => {
                    // One clock, read twice: apart by the time in between,
                    // or by nearly a whole period if it turned in between.
                    let apart = there.abs_diff(here);
                    let period = match window {
                        Window::Fixed(length) => length,
                        Window::Rolling(length) => length / 60,
                        _ => Duration::MAX,
                    };
                    let apart = apart.min(period.saturating_sub(apart));
                    assert!(
                        apart < Duration::from_millis(500),
                        "{window:?}: {there:?} and {here:?}"
                    );
                }
                _ => panic!("{window:?}: {there:?} and {here:?}"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_server_that_is_down_is_a_store_error() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let url = server.url();
        let store = RedisCounterStore::connect(&url).await.unwrap();
        drop(server);
        let err = store
            .reserve("down", &[op("down", 1, 10, Window::Unbounded)], TTL)
            .await
            .unwrap_err();
        assert!(err.is_store(), "{err:?}");
        assert_eq!(err.kind(), "store");
        assert!(std::error::Error::source(&err).is_some());
        assert!(err.to_string().contains("redis"), "{err}");

        // (`connect` to a server that is down fails the same way, after
        // the connection manager's retries: some seconds.)
        let err = RedisCounterStore::connect("not a url").await.unwrap_err();
        assert_eq!(err.kind(), "config", "{err:?}");
    }
}

/// The memory store's clock moves freely: a month's spend is gone the
/// moment the next month begins, and not a moment before.
#[tokio::test]
async fn a_calendar_month_ends_at_its_last_second() {
    let backend = Memory::new();
    let store = backend.open().await;
    let w = Window::Month;
    spend(&store, "one", &op("monthly", 5, 10, w), 5).await;
    let left = store.value("monthly", w).await.unwrap().reset_after.unwrap();
    backend.advance(left - Duration::from_millis(1)).await;
    assert_eq!(figures(&store, "monthly", w).await, (5, 0), "still this month");
    backend.advance(Duration::from_millis(2)).await;
    assert_eq!(figures(&store, "monthly", w).await, (0, 0), "a new month");
}
