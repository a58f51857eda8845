//! The router over in-process deployments (`service_fn` fakes and mock
//! providers): strategies, health, retries, fallbacks and stream failover.
//! Timing runs on tokio's paused clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::Semaphore;
use tower::Service;
use tower_ai::error::{ApiError, TimeoutKind};
use tower_ai::provider::mock::MockProvider;
use tower_ai::router::{
    Candidate, CircuitState, Deployment, FallbackOn, Group, HealthPolicy, LeastBusy, LeastLatency,
    LowestCost, RetryBudget, RetryPolicy, RoundRobin, Router, Rules,
};
use tower_ai::types::{
    ChatRequest, ChatResponse, ChatStream, FinishReason, ModelInfo, Prices, Principal, Reply, RouteTaken,
    ServedBy, StreamEvent,
};
use tower_ai::{Error, LlmRequest, LlmResponse};

use crate::support::{call, collect, complete};

/// What a fake deployment does with one call.
enum Act {
    /// Answers its own name (complete, or streamed as start, text, finish).
    Ok,
    /// Answers after a pause.
    Slow(Duration),
    /// Fails the call.
    Fail(Error),
    /// Fails the call after a pause.
    SlowFail(Duration, Error),
    /// Streams these items.
    Stream(Vec<Result<StreamEvent, Error>>),
    /// Streams start and its name, then holds the stream open until a
    /// permit of the semaphore is free.
    Hold(Arc<Semaphore>),
}

type Behave = Arc<dyn Fn(usize, &LlmRequest) -> Act + Send + Sync>;

/// An in-process deployment that counts its calls and answers as told.
#[derive(Clone)]
struct Fake {
    name: &'static str,
    calls: Arc<AtomicUsize>,
    models: Arc<Mutex<Vec<String>>>,
    behave: Behave,
}

impl Fake {
    fn new(name: &'static str, behave: impl Fn(usize, &LlmRequest) -> Act + Send + Sync + 'static) -> Self {
        Self {
            name,
            calls: Arc::default(),
            models: Arc::default(),
            behave: Arc::new(behave),
        }
    }

    fn ok(name: &'static str) -> Self {
        Self::new(name, |_, _| Act::Ok)
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn deployment(&self) -> Deployment {
        let fake = self.clone();
        let service = tower::service_fn(move |request: LlmRequest| {
            let n = fake.calls.fetch_add(1, Ordering::SeqCst);
            fake.models.lock().unwrap().push(request.model().to_owned());
            let act = (fake.behave)(n, &request);
            let name = fake.name;
            async move { answer(name, &request, act).await }
        });
        Deployment::new(self.name, format!("{}-model", self.name), service)
    }
}

fn start(name: &str) -> StreamEvent {
    StreamEvent::Start {
        id: format!("{name}-reply"),
        model: name.to_owned(),
    }
}

fn finish() -> StreamEvent {
    StreamEvent::Finish {
        reason: FinishReason::Stop,
    }
}

async fn answer(name: &'static str, request: &LlmRequest, act: Act) -> Result<LlmResponse, Error> {
    let reply = match act {
        Act::Ok => ok_reply(name, request),
        Act::Slow(pause) => {
            tokio::time::sleep(pause).await;
            ok_reply(name, request)
        }
        Act::Fail(error) => return Err(error),
        Act::SlowFail(pause, error) => {
            tokio::time::sleep(pause).await;
            return Err(error);
        }
        Act::Stream(items) => Reply::Stream(ChatStream::from_events(items)),
        Act::Hold(gate) => {
            let head = futures_util::stream::iter([Ok(start(name)), Ok(StreamEvent::text(name))]);
            let tail = futures_util::stream::once(async move {
                let _permit = gate.acquire().await;
                Ok(finish())
            });
            Reply::Stream(ChatStream::new(futures_util::StreamExt::chain(head, tail)))
        }
    };
    Ok(LlmResponse::new(reply))
}

fn ok_reply(name: &str, request: &LlmRequest) -> Reply {
    if request.is_stream() {
        Reply::Stream(ChatStream::from_events([
            Ok(start(name)),
            Ok(StreamEvent::text(name)),
            Ok(finish()),
        ]))
    } else {
        Reply::Complete(ChatResponse::text_reply("r", request.model(), name))
    }
}

fn api(message: &str) -> Box<ApiError> {
    ApiError::new("fake", message).into()
}

fn server_error() -> Error {
    Error::Server(api("boom"))
}

fn rate_limited(after: Duration) -> Error {
    Error::RateLimited(ApiError::new("fake", "slow down").with_retry_after(after).into())
}

fn ask(model: &str) -> LlmRequest {
    LlmRequest::new(ChatRequest::new(model).user("hello"))
}

fn ask_stream(model: &str) -> LlmRequest {
    LlmRequest::stream(ChatRequest::new(model).user("hello"))
}

/// A strategy that takes the deployments in the order given by name.
fn prefer(
    order: &'static [&'static str],
) -> impl Fn(&LlmRequest, &[Candidate<'_>]) -> Option<usize> + Send + Sync {
    move |_, candidates| {
        order
            .iter()
            .find_map(|name| candidates.iter().position(|c| c.name() == *name))
            .or(Some(0))
    }
}

/// A health policy whose circuit never opens, for tests about something else.
fn no_circuit() -> HealthPolicy {
    HealthPolicy::new().circuit(u32::MAX, Duration::from_secs(1), Duration::from_secs(1))
}

fn served_by(response: &LlmResponse) -> RouteTaken {
    response.extensions.get::<RouteTaken>().expect("a route").clone()
}

#[tokio::test]
async fn an_alias_selects_the_group_and_the_concrete_model_goes_down() {
    let mock = MockProvider::new().with_name("mock-openai");
    let router = Router::builder()
        .group(
            Group::new("gpt-4o-mini")
                .alias("fast")
                .deployment(Deployment::provider(
                    "openai",
                    "gpt-4o-mini-2024-07-18",
                    mock.clone(),
                )),
        )
        .build()
        .unwrap();
    let response = call(&mut router.clone(), ask("fast")).await.unwrap();
    let route = served_by(&response);
    assert_eq!(
        (route.deployment.as_str(), route.model.as_str()),
        ("openai", "gpt-4o-mini-2024-07-18")
    );
    assert!(route.failed_attempts.is_empty());
    let served = response.extensions.get::<ServedBy>().unwrap();
    assert_eq!(
        (served.provider.as_str(), served.model.as_str()),
        ("mock-openai", "gpt-4o-mini-2024-07-18")
    );
    assert_eq!(mock.requests()[0].model, "gpt-4o-mini-2024-07-18");

    let unknown = call(&mut router.clone(), ask("gpt-5")).await.unwrap_err();
    assert!(
        matches!(&unknown, Error::NoRoute { model, .. } if model == "gpt-5"),
        "{unknown:?}"
    );
}

#[test]
fn configuration_mistakes_are_refused_when_built() {
    let twice = Router::builder()
        .group(Group::new("a").deployment(Fake::ok("x").deployment()))
        .group(Group::new("b").deployment(Fake::ok("x").deployment()))
        .build();
    assert!(matches!(twice, Err(Error::Config { .. })));
    let nowhere = Router::builder()
        .group(Group::new("a").fallback(FallbackOn::Any, "b"))
        .build();
    assert!(matches!(nowhere, Err(Error::Config { .. })));
    let alias = Router::builder()
        .group(Group::new("a").alias("b"))
        .group(Group::new("b"))
        .build();
    assert!(matches!(alias, Err(Error::Config { .. })));
}

#[tokio::test]
async fn weighted_choice_follows_the_weights_within_two_points() {
    let fakes = [Fake::ok("w1"), Fake::ok("w3"), Fake::ok("w6")];
    let mut group = Group::new("m");
    for (fake, weight) in fakes.iter().zip([1, 3, 6]) {
        group = group.deployment(fake.deployment().weight(weight));
    }
    let mut router = Router::builder().group(group).build().unwrap();
    for _ in 0..10_000 {
        call(&mut router, ask("m")).await.unwrap();
    }
    for (fake, share) in fakes.iter().zip([10.0, 30.0, 60.0]) {
        let got = fake.calls() as f64 / 100.0;
        assert!(
            (got - share).abs() <= 2.0,
            "{}: {got}% for a weight of {share}%",
            fake.name
        );
    }
}

#[tokio::test]
async fn round_robin_takes_each_in_turn_and_weights_change_at_run_time() {
    let fakes = [Fake::ok("a"), Fake::ok("b"), Fake::ok("c")];
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(RoundRobin::new())
                .deployment(fakes[0].deployment())
                .deployment(fakes[1].deployment())
                .deployment(fakes[2].deployment()),
        )
        .build()
        .unwrap();
    for _ in 0..300 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    assert_eq!(fakes.iter().map(Fake::calls).collect::<Vec<_>>(), [100, 100, 100]);

    // Weighted random after re-weighting: "c" gets nothing.
    let weighted = Router::builder()
        .group(
            Group::new("m")
                .deployment(Fake::ok("x").deployment())
                .deployment(fakes[2].deployment()),
        )
        .build()
        .unwrap();
    assert!(weighted.set_weight("c", 0));
    assert!(!weighted.set_weight("nobody", 1));
    for _ in 0..500 {
        call(&mut weighted.clone(), ask("m")).await.unwrap();
    }
    assert_eq!(fakes[2].calls(), 100);
}

