//! The cache layer: what is stored and what never is, tenants kept apart,
//! per-request policies, hits replayed in either mode, single-flight, and
//! the Redis store shared by two stacks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_ai::budget::{BudgetLayer, Limit, Metric, Period, Scope};
use tower_ai::cache::{deterministic_only, CacheLayer, CachePolicy, CacheScope};
use tower_ai::store::{CacheStore, CachedReply, MemoryCacheStore, MemoryCounterStore};
use tower_ai::types::{
    BudgetCharge, CacheDiscard, CacheStatus, ChatRequest, ChatResponse, ChatStream, FinishReason,
    GuardAction, GuardStage, GuardVerdict, GuardVerdicts, Outcome, Reply, ResponseFormat, ServedBy,
    StreamEvent, Tool, Usage, UsageSource,
};
use tower_ai::{Error, LlmRequest, LlmResponse, Principal};

/// How an upstream answers.
#[derive(Clone)]
struct Upstream {
    calls: Arc<AtomicUsize>,
    text: String,
    finish: FinishReason,
    latency: Duration,
    fail: Option<Error>,
    /// A stream that fails after its first delta.
    cut: bool,
}

impl Upstream {
    fn new(text: &str) -> Self {
        Self {
            calls: Arc::default(),
            text: text.to_owned(),
            finish: FinishReason::Stop,
            latency: Duration::ZERO,
            fail: None,
            cut: false,
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn service(
        &self,
    ) -> impl Service<LlmRequest, Response = LlmResponse, Error = Error, Future = impl Send> + Clone + Send + 'static
    {
        let this = self.clone();
        service_fn(move |request: LlmRequest| {
            let this = this.clone();
            async move {
                let n = this.calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(this.latency).await;
                if let Some(error) = this.fail {
                    return Err(error);
                }
                let text = format!("{} (call {n})", this.text);
                let reply = ChatResponse::text_reply(format!("r-{n}"), request.model(), text)
                    .with_finish_reason(this.finish.clone())
                    .with_usage(Usage::new(12, 7));
                let mut response = if request.mode == tower_ai::types::ReplyMode::Stream {
                    let mut events: Vec<Result<StreamEvent, Error>> =
                        reply.to_events().into_iter().map(Ok).collect();
                    if this.cut {
                        events.truncate(2);
                        events.push(Err(Error::StreamTruncated {
                            provider: "fake".into(),
                        }));
                    }
                    LlmResponse::new(Reply::Stream(ChatStream::from_events(events)))
                } else {
                    LlmResponse::new(Reply::Complete(reply))
                };
                response
                    .extensions
                    .insert(ServedBy::new("fake", request.model().to_owned()));
                Ok(response)
            }
        })
    }
}

fn ask(tenant: &str) -> LlmRequest {
    LlmRequest::new(ChatRequest::new("gpt-4o").user("Why is the sky blue?"))
        .with_principal(Principal::new().tenant(tenant).user("ann"))
}

fn ask_stream(tenant: &str) -> LlmRequest {
    ask(tenant).with_mode(tower_ai::types::ReplyMode::Stream)
}

async fn send<S>(service: &mut S, request: LlmRequest) -> Result<LlmResponse, Error>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
{
    service.ready().await?.call(request).await
}

fn status(response: &LlmResponse) -> Option<CacheStatus> {
    response.extensions.get::<CacheStatus>().cloned()
}

#[tokio::test]
async fn a_complete_reply_is_stored_and_a_hit_replays_it_in_either_mode() {
    let upstream = Upstream::new("Rayleigh scattering");
    let mut cache = CacheLayer::new(MemoryCacheStore::new()).layer(upstream.service());

    let first = send(&mut cache, ask("acme")).await.unwrap();
    assert_eq!(status(&first), Some(CacheStatus::Miss));
    let first = first.into_complete().await.unwrap();
    assert_eq!(first.usage.unwrap().source, UsageSource::Reported);

    let hit = send(&mut cache, ask("acme")).await.unwrap();
    assert_eq!(status(&hit), Some(CacheStatus::HitExact));
    assert_eq!(Outcome::of_response(&hit), Outcome::Cached);
    assert_eq!(
        hit.extensions.get::<ServedBy>(),
        Some(&ServedBy::new("fake", "gpt-4o"))
    );
    let hit = hit.into_complete().await.unwrap();
    assert_eq!(hit.text(), first.text());
    let usage = hit.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (12, 7));
    assert_eq!(usage.source, UsageSource::CacheHit);

    // Asked as a stream, the hit comes as a provider's events would.
    let streamed = send(&mut cache, ask_stream("acme")).await.unwrap();
    assert_eq!(status(&streamed), Some(CacheStatus::HitExact));
    let Reply::Stream(stream) = streamed.reply else {
        panic!("a stream was asked for")
    };
    let events: Vec<StreamEvent> = stream.map(Result::unwrap).collect().await;
    assert!(matches!(events.first(), Some(StreamEvent::Start { .. })));
    assert!(matches!(events.last(), Some(StreamEvent::Finish { .. })));
    assert!(events
        .iter()
        .any(|e| matches!(e, StreamEvent::Usage(u) if u.source == UsageSource::CacheHit)));
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, first.text());
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test]
async fn a_long_reply_is_replayed_in_several_deltas() {
    let upstream = Upstream::new(&"The sky scatters blue light more than red. ".repeat(10));
    let mut cache = CacheLayer::new(MemoryCacheStore::new()).layer(upstream.service());
    send(&mut cache, ask("acme"))
        .await
        .unwrap()
        .into_complete()
        .await
        .unwrap();
    let Reply::Stream(stream) = send(&mut cache, ask_stream("acme")).await.unwrap().reply else {
        panic!("a stream was asked for")
    };
    let deltas = stream
        .filter(|e| std::future::ready(matches!(e, Ok(StreamEvent::TextDelta { .. }))))
        .count()
        .await;
    assert!(deltas >= 5, "{deltas} deltas");
}

