//! What a budget's counter store costs a call: one reservation and its
//! settlement, against one counter and against three (a daily, an hourly
//! and a rolling one), on `MemoryCounterStore` and on `RedisCounterStore`
//! over loopback (a `redis-server` the bench starts; skipped with a line
//! when the binary is missing).
//!
//! Besides criterion's figures, each case is timed call by call over
//! 10,000 rounds and its median and 99th percentile printed.
//!
//! ```text
//! cargo bench --bench store --features redis
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tower_ai::store::{CounterOp, CounterStore, MemoryCounterStore, RedisCounterStore, Window};

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/it/support/redis.rs"]
mod server;

const TTL: Duration = Duration::from_secs(60);
const ROUNDS: usize = 10_000;

fn ops(n: usize) -> Vec<CounterOp> {
    let all = [
        CounterOp::new("tokens:tenant:acme", 1_200, u64::MAX, Window::DAY),
        CounterOp::new("tokens:user:u-42", 1_200, u64::MAX, Window::HOUR),
        CounterOp::new(
            "requests:user:u-42",
            1,
            u64::MAX,
            Window::Rolling(Duration::from_secs(60)),
        ),
    ];
    all[..n].to_vec()
}

static LEASE: AtomicU64 = AtomicU64::new(0);

async fn round(store: &impl CounterStore, ops: &[CounterOp], spent: &[u64]) {
    let lease = format!("call-{}", LEASE.fetch_add(1, Ordering::Relaxed));
    let admitted = store.reserve(&lease, ops, TTL).await.unwrap().is_admitted();
    assert!(admitted);
    store.settle(&lease, ops, spent).await.unwrap();
}

/// Times `ROUNDS` rounds one by one; prints the median and the 99th percentile.
fn percentiles(rt: &tokio::runtime::Runtime, name: &str, store: &impl CounterStore, ops: &[CounterOp]) {
    let spent = vec![900; ops.len()];
    let mut took: Vec<Duration> = rt.block_on(async {
        let mut took = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            round(store, ops, &spent).await;
            took.push(start.elapsed());
        }
        took
    });
    took.sort();
    println!(
        "{name}: {ROUNDS} rounds, median {:?}, p99 {:?}",
        took[ROUNDS / 2],
        took[ROUNDS * 99 / 100]
    );
}

fn cases(c: &mut Criterion, rt: &tokio::runtime::Runtime, store_name: &str, store: &impl CounterStore) {
    let mut group = c.benchmark_group(format!("reserve_settle/{store_name}"));
    for n in [1, 3] {
        let ops = ops(n);
        let spent = vec![900; n];
        let name = if n == 1 { "one_counter" } else { "three_counters" };
        group.bench_function(name, |b| b.to_async(rt).iter(|| round(store, &ops, &spent)));
        percentiles(rt, &format!("reserve_settle/{store_name}/{name}"), store, &ops);
    }
    group.finish();
}

fn memory(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    cases(c, &rt, "memory", &MemoryCounterStore::new());
}

fn redis(c: &mut Criterion) {
    let Some(server) = server::RedisServer::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(RedisCounterStore::connect(&server.url())).unwrap();
    cases(c, &rt, "redis", &store);
}

criterion_group!(benches, memory, redis);
criterion_main!(benches);