#[tokio::test(start_paused = true)]
async fn least_latency_prefers_the_fast_deployment_and_returns_to_a_recovered_one() {
    let slow_ms = Arc::new(AtomicU64::new(50));
    let slow_latency = Arc::clone(&slow_ms);
    let fast = Fake::new("fast", |_, _| Act::Slow(Duration::from_millis(10)));
    let slow = Fake::new("slow", move |_, _| {
        Act::Slow(Duration::from_millis(slow_latency.load(Ordering::SeqCst)))
    });
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(LeastLatency)
                .deployment(fast.deployment())
                .deployment(slow.deployment()),
        )
        .health(HealthPolicy::new().latency_decay(Duration::from_secs(1)))
        .build()
        .unwrap();
    // Warm-up: both are measured.
    for _ in 0..20 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    let (fast_before, slow_before) = (fast.calls(), slow.calls());
    for _ in 0..1_000 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    let to_fast = fast.calls() - fast_before;
    assert!(
        to_fast >= 900,
        "the 5x faster deployment got {to_fast} of 1000 calls"
    );
    assert!(slow.calls() > slow_before, "the slow one is probed now and then");

    // The slow deployment recovers (5 ms): traffic comes back to it.
    slow_ms.store(5, Ordering::SeqCst);
    for _ in 0..1_000 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    let slow_before = slow.calls();
    for _ in 0..500 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    let to_recovered = slow.calls() - slow_before;
    assert!(
        to_recovered >= 250,
        "the recovered deployment got {to_recovered} of 500 calls"
    );
}

#[tokio::test]
async fn least_busy_spreads_hundreds_of_open_streams_evenly_and_counts_them_until_they_end() {
    let gate = Arc::new(Semaphore::new(0));
    let fakes: Vec<Fake> = ["b1", "b2", "b3", "b4"]
        .into_iter()
        .map(|name| {
            let gate = Arc::clone(&gate);
            Fake::new(name, move |_, _| Act::Hold(Arc::clone(&gate)))
        })
        .collect();
    let mut group = Group::new("m").strategy(LeastBusy);
    for fake in &fakes {
        group = group.deployment(fake.deployment());
    }
    let router = Router::builder().group(group).build().unwrap();
    let calls = (0..256).map(|_| {
        let mut router = router.clone();
        async move { call(&mut router, ask_stream("m")).await.unwrap() }
    });
    let responses = join_all(calls).await;
    let open: Vec<usize> = fakes
        .iter()
        .map(|f| router.status(f.name).unwrap().in_flight)
        .collect();
    assert_eq!(open.iter().sum::<usize>(), 256);
    for (fake, n) in fakes.iter().zip(&open) {
        assert!(
            (56..=72).contains(n),
            "{} holds {n} of 256 streams: {open:?}",
            fake.name
        );
    }
    gate.add_permits(256);
    let ends = responses.into_iter().map(|r| r.into_complete());
    for reply in join_all(ends).await {
        reply.unwrap();
    }
    assert!(router.statuses().iter().all(|s| s.in_flight == 0));
}

#[tokio::test]
async fn lowest_cost_and_rules_choose_by_price_and_by_request() {
    let cheap = Fake::ok("cheap");
    let dear = Fake::ok("dear");
    let eu = Fake::ok("eu");
    let info = |price| ModelInfo::new("m", "fake").with_prices(Prices::per_million(price, price * 4.0));
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(LowestCost::new())
                .deployment(dear.deployment().info(info(5.0)))
                .deployment(cheap.deployment().info(info(0.5)))
                .deployment(eu.deployment()),
        )
        .group(
            Group::new("r")
                .strategy(Rules::new(RoundRobin::new()).rule(
                    |r| r.meta.principal.tenant.as_deref() == Some("acme"),
                    |c| c.tag("region") == Some("eu"),
                ))
                .deployment(Fake::ok("us").deployment().tag("region", "us"))
                .deployment(Fake::ok("eu-2").deployment().tag("region", "eu")),
        )
        .build()
        .unwrap();
    for _ in 0..50 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    assert_eq!((cheap.calls(), dear.calls(), eu.calls()), (50, 0, 0));

    let mut texts = HashMap::new();
    for _ in 0..20 {
        let request = ask("r").with_principal(Principal::new().tenant("acme"));
        let reply = complete(&mut router.clone(), request).await.unwrap();
        *texts.entry(reply.text()).or_insert(0) += 1;
    }
    assert_eq!(texts, HashMap::from([("eu-2".to_owned(), 20)]));
    let other = complete(&mut router.clone(), ask("r")).await.unwrap();
    let another = complete(&mut router.clone(), ask("r")).await.unwrap();
    assert_ne!(other.text(), another.text(), "round robin for everyone else");
}

