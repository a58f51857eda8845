//! The budget layer: reservations that concurrent calls never pass, settled
//! to the reported usage at the reply's real end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tower::{service_fn, BoxError, Layer, Service, ServiceBuilder, ServiceExt};
use tower_ai::budget::{BudgetLayer, Limit, Metric, Period, Scope};
use tower_ai::store::{Admission, CounterOp, CounterStore, CounterValue, MemoryCounterStore, Window};
use tower_ai::tokens::TokenCounter;
use tower_ai::types::{
    BudgetCharge, Catalog, ChatRequest, ChatResponse, ChatStream, FinishReason, ModelInfo, Prices, Reply,
    StreamEvent, Usage,
};
use tower_ai::{Error, LlmRequest, LlmResponse, Principal};

/// A model with a known window, maximum output and prices.
fn catalog() -> Catalog {
    Catalog::empty()
        .with(
            ModelInfo::new("gpt-4o", "openai")
                .with_context_window(1_000)
                .with_max_output_tokens(100)
                .with_prices(Prices::per_million(2.5, 10.0).with_cache_read(1.25)),
        )
        .with(
            ModelInfo::new("claude-sonnet-4-5", "anthropic")
                .with_context_window(200_000)
                .with_max_output_tokens(64_000)
                .with_prices(
                    Prices::per_million(3.0, 15.0)
                        .with_cache_read(0.3)
                        .with_cache_write(3.75),
                ),
        )
}

fn ann(chat: ChatRequest) -> LlmRequest {
    LlmRequest::new(chat).with_principal(Principal::new().user("ann").team("blue"))
}

fn hello() -> ChatRequest {
    ChatRequest::new("gpt-4o").user("hello").max_tokens(50)
}

