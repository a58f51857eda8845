//! A router over two in-process upstreams, one of them failing: an alias,
//! a retry, a fallback on a context-length error and a stream that fails
//! over before its first token. It runs offline:
//!
//! ```text
//! cargo run --example router
//! ```

use tower::ServiceExt;
use tower_ai::error::ApiError;
use tower_ai::provider::mock::{MockProvider, MockReply};
use tower_ai::router::{Deployment, FallbackOn, Group, Router};
use tower_ai::types::{ChatRequest, RouteTaken, ServedBy, StreamEvent};
use tower_ai::{Error, LlmRequest, LlmResponse};

fn describe(what: &str, response: &LlmResponse) {
    let route = response
        .extensions
        .get::<RouteTaken>()
        .expect("the router notes its route");
    let served = response
        .extensions
        .get::<ServedBy>()
        .expect("the provider notes itself");
    println!(
        "{what}: served by {} ({} as {}) after {} attempt(s)",
        route.deployment,
        served.provider,
        route.model,
        route.attempts()
    );
    for failed in &route.failed_attempts {
        println!("  - {} failed: {}", failed.deployment, failed.error);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // "primary" fails: a server error, a prompt too long for its window,
    // then a stream cut before its first token.
    let primary = MockProvider::new()
        .with_name("primary")
        .push(MockReply::error(Error::Server(
            ApiError::new("primary", "internal error").into(),
        )))
        .push(MockReply::error(Error::ContextLengthExceeded(
            ApiError::new("primary", "maximum context length is 8192 tokens").into(),
        )))
        .push(
            MockReply::stream(vec![StreamEvent::Start {
                id: "r".into(),
                model: "small".into(),
            }])
            .then_fail(Error::StreamTruncated {
                provider: "primary".into(),
            }),
        );
    let backup = MockProvider::new().with_name("backup");

    // Whoever is asked first, "primary" is preferred while it is available.
    let primary_first = |_: &LlmRequest, candidates: &[tower_ai::router::Candidate<'_>]| {
        candidates.iter().position(|c| c.name() == "primary").or(Some(0))
    };
    let router = Router::builder()
        .group(
            Group::new("small-model")
                .alias("fast")
                .strategy(primary_first)
                .deployment(Deployment::provider("primary", "small-v1", primary))
                .deployment(Deployment::provider("backup", "small-v1-backup", backup.clone()))
                .fallback(FallbackOn::ContextLength, "large-model"),
        )
        .group(Group::new("large-model").deployment(Deployment::provider("large", "large-v1", backup)))
        .build()?;

    // 1. The alias "fast", a server error, retried on the backup.
    let response = router
        .clone()
        .oneshot(LlmRequest::new(ChatRequest::new("fast").user("one")))
        .await?;
    describe("retry", &response);

    // 2. A context-length error falls back to the large-window group.
    let response = router
        .clone()
        .oneshot(LlmRequest::new(ChatRequest::new("fast").user("two")))
        .await?;
    describe("fallback", &response);

    // 3. A stream cut before its first token fails over; the caller reads one clean stream.
    let response = router
        .clone()
        .oneshot(LlmRequest::stream(ChatRequest::new("fast").user("three")))
        .await?;
    describe("stream failover", &response);
    let reply = response.into_complete().await?;
    println!("  streamed reply: {:?}", reply.text());
    Ok(())
}
