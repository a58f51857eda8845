//! What the router adds to a call: an in-process inner service that answers
//! at once, called bare and through a router of 2 and of 50 deployments of
//! it, for each strategy; and the same for a streamed reply (the router
//! reads the stream up to its first content event).
//!
//! ```text
//! cargo bench --bench router
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;
use tower_ai::router::{
    Deployment, Group, LeastBusy, LeastLatency, LowestCost, RoundRobin, Router, Strategy, WeightedRandom,
};
use tower_ai::types::{ChatRequest, ChatResponse, ChatStream, FinishReason, ModelInfo, Prices, StreamEvent};
use tower_ai::{Error, LlmRequest, LlmResponse, Reply};

type Inner = BoxCloneSyncService<LlmRequest, LlmResponse, Error>;

/// A service that answers at once: a complete reply, or a stream of start,
/// two text deltas and finish.
fn inner() -> Inner {
    BoxCloneSyncService::new(tower::service_fn(|request: LlmRequest| async move {
        let reply = if request.is_stream() {
            Reply::Stream(ChatStream::from_events([
                Ok(StreamEvent::Start {
                    id: "r".into(),
                    model: "m".into(),
                }),
                Ok(StreamEvent::text("Hello")),
                Ok(StreamEvent::text(" there")),
                Ok(StreamEvent::Finish {
                    reason: FinishReason::Stop,
                }),
            ]))
        } else {
            Reply::Complete(ChatResponse::text_reply("r", request.model(), "Hello there"))
        };
        Ok::<_, Error>(LlmResponse::new(reply))
    }))
}

fn router(deployments: usize, strategy: impl Strategy) -> Router {
    let mut group = Group::new("public").strategy(strategy);
    for i in 0..deployments {
        let info = ModelInfo::new("concrete", "bench").with_prices(Prices::per_million(1.0 + i as f64, 2.0));
        group = group.deployment(Deployment::new(format!("d{i}"), "concrete", inner()).info(info));
    }
    Router::builder().group(group).build().expect("a valid router")
}

fn request(stream: bool) -> LlmRequest {
    let chat = ChatRequest::new("public")
        .system("You are terse.")
        .user("Say hello.");
    if stream {
        LlmRequest::stream(chat)
    } else {
        LlmRequest::new(chat)
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    for (label, stream) in [("complete", false), ("stream", true)] {
        let mut group = c.benchmark_group(format!("router_{label}"));
        let request = request(stream);
        let bare = inner();
        group.bench_function("bare_inner_service", |b| {
            b.to_async(&rt).iter(|| async {
                let response = bare.clone().oneshot(request.clone()).await.unwrap();
                black_box(response.into_complete().await.unwrap())
            });
        });
        for deployments in [2usize, 50] {
            let strategies: Vec<(&str, Router)> = vec![
                ("weighted_random", router(deployments, WeightedRandom)),
                ("round_robin", router(deployments, RoundRobin::new())),
                ("least_busy", router(deployments, LeastBusy)),
                ("least_latency", router(deployments, LeastLatency)),
                ("lowest_cost", router(deployments, LowestCost::new())),
            ];
            for (name, router) in strategies {
                if stream && name != "weighted_random" && name != "least_latency" {
                    continue;
                }
                group.bench_function(format!("{name}/{deployments}"), |b| {
                    b.to_async(&rt).iter(|| async {
                        let response = router.clone().oneshot(request.clone()).await.unwrap();
                        black_box(response.into_complete().await.unwrap())
                    });
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