/// 3 deployments, one failing 30 % of its calls in the given way: 10,000
/// calls, no error reaches the client, and the failing deployment's share
/// drops below a third.
async fn failures_are_hidden(fail: impl Fn() -> Act + Send + Sync + 'static, stream: bool) {
    let failing = Fake::new("failing", move |n, _| if n % 10 < 3 { fail() } else { Act::Ok });
    let steady = [Fake::ok("s1"), Fake::ok("s2")];
    let router = Router::builder()
        .group(
            Group::new("m")
                .deployment(failing.deployment())
                .deployment(steady[0].deployment())
                .deployment(steady[1].deployment()),
        )
        .build()
        .unwrap();
    let mut errors = 0;
    for i in 0..10_000 {
        let request = if stream { ask_stream("m") } else { ask("m") };
        match collect(&mut router.clone(), request).await {
            Ok(collected) if collected.error.is_none() => {
                assert_eq!(collected.starts(), 1, "one clean stream");
                assert_eq!(collected.finishes(), 1);
            }
            _ => errors += 1,
        }
        // Time passes between calls: cooldowns and circuits expire now and then.
        if i % 100 == 0 {
            tokio::time::advance(Duration::from_secs(1)).await;
        }
    }
    assert_eq!(errors, 0);
    let share = failing.calls() as f64 / (failing.calls() + steady[0].calls() + steady[1].calls()) as f64;
    assert!(
        share < 0.2,
        "the failing deployment still got {:.1}% of the calls",
        share * 100.0
    );
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_hidden() {
    failures_are_hidden(server_error_act, false).await;
}

#[tokio::test(start_paused = true)]
async fn rate_limits_with_retry_after_are_hidden() {
    failures_are_hidden(|| Act::Fail(rate_limited(Duration::from_secs(2))), false).await;
}

#[tokio::test(start_paused = true)]
async fn refused_connections_are_hidden() {
    let refused = || {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        Act::Fail(Error::transport(io).at("fake", "127.0.0.1:1"))
    };
    failures_are_hidden(refused, false).await;
}

#[tokio::test(start_paused = true)]
async fn streams_cut_before_content_are_hidden() {
    let cut = || {
        Act::Stream(vec![
            Ok(start("failing")),
            Err(Error::StreamTruncated {
                provider: "fake".into(),
            }),
        ])
    };
    failures_are_hidden(cut, true).await;
}

fn server_error_act() -> Act {
    Act::Fail(server_error())
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_cools_the_deployment_down_for_its_retry_after() {
    let limited = Fake::new("limited", |n, _| {
        if n == 0 {
            Act::Fail(rate_limited(Duration::from_secs(2)))
        } else {
            Act::Ok
        }
    });
    let other = Fake::ok("other");
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["limited", "other"]))
                .deployment(limited.deployment())
                .deployment(other.deployment()),
        )
        .build()
        .unwrap();
    // The first call meets the 429 and is retried on the other deployment at once.
    let response = call(&mut router.clone(), ask("m")).await.unwrap();
    let route = served_by(&response);
    assert_eq!(route.deployment, "other");
    assert_eq!(route.failed_attempts[0].error.kind(), "rate_limited");
    assert!(route.failed_attempts[0].duration.is_some());
    assert_eq!(
        router.status("limited").unwrap().cooldown,
        Some(Duration::from_secs(2))
    );

    // For 2 s, hundreds of concurrent calls: none to the cooled deployment.
    for _ in 0..19 {
        let calls = (0..200).map(|_| {
            let mut router = router.clone();
            async move { call(&mut router, ask("m")).await.unwrap() }
        });
        join_all(calls).await;
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    assert_eq!(limited.calls(), 1);
    assert_eq!(other.calls(), 1 + 19 * 200);
    tokio::time::advance(Duration::from_millis(100)).await;
    call(&mut router.clone(), ask("m")).await.unwrap();
    assert_eq!(limited.calls(), 2, "after 2 s it takes calls again");
}

#[tokio::test(start_paused = true)]
async fn the_circuit_opens_after_n_failures_and_closes_after_a_good_probe() {
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&healthy);
    let sick = Fake::new("sick", move |_, _| {
        if flag.load(Ordering::SeqCst) {
            Act::Ok
        } else {
            server_error_act()
        }
    });
    let other = Fake::ok("other");
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["sick", "other"]))
                .deployment(sick.deployment())
                .deployment(other.deployment()),
        )
        .health(HealthPolicy::new().circuit(3, Duration::from_secs(10), Duration::from_secs(5)))
        .build()
        .unwrap();
    for _ in 0..3 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    assert_eq!(sick.calls(), 3);
    assert_eq!(router.status("sick").unwrap().circuit, CircuitState::Open);
    for _ in 0..100 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    assert_eq!(sick.calls(), 3, "no call while the circuit is open");

    // Open time over, still sick: the probe fails and the circuit opens again.
    tokio::time::advance(Duration::from_secs(5)).await;
    call(&mut router.clone(), ask("m")).await.unwrap();
    assert_eq!(sick.calls(), 4);
    assert_eq!(router.status("sick").unwrap().circuit, CircuitState::Open);

    // Recovered: the next probe closes it, and it takes calls again.
    healthy.store(true, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(5)).await;
    let response = call(&mut router.clone(), ask("m")).await.unwrap();
    assert_eq!(served_by(&response).deployment, "sick");
    assert_eq!(router.status("sick").unwrap().circuit, CircuitState::Closed);
    for _ in 0..10 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    assert_eq!(sick.calls(), 15);
}