#[tokio::test]
async fn a_streamed_reply_is_stored_when_it_ends_and_served_complete() {
    let upstream = Upstream::new("Rayleigh scattering");
    let mut cache = CacheLayer::new(MemoryCacheStore::new()).layer(upstream.service());

    let first = send(&mut cache, ask_stream("acme")).await.unwrap();
    assert_eq!(status(&first), Some(CacheStatus::Miss));
    let Reply::Stream(stream) = first.reply else {
        panic!("a stream")
    };
    let first = stream.collect_response().await.unwrap();

    let hit = send(&mut cache, ask("acme")).await.unwrap();
    assert_eq!(status(&hit), Some(CacheStatus::HitExact));
    assert_eq!(hit.into_complete().await.unwrap().text(), first.text());
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test]
async fn entries_are_never_served_to_another_tenant() {
    let upstream = Upstream::new("answer");
    let mut cache = CacheLayer::new(MemoryCacheStore::new()).layer(upstream.service());
    let acme = send(&mut cache, ask("acme"))
        .await
        .unwrap()
        .into_complete()
        .await
        .unwrap();
    let globex = send(&mut cache, ask("globex")).await.unwrap();
    assert_eq!(status(&globex), Some(CacheStatus::Miss));
    let globex = globex.into_complete().await.unwrap();
    assert_ne!(acme.text(), globex.text());
    // Without a tenant, a request has a space of its own too.
    let nobody = LlmRequest::new(ChatRequest::new("gpt-4o").user("Why is the sky blue?"));
    assert_eq!(
        status(&send(&mut cache, nobody).await.unwrap()),
        Some(CacheStatus::Miss)
    );
    assert_eq!(upstream.calls(), 3);
}

#[tokio::test]
async fn a_principal_scope_keeps_users_of_one_tenant_apart() {
    let upstream = Upstream::new("answer");
    let mut cache = CacheLayer::new(MemoryCacheStore::new())
        .scope(CacheScope::Principal)
        .layer(upstream.service());
    send(&mut cache, ask("acme")).await.unwrap();
    let bob = ask("acme").with_principal(Principal::new().tenant("acme").user("bob"));
    assert_eq!(
        status(&send(&mut cache, bob).await.unwrap()),
        Some(CacheStatus::Miss)
    );
    assert_eq!(
        status(&send(&mut cache, ask("acme")).await.unwrap()),
        Some(CacheStatus::HitExact)
    );
}

#[tokio::test]
async fn anything_that_changes_the_reply_changes_the_entry() {
    let upstream = Upstream::new("answer");
    let mut cache = CacheLayer::new(MemoryCacheStore::new()).layer(upstream.service());
    let base = || ChatRequest::new("gpt-4o").user("Why is the sky blue?");
    let variants = [
        base(),
        base().temperature(0.7),
        base().max_tokens(10),
        base().tool(Tool::function(
            "lookup",
            "Looks a term up",
            serde_json::json!({"type": "object"}),
        )),
        base().response_format(ResponseFormat::JsonObject),
        base().system("Answer in French."),
        base()
            .tool(Tool::function(
                "lookup",
                "Looks a term up",
                serde_json::json!({"type": "object"}),
            ))
            .tool_choice(tower_ai::types::ToolChoice::Required),
        base().reasoning(tower_ai::types::ReasoningConfig::effort(
            tower_ai::types::ReasoningEffort::High,
        )),
        base().stop("\n\n"),
        base().seed(7),
        base().extra("service_tier", serde_json::json!("flex")),
        ChatRequest::new("gpt-4o-mini").user("Why is the sky blue?"),
    ];
    for chat in &variants {
        let request = LlmRequest::new(chat.clone()).with_principal(Principal::new().tenant("acme"));
        let response = send(&mut cache, request).await.unwrap();
        assert_eq!(status(&response), Some(CacheStatus::Miss), "{chat:?}");
    }
    for chat in &variants {
        let request = LlmRequest::new(chat.clone()).with_principal(Principal::new().tenant("acme"));
        let response = send(&mut cache, request).await.unwrap();
        assert_eq!(status(&response), Some(CacheStatus::HitExact), "{chat:?}");
    }
    assert_eq!(upstream.calls(), variants.len());

    // What does not change the reply shares the entry: the mode, the
    // request's id and time, the caller within the tenant.
    let same =
        LlmRequest::stream(base()).with_principal(Principal::new().tenant("acme").user("someone else"));
    let response = send(&mut cache, same).await.unwrap();
    assert_eq!(status(&response), Some(CacheStatus::HitExact));
}

fn with_policy(mut request: LlmRequest, policy: CachePolicy) -> LlmRequest {
    request.extensions.insert(policy);
    request
}

#[tokio::test]
async fn each_request_can_bypass_refresh_or_not_store() {
    let upstream = Upstream::new("answer");
    let store = MemoryCacheStore::new();
    let mut cache = CacheLayer::new(store.clone()).layer(upstream.service());

    // No-store on a miss: the reply is not kept.
    let first = send(&mut cache, with_policy(ask("acme"), CachePolicy::NoStore))
        .await
        .unwrap();
    assert_eq!(status(&first), Some(CacheStatus::Miss));
    assert_eq!(store.entry_count(), 0);

    // Bypass: neither read nor written.
    let bypass = send(&mut cache, with_policy(ask("acme"), CachePolicy::Bypass))
        .await
        .unwrap();
    assert_eq!(status(&bypass), Some(CacheStatus::Bypass));
    assert_eq!(store.entry_count(), 0);

    // A plain request stores (call 3); refresh calls again (call 4) and
    // replaces the entry, which the next plain request reads.
    send(&mut cache, ask("acme")).await.unwrap();
    let refreshed = send(&mut cache, with_policy(ask("acme"), CachePolicy::Refresh))
        .await
        .unwrap();
    assert_eq!(status(&refreshed), Some(CacheStatus::Miss));
    assert!(refreshed
        .into_complete()
        .await
        .unwrap()
        .text()
        .ends_with("(call 4)"));
    let hit = send(&mut cache, ask("acme"))
        .await
        .unwrap()
        .into_complete()
        .await
        .unwrap();
    assert!(hit.text().ends_with("(call 4)"));
    // No-store still reads.
    let read = send(&mut cache, with_policy(ask("acme"), CachePolicy::NoStore))
        .await
        .unwrap();
    assert_eq!(status(&read), Some(CacheStatus::HitExact));
    assert_eq!(upstream.calls(), 4);
}