/// An upstream answering every call with `usage`, counting its calls.
fn upstream(
    usage: Usage,
    calls: Arc<AtomicUsize>,
) -> impl Service<LlmRequest, Response = LlmResponse, Error = Error, Future = impl Send> + Clone + Send + 'static
{
    service_fn(move |request: LlmRequest| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut reply = ChatResponse::text_reply("r", request.model(), "hi there");
            reply.usage = Some(usage);
            Ok::<_, Error>(LlmResponse::new(Reply::Complete(reply)))
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_against_a_limit_that_admits_a_hundred() {
    let limit = Limit::new(Scope::User, Metric::Requests, Period::Day, 100);
    let tokens = Limit::new(Scope::Team, Metric::TotalTokens, Period::Day, 1_000_000);
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(catalog())
        .limit(limit.clone())
        .limit(tokens.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let service = ServiceBuilder::new()
        .layer(budget.clone())
        .service(upstream(Usage::new(12, 3), Arc::clone(&calls)));

    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { service.oneshot(ann(hello())).await })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(response) => {
                response.into_complete().await.unwrap();
                ok += 1;
            }
            Err(Error::BudgetExceeded { scope, .. }) => {
                assert_eq!(scope, "user:ann");
                refused += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((ok, refused), (100, 900));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        100,
        "refused calls never reach the upstream"
    );
    budget.settled().await;
    let spend = budget.spend(&limit, "ann").await.unwrap();
    assert_eq!((spend.value.spent, spend.value.held), (100, 0));
    // Settled to the reported usage: 100 calls of 15 tokens.
    let spend = budget.spend(&tokens, "blue").await.unwrap();
    assert_eq!((spend.value.spent, spend.value.held), (1_500, 0));
}

#[tokio::test]
async fn the_worst_case_is_reserved_and_the_unused_part_let_go() {
    // The prompt's count plus max_tokens (50) must fit; the reply used 15.
    let prompt = TokenCounter::new().count_request(&hello()).tokens;
    let tokens = Limit::new(Scope::User, Metric::TotalTokens, Period::Day, prompt + 50);
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(catalog())
        .limit(tokens.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = ServiceBuilder::new()
        .layer(budget.clone())
        .service(upstream(Usage::new(prompt, 3), Arc::clone(&calls)));

    let response = service.ready().await.unwrap().call(ann(hello())).await.unwrap();
    let charge = response.extensions.get::<BudgetCharge>().cloned().unwrap();
    assert_eq!(charge.reserved.tokens, prompt + 50);
    assert!(charge.reserved.estimated, "a reservation is a worst case");
    assert_eq!(charge.scopes, vec!["user:ann".to_owned()]);
    response.into_complete().await.unwrap();
    assert_eq!(charge.settled().unwrap().tokens, prompt + 3);
    assert!(
        !charge.settled().unwrap().estimated,
        "settled on the reported usage"
    );
    budget.settled().await;
    let spend = budget.spend(&tokens, "ann").await.unwrap();
    assert_eq!((spend.value.spent, spend.value.held), (prompt + 3, 0));
    assert_eq!(spend.remaining(), 47);

    // 47 left, the next call may use prompt + 50: refused, without a call.
    let err = service
        .ready()
        .await
        .unwrap()
        .call(ann(hello()))
        .await
        .unwrap_err();
    let Error::BudgetExceeded {
        scope,
        limit,
        reset_after,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(scope, "user:ann");
    assert!(
        limit.contains("tokens per day") && limit.contains("47 left"),
        "{limit}"
    );
    assert!(reset_after.is_some_and(|d| d <= Duration::from_secs(86_400)));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// An upstream that streams "a", "b", "c" and then reports `usage`, or fails after "a".
fn streaming(
    usage: Option<Usage>,
    fail: bool,
) -> impl Service<LlmRequest, Response = LlmResponse, Error = Error, Future = impl Send> + Clone + Send + 'static
{
    service_fn(move |_request: LlmRequest| async move {
        let mut events = vec![
            Ok(StreamEvent::Start {
                id: "r".into(),
                model: "gpt-4o".into(),
            }),
            Ok(StreamEvent::text("alpha")),
        ];
        if fail {
            events.push(Err(Error::StreamTruncated {
                provider: "up".into(),
            }));
        } else {
            events.push(Ok(StreamEvent::text(" beta gamma")));
            events.push(Ok(StreamEvent::Finish {
                reason: FinishReason::Stop,
            }));
            if let Some(usage) = usage {
                events.push(Ok(StreamEvent::Usage(usage)));
            }
        }
        Ok::<_, Error>(LlmResponse::new(Reply::Stream(ChatStream::from_events(events))))
    })
}

#[tokio::test]
async fn streams_settle_at_their_end_on_the_usage_or_on_what_was_seen() {
    let prompt = TokenCounter::new().count_request(&hello()).tokens;
    let output = Limit::new(Scope::User, Metric::OutputTokens, Period::Day, 1_000);
    let input = Limit::new(Scope::User, Metric::InputTokens, Period::Day, 1_000);
    let stream = |chat| ann(chat).with_mode(tower_ai::ReplyMode::Stream);

    // Reported usage, in the stream's last event.
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(catalog())
        .limits([output.clone(), input.clone()]);
    let service = budget.layer(streaming(Some(Usage::new(40, 7)), false));
    let response = service.clone().oneshot(stream(hello())).await.unwrap();
    // Before the end, the reservation holds the worst case.
    let held = budget.spend(&output, "ann").await.unwrap();
    assert_eq!((held.value.spent, held.value.held), (0, 50));
    response.into_complete().await.unwrap();
    budget.settled().await;
    assert_eq!(budget.spend(&output, "ann").await.unwrap().value.spent, 7);
    assert_eq!(budget.spend(&input, "ann").await.unwrap().value.spent, 40);

    // No usage: the prompt's count and the streamed text, counted.
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(catalog())
        .limits([output.clone(), input.clone()]);
    let service = budget.layer(streaming(None, false));
    let response = service.oneshot(stream(hello())).await.unwrap();
    let charge = response.extensions.get::<BudgetCharge>().cloned().unwrap();
    response.into_complete().await.unwrap();
    budget.settled().await;
    assert!(
        charge.settled().unwrap().estimated,
        "no usage: counted, and labelled so"
    );
    let seen = TokenCounter::new()
        .count_text("gpt-4o", "alpha beta gamma")
        .tokens;
    assert_eq!(budget.spend(&output, "ann").await.unwrap().value.spent, seen);
    assert_eq!(budget.spend(&input, "ann").await.unwrap().value.spent, prompt);

    // Dropped after the first delta: what arrived is spent.
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(catalog())
        .limits([output.clone(), input.clone()]);
    let service = budget.layer(streaming(Some(Usage::new(40, 7)), false));
    let mut events = service.oneshot(stream(hello())).await.unwrap().into_stream();
    events.next().await.unwrap().unwrap();
    events.next().await.unwrap().unwrap();
    drop(events);
    budget.settled().await;
    let cut = budget.spend(&output, "ann").await.unwrap().value;
    assert_eq!(
        (cut.spent, cut.held),
        (TokenCounter::new().count_text("gpt-4o", "alpha").tokens, 0)
    );

    // Failed part-way: what arrived is spent, the rest let go.
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(catalog())
        .limits([output.clone(), input.clone()]);
    let service = budget.layer(streaming(None, true));
    let err = service
        .oneshot(stream(hello()))
        .await
        .unwrap()
        .into_complete()
        .await;
    assert!(matches!(err, Err(Error::StreamTruncated { .. })));
    budget.settled().await;
    let failed = budget.spend(&output, "ann").await.unwrap().value;
    assert_eq!(
        (failed.spent, failed.held),
        (TokenCounter::new().count_text("gpt-4o", "alpha").tokens, 0)
    );
}

#[tokio::test]
async fn a_failure_before_the_head_releases_everything() {
    let requests = Limit::new(Scope::User, Metric::Requests, Period::Day, 1);
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(catalog())
        .limit(requests.clone());
    let failing = service_fn(|_: LlmRequest| async {
        Err::<LlmResponse, _>(Error::timeout(tower_ai::error::TimeoutKind::Request, None))
    });
    let err = budget.layer(failing).oneshot(ann(hello())).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    budget.settled().await;
    let value = budget.spend(&requests, "ann").await.unwrap().value;
    assert_eq!((value.spent, value.held), (0, 0), "a failed call spends nothing");
}

#[tokio::test]
async fn a_prompt_past_the_context_window_is_refused_locally() {
    let budget = BudgetLayer::new(MemoryCounterStore::new()).catalog(catalog());
    let calls = Arc::new(AtomicUsize::new(0));
    let service = budget.layer(upstream(Usage::new(1, 1), Arc::clone(&calls)));
    let long = ChatRequest::new("gpt-4o").user("word ".repeat(2_000));
    let err = service.clone().oneshot(ann(long)).await.unwrap_err();
    assert!(matches!(err, Error::ContextLengthExceeded(_)), "{err:?}");
    assert!(err.is_fallback_candidate(), "a router may try a larger model");
    // Fits, but not with the output asked for.
    let tight = ChatRequest::new("gpt-4o").user("hello").max_tokens(999);
    assert!(matches!(
        service.clone().oneshot(ann(tight)).await,
        Err(Error::ContextLengthExceeded(_))
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn costs_follow_each_vendors_cache_rules() {
    let cost = Limit::new(Scope::Global, Metric::CostMicros, Period::Month, 10_000_000);
    // OpenAI: 1 200 prompt tokens of which 1 000 cached (a subset), 100 out.
    // 200 × 2.5 + 1 000 × 1.25 + 100 × 10 = 500 + 1 250 + 1 000 = 2 750 µ$.
    let openai = Usage::new(1_200, 100).with_cache_read(1_000);
    // Anthropic: 100 uncached input, 2 000 read and 500 written on top, 50 out,
    // normalised to input 2 600: 100 × 3 + 2 000 × 0.3 + 500 × 3.75 + 50 × 15
    // = 300 + 600 + 1 875 + 750 = 3 525 µ$.
    let anthropic = Usage::new(2_600, 50).with_cache_read(2_000).with_cache_write(500);
    for (model, usage, micros) in [("gpt-4o", openai, 2_750), ("claude-sonnet-4-5", anthropic, 3_525)] {
        let budget = BudgetLayer::new(MemoryCounterStore::new())
            .catalog(catalog())
            .limit(cost.clone());
        let service = budget.layer(upstream(usage, Arc::default()));
        let chat = ChatRequest::new(model).user("hello").max_tokens(50);
        let response = service.oneshot(ann(chat)).await.unwrap();
        let charge = response.extensions.get::<BudgetCharge>().cloned().unwrap();
        response.into_complete().await.unwrap();
        budget.settled().await;
        assert_eq!(
            budget.spend(&cost, "").await.unwrap().value.spent,
            micros,
            "{model}"
        );
        let usd = charge.settled().unwrap().cost_usd.unwrap();
        assert!((usd - micros as f64 / 1e6).abs() < 1e-9, "{model}: {usd}");
    }
}

#[tokio::test]
async fn a_cost_limit_on_a_model_without_prices_is_refused() {
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(Catalog::empty())
        .limit(Limit::new(Scope::Global, Metric::CostMicros, Period::Day, 1_000));
    let err = budget
        .layer(upstream(Usage::new(1, 1), Arc::default()))
        .oneshot(ann(hello()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("prices are unknown"), "{err}");
}

#[tokio::test]
async fn a_limit_for_one_user_replaces_the_general_one() {
    let each = Limit::new(Scope::User, Metric::Requests, Period::Day, 1);
    let bob = Limit::new(Scope::User, Metric::Requests, Period::Day, 3).only("bob");
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(catalog())
        .limits([each, bob]);
    let service = budget.layer(upstream(Usage::new(1, 1), Arc::default()));
    let as_user = |user: &str| LlmRequest::new(hello()).with_principal(Principal::new().user(user));
    let admitted = |user: &'static str| {
        let service = service.clone();
        async move {
            let mut n = 0;
            for _ in 0..5 {
                if service.clone().oneshot(as_user(user)).await.is_ok() {
                    n += 1;
                }
            }
            n
        }
    };
    assert_eq!(admitted("ann").await, 1);
    assert_eq!(admitted("bob").await, 3);
    // A call without a user is not counted by a per-user limit.
    assert!(service.clone().oneshot(LlmRequest::new(hello())).await.is_ok());
}

#[tokio::test]
async fn a_window_rolls_over_on_the_stores_clock() {
    let now = Arc::new(Mutex::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let clock = Arc::clone(&now);
    let store = MemoryCounterStore::with_clock(move || *clock.lock().unwrap());
    let limit = Limit::new(Scope::User, Metric::Requests, Period::Minute, 2);
    let budget = BudgetLayer::new(store).catalog(catalog()).limit(limit);
    let service = budget.layer(upstream(Usage::new(1, 1), Arc::default()));
    for _ in 0..2 {
        service.clone().oneshot(ann(hello())).await.unwrap();
    }
    let err = service.clone().oneshot(ann(hello())).await.unwrap_err();
    let reset = err.retry_after().unwrap();
    assert!(reset <= Duration::from_secs(60), "{reset:?}");
    *now.lock().unwrap() += reset;
    service.clone().oneshot(ann(hello())).await.unwrap();
}

/// A store that is down.
#[derive(Debug)]
struct Down;

#[async_trait::async_trait]
impl CounterStore for Down {
    async fn reserve(&self, _: &str, _: &[CounterOp], _: Duration) -> tower_ai::Result<Admission> {
        Err(Error::store("counters", BoxError::from("connection refused")))
    }
    async fn settle(&self, _: &str, _: &[CounterOp], _: &[u64]) -> tower_ai::Result<()> {
        Ok(())
    }
    async fn value(&self, _: &str, _: Window) -> tower_ai::Result<CounterValue> {
        Ok(CounterValue::default())
    }
}

#[tokio::test]
async fn a_store_outage_fails_closed_unless_told_otherwise() {
    let limit = Limit::new(Scope::Global, Metric::Requests, Period::Day, 10);
    let calls = Arc::new(AtomicUsize::new(0));
    let closed = BudgetLayer::new(Down).catalog(catalog()).limit(limit.clone());
    let err = closed
        .layer(upstream(Usage::new(1, 1), Arc::clone(&calls)))
        .oneshot(ann(hello()))
        .await
        .unwrap_err();
    assert!(err.is_store(), "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let open = BudgetLayer::new(Down)
        .catalog(catalog())
        .limit(limit)
        .fail_open(true);
    open.layer(upstream(Usage::new(1, 1), Arc::clone(&calls)))
        .oneshot(ann(hello()))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_next_call_sees_the_last_one_settled_without_waiting() {
    // An in-memory store settles inside the reply's end hook: no stale hold
    // refuses the user's next call.
    let prompt = TokenCounter::new().count_request(&hello()).tokens;
    let tokens = Limit::new(Scope::User, Metric::TotalTokens, Period::Day, 2 * (prompt + 50));
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(catalog())
        .limit(tokens.clone());
    let service = budget.layer(upstream(Usage::new(prompt, 1), Arc::default()));
    for _ in 0..3 {
        let response = service.clone().oneshot(ann(hello())).await.unwrap();
        response.into_complete().await.unwrap();
        let value = budget.spend(&tokens, "ann").await.unwrap().value;
        assert_eq!(value.held, 0);
    }
    assert_eq!(
        budget.spend(&tokens, "ann").await.unwrap().value.spent,
        3 * (prompt + 1)
    );
}

#[tokio::test]
async fn a_reservation_never_settled_comes_back_when_its_lease_expires() {
    let now = Arc::new(Mutex::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let clock = Arc::clone(&now);
    let store = MemoryCounterStore::with_clock(move || *clock.lock().unwrap());
    let limit = Limit::new(Scope::User, Metric::Requests, Period::Lifetime, 1);
    let budget = BudgetLayer::new(store)
        .catalog(catalog())
        .limit(limit.clone())
        .lease_ttl(Duration::from_secs(30));
    let service = budget.layer(streaming(Some(Usage::new(1, 1)), false));
    // A stream that is never read to its end nor dropped: as if its
    // process had died holding the reservation.
    let stuck = service
        .clone()
        .oneshot(ann(hello()).with_mode(tower_ai::ReplyMode::Stream))
        .await
        .unwrap();
    std::mem::forget(stuck);
    assert!(matches!(
        service.clone().oneshot(ann(hello())).await,
        Err(Error::BudgetExceeded { .. })
    ));
    *now.lock().unwrap() += Duration::from_secs(31);
    let value = budget.spend(&limit, "ann").await.unwrap().value;
    assert_eq!((value.spent, value.held), (0, 0));
    service.clone().oneshot(ann(hello())).await.unwrap();
}

/// Three stacks, each with its own connection to one Redis, share one limit.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_stacks_sharing_a_redis_limit_admit_exactly_its_maximum() {
    use tower_ai::store::RedisCounterStore;

    let Some(server) = crate::support::redis::RedisServer::start() else {
        return;
    };
    let limit = Limit::new(Scope::Team, Metric::Requests, Period::Day, 100);
    let tokens = Limit::new(Scope::Team, Metric::TotalTokens, Period::Day, 1_000_000);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut stacks = Vec::new();
    for _ in 0..3 {
        let store = RedisCounterStore::connect(&server.url()).await.unwrap();
        let budget = BudgetLayer::new(store)
            .catalog(catalog())
            .limits([limit.clone(), tokens.clone()]);
        let service = budget.layer(upstream(Usage::new(12, 3), Arc::clone(&calls)));
        stacks.push((budget, service));
    }
    let tasks: Vec<_> = (0..1_000)
        .map(|n| {
            let service = stacks[n % 3].1.clone();
            tokio::spawn(async move {
                match service.oneshot(ann(hello())).await {
                    Ok(response) => response.into_complete().await.map(|_| true),
                    Err(Error::BudgetExceeded { .. }) => Ok(false),
                    Err(other) => Err(other),
                }
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap().unwrap());
    }
    assert_eq!(admitted, 100);
    assert_eq!(calls.load(Ordering::SeqCst), 100);
    for (budget, _) in &stacks {
        budget.settled().await;
    }
    let budget = &stacks[0].0;
    let requests = budget.spend(&limit, "blue").await.unwrap().value;
    assert_eq!((requests.spent, requests.held), (100, 0));
    let spent = budget.spend(&tokens, "blue").await.unwrap().value;
    assert_eq!(
        (spent.spent, spent.held),
        (1_500, 0),
        "settled to the reported usage"
    );
}

/// The calls one process makes against the shared Redis limit of
/// [`a_separate_process_shares_a_redis_limit`]: run only as that test's
/// child, which passes the server's address, and prints how many of its
/// calls were admitted.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of a_separate_process_shares_a_redis_limit"]
async fn child_process_calls_against_a_shared_redis_limit() {
    use tower_ai::store::RedisCounterStore;

    let url = std::env::var("TOWER_AI_CHILD_REDIS_URL").expect("run by its parent test");
    let store = RedisCounterStore::connect(&url).await.unwrap();
    // The tokenizer's tables load on first use: before the start, not in it.
    TokenCounter::new().count_request(&hello());
    // Wait for the parent's signal, so both processes call at once.
    let client = ::redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = ::redis::cmd("SET")
        .arg("child:ready")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    loop {
        let go: Option<i64> = ::redis::cmd("GET")
            .arg("child:go")
            .query_async(&mut conn)
            .await
            .unwrap();
        if go.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let limit = Limit::new(Scope::Team, Metric::Requests, Period::Day, 200);
    let service = BudgetLayer::new(store)
        .catalog(catalog())
        .limit(limit)
        .layer(upstream(Usage::new(12, 3), Arc::default()));
    let admitted = run_calls(service, 400).await;
    println!("child admitted {admitted}");
}

/// Sends `n` concurrent calls as Ann, two at a time every two milliseconds
/// (so two processes calling at once overlap); how many were admitted.
#[cfg(feature = "redis")]
async fn run_calls<S>(service: S, n: usize) -> usize
where
    S: tower::Service<LlmRequest, Response = LlmResponse, Error = Error> + Clone + Send + 'static,
    S::Future: Send,
{
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            match service.oneshot(ann(hello())).await {
                Ok(response) => response.into_complete().await.map(|_| true),
                Err(Error::BudgetExceeded { .. }) => Ok(false),
                Err(other) => Err(other),
            }
        }));
        if i % 2 == 1 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap().unwrap());
    }
    admitted
}

/// This process and a child process (this test binary, running the
/// ignored test above) call at once against one Redis limit of 200
/// requests: between them, exactly 200 are admitted, each some.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_process_shares_a_redis_limit() {
    use tower_ai::store::RedisCounterStore;

    let Some(server) = crate::support::redis::RedisServer::start() else {
        return;
    };
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "budget::child_process_calls_against_a_shared_redis_limit",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TOWER_AI_CHILD_REDIS_URL", server.url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the test binary runs again as the child");

    TokenCounter::new().count_request(&hello());
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ready: Option<i64> = ::redis::cmd("GET")
            .arg("child:ready")
            .query_async(&mut conn)
            .await
            .unwrap();
        if ready.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the child never became ready"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let limit = Limit::new(Scope::Team, Metric::Requests, Period::Day, 200);
    let budget = BudgetLayer::new(RedisCounterStore::connect(&server.url()).await.unwrap())
        .catalog(catalog())
        .limit(limit.clone());
    let service = budget.clone().layer(upstream(Usage::new(12, 3), Arc::default()));
    let _: () = ::redis::cmd("SET")
        .arg("child:go")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let here = run_calls(service, 400).await;

    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "the child failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let there: usize = stdout
        .lines()
        .find_map(|line| line.split("child admitted ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the child reported nothing: {stdout}"));
    assert_eq!(here + there, 200, "{here} here and {there} in the child");
    assert!(
        here > 0 && there > 0,
        "the two processes overlapped: {here} here, {there} there"
    );
    budget.settled().await;
    let value = budget.spend(&limit, "blue").await.unwrap().value;
    assert_eq!((value.spent, value.held), (200, 0));
}

#[tokio::test]
async fn a_cache_hit_charges_no_tokens_but_counts_as_a_request() {
    let requests = Limit::new(Scope::User, Metric::Requests, Period::Day, 10);
    let tokens = Limit::new(Scope::User, Metric::TotalTokens, Period::Day, 100_000);
    let cost = Limit::new(Scope::User, Metric::CostMicros, Period::Day, 100_000);
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(catalog())
        .limits([requests.clone(), tokens.clone(), cost.clone()]);
    // A cache above the provider answered: the usage says so.
    let hit = Usage::new(500, 40).with_source(tower_ai::types::UsageSource::CacheHit);
    let response = budget
        .layer(upstream(hit, Arc::default()))
        .oneshot(ann(hello()))
        .await
        .unwrap();
    let charge = response.extensions.get::<BudgetCharge>().cloned().unwrap();
    response.into_complete().await.unwrap();
    let value = |limit: &Limit| {
        let budget = budget.clone();
        let limit = limit.clone();
        async move { budget.spend(&limit, "ann").await.unwrap().value }
    };
    assert_eq!(value(&requests).await.spent, 1);
    assert_eq!(value(&tokens).await.spent, 0);
    assert_eq!(value(&cost).await.spent, 0);
    assert_eq!(charge.settled().unwrap().tokens, 0);
    assert_eq!(charge.settled().unwrap().requests, 1);
}

#[tokio::test]
async fn an_estimated_prompt_is_checked_against_the_window_without_its_margin() {
    // The count for a vendor without a tokenizer is raised by a quarter for
    // reservations; the window check must not refuse a prompt that fits.
    let text = "The tide comes in twice a day. ".repeat(20);
    let raw = TokenCounter::new()
        .count_request(&ChatRequest::new("gpt-4o").user(text.clone()))
        .tokens;
    let with_window = |window: u64| {
        Catalog::empty().with(ModelInfo::new("claude-test", "anthropic").with_context_window(window as u32))
    };
    let chat = ChatRequest::new("claude-test").user(text);
    let fits = BudgetLayer::new(MemoryCounterStore::new()).catalog(with_window(raw));
    fits.layer(upstream(Usage::new(1, 1), Arc::default()))
        .oneshot(ann(chat.clone()))
        .await
        .unwrap();
    let too_small = BudgetLayer::new(MemoryCounterStore::new()).catalog(with_window(raw - 1));
    let err = too_small
        .layer(upstream(Usage::new(1, 1), Arc::default()))
        .oneshot(ann(chat))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ContextLengthExceeded(_)), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_before_its_head_lets_its_reservation_go() {
    let limit = Limit::new(Scope::User, Metric::Requests, Period::Day, 1);
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(catalog())
        .limit(limit.clone());
    let slow = service_fn(|_: LlmRequest| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Err::<LlmResponse, _>(Error::timeout(tower_ai::error::TimeoutKind::Request, None))
    });
    // A time-out above the layer drops the call while it waits for the head.
    let dropped =
        tokio::time::timeout(Duration::from_secs(1), budget.layer(slow).oneshot(ann(hello()))).await;
    assert!(dropped.is_err(), "the call was cut by the time-out");
    budget.settled().await;
    let value = budget.spend(&limit, "ann").await.unwrap().value;
    assert_eq!(
        (value.spent, value.held),
        (0, 0),
        "nothing held until the lease expires"
    );
}

#[tokio::test]
async fn a_limit_given_twice_counts_once_and_the_later_one_holds() {
    let budget = BudgetLayer::new(MemoryCounterStore::new())
        .catalog(catalog())
        .limits([
            Limit::new(Scope::User, Metric::Requests, Period::Day, 1),
            Limit::new(Scope::User, Metric::Requests, Period::Day, 3),
        ]);
    let service = budget.layer(upstream(Usage::new(1, 1), Arc::default()));
    let mut admitted = 0;
    for _ in 0..5 {
        admitted += usize::from(service.clone().oneshot(ann(hello())).await.is_ok());
    }
    assert_eq!(admitted, 3);
}