#[tokio::test(start_paused = true)]
async fn all_deployments_cooling_down_is_unavailable_with_a_retry_after() {
    let limited = Fake::new("only", |_, _| Act::Fail(rate_limited(Duration::from_secs(7))));
    let router = Router::builder()
        .group(Group::new("m").deployment(limited.deployment()))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let first = call(&mut router.clone(), ask("m")).await.unwrap_err();
    assert_eq!(first.kind(), "rate_limited", "one attempt: its own error");
    tokio::time::advance(Duration::from_secs(2)).await;
    let second = call(&mut router.clone(), ask("m")).await.unwrap_err();
    assert!(
        matches!(&second, Error::Unavailable { model, .. } if model == "m"),
        "{second:?}"
    );
    assert_eq!(second.retry_after(), Some(Duration::from_secs(5)));
    assert!(second.is_retryable());
    assert_eq!(limited.calls(), 1, "refused locally");

    // Drained by hand: unavailable too, with no time to say.
    let drained = Router::builder()
        .group(Group::new("m").deployment(Fake::ok("d").deployment()))
        .build()
        .unwrap();
    assert!(drained.drain("d", true));
    let error = call(&mut drained.clone(), ask("m")).await.unwrap_err();
    assert!(matches!(
        error,
        Error::Unavailable {
            retry_after: None,
            ..
        }
    ));
    drained.drain("d", false);
    call(&mut drained.clone(), ask("m")).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_retry_waits_for_the_retry_after_when_every_deployment_was_tried() {
    let limited = Fake::new("only", |n, _| {
        if n == 0 {
            Act::Fail(rate_limited(Duration::from_secs(3)))
        } else {
            Act::Ok
        }
    });
    let router = Router::builder()
        .group(Group::new("m").deployment(limited.deployment()))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let response = call(&mut router.clone(), ask("m")).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(served_by(&response).attempts(), 2);
}

#[tokio::test]
async fn no_retry_starts_after_the_deadline() {
    let limited = Fake::new("only", |_, _| Act::Fail(rate_limited(Duration::from_secs(1))));
    let router = Router::builder()
        .group(Group::new("m").deployment(limited.deployment()))
        .build()
        .unwrap();
    let request = ask("m").with_deadline(Instant::now() + Duration::from_millis(200));
    let started = Instant::now();
    let error = call(&mut router.clone(), request).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "no wait past the deadline"
    );
    assert_eq!(error.kind(), "rate_limited");
    assert_eq!(limited.calls(), 1);

    let late = ask("m").with_deadline(Instant::now());
    let failing = Fake::new("failing", |_, _| server_error_act());
    let other = Fake::ok("other");
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["failing", "other"]))
                .deployment(failing.deployment())
                .deployment(other.deployment()),
        )
        .build()
        .unwrap();
    let error = call(&mut router.clone(), late).await.unwrap_err();
    assert_eq!(error.kind(), "server");
    assert_eq!(other.calls(), 0, "the deadline passed: no retry");
}

#[tokio::test]
async fn the_retry_budget_bounds_upstream_calls_when_everything_fails() {
    let fakes = [
        Fake::new("f1", |_, _| server_error_act()),
        Fake::new("f2", |_, _| server_error_act()),
        Fake::new("f3", |_, _| server_error_act()),
    ];
    let ratio = 0.1;
    let (ttl_secs, floor_per_sec) = (10, 1);
    let mut group = Group::new("m");
    for fake in &fakes {
        group = group.deployment(fake.deployment());
    }
    let router = Router::builder()
        .group(group)
        .health(no_circuit())
        .retry(
            RetryPolicy::new()
                .max_retries(5)
                .backoff(Duration::ZERO, Duration::ZERO),
        )
        .retry_budget(Some(RetryBudget::new(
            Duration::from_secs(ttl_secs),
            floor_per_sec,
            ratio,
        )))
        .build()
        .unwrap();
    let clients = 1_000;
    let calls = (0..clients).map(|_| {
        let mut router = router.clone();
        async move { call(&mut router, ask("m")).await }
    });
    let results = join_all(calls).await;
    assert!(results.iter().all(Result::is_err));
    let upstream: usize = fakes.iter().map(Fake::calls).sum();
    let bound = (1.0 + ratio as f64) * clients as f64 + (floor_per_sec as u64 * ttl_secs) as f64;
    assert!(
        upstream as f64 <= bound,
        "{upstream} upstream calls for {clients} client calls"
    );
    assert!(upstream > clients, "some retries were made");
    // A call that was retried reports every attempt.
    let retried = results
        .iter()
        .find_map(|r| match r {
            Err(Error::AllAttemptsFailed { attempts, .. }) => Some(attempts.len()),
            _ => None,
        })
        .expect("a retried call");
    assert!(retried > 1);
}

#[tokio::test]
async fn a_failure_of_the_request_is_neither_retried_nor_fallen_back() {
    let invalid = Fake::new("invalid", |_, _| {
        Act::Fail(Error::InvalidRequest(api("bad field")))
    });
    let other = Fake::ok("other");
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["invalid", "other"]))
                .deployment(invalid.deployment())
                .deployment(other.deployment())
                .fallback(FallbackOn::Any, "n"),
        )
        .group(Group::new("n").deployment(Fake::ok("n1").deployment()))
        .build()
        .unwrap();
    let error = call(&mut router.clone(), ask("m")).await.unwrap_err();
    assert_eq!(error.kind(), "invalid_request");
    assert_eq!(other.calls(), 0);
}

#[tokio::test]
async fn a_context_length_error_falls_back_to_the_larger_group() {
    let too_long = || Act::Fail(Error::ContextLengthExceeded(api("too long")));
    let small = [Fake::new("small-1", move |_, _| too_long()), Fake::ok("small-2")];
    let large = Fake::ok("large-1");
    let router = Router::builder()
        .group(
            Group::new("small")
                .strategy(prefer(&["small-1", "small-2"]))
                .deployment(small[0].deployment())
                .deployment(small[1].deployment())
                .fallback(FallbackOn::Unavailable, "small")
                .fallback(FallbackOn::ContextLength, "large"),
        )
        .group(Group::new("large").deployment(large.deployment()))
        .build()
        .unwrap();
    let response = call(&mut router.clone(), ask("small")).await.unwrap();
    let route = served_by(&response);
    assert_eq!(route.deployment, "large-1");
    assert_eq!(route.model, "large-1-model");
    assert_eq!(route.failed_attempts.len(), 1);
    assert_eq!(route.failed_attempts[0].deployment, "small-1");
    assert_eq!(
        small[1].calls(),
        0,
        "the same window elsewhere in the group is not tried"
    );
    assert_eq!(*large.models.lock().unwrap(), ["large-1-model"]);

    // A prompt that fits nowhere: every attempt is reported, the last one too long.
    let nowhere = Router::builder()
        .group(
            Group::new("small")
                .deployment(Fake::new("s", move |_, _| too_long()).deployment())
                .fallback(FallbackOn::ContextLength, "large"),
        )
        .group(Group::new("large").deployment(Fake::new("l", move |_, _| too_long()).deployment()))
        .build()
        .unwrap();
    let error = call(&mut nowhere.clone(), ask("small")).await.unwrap_err();
    let Error::AllAttemptsFailed { attempts, .. } = &error else {
        panic!("{error:?}");
    };
    let names: Vec<_> = attempts.iter().map(|a| a.deployment.as_str()).collect();
    assert_eq!(names, ["s", "l"]);
    assert_eq!(attempts.last().unwrap().error.kind(), "context_length_exceeded");
}