#[tokio::test]
async fn a_predicate_decides_what_is_cacheable() {
    let upstream = Upstream::new("answer");
    let mut cache = CacheLayer::new(MemoryCacheStore::new())
        .cacheable(deterministic_only)
        .layer(upstream.service());
    let sampled = send(&mut cache, ask("acme")).await.unwrap();
    assert_eq!(status(&sampled), Some(CacheStatus::Bypass));
    let exact = || {
        LlmRequest::new(ChatRequest::new("gpt-4o").user("2+2?").temperature(0.0))
            .with_principal(Principal::new().tenant("acme"))
    };
    send(&mut cache, exact()).await.unwrap();
    assert_eq!(
        status(&send(&mut cache, exact()).await.unwrap()),
        Some(CacheStatus::HitExact)
    );
}

#[tokio::test]
async fn truncated_and_filtered_replies_are_stored_only_when_asked() {
    for (finish, allowed) in [
        (FinishReason::Length, false),
        (FinishReason::ContentFilter, false),
    ] {
        let mut upstream = Upstream::new("cut");
        upstream.finish = finish.clone();
        let store = MemoryCacheStore::new();
        let mut cache = CacheLayer::new(store.clone()).layer(upstream.service());
        send(&mut cache, ask("acme"))
            .await
            .unwrap()
            .into_complete()
            .await
            .unwrap();
        assert_eq!(store.entry_count() > 0, allowed, "{finish:?}");

        let store = MemoryCacheStore::new();
        let mut cache = CacheLayer::new(store.clone())
            .store_truncated(true)
            .store_filtered(true)
            .layer(upstream.service());
        send(&mut cache, ask("acme"))
            .await
            .unwrap()
            .into_complete()
            .await
            .unwrap();
        assert_eq!(store.entry_count(), 1, "{finish:?} when asked");
    }
}

