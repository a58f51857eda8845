//! Put the application's own HTTP client, with its own tower-http layers,
//! under a provider.
//!
//! ```text
//! cargo run --example custom_transport --features testing
//! ```

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt};
use tower_ai::prelude::*;
use tower_ai::provider::openai::OpenAi;
use tower_ai::testing::FakeUpstream;
use tower_ai::transport::Transport;
use tower_http::set_header::SetRequestHeaderLayer;
use tower_http::trace::TraceLayer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("tower_http=debug")
        .init();
    let up = FakeUpstream::start().await;

    // The application's client: hyper-util, with its own layers.
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http::<Full<Bytes>>();
    let client = ServiceBuilder::new()
        // Providers hand over `http::Request<Bytes>`; this client takes `Full<Bytes>` bodies.
        .map_request(|request: http::Request<Bytes>| request.map(Full::new))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestHeaderLayer::overriding(
            HeaderName::from_static("x-app-client"),
            HeaderValue::from_static("my-service/1.0"),
        ))
        .service(client);

    let provider = OpenAi::builder()
        .api_key("sk-offline-demo")
        .base_url(format!("{}/v1", up.base_url()))
        .transport(Transport::new(client))
        .build()?;

    let reply = ProviderService::new(provider)
        .oneshot(LlmRequest::new(ChatRequest::new("gpt-4o-mini").user("Hello")))
        .await?
        .into_complete()
        .await?;
    println!("reply: {}", reply.text());
    println!(
        "the upstream saw x-app-client: {:?}",
        up.requests()[0].header("x-app-client")
    );
    Ok(())
}