#[tokio::test]
async fn content_filtered_and_unavailable_groups_fall_back_in_order() {
    let filtered = Fake::new("filtered", |_, _| Act::Fail(Error::ContentFiltered(api("no"))));
    let vendor_b = Fake::ok("vendor-b");
    let router = Router::builder()
        .group(
            Group::new("m")
                .deployment(filtered.deployment())
                .fallback(FallbackOn::ContentFilter, "b"),
        )
        .group(Group::new("b").deployment(vendor_b.deployment()))
        .group(
            Group::new("busy")
                .deployment(
                    Fake::new("busy-1", |_, _| Act::Fail(Error::Overloaded(api("busy")))).deployment(),
                )
                .fallback(FallbackOn::ContextLength, "m")
                .fallback(FallbackOn::Unavailable, "b"),
        )
        .build()
        .unwrap();
    let reply = complete(&mut router.clone(), ask("m")).await.unwrap();
    assert_eq!(reply.text(), "vendor-b");
    let response = call(&mut router.clone(), ask("busy")).await.unwrap();
    let route = served_by(&response);
    assert_eq!(route.deployment, "vendor-b");
    assert!(route
        .failed_attempts
        .iter()
        .all(|a| a.error.kind() == "overloaded"));
}

#[tokio::test]
async fn a_stream_that_fails_before_content_fails_over_to_one_clean_stream() {
    let cut = Fake::new("cut", |_, _| {
        Act::Stream(vec![
            Ok(start("cut")),
            Ok(StreamEvent::Usage(tower_ai::types::Usage::new(3, 0))),
            Err(Error::timeout(TimeoutKind::FirstEvent, None)),
        ])
    });
    let good = Fake::ok("good");
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["cut", "good"]))
                .deployment(cut.deployment())
                .deployment(good.deployment()),
        )
        .build()
        .unwrap();
    let response = call(&mut router.clone(), ask_stream("m")).await.unwrap();
    let route = served_by(&response);
    assert_eq!(route.deployment, "good");
    assert_eq!(route.failed_attempts[0].error.kind(), "timeout");
    let collected = crate::support::Collected::read(response.into_stream()).await;
    assert!(collected.error.is_none());
    assert_eq!(collected.starts(), 1, "the failed head is not shown");
    assert_eq!(collected.events[0], start("good"));
    assert_eq!(collected.text(), "good");
    assert_eq!(collected.finishes(), 1);
}

#[tokio::test]
async fn a_stream_that_fails_after_content_ends_with_the_error_and_no_fallback() {
    let partial = Fake::new("partial", |_, _| {
        Act::Stream(vec![
            Ok(start("partial")),
            Ok(StreamEvent::text("half an ans")),
            Err(Error::StreamTruncated {
                provider: "fake".into(),
            }),
        ])
    });
    let good = Fake::ok("good");
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["partial", "good"]))
                .deployment(partial.deployment())
                .deployment(good.deployment())
                .fallback(FallbackOn::Any, "n"),
        )
        .group(Group::new("n").deployment(Fake::ok("n1").deployment()))
        .build()
        .unwrap();
    let collected = collect(&mut router.clone(), ask_stream("m")).await.unwrap();
    assert_eq!(collected.text(), "half an ans");
    assert_eq!(collected.error.unwrap().kind(), "stream_truncated");
    assert_eq!(good.calls(), 0);
    assert_eq!(router.status("partial").unwrap().in_flight, 0);
}

#[tokio::test]
async fn a_removed_deployment_gets_no_new_call_and_its_open_streams_finish() {
    let gate = Arc::new(Semaphore::new(0));
    let held = Arc::clone(&gate);
    let leaving = Fake::new("leaving", move |_, _| Act::Hold(Arc::clone(&held)));
    let staying = Fake::ok("staying");
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["leaving", "back", "staying"]))
                .deployment(leaving.deployment())
                .deployment(staying.deployment()),
        )
        .build()
        .unwrap();
    let open = call(&mut router.clone(), ask_stream("m")).await.unwrap();
    assert!(router.remove_deployment("leaving"));
    assert!(!router.remove_deployment("leaving"));
    assert!(router.status("leaving").is_none());
    let calls = (0..200).map(|_| {
        let mut router = router.clone();
        async move { call(&mut router, ask("m")).await.unwrap() }
    });
    join_all(calls).await;
    assert_eq!((leaving.calls(), staying.calls()), (1, 200));
    gate.add_permits(1);
    let reply = open.into_complete().await.unwrap();
    assert_eq!(reply.text(), "leaving");
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));

    // Added at run time, it takes calls at once.
    let back = Fake::ok("back");
    router.add_deployment("m", back.deployment()).unwrap();
    assert!(router.add_deployment("m", back.deployment()).is_err());
    assert!(router.add_deployment("nope", Fake::ok("x").deployment()).is_err());
    for _ in 0..50 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    assert!(back.calls() > 0);
}

#[tokio::test]
async fn the_router_is_always_ready_and_drives_the_deployment_s_readiness_in_the_call() {
    // A deployment behind a concurrency limit of 1, with a stream open on it.
    let gate = Arc::new(Semaphore::new(0));
    let held = Arc::clone(&gate);
    let fake = Fake::new("limited", move |_, _| Act::Hold(Arc::clone(&held)));
    let limited = tower::ServiceBuilder::new()
        .layer(tower_ai::limit::ConcurrencyLimitLayer::new(1))
        .service(tower::service_fn({
            let fake = fake.clone();
            move |request: LlmRequest| {
                let act = (fake.behave)(fake.calls.fetch_add(1, Ordering::SeqCst), &request);
                async move { answer("limited", &request, act).await }
            }
        }));
    let router = Router::builder()
        .group(Group::new("m").deployment(Deployment::new("limited", "limited", limited)))
        .build()
        .unwrap();
    let first = call(&mut router.clone(), ask_stream("m")).await.unwrap();
    let mut second_router = router.clone();
    // Ready although the deployment is not.
    std::future::poll_fn(|cx| second_router.poll_ready(cx))
        .await
        .unwrap();
    let second = tokio::spawn(second_router.call(ask_stream("m")));
    tokio::task::yield_now().await;
    assert!(
        !second.is_finished(),
        "the call waits for the deployment's permit"
    );
    assert_eq!(fake.calls(), 1);
    gate.add_permits(2);
    first.into_complete().await.unwrap();
    second.await.unwrap().unwrap().into_complete().await.unwrap();
    assert_eq!(fake.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_deployment_at_its_rpm_limit_is_skipped_until_the_minute_is_over() {
    let limited = Fake::ok("limited");
    let other = Fake::ok("other");
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["limited", "other"]))
                .deployment(limited.deployment().rpm(5))
                .deployment(other.deployment()),
        )
        .build()
        .unwrap();
    let calls = (0..200).map(|_| {
        let mut router = router.clone();
        async move { call(&mut router, ask("m")).await.unwrap() }
    });
    join_all(calls).await;
    assert_eq!((limited.calls(), other.calls()), (5, 195));
    tokio::time::advance(Duration::from_secs(60)).await;
    for _ in 0..10 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    assert_eq!(limited.calls(), 10, "a new minute, five more");

    // Alone at its limit, the group is unavailable until the minute ends.
    let alone = Router::builder()
        .group(Group::new("m").deployment(Fake::ok("alone").deployment().rpm(1)))
        .build()
        .unwrap();
    call(&mut alone.clone(), ask("m")).await.unwrap();
    tokio::time::advance(Duration::from_secs(20)).await;
    let error = call(&mut alone.clone(), ask("m")).await.unwrap_err();
    assert_eq!(error.kind(), "unavailable");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(40)));
}