#[tokio::test]
async fn failed_cut_or_dropped_replies_are_never_stored() {
    let store = MemoryCacheStore::new();

    let mut failing = Upstream::new("x");
    failing.fail = Some(Error::unavailable("gpt-4o", None));
    let mut cache = CacheLayer::new(store.clone()).layer(failing.service());
    assert!(send(&mut cache, ask("acme")).await.is_err());

    let mut cut = Upstream::new("x");
    cut.cut = true;
    let mut cache = CacheLayer::new(store.clone()).layer(cut.service());
    let Reply::Stream(stream) = send(&mut cache, ask_stream("acme")).await.unwrap().reply else {
        panic!("a stream")
    };
    assert!(stream.collect_response().await.is_err());

    let whole = Upstream::new("x");
    let mut cache = CacheLayer::new(store.clone()).layer(whole.service());
    let Reply::Stream(mut stream) = send(&mut cache, ask_stream("acme")).await.unwrap().reply else {
        panic!("a stream")
    };
    // The caller reads one event and drops the rest.
    stream.next().await.unwrap().unwrap();
    drop(stream);

    assert_eq!(store.entry_count(), 0);
    // The next request goes upstream.
    let response = send(&mut cache, ask("acme")).await.unwrap();
    assert_eq!(status(&response), Some(CacheStatus::Miss));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_misses_make_one_upstream_call() {
    let mut upstream = Upstream::new("shared answer");
    upstream.latency = Duration::from_millis(100);
    let cache = CacheLayer::new(MemoryCacheStore::new()).layer(upstream.service());
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let mut cache = cache.clone();
            tokio::spawn(async move {
                let request = if i % 2 == 0 {
                    ask("acme")
                } else {
                    ask_stream("acme")
                };
                let response = send(&mut cache, request).await.unwrap();
                let hit = status(&response) == Some(CacheStatus::HitExact);
                (hit, response.into_complete().await.unwrap().text())
            })
        })
        .collect();
    let mut hits = 0;
    for call in calls {
        let (hit, text) = call.await.unwrap();
        assert_eq!(text, "shared answer (call 1)");
        hits += usize::from(hit);
    }
    assert_eq!(upstream.calls(), 1);
    assert_eq!(hits, 199);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_fail_with_their_leaders_error() {
    let mut upstream = Upstream::new("x");
    upstream.latency = Duration::from_millis(100);
    upstream.fail = Some(Error::unavailable("gpt-4o", None));
    let cache = CacheLayer::new(MemoryCacheStore::new()).layer(upstream.service());
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let mut cache = cache.clone();
            tokio::spawn(async move { send(&mut cache, ask("acme")).await.map(|_| ()) })
        })
        .collect();
    for call in calls {
        let error = call.await.unwrap().unwrap_err();
        assert!(matches!(error, Error::Unavailable { .. }), "{error}");
    }
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_takes_over_from_a_cancelled_leader() {
    let mut upstream = Upstream::new("answer");
    upstream.latency = Duration::from_millis(200);
    let cache = CacheLayer::new(MemoryCacheStore::new()).layer(upstream.service());
    let leader = {
        let mut cache = cache.clone();
        tokio::spawn(async move { send(&mut cache, ask("acme")).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let followers: Vec<_> = (0..20)
        .map(|_| {
            let mut cache = cache.clone();
            tokio::spawn(async move {
                send(&mut cache, ask("acme"))
                    .await
                    .unwrap()
                    .into_complete()
                    .await
                    .unwrap()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.abort();
    let mut texts = Vec::new();
    for follower in followers {
        let reply = tokio::time::timeout(Duration::from_secs(10), follower)
            .await
            .expect("no follower hangs")
            .unwrap();
        texts.push(reply.text());
    }
    // The leader's call was cut; one follower's call answered them all.
    assert_eq!(upstream.calls(), 2);
    assert!(texts.iter().all(|t| t == "answer (call 2)"), "{texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_runs_out_of_patience_calls_upstream_itself() {
    let mut upstream = Upstream::new("answer");
    upstream.latency = Duration::from_millis(400);
    let cache = CacheLayer::new(MemoryCacheStore::new())
        .follower_patience(Duration::from_millis(50))
        .layer(upstream.service());
    let leader = {
        let mut cache = cache.clone();
        tokio::spawn(async move { send(&mut cache, ask("acme")).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut follower = cache.clone();
    let response = send(&mut follower, ask("acme")).await.unwrap();
    assert_eq!(status(&response), Some(CacheStatus::Miss));
    leader.await.unwrap().unwrap();
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test]
async fn a_hit_under_a_budget_charges_a_request_and_no_tokens() {
    let upstream = Upstream::new("answer");
    let budget = BudgetLayer::new(MemoryCounterStore::new()).limits([
        Limit::new(Scope::Tenant, Metric::Requests, Period::Day, 100),
        Limit::new(Scope::Tenant, Metric::TotalTokens, Period::Day, 1_000_000),
    ]);
    let mut stack = budget
        .clone()
        .layer(CacheLayer::new(MemoryCacheStore::new()).layer(upstream.service()));
    for _ in 0..3 {
        let response = send(&mut stack, ask("acme")).await.unwrap();
        let charge = response.extensions.get::<BudgetCharge>().cloned().unwrap();
        response.into_complete().await.unwrap();
        assert!(charge.settled().is_some());
    }
    let requests = Limit::new(Scope::Tenant, Metric::Requests, Period::Day, 100);
    let tokens = Limit::new(Scope::Tenant, Metric::TotalTokens, Period::Day, 1_000_000);
    assert_eq!(budget.spend(&requests, "acme").await.unwrap().value.spent, 3);
    // One upstream call of 12 + 7 tokens; the two hits cost none.
    assert_eq!(budget.spend(&tokens, "acme").await.unwrap().value.spent, 19);
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test]
async fn embeddings_pass_through_untouched() {
    let mock = tower_ai::provider::mock::MockProvider::new();
    let mut cache = CacheLayer::new(MemoryCacheStore::new())
        .layer(tower_ai::provider::ProviderService::new(mock.clone()));
    for _ in 0..2 {
        let request = LlmRequest::embeddings(tower_ai::types::EmbeddingRequest::new(
            "text-embedding-3-small",
            vec!["hello".to_owned()],
        ));
        let response = send(&mut cache, request).await.unwrap();
        assert_eq!(status(&response), None);
    }
    assert_eq!(mock.embedding_requests().len(), 2);
}

#[tokio::test]
async fn the_memory_store_keeps_within_its_bytes_and_counts_evictions() {
    // Ten times what the store may hold (each entry weighs about 1.2 kB).
    let store = MemoryCacheStore::with_max_bytes(20_000);
    for i in 0..170 {
        let key = ChatRequest::new("gpt-4o")
            .user(format!("question {i}"))
            .canonical_key();
        let entry = CachedReply::new(ChatResponse::text_reply("r", "gpt-4o", "x".repeat(900)), None);
        store
            .put(&key, entry.into(), Duration::from_secs(60))
            .await
            .unwrap();
    }
    assert!(
        store.weighted_bytes() <= 20_000,
        "{} bytes",
        store.weighted_bytes()
    );
    assert!(store.evictions() > 0);
}

#[tokio::test]
async fn an_entry_expires_after_its_time_to_live() {
    let upstream = Upstream::new("answer");
    let mut cache = CacheLayer::new(MemoryCacheStore::new())
        .ttl(Duration::from_millis(100))
        .layer(upstream.service());
    send(&mut cache, ask("acme")).await.unwrap();
    assert_eq!(
        status(&send(&mut cache, ask("acme")).await.unwrap()),
        Some(CacheStatus::HitExact)
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        status(&send(&mut cache, ask("acme")).await.unwrap()),
        Some(CacheStatus::Miss)
    );
}

#[tokio::test]
async fn a_request_may_keep_its_reply_for_less_time_than_the_layer() {
    let upstream = Upstream::new("answer");
    let mut cache = CacheLayer::new(MemoryCacheStore::new())
        .ttl(Duration::from_secs(3_600))
        .layer(upstream.service());
    let mut short = ask("acme");
    short
        .extensions
        .insert(tower_ai::cache::CacheTtl(Duration::from_millis(100)));
    send(&mut cache, short).await.unwrap();
    assert_eq!(
        status(&send(&mut cache, ask("acme")).await.unwrap()),
        Some(CacheStatus::HitExact)
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        status(&send(&mut cache, ask("acme")).await.unwrap()),
        Some(CacheStatus::Miss)
    );
    // The reply stored by that miss has the layer's hour.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        status(&send(&mut cache, ask("acme")).await.unwrap()),
        Some(CacheStatus::HitExact)
    );
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use crate::support::redis::RedisServer;
    use tower_ai::store::RedisCacheStore;

    #[tokio::test]
    async fn two_stacks_share_entries_through_redis() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let upstream = Upstream::new("answer");
        let open = || async {
            RedisCacheStore::connect(&server.url())
                .await
                .unwrap()
                .with_prefix("cache-test:")
        };
        let one = CacheLayer::new(open().await);
        let mut first = one.layer(upstream.service());
        let mut second = CacheLayer::new(open().await).layer(upstream.service());

        let stored = send(&mut first, ask_stream("acme")).await.unwrap();
        let Reply::Stream(stream) = stored.reply else {
            panic!("a stream")
        };
        let stored = stream.collect_response().await.unwrap();
        one.stored().await;

        let hit = send(&mut second, ask("acme")).await.unwrap();
        assert_eq!(status(&hit), Some(CacheStatus::HitExact));
        assert_eq!(hit.into_complete().await.unwrap().text(), stored.text());
        let other = send(&mut second, ask("globex")).await.unwrap();
        assert_eq!(status(&other), Some(CacheStatus::Miss));
        assert_eq!(upstream.calls(), 2);
    }

    #[tokio::test]
    async fn an_entry_lives_for_its_time_to_live_on_redis() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let store = RedisCacheStore::connect(&server.url())
            .await
            .unwrap()
            .with_prefix("ttl:");
        let key = ChatRequest::new("gpt-4o")
            .user("hi")
            .canonical_key()
            .scoped("acme");
        let entry = CachedReply::new(ChatResponse::text_reply("r", "gpt-4o", "soon gone"), None);
        store
            .put(&key, entry.into(), Duration::from_millis(200))
            .await
            .unwrap();
        assert!(store.get(&key).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(store.get(&key).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_entry_of_another_format_reads_as_a_miss() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let store = RedisCacheStore::connect(&server.url())
            .await
            .unwrap()
            .with_prefix("fmt:");
        let key = ChatRequest::new("gpt-4o")
            .user("hi")
            .canonical_key()
            .scoped("acme");
        let client = ::redis::Client::open(server.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut old = vec![0u8];
        old.extend_from_slice(br#"{"some":"older layout"}"#);
        ::redis::cmd("SET")
            .arg(format!("fmt:cache:{}", key.to_hex()))
            .arg(old)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        assert!(store.get(&key).await.unwrap().is_none());

        let entry = CachedReply::new(ChatResponse::text_reply("r", "gpt-4o", "fresh"), None);
        store
            .put(&key, entry.into(), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.get(&key).await.unwrap().unwrap().reply.text(), "fresh");
    }

    #[tokio::test]
    async fn a_redis_outage_is_a_miss_not_a_failure() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let upstream = Upstream::new("answer");
        let store = RedisCacheStore::connect(&server.url()).await.unwrap();
        let mut cache = CacheLayer::new(store).layer(upstream.service());
        drop(server);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let response = send(&mut cache, ask("acme")).await.unwrap();
        assert_eq!(status(&response), Some(CacheStatus::Miss));
        assert_eq!(response.into_complete().await.unwrap().text(), "answer (call 1)");
    }
}

mod semantic {
    use super::*;
    use tower_ai::cache::StackEmbedder;
    use tower_ai::testing::WordEmbedder;

    fn question(tenant: &str, system: &str, text: &str) -> LlmRequest {
        LlmRequest::new(ChatRequest::new("gpt-4o").system(system).user(text))
            .with_principal(Principal::new().tenant(tenant))
    }

    async fn ask_text<S>(service: &mut S, request: LlmRequest) -> (Option<CacheStatus>, String)
    where
        S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
    {
        let response = send(service, request).await.unwrap();
        let status = status(&response);
        (status, response.into_complete().await.unwrap().text())
    }

    #[tokio::test]
    async fn a_paraphrase_is_answered_from_the_similar_prompts_entry() {
        let upstream = Upstream::new("Settings, then Appearance");
        let mut cache = CacheLayer::new(MemoryCacheStore::new())
            .semantic(WordEmbedder, 0.8)
            .layer(upstream.service());
        let (first, stored) = ask_text(
            &mut cache,
            question("acme", "Be brief.", "How do I enable dark mode?"),
        )
        .await;
        assert_eq!(first, Some(CacheStatus::Miss));
        let (again, text) = ask_text(
            &mut cache,
            question("acme", "Be brief.", "How can I enable dark mode?"),
        )
        .await;
        let Some(CacheStatus::HitSemantic { score }) = again else {
            panic!("{again:?}")
        };
        // Five of six words shared.
        assert!((score - 5.0 / 6.0).abs() < 1e-4, "{score}");
        assert_eq!(text, stored);
        assert_eq!(upstream.calls(), 1);
    }

    #[tokio::test]
    async fn a_similar_prompt_that_means_the_opposite_is_not_answered() {
        let upstream = Upstream::new("answer");
        let guarded = CacheLayer::new(MemoryCacheStore::new()).semantic(WordEmbedder, 0.8);
        let mut cache = guarded.layer(upstream.service());
        ask_text(
            &mut cache,
            question("acme", "Be brief.", "How do I enable dark mode?"),
        )
        .await;
        for other in [
            "How do I disable dark mode?",
            "How do I not enable dark mode?",
            "How do I enable dark mode 2?",
            "How do I enable \"dark mode\"?",
            "How do I enable Dark mode?",
        ] {
            let (status, _) = ask_text(&mut cache, question("acme", "Be brief.", other)).await;
            assert_eq!(status, Some(CacheStatus::Miss), "{other}");
        }

        // Without the guard, the embedding alone would have answered.
        let upstream = Upstream::new("answer");
        let mut unguarded = CacheLayer::new(MemoryCacheStore::new())
            .semantic(WordEmbedder, 0.8)
            .semantic_guard(false)
            .layer(upstream.service());
        ask_text(
            &mut unguarded,
            question("acme", "Be brief.", "How do I enable dark mode?"),
        )
        .await;
        let (status, _) = ask_text(
            &mut unguarded,
            question("acme", "Be brief.", "How do I disable dark mode?"),
        )
        .await;
        assert!(
            matches!(status, Some(CacheStatus::HitSemantic { .. })),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn only_the_last_user_turn_may_differ_and_never_the_tenant() {
        let upstream = Upstream::new("answer");
        let mut cache = CacheLayer::new(MemoryCacheStore::new())
            .semantic(WordEmbedder, 0.8)
            .layer(upstream.service());
        ask_text(
            &mut cache,
            question("acme", "Be brief.", "How do I enable dark mode?"),
        )
        .await;
        let others = [
            question("acme", "Answer at length.", "How can I enable dark mode?"),
            question("globex", "Be brief.", "How can I enable dark mode?"),
            LlmRequest::new(
                ChatRequest::new("gpt-4o-mini")
                    .system("Be brief.")
                    .user("How can I enable dark mode?"),
            )
            .with_principal(Principal::new().tenant("acme")),
        ];
        for request in others {
            let (status, _) = ask_text(&mut cache, request).await;
            assert_eq!(status, Some(CacheStatus::Miss));
        }
        assert_eq!(upstream.calls(), 4);
    }

    #[tokio::test]
    async fn a_prompt_whose_entry_is_gone_is_a_miss() {
        let upstream = Upstream::new("answer");
        let mut cache = CacheLayer::new(MemoryCacheStore::new())
            .ttl(Duration::from_millis(100))
            .semantic(WordEmbedder, 0.8)
            .layer(upstream.service());
        ask_text(
            &mut cache,
            question("acme", "Be brief.", "How do I enable dark mode?"),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (status, _) = ask_text(
            &mut cache,
            question("acme", "Be brief.", "How can I enable dark mode?"),
        )
        .await;
        assert_eq!(status, Some(CacheStatus::Miss));
    }

    #[tokio::test]
    async fn the_embedder_can_be_any_stack_with_embeddings() {
        let embeddings = tower_ai::provider::mock::MockProvider::new();
        let embedder = StackEmbedder::new(
            tower_ai::provider::ProviderService::new(embeddings.clone()),
            "text-embedding-3-small",
        );
        let upstream = Upstream::new("answer");
        let mut cache = CacheLayer::new(MemoryCacheStore::new())
            .semantic(embedder, 0.999)
            .layer(upstream.service());
        ask_text(
            &mut cache,
            question("acme", "Be brief.", "How do I enable dark mode?"),
        )
        .await;
        ask_text(
            &mut cache,
            question("acme", "Be brief.", "How can I enable dark mode?"),
        )
        .await;
        // Each exact miss embedded its last user turn through the stack.
        let texts: Vec<String> = embeddings
            .embedding_requests()
            .into_iter()
            .flat_map(|r| r.input)
            .collect();
        assert_eq!(
            texts,
            ["How do I enable dark mode?", "How can I enable dark mode?"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_misses_embed_their_prompt_once() {
    use tower_ai::cache::embedder_fn;
    let embedded = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&embedded);
    let embedder = embedder_fn(move |texts: Vec<String>| {
        counted.fetch_add(texts.len(), Ordering::SeqCst);
        async move { Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect()) }
    });
    let mut upstream = Upstream::new("answer");
    upstream.latency = Duration::from_millis(100);
    let cache = CacheLayer::new(MemoryCacheStore::new())
        .semantic(embedder, 0.99)
        .layer(upstream.service());
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let mut cache = cache.clone();
            tokio::spawn(async move { send(&mut cache, ask("acme")).await.map(|r| status(&r)) })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(upstream.calls(), 1);
    assert_eq!(embedded.load(Ordering::SeqCst), 1, "only the leader embeds");
}

/// An upstream with one streamed reply whose events the test sends one by
/// one, counting its calls.
struct Gated {
    calls: Arc<AtomicUsize>,
    events: tokio::sync::mpsc::UnboundedSender<Result<StreamEvent, Error>>,
}

impl Gated {
    fn new() -> (
        Self,
        impl Service<LlmRequest, Response = LlmResponse, Error = Error, Future = impl Send>
            + Clone
            + Send
            + 'static,
    ) {
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let receiver = Arc::new(std::sync::Mutex::new(Some(receiver)));
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let service = service_fn(move |_: LlmRequest| {
            counted.fetch_add(1, Ordering::SeqCst);
            let receiver = receiver.lock().unwrap().take();
            async move {
                let receiver = receiver.expect("the gated upstream answers one call");
                let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
                    receiver.recv().await.map(|event| (event, receiver))
                });
                let mut response = LlmResponse::new(Reply::Stream(ChatStream::new(stream)));
                response.extensions.insert(ServedBy::new("fake", "gpt-4o"));
                Ok(response)
            }
        });
        (Self { calls, events }, service)
    }

    fn send(&self, event: StreamEvent) {
        self.events.send(Ok(event)).expect("the stream is read");
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// The reply the gated tests stream: text in deltas, a tool call whose
/// arguments come in two pieces, usage and the finish.
fn gated_events() -> Vec<StreamEvent> {
    let mut events = vec![StreamEvent::Start {
        id: "r-1".into(),
        model: "gpt-4o".into(),
    }];
    events.extend(["Rayleigh ", "scattering ", "favours ", "short ", "waves."].map(StreamEvent::text));
    events.push(StreamEvent::ToolCallDelta {
        index: 0,
        id: Some("call_1".into()),
        name: Some("cite".into()),
        arguments: String::new(),
    });
    for piece in ["{\"source\":", "\"physics\"}"] {
        events.push(StreamEvent::ToolCallDelta {
            index: 0,
            id: None,
            name: None,
            arguments: piece.into(),
        });
    }
    events.push(StreamEvent::Usage(Usage::new(12, 9)));
    events.push(StreamEvent::Finish {
        reason: FinishReason::ToolCalls,
    });
    events
}

/// Reads `n` events of `stream`, failing the test if they do not come.
async fn read_events(stream: &mut ChatStream, n: usize) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    for _ in 0..n {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the event is passed on before the upstream finishes")
            .expect("the stream has not ended")
            .expect("an event");
        events.push(event);
    }
    events
}

/// A stream read to its end, folded into a reply.
async fn fold(stream: ChatStream) -> ChatResponse {
    LlmResponse::new(Reply::Stream(stream))
        .into_complete()
        .await
        .unwrap()
}

fn into_stream(response: LlmResponse) -> ChatStream {
    match response.reply {
        Reply::Stream(stream) => stream,
        _ => panic!("a stream was asked for"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_followers_receive_the_leaders_events_as_they_arrive() {
    let (upstream, service) = Gated::new();
    let cache = CacheLayer::new(MemoryCacheStore::new()).layer(service);
    let events = gated_events();
    let leader = send(&mut cache.clone(), ask_stream("acme")).await.unwrap();
    assert_eq!(status(&leader), Some(CacheStatus::Miss));
    let mut leader = into_stream(leader);
    upstream.send(events[0].clone());
    upstream.send(events[1].clone());
    let mut leader_events = read_events(&mut leader, 2).await;
    assert_eq!(leader_events, events[..2]);

    // Fifty followers ask while the upstream has sent two events; each gets
    // those two at once, before the upstream sends anything more.
    let mut followers = Vec::new();
    for _ in 0..50 {
        let response = send(&mut cache.clone(), ask_stream("acme")).await.unwrap();
        assert_eq!(status(&response), Some(CacheStatus::HitExact));
        assert_eq!(
            response.extensions.get::<ServedBy>().map(|s| s.provider.as_str()),
            Some("fake")
        );
        let mut stream = into_stream(response);
        let seen = read_events(&mut stream, 2).await;
        assert_eq!(seen, events[..2]);
        followers.push((stream, seen));
    }
    // A follower reads the next delta as soon as the leader has read it,
    // before the upstream sends anything more.
    upstream.send(events[2].clone());
    leader_events.extend(read_events(&mut leader, 1).await);
    assert_eq!(leader_events, events[..3]);
    let (first, seen) = &mut followers[0];
    seen.extend(read_events(first, 1).await);
    assert_eq!(seen[..], events[..3]);

    for event in &events[3..] {
        upstream.send(event.clone());
    }
    drop(upstream.events);
    leader_events.extend(read_rest(leader).await);
    assert_eq!(leader_events, events);
    let whole = fold_events(leader_events).await;
    assert_eq!(whole.text(), "Rayleigh scattering favours short waves.");
    assert_eq!(whole.usage.unwrap().source, UsageSource::Reported);
    for (stream, mut seen) in followers {
        seen.extend(read_rest(stream).await);
        let reply = fold_events(seen).await;
        assert_eq!(reply.message, whole.message);
        assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
        let usage = reply.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (12, 9));
        assert_eq!(usage.source, UsageSource::CacheHit);
    }
    assert_eq!(upstream.calls.load(Ordering::SeqCst), 1);
    // The reply was stored, too.
    let later = send(&mut cache.clone(), ask("acme")).await.unwrap();
    assert_eq!(status(&later), Some(CacheStatus::HitExact));
    assert_eq!(later.into_complete().await.unwrap().message, whole.message);
}

/// The rest of a stream's events.
async fn read_rest(stream: ChatStream) -> Vec<StreamEvent> {
    stream.map(|event| event.expect("an event")).collect().await
}

/// Events folded into a reply, as a caller of the stream would.
async fn fold_events(events: Vec<StreamEvent>) -> ChatResponse {
    fold(ChatStream::from_events(events.into_iter().map(Ok))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_streaming_follower_finishes_from_the_stored_reply() {
    let (upstream, service) = Gated::new();
    // The followers' buffer keeps the leader's last two events; the reply
    // has eleven.
    let cache = CacheLayer::new(MemoryCacheStore::new())
        .follower_buffer(2)
        .layer(service);
    let events = gated_events();
    let mut leader = into_stream(send(&mut cache.clone(), ask_stream("acme")).await.unwrap());
    upstream.send(events[0].clone());
    let mut leader_events = read_events(&mut leader, 1).await;
    let mut fast = into_stream(send(&mut cache.clone(), ask_stream("acme")).await.unwrap());
    let mut slow = into_stream(send(&mut cache.clone(), ask_stream("acme")).await.unwrap());
    let mut fast_events = read_events(&mut fast, 1).await;
    let mut slow_events = read_events(&mut slow, 1).await;

    // All three read in step up to the first piece of the tool call's
    // arguments; then the slow follower stops reading while the leader and
    // the fast follower go on, past what the buffer keeps.
    for (at, event) in events.iter().enumerate().skip(1) {
        upstream.send(event.clone());
        leader_events.extend(read_events(&mut leader, 1).await);
        fast_events.extend(read_events(&mut fast, 1).await);
        if at <= 7 {
            slow_events.extend(read_events(&mut slow, 1).await);
        }
    }
    assert_eq!(slow_events, events[..8]);
    // The fast follower had every event live, before the upstream ended,
    // its usage marked as a hit.
    let mut as_hit = events.clone();
    for event in &mut as_hit {
        if let StreamEvent::Usage(usage) = event {
            usage.source = UsageSource::CacheHit;
        }
    }
    assert_eq!(fast_events, as_hit);

    // Another comes once the first events are gone, before the leader ends.
    let late = into_stream(send(&mut cache.clone(), ask_stream("acme")).await.unwrap());
    drop(upstream.events);
    leader_events.extend(read_rest(leader).await);
    assert_eq!(leader_events, events);
    let whole = fold_events(leader_events).await;
    assert!(read_rest(fast).await.is_empty());

    // Both finish from the stored reply: every byte once, nothing lost.
    slow_events.extend(read_rest(slow).await);
    let late_events = read_rest(late).await;
    assert!(matches!(late_events[0], StreamEvent::Start { .. }));
    for events in [slow_events, late_events] {
        let reply = fold_events(events).await;
        assert_eq!(reply.message, whole.message);
        assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(reply.usage.unwrap().source, UsageSource::CacheHit);
    }
    assert_eq!(upstream.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_leader_dropped_midway_is_read_on_for_its_followers() {
    let (upstream, service) = Gated::new();
    let layer = CacheLayer::new(MemoryCacheStore::new());
    let cache = layer.layer(service);
    let events = gated_events();
    let mut leader = into_stream(send(&mut cache.clone(), ask_stream("acme")).await.unwrap());
    upstream.send(events[0].clone());
    upstream.send(events[1].clone());
    read_events(&mut leader, 2).await;
    let mut follower = into_stream(send(&mut cache.clone(), ask_stream("acme")).await.unwrap());
    read_events(&mut follower, 2).await;

    // The leader's caller goes away; the follower still gets the rest.
    drop(leader);
    for event in &events[2..] {
        upstream.send(event.clone());
    }
    drop(upstream.events);
    let whole = fold_events(events.clone()).await;
    let mut seen = events[..2].to_vec();
    seen.extend(read_rest(follower).await);
    assert_eq!(fold_events(seen).await.message, whole.message);
    // The reply was read to its end in the background, and stored.
    layer.stored().await;
    let later = send(&mut cache.clone(), ask("acme")).await.unwrap();
    assert_eq!(status(&later), Some(CacheStatus::HitExact));
    assert_eq!(upstream.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_leader_dropped_with_no_follower_cancels_the_upstream_call() {
    let (upstream, service) = Gated::new();
    let cache = CacheLayer::new(MemoryCacheStore::new()).layer(service);
    let mut leader = into_stream(send(&mut cache.clone(), ask_stream("acme")).await.unwrap());
    upstream.send(gated_events()[0].clone());
    read_events(&mut leader, 1).await;
    drop(leader);
    tokio::time::timeout(Duration::from_secs(5), upstream.events.closed())
        .await
        .expect("the upstream stream is dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_followers_fail_where_the_leaders_stream_fails() {
    let (upstream, service) = Gated::new();
    let cache = CacheLayer::new(MemoryCacheStore::new()).layer(service);
    let events = gated_events();
    let mut leader = into_stream(send(&mut cache.clone(), ask_stream("acme")).await.unwrap());
    upstream.send(events[0].clone());
    read_events(&mut leader, 1).await;
    let mut follower = into_stream(send(&mut cache.clone(), ask_stream("acme")).await.unwrap());
    upstream.send(events[1].clone());
    upstream
        .events
        .send(Err(Error::StreamTruncated {
            provider: "fake".into(),
        }))
        .unwrap();
    assert!(leader.next().await.unwrap().is_ok());
    assert!(matches!(
        leader.next().await,
        Some(Err(Error::StreamTruncated { .. }))
    ));
    assert_eq!(read_events(&mut follower, 2).await, events[..2]);
    assert!(matches!(
        follower.next().await,
        Some(Err(Error::StreamTruncated { .. }))
    ));
    assert!(follower.next().await.is_none());
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test]
async fn a_reply_a_guard_below_the_cache_blocked_is_never_stored() {
    let upstream = Upstream::new("Your card is 4111 1111 1111 1111");
    // A guard below the cache: it ends a stream with `Blocked`, and marks a
    // complete reply blocked in the verdicts it hands up.
    let guarded = upstream.service().map_response(|mut response: LlmResponse| {
        let verdicts = GuardVerdicts::new();
        response.reply = match response.reply {
            Reply::Stream(stream) => Reply::Stream(stream.map_stream(|events| {
                events.take(2).chain(futures_util::stream::once(async {
                    Err(Error::blocked("output-pii", "the reply holds a card number"))
                }))
            })),
            complete => {
                verdicts.push(GuardVerdict::new(
                    "output-pii",
                    GuardStage::Output,
                    GuardAction::Blocked,
                ));
                complete
            }
        };
        response.extensions.insert(verdicts);
        response
    });
    let mut cache = CacheLayer::new(MemoryCacheStore::new()).layer(guarded);

    let streamed = send(&mut cache, ask_stream("acme")).await.unwrap();
    let events: Vec<_> = into_stream(streamed).collect().await;
    assert!(matches!(events.last(), Some(Err(Error::Blocked { .. }))));
    for _ in 0..2 {
        let response = send(&mut cache, ask("acme")).await.unwrap();
        assert_eq!(status(&response), Some(CacheStatus::Miss));
        response.into_complete().await.unwrap();
    }
    assert_eq!(upstream.calls(), 3, "nothing blocked was stored");
}

#[tokio::test]
async fn a_layer_outside_the_cache_keeps_a_reply_out_with_its_discard_handle() {
    let upstream = Upstream::new("Rayleigh scattering");
    let mut cache = CacheLayer::new(MemoryCacheStore::new()).layer(upstream.service());
    let discard = |response: &LlmResponse| {
        response
            .extensions
            .get::<CacheDiscard>()
            .expect("the cache hands out a discard handle")
            .discard();
    };

    // A complete reply, stored as it passed, is taken out again.
    let first = send(&mut cache, ask("acme")).await.unwrap();
    discard(&first);
    let second = send(&mut cache, ask("acme")).await.unwrap();
    assert_eq!(status(&second), Some(CacheStatus::Miss));
    // A hit's handle removes its entry.
    let hit = send(&mut cache, ask("acme")).await.unwrap();
    assert_eq!(status(&hit), Some(CacheStatus::HitExact));
    discard(&hit);
    let after = send(&mut cache, ask("acme")).await.unwrap();
    assert_eq!(status(&after), Some(CacheStatus::Miss));

    // A stream discarded before its end is never stored.
    let streamed = send(&mut cache, ask_stream("globex")).await.unwrap();
    discard(&streamed);
    let reply = streamed.into_complete().await.unwrap();
    assert!(reply.text().starts_with("Rayleigh scattering"));
    let next = send(&mut cache, ask("globex")).await.unwrap();
    assert_eq!(status(&next), Some(CacheStatus::Miss));
    assert_eq!(upstream.calls(), 5);
}
