//! The application's own HTTP client, with its own tower-http layers, under a provider.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::ServiceBuilder;
use tower_ai::provider::Provider;
use tower_ai::transport::Transport;
use tower_ai::types::ChatRequest;
use tower_http::set_header::SetRequestHeaderLayer;

use crate::conformance::{anthropic, openai, Endpoint};
use crate::support::streamed;
use tower_ai::testing::FakeUpstream;
use tower_ai::types::RequestMeta;

fn my_client() -> Transport {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let service = ServiceBuilder::new()
        .layer(SetRequestHeaderLayer::overriding(
            HeaderName::from_static("x-app-client"),
            HeaderValue::from_static("mine/1.0"),
        ))
        .map_request(|request: http::Request<Bytes>| request.map(Full::new))
        .service(client);
    Transport::new(service)
}

#[tokio::test]
async fn a_hyper_util_client_with_a_tower_http_layer_carries_the_requests() {
    let up = FakeUpstream::start().await;
    let openai = openai::provider(Endpoint {
        base_url: up.base_url(),
        transport: Some(my_client()),
    });
    let anthropic = anthropic::provider(Endpoint {
        base_url: up.base_url(),
        transport: Some(my_client()),
    });

    let reply = openai
        .chat(&ChatRequest::new("gpt-4o-mini").user("hi"), &RequestMeta::new())
        .await
        .unwrap();
    assert_eq!(reply.text(), "Hello! How can I help you today?");
    let reply = streamed(&anthropic, ChatRequest::new("claude-sonnet-4-5").user("hi"))
        .await
        .unwrap();
    assert_eq!(reply.text(), "Hello! How can I help?");

    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    for request in seen {
        assert_eq!(request.header("x-app-client"), Some("mine/1.0"));
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_transport_error() {
    // Bind then drop a listener so the port is closed.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let openai = openai::provider(Endpoint {
        base_url: format!("http://127.0.0.1:{port}"),
        transport: Some(my_client()),
    });
    let err = openai
        .chat(&ChatRequest::new("m").user("hi"), &RequestMeta::new())
        .await
        .unwrap_err();
    assert!(matches!(err, tower_ai::Error::Transport { .. }), "{err:?}");
    assert!(err.is_retryable());
    // The message names the provider, the host and the cause, once.
    assert_eq!(
        err.to_string(),
        format!("openai could not reach 127.0.0.1:{port}: connection refused")
    );
}