#[tokio::test]
async fn embeddings_are_routed_with_the_concrete_model() {
    let mock = MockProvider::new();
    let router = Router::builder()
        .group(Group::new("embed").deployment(Deployment::provider(
            "e",
            "text-embedding-3-small",
            mock.clone(),
        )))
        .build()
        .unwrap();
    let request = tower_ai::types::EmbeddingRequest::new("embed", ["a", "b"]);
    let response = call(&mut router.clone(), request).await.unwrap();
    assert_eq!(served_by(&response).model, "text-embedding-3-small");
    assert_eq!(response.into_embeddings().unwrap().embeddings.len(), 2);
    assert_eq!(mock.embedding_requests()[0].model, "text-embedding-3-small");
}

/// Each failed attempt is an event of the call's span.
#[cfg(feature = "telemetry")]
#[test]
fn failed_attempts_are_events_of_the_telemetry_span() {
    use tower_ai::ServiceBuilderExt;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Events(Arc<Mutex<Vec<(String, String)>>>);
    struct Fields<'a>(&'a mut Vec<String>);
    impl tracing::field::Visit for Fields<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            self.0.push(format!("{}={value:?}", field.name()));
        }
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            self.0.push(format!("{}={value}", field.name()));
        }
    }
    impl<S> tracing_subscriber::Layer<S> for Events
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
            if event.metadata().target() != "tower_ai::router" {
                return;
            }
            let span = ctx
                .event_span(event)
                .map(|s| s.name().to_owned())
                .unwrap_or_default();
            let mut fields = Vec::new();
            event.record(&mut Fields(&mut fields));
            self.0.lock().unwrap().push((span, fields.join(" ")));
        }
    }

    let events = Events::default();
    let subscriber = tracing_subscriber::registry().with(events.clone());
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let failing = Fake::new("failing", |_, _| server_error_act());
            let router = Router::builder()
                .group(
                    Group::new("m")
                        .strategy(prefer(&["failing", "good"]))
                        .deployment(failing.deployment())
                        .deployment(Fake::ok("good").deployment()),
                )
                .build()
                .unwrap();
            let mut stack = tower::ServiceBuilder::new().telemetry().service(router);
            complete(&mut stack, ask("m")).await.unwrap();
        });
    });
    let events = events.0.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    let (span, fields) = &events[0];
    assert_eq!(span, "gen_ai");
    for expected in [
        "tower_ai.deployment=failing",
        "error.type=server",
        "gen_ai.request.model=failing-model",
    ] {
        assert!(fields.contains(expected), "{fields}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_probe_the_caller_gave_up_on_does_not_leave_the_circuit_half_open() {
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&healthy);
    let sick = Fake::new("sick", move |_, _| {
        if flag.load(Ordering::SeqCst) {
            Act::Slow(Duration::from_secs(10))
        } else {
            server_error_act()
        }
    });
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["sick", "other"]))
                .deployment(sick.deployment())
                .deployment(Fake::ok("other").deployment()),
        )
        .health(HealthPolicy::new().circuit(1, Duration::from_secs(10), Duration::from_secs(5)))
        .build()
        .unwrap();
    call(&mut router.clone(), ask("m")).await.unwrap();
    assert_eq!(router.status("sick").unwrap().circuit, CircuitState::Open);
    healthy.store(true, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(5)).await;
    // The probe starts, and its caller gives up before the reply.
    let probe = tokio::spawn(router.clone().call(ask("m")));
    tokio::task::yield_now().await;
    assert_eq!(router.status("sick").unwrap().circuit, CircuitState::HalfOpen);
    probe.abort();
    let _ = probe.await;
    assert_eq!(router.status("sick").unwrap().circuit, CircuitState::Open);
    // The next call probes at once, and its success closes the circuit.
    let response = call(&mut router.clone(), ask("m")).await.unwrap();
    assert_eq!(served_by(&response).deployment, "sick");
    assert_eq!(router.status("sick").unwrap().circuit, CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_deployment_at_its_tpm_limit_is_skipped() {
    // "hello" is estimated at 2 prompt tokens: 5 calls fill a limit of 10.
    assert_eq!(tower_ai::router::estimated_prompt_tokens(&ask("m")), 2);
    let limited = Fake::ok("limited");
    let other = Fake::ok("other");
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["limited", "other"]))
                .deployment(limited.deployment().tpm(10))
                .deployment(other.deployment()),
        )
        .build()
        .unwrap();
    for _ in 0..20 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    assert_eq!((limited.calls(), other.calls()), (5, 15));
}

