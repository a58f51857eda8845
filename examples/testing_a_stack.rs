//! An application's tests of its own stack, against a fake vendor.
//!
//! `app_stack` stands for the stack an application builds in production: its
//! layers around a provider. The checks below are what its tests would hold,
//! one `#[tokio::test]` each; here they run in order from `main`. The vendor
//! is `tower_ai::testing::FakeUpstream`, a real HTTP server on 127.0.0.1, so
//! the provider's HTTP client and codec run as they do in production.
//!
//! ```text
//! cargo run --example testing_a_stack --features testing
//! ```

use std::time::Duration;

use tower::util::BoxCloneService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_ai::limit::{ConcurrencyLimitLayer, StreamTimeoutLayer, TimeLimits};
use tower_ai::prelude::*;
use tower_ai::provider::openai::OpenAi;
use tower_ai::testing::{FakeUpstream, Scripted};

type Stack = BoxCloneService<LlmRequest, LlmResponse, Error>;

/// The application's stack, built for production from its configuration;
/// tests give it the fake vendor's address.
fn app_stack(base_url: &str) -> Result<Stack, Error> {
    let provider = OpenAi::builder()
        .api_key("sk-test")
        .base_url(base_url)
        .header("x-app", "billing/2.3")
        .build()?;
    let stack = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::new(16))
        .layer(StreamTimeoutLayer::new(
            TimeLimits::none()
                .first_event(Duration::from_millis(500))
                .idle(Duration::from_millis(200)),
        ))
        .service(ProviderService::new(provider));
    Ok(BoxCloneService::new(stack))
}

async fn ask(stack: &mut Stack, request: LlmRequest) -> Result<ChatResponse, Error> {
    stack.ready().await?.call(request).await?.into_complete().await
}

fn question() -> ChatRequest {
    ChatRequest::new("gpt-4o-mini").user("What is the capital of France?")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let upstream = FakeUpstream::start().await;
    let mut stack = app_stack(&format!("{}/v1", upstream.base_url()))?;

    // 1. The request the vendor gets: the model, the messages, the
    //    application's header, and the usage asked for on a stream.
    upstream.push(Scripted::openai_stream(["Par", "is."]));
    let reply = ask(&mut stack, LlmRequest::stream(question())).await?;
    assert_eq!(reply.text(), "Paris.");
    let seen = upstream.requests().pop().expect("one request");
    assert_eq!(seen.header("x-app"), Some("billing/2.3"));
    assert_eq!(seen.json()["model"], "gpt-4o-mini");
    assert_eq!(seen.json()["stream_options"]["include_usage"], true);
    println!("1. request on the wire: {}", seen.json());

    // 2. A rate limit comes back as a typed error the application can act on.
    upstream.push(
        Scripted::openai_error(429, "requests", "Rate limit reached for requests")
            .with_retry_after(Duration::from_secs(3)),
    );
    let error = ask(&mut stack, LlmRequest::new(question())).await.unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    println!("2. a 429: {error}");

    // 3. A vendor that goes quiet mid-stream: the stack's idle limit ends the
    //    stream with a timeout instead of hanging the caller.
    upstream.push(Scripted::openai_stream(["slow"]).with_event_delay(Duration::from_secs(2)));
    let error = ask(&mut stack, LlmRequest::stream(question())).await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    println!("3. a stalled stream: {error}");

    // 4. A stream cut before its end marker is an error, never a short answer.
    upstream.push(Scripted::openai_stream(["Par", "is."]).cut_after(2));
    let error = ask(&mut stack, LlmRequest::stream(question())).await.unwrap_err();
    assert!(matches!(error, Error::StreamTruncated { .. }), "{error:?}");
    println!("4. a cut stream: {error}");

    // 5. A vendor slower than the limit to answer at all.
    upstream.push(Scripted::openai_text("late").with_latency(Duration::from_secs(2)));
    let error = ask(&mut stack, LlmRequest::stream(question())).await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    println!("5. no answer in time: {error}");

    println!(
        "\nall checks passed; the fake vendor saw {} requests",
        upstream.requests().len()
    );
    Ok(())
}
