//! The cache layer over an offline provider that takes 200 ms a call: a
//! miss, a hit replayed as a stream, another tenant kept apart, twenty
//! identical concurrent requests answered by one upstream call, and the
//! semantic lookup: a paraphrase answered, a negation refused. (The
//! embedder here is `testing::WordEmbedder`, which counts words, so the
//! example runs offline; use a real embedding model in an application.)
//!
//! ```text
//! cargo run --example cache --features testing
//! ```

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_ai::cache::CacheLayer;
use tower_ai::provider::mock::MockProvider;
use tower_ai::provider::ProviderService;
use tower_ai::store::MemoryCacheStore;
use tower_ai::testing::WordEmbedder;
use tower_ai::types::{CacheStatus, ChatRequest, Reply, ReplyMode, StreamEvent};
use tower_ai::{Error, LlmRequest, LlmResponse, Principal};

fn ask(tenant: &str, question: &str) -> LlmRequest {
    LlmRequest::new(ChatRequest::new("gpt-4o").user(question)).with_principal(Principal::new().tenant(tenant))
}

fn status(response: &LlmResponse) -> String {
    match response.extensions.get::<CacheStatus>() {
        Some(status) => format!("{status:?}"),
        None => "-".to_owned(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mock = MockProvider::new()
        .with_text_reply("Sunlight scatters off air molecules, blue light the most.")
        .with_latency(Duration::from_millis(200));
    let stack = ServiceBuilder::new()
        .layer(
            CacheLayer::new(MemoryCacheStore::new())
                .ttl(Duration::from_secs(600))
                .semantic(WordEmbedder, 0.8),
        )
        .service(ProviderService::new(mock.clone()));
    let mut service = stack.clone();

    let started = Instant::now();
    let first = service
        .ready()
        .await?
        .call(ask("acme", "Why is the sky blue?"))
        .await?;
    println!("acme, first:   {:<9} in {:?}", status(&first), started.elapsed());
    first.into_complete().await?;

    let started = Instant::now();
    let request = ask("acme", "Why is the sky blue?").with_mode(ReplyMode::Stream);
    let hit = service.ready().await?.call(request).await?;
    println!(
        "acme, again:   {:<9} in {:?}, as a stream:",
        status(&hit),
        started.elapsed()
    );
    if let Reply::Stream(mut stream) = hit.reply {
        while let Some(event) = stream.next().await {
            if let StreamEvent::TextDelta { text } = event? {
                println!("    delta {text:?}");
            }
        }
    }

    let started = Instant::now();
    let other = service
        .ready()
        .await?
        .call(ask("globex", "Why is the sky blue?"))
        .await?;
    println!(
        "globex:        {:<9} in {:?} (tenants never share entries)",
        status(&other),
        started.elapsed()
    );

    let started = Instant::now();
    let crowd: Vec<_> = (0..20)
        .map(|_| {
            let mut service = stack.clone();
            tokio::spawn(async move {
                let response = service
                    .ready()
                    .await?
                    .call(ask("acme", "What is a rainbow?"))
                    .await?;
                Ok::<_, Error>(status(&response))
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in crowd {
        statuses.push(call.await.expect("the call's task")?);
    }
    let hits = statuses.iter().filter(|s| s.as_str() == "HitExact").count();
    println!(
        "20 concurrent identical requests: {} miss, {hits} served from the leader's reply, in {:?}",
        20 - hits,
        started.elapsed()
    );

    // The semantic lookup: the same question in other words is answered
    // from the entry; the opposite question, as similar to the embedder, is not.
    for question in [
        "How do I enable dark mode?",
        "How can I enable dark mode?",
        "How do I disable dark mode?",
    ] {
        let response = service.ready().await?.call(ask("acme", question)).await?;
        println!("{question:<30} {}", status(&response));
    }
    println!("upstream calls in all: {}", mock.requests().len());
    Ok(())
}