#[tokio::test(start_paused = true)]
async fn a_hedged_call_takes_the_first_answer_and_cancels_the_other() {
    let slow = Fake::new("slow", |_, _| Act::Slow(Duration::from_secs(5)));
    let quick = Fake::new("quick", |_, _| Act::Slow(Duration::from_millis(50)));
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["slow", "quick"]))
                .hedge(Duration::from_millis(200))
                .deployment(slow.deployment())
                .deployment(quick.deployment()),
        )
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let response = call(&mut router.clone(), ask("m")).await.unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(250),
        "the hedge after 200 ms, answered in 50 ms"
    );
    let route = served_by(&response);
    assert_eq!(route.deployment, "quick");
    assert!(
        route.failed_attempts.is_empty(),
        "the slow attempt was cancelled, not failed"
    );
    assert_eq!((slow.calls(), quick.calls()), (1, 1));
    assert_eq!(
        router.status("slow").unwrap().in_flight,
        0,
        "the losing attempt was dropped"
    );

    // A first attempt that answers before the delay is not hedged.
    let fast_first = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["quick-2", "other"]))
                .hedge(Duration::from_millis(200))
                .deployment(Fake::new("quick-2", |_, _| Act::Slow(Duration::from_millis(10))).deployment())
                .deployment(Fake::ok("other").deployment()),
        )
        .build()
        .unwrap();
    let response = call(&mut fast_first.clone(), ask("m")).await.unwrap();
    assert_eq!(served_by(&response).deployment, "quick-2");
    assert_eq!(fast_first.status("other").unwrap().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_hedge_keeps_the_other_attempt_when_one_fails() {
    let late_fail = Fake::new("late-fail", |_, _| {
        Act::SlowFail(Duration::from_millis(300), server_error())
    });
    let hedge = Fake::new("hedge", |_, _| Act::Slow(Duration::from_millis(500)));
    let router = Router::builder()
        .group(
            Group::new("m")
                .strategy(prefer(&["late-fail", "hedge"]))
                .hedge(Duration::from_millis(100))
                .deployment(late_fail.deployment())
                .deployment(hedge.deployment()),
        )
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let response = call(&mut router.clone(), ask("m")).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(600));
    let route = served_by(&response);
    assert_eq!(route.deployment, "hedge");
    let failed: Vec<_> = route
        .failed_attempts
        .iter()
        .map(|a| a.deployment.as_str())
        .collect();
    assert_eq!(failed, ["late-fail"]);
    assert_eq!(
        route.failed_attempts[0].duration,
        Some(Duration::from_millis(300))
    );

    // Both fail: the call fails with both attempts.
    let both = Router::builder()
        .group(
            Group::new("m")
                .hedge(Duration::from_millis(100))
                .deployment(
                    Fake::new("x", |_, _| {
                        Act::SlowFail(Duration::from_millis(300), server_error())
                    })
                    .deployment(),
                )
                .deployment(
                    Fake::new("y", |_, _| {
                        Act::SlowFail(Duration::from_millis(300), server_error())
                    })
                    .deployment(),
                ),
        )
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let error = call(&mut both.clone(), ask("m")).await.unwrap_err();
    let Error::AllAttemptsFailed { attempts, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(attempts.len(), 2);
}

#[tokio::test]
async fn a_discover_stream_adds_replaces_and_removes_deployments_at_run_time() {
    use tower::discover::Change;

    let first = Fake::ok("first");
    let second = Fake::ok("second");
    let router = Router::builder()
        .group(Group::new("m").deployment(first.deployment()))
        .build()
        .unwrap();
    let (changes, feed) =
        tokio::sync::mpsc::channel::<Result<Change<String, Deployment>, std::convert::Infallible>>(4);
    let follower = tokio::spawn({
        let router = router.clone();
        async move {
            router
                .follow("m", tokio_stream::wrappers::ReceiverStream::new(feed))
                .await
        }
    });
    changes
        .send(Ok(Change::Insert("second".into(), second.deployment())))
        .await
        .unwrap();
    changes.send(Ok(Change::Remove("first".into()))).await.unwrap();
    while router.status("first").is_some() || router.status("second").is_none() {
        tokio::task::yield_now().await;
    }
    for _ in 0..100 {
        call(&mut router.clone(), ask("m")).await.unwrap();
    }
    assert_eq!((first.calls(), second.calls()), (0, 100));
    drop(changes);
    follower.await.unwrap().unwrap();
    let unknown = router
        .follow(
            "nope",
            futures_util::stream::empty::<Result<Change<String, Deployment>, std::convert::Infallible>>(),
        )
        .await;
    assert!(matches!(unknown, Err(Error::Config { .. })));
}

/// A context-length error from an OpenAI deployment falls back to an
/// Anthropic one: the same request, encoded by each vendor's own codec.
#[cfg(all(feature = "openai", feature = "anthropic"))]
#[tokio::test]
async fn a_fallback_to_another_vendor_encodes_the_request_with_its_codec() {
    use bytes::Bytes;
    use http_body_util::Full;
    use tower_ai::provider::anthropic::Anthropic;
    use tower_ai::provider::openai::OpenAi;
    use tower_ai::provider::HttpProviderBuilder;
    use tower_ai::transport::Transport;

    type Seen = Arc<Mutex<Vec<serde_json::Value>>>;
    fn answering(status: u16, body: &'static [u8], seen: Seen) -> Transport {
        Transport::new(tower::service_fn(move |request: http::Request<Bytes>| {
            seen.lock()
                .unwrap()
                .push(serde_json::from_slice(request.body()).unwrap());
            async move {
                Ok::<_, std::convert::Infallible>(
                    http::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(body)))
                        .unwrap(),
                )
            }
        }))
    }

    let (to_openai, to_anthropic) = (Seen::default(), Seen::default());
    let openai = OpenAi::builder()
        .api_key("sk-test-0000000000")
        .base_url("http://openai.invalid/v1")
        .transport(answering(
            400,
            include_bytes!("fixtures/openai/error_context_length.json"),
            Arc::clone(&to_openai),
        ))
        .build()
        .unwrap();
    let anthropic = Anthropic::builder()
        .api_key("sk-ant-test-0000000000")
        .base_url("http://anthropic.invalid")
        .transport(answering(
            200,
            include_bytes!("fixtures/anthropic/message.json"),
            Arc::clone(&to_anthropic),
        ))
        .build()
        .unwrap();
    let router = Router::builder()
        .group(
            Group::new("chat")
                .deployment(Deployment::provider("openai", "gpt-4o-mini", openai))
                .fallback(FallbackOn::ContextLength, "long"),
        )
        .group(Group::new("long").deployment(Deployment::provider(
            "anthropic",
            "claude-sonnet-4-5",
            anthropic,
        )))
        .build()
        .unwrap();
    let request = LlmRequest::new(
        ChatRequest::new("chat")
            .system("Be brief.")
            .user("hello")
            .max_tokens(100),
    );
    let response = call(&mut router.clone(), request).await.unwrap();
    assert_eq!(
        response.extensions.get::<ServedBy>().unwrap().provider,
        "anthropic"
    );
    let route = served_by(&response);
    assert_eq!(route.failed_attempts[0].error.kind(), "context_length_exceeded");
    assert_eq!(
        response.into_complete().await.unwrap().text(),
        "Hello! How can I help you today?"
    );

    let openai_body = &to_openai.lock().unwrap()[0];
    assert_eq!(openai_body["model"], "gpt-4o-mini");
    assert_eq!(openai_body["messages"][0]["role"], "system");
    let anthropic_body = &to_anthropic.lock().unwrap()[0];
    assert_eq!(anthropic_body["model"], "claude-sonnet-4-5");
    assert_eq!(anthropic_body["system"], "Be brief.");
    assert_eq!(anthropic_body["messages"][0]["role"], "user");
    assert_eq!(anthropic_body["max_tokens"], 100);
}

/// The same over HTTP: three OpenAI providers on fake upstreams of their
/// own on 127.0.0.1; one fails 30 % of its calls, in turn with a 500, a 429
/// with `retry-after`, a dropped connection and (for streams) a stream cut
/// before its first content.
#[cfg(all(feature = "testing", feature = "reqwest", feature = "openai"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_of_real_http_upstreams_are_hidden() {
    use tower_ai::provider::openai::OpenAi;
    use tower_ai::provider::HttpProviderBuilder;
    use tower_ai::testing::{default_reply, FakeUpstream, Scripted, SeenRequest};

    // Calls the failing upstream saw, and its failures of each kind.
    let seen = Arc::new(AtomicUsize::new(0));
    let kinds: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let (counter, failed) = (Arc::clone(&seen), Arc::clone(&kinds));
    let next = AtomicUsize::new(0);
    let failing = FakeUpstream::builder()
        .fallback(move |request: &SeenRequest| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            if n % 10 >= 3 {
                return default_reply(request);
            }
            // Each kind in turn; a cut stream waits for a streamed request.
            let mut kind = next.load(Ordering::SeqCst);
            if kind == 3 && !request.is_stream() {
                kind = 2;
            } else {
                next.store((kind + 1) % 4, Ordering::SeqCst);
            }
            failed[kind].fetch_add(1, Ordering::SeqCst);
            match kind {
                0 => Scripted::openai_error(500, "server_error", "boom"),
                1 => Scripted::openai_error(429, "rate_limit_exceeded", "slow down")
                    .with_retry_after(Duration::from_secs(1)),
                2 => Scripted::close(),
                // A stream cut before its first content.
                _ => Scripted::sse([
                    r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
                ]),
            }
        })
        .start()
        .await;
    let steady = [FakeUpstream::start().await, FakeUpstream::start().await];
    let provider = |up: &FakeUpstream| {
        OpenAi::builder()
            .api_key("sk-test")
            .base_url(format!("{}/v1", up.base_url()))
            .build()
            .unwrap()
    };
    let router = Router::builder()
        .group(
            Group::new("m")
                .deployment(Deployment::provider("failing", "gpt-4o-mini", provider(&failing)))
                .deployment(Deployment::provider("s1", "gpt-4o-mini", provider(&steady[0])))
                .deployment(Deployment::provider("s2", "gpt-4o-mini", provider(&steady[1]))),
        )
        // Circuits that close within the test's run, so the failing
        // upstream keeps being tried.
        .health(HealthPolicy::new().circuit(5, Duration::from_secs(10), Duration::from_millis(50)))
        .build()
        .unwrap();

    let mut errors = Vec::new();
    for i in 0..1_000 {
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        let request = if i % 2 == 0 { ask_stream("m") } else { ask("m") };
        match collect(&mut router.clone(), request).await {
            Ok(got) if got.error.is_none() => {
                assert_eq!((got.starts(), got.finishes()), (1, 1), "one clean reply");
            }
            Ok(got) => errors.push(format!("{:?}", got.error)),
            Err(error) => errors.push(format!("{error:?}")),
        }
    }
    assert!(
        errors.is_empty(),
        "{} errors reached the caller: {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );
    // The failing upstream was tried, and failed, in every way.
    let kinds: Vec<usize> = kinds.iter().map(|k| k.load(Ordering::SeqCst)).collect();
    assert!(kinds.iter().all(|&k| k >= 1), "failures by kind: {kinds:?}");
    let calls = |up: &FakeUpstream| up.requests().len();
    let total = calls(&failing) + calls(&steady[0]) + calls(&steady[1]);
    let share = calls(&failing) as f64 / total as f64;
    assert!(
        share < 0.25,
        "the failing upstream still got {:.1}% of the calls",
        share * 100.0
    );
}

/// Hedges are counted: started, and which attempt answered first.
#[cfg(feature = "telemetry")]
#[test]
fn hedges_are_counted_in_metrics() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let slow = Fake::new("slow", |_, _| Act::Slow(Duration::from_secs(5)));
            let quick = Fake::new("quick", |_, _| Act::Slow(Duration::from_millis(50)));
            let router = Router::builder()
                .group(
                    Group::new("m")
                        .strategy(prefer(&["slow", "quick"]))
                        .hedge(Duration::from_millis(200))
                        .deployment(slow.deployment())
                        .deployment(quick.deployment()),
                )
                .build()
                .unwrap();
            for _ in 0..3 {
                call(&mut router.clone(), ask("m")).await.unwrap();
            }
        })
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let counted = |outcome: &str| {
        snapshot
            .iter()
            .find(|(key, _, _, _)| {
                key.key().name() == "tower_ai.router.hedges"
                    && key
                        .key()
                        .labels()
                        .any(|l| l.key() == "outcome" && l.value() == outcome)
            })
            .map(|(_, _, _, value)| value)
    };
    assert_eq!(counted("started"), Some(&DebugValue::Counter(3)));
    assert_eq!(counted("hedge_won"), Some(&DebugValue::Counter(3)));
    assert_eq!(counted("first_won"), None);
}

/// Two routers (two processes, say) over one rate store: a deployment's
/// rpm limit holds for both together.
async fn routers_share_limits_through(store: impl tower_ai::store::CounterStore + Clone) {
    let limited = Fake::ok("limited");
    let other = Fake::ok("other");
    let router = || {
        Router::builder()
            .group(
                Group::new("m")
                    .strategy(prefer(&["limited", "other"]))
                    .deployment(limited.deployment().rpm(5))
                    .deployment(other.deployment()),
            )
            .rate_store(store.clone())
            .build()
            .unwrap()
    };
    let routers = [router(), router()];
    for i in 0..40 {
        let response = call(&mut routers[i % 2].clone(), ask("m")).await.unwrap();
        let route = served_by(&response);
        assert!(
            route.failed_attempts.is_empty(),
            "a refusal of the store is no failed attempt"
        );
    }
    // Each router alone would have let five through.
    assert_eq!((limited.calls(), other.calls()), (5, 35));
}

#[tokio::test]
async fn routers_sharing_a_memory_rate_store_share_each_deployments_limit() {
    routers_share_limits_through(tower_ai::store::MemoryCounterStore::new()).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn routers_sharing_redis_share_each_deployments_limit() {
    let Some(server) = crate::support::redis::RedisServer::start() else {
        return;
    };
    let store = tower_ai::store::RedisCounterStore::connect(&server.url())
        .await
        .unwrap();
    routers_share_limits_through(store).await;
}
