//! Self-tests of `tests/it/support`: the fake upstream server and the call helpers.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tower_ai::provider::mock::{MockProvider, MockReply};
use tower_ai::provider::{Provider, ProviderService};
use tower_ai::types::{ChatRequest, StreamEvent};
use tower_ai::Error;
use tower_ai::LlmRequest;

use crate::support::{
    collect, complete, fixture_bytes, openai_stream_of, streamed, Collected, FakeUpstream, Reply,
};
use tower_ai::types::RequestMeta;

type HttpClient = Client<HttpConnector, Full<Bytes>>;
type Response = http::Response<hyper::body::Incoming>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn send(
    client: &HttpClient,
    up: &FakeUpstream,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{}{}", up.base_url(), path));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .unwrap();
    client.request(request).await.expect("request failed")
}

async fn post(up: &FakeUpstream, path: &str, body: &str) -> Response {
    send(
        &client(),
        up,
        Method::POST,
        path,
        &[("content-type", "application/json")],
        body,
    )
    .await
}

/// Reads the whole body frame by frame.
async fn frames(response: Response) -> Vec<Bytes> {
    let mut body = response.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("body error").into_data() {
            frames.push(data);
        }
    }
    frames
}

fn concat(frames: &[Bytes]) -> Bytes {
    frames.concat().into()
}

fn content_type(response: &Response) -> &str {
    response.headers().get("content-type").unwrap().to_str().unwrap()
}

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
const CHAT_STREAM: &str =
    r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

#[tokio::test]
async fn default_chat_fixture() {
    let up = FakeUpstream::start().await;
    assert!(up.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(up.base_url(), format!("http://{}", up.addr()));

    let response = post(&up, "/v1/chat/completions", CHAT).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "application/json");
    let body = concat(&frames(response).await);
    assert_eq!(body, fixture_bytes("openai/chat_completion.json"));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["object"], "chat.completion");
}

#[tokio::test]
async fn default_chat_stream_fixture() {
    let up = FakeUpstream::start().await;
    let response = post(&up, "/v1/chat/completions", CHAT_STREAM).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "text/event-stream");
    let body = concat(&frames(response).await);
    assert_eq!(body, fixture_bytes("openai/stream_text.sse"));
    assert_eq!(up.disconnects(), 0);
}

#[tokio::test]
async fn default_embeddings_and_azure_routes() {
    let up = FakeUpstream::start().await;

    let response = post(&up, "/v1/embeddings", r#"{"input":"x"}"#).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        concat(&frames(response).await),
        fixture_bytes("openai/embeddings.json")
    );

    let path = "/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21";
    let response = post(&up, path, CHAT).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        concat(&frames(response).await),
        fixture_bytes("openai/chat_completion.json")
    );

    let path = "/openai/deployments/my-embed/embeddings?api-version=2024-10-21";
    let response = post(&up, path, r#"{"input":"x"}"#).await;
    assert_eq!(
        concat(&frames(response).await),
        fixture_bytes("openai/embeddings.json")
    );

    let seen = up.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[1].path_and_query,
        "/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(seen[1].path(), "/openai/deployments/my-gpt/chat/completions");
}

#[tokio::test]
async fn default_anthropic_message_fixture() {
    let up = FakeUpstream::start().await;
    let response = post(&up, "/v1/messages", r#"{"model":"claude","max_tokens":8}"#).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        concat(&frames(response).await),
        fixture_bytes("anthropic/message.json")
    );

    let body = r#"{"model":"claude","max_tokens":8,"stream":true}"#;
    let response = post(&up, "/v1/messages", body).await;
    assert_eq!(content_type(&response), "text/event-stream");
    assert_eq!(
        concat(&frames(response).await),
        fixture_bytes("anthropic/stream_text.sse")
    );
}

#[tokio::test]
async fn unknown_path_is_404_and_recorded() {
    let up = FakeUpstream::start().await;
    let response = post(&up, "/v1/nope", "{}").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let json: serde_json::Value = serde_json::from_slice(&concat(&frames(response).await)).unwrap();
    assert!(json["error"]["message"].is_string());
    assert_eq!(json["error"]["type"], "invalid_request_error");

    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path_and_query, "/v1/nope");
}

#[tokio::test]
async fn pushed_status_with_retry_after() {
    let up = FakeUpstream::start().await;
    up.push(Reply::Status {
        status: 429,
        headers: vec![("retry-after".to_owned(), "7".to_owned())],
        body: fixture_bytes("openai/error_rate_limit.json"),
    });

    let response = post(&up, "/v1/chat/completions", CHAT).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(content_type(&response), "application/json");
    assert_eq!(
        concat(&frames(response).await),
        fixture_bytes("openai/error_rate_limit.json")
    );

    // The queue is empty again: back to the default fixture.
    let response = post(&up, "/v1/chat/completions", CHAT).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn pushed_replies_are_fifo_and_headers_override_content_type() {
    let up = FakeUpstream::start().await;
    up.push(Reply::json(500, r#"{"error":{"message":"first"}}"#));
    up.push(Reply::Status {
        status: 503,
        headers: vec![("Content-Type".to_owned(), "text/plain".to_owned())],
        body: Bytes::from_static(b"second"),
    });

    let first = post(&up, "/v1/embeddings", "{}").await;
    assert_eq!(first.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let second = post(&up, "/v1/messages", "{}").await;
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(content_type(&second), "text/plain");
    assert_eq!(concat(&frames(second).await), Bytes::from_static(b"second"));
}

#[tokio::test]
async fn sse_reply_arrives_as_several_frames() {
    let up = FakeUpstream::start().await;
    let chunks = openai_stream_of(3);
    assert_eq!(chunks.len(), 6);
    up.push(Reply::Sse {
        chunks: chunks.clone(),
        delay: Duration::from_millis(20),
        cut_after: None,
    });

    let response = post(&up, "/v1/chat/completions", CHAT_STREAM).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "text/event-stream");
    let received = frames(response).await;
    assert!(received.len() > 1, "expected several frames, got {received:?}");
    assert_eq!(concat(&received), concat(&chunks));
    assert!(concat(&received).ends_with(b"data: [DONE]\n\n"));
    assert_eq!(up.disconnects(), 0);
}

#[tokio::test]
async fn dropping_a_slow_stream_counts_a_disconnect() {
    let up = FakeUpstream::start().await;
    up.push(Reply::Sse {
        chunks: openai_stream_of(200),
        delay: Duration::from_millis(50),
        cut_after: None,
    });

    let client = client();
    let response = send(
        &client,
        &up,
        Method::POST,
        "/v1/chat/completions",
        &[],
        CHAT_STREAM,
    )
    .await;
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(body);
    drop(client);

    assert!(
        up.wait_for_disconnects(1, Duration::from_secs(5)).await,
        "disconnect not detected"
    );
    assert_eq!(up.disconnects(), 1);
}

#[tokio::test]
async fn completed_and_cut_streams_do_not_count() {
    let up = FakeUpstream::start().await;
    up.push(Reply::sse_fixture("openai/stream_text.sse").with_delay(Duration::from_millis(5)));
    up.push(
        Reply::sse_fixture("openai/stream_text.sse")
            .with_delay(Duration::from_millis(5))
            .cut_after(2),
    );

    let full = frames(post(&up, "/v1/chat/completions", CHAT_STREAM).await).await;
    assert_eq!(concat(&full), fixture_bytes("openai/stream_text.sse"));

    let cut = frames(post(&up, "/v1/chat/completions", CHAT_STREAM).await).await;
    let Reply::Sse { chunks, .. } = Reply::sse_fixture("openai/stream_text.sse") else {
        unreachable!()
    };
    assert_eq!(concat(&cut), concat(&chunks[..2]));

    assert!(!up.wait_for_disconnects(1, Duration::from_millis(200)).await);
    assert_eq!(up.disconnects(), 0);
}

#[tokio::test]
async fn requests_records_body_and_headers() {
    let up = FakeUpstream::start().await;
    let client = client();
    let response = send(
        &client,
        &up,
        Method::POST,
        "/v1/chat/completions?trace=1",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-test"),
            ("x-custom", "abc"),
        ],
        CHAT,
    )
    .await;
    let _ = frames(response).await;

    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path_and_query, "/v1/chat/completions?trace=1");
    assert_eq!(request.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(request.header("X-Custom"), Some("abc"));
    assert_eq!(request.header("missing"), None);
    assert_eq!(request.body, Bytes::from_static(CHAT.as_bytes()));
    assert_eq!(request.json()["messages"][0]["content"], "hi");
}

#[tokio::test]
async fn malformed_json_delayed_and_dropped_connection() {
    let up = FakeUpstream::start().await;
    up.push(Reply::MalformedJson);
    up.push(Reply::json(200, "{}").with_delay(Duration::from_millis(10)));
    up.push(Reply::DropConnection);

    let response = post(&up, "/v1/chat/completions", CHAT).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "application/json");
    let body = concat(&frames(response).await);
    assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());

    let response = post(&up, "/v1/chat/completions", CHAT).await;
    assert_eq!(concat(&frames(response).await), Bytes::from_static(b"{}"));

    let response = post(&up, "/v1/chat/completions", CHAT).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut saw_error = false;
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            saw_error = true;
            break;
        }
    }
    assert!(saw_error, "body should end with an error");
}

#[test]
fn sse_fixture_splits_events_and_chunked_keeps_bytes() {
    let file = fixture_bytes("openai/stream_text.sse");
    let Reply::Sse {
        chunks,
        delay,
        cut_after,
    } = Reply::sse_fixture("openai/stream_text.sse")
    else {
        panic!("not an Sse reply")
    };
    assert!(chunks.len() > 2);
    assert!(chunks.iter().all(|c| c.ends_with(b"\n\n")));
    assert_eq!(concat(&chunks), file);
    assert_eq!(delay, Duration::ZERO);
    assert_eq!(cut_after, None);

    let Reply::Sse { chunks, .. } = Reply::sse_fixture_chunked("openai/stream_text.sse", 7) else {
        panic!("not an Sse reply")
    };
    assert!(chunks.iter().all(|c| c.len() <= 7 && !c.is_empty()));
    assert_eq!(concat(&chunks), file);
}

#[test]
fn openai_stream_of_shape() {
    let chunks = openai_stream_of(4);
    assert_eq!(chunks.len(), 7);
    for chunk in &chunks[..6] {
        let text = std::str::from_utf8(chunk).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(text.strip_prefix("data: ").unwrap().trim_end()).unwrap();
        assert_eq!(json["object"], "chat.completion.chunk");
    }
    assert_eq!(&chunks[6][..], b"data: [DONE]\n\n");
}

#[tokio::test]
async fn the_call_helpers_read_complete_and_streamed_replies() {
    let mock = MockProvider::new().with_text_reply("Hi there");
    let mut service = ProviderService::new(mock.clone());
    let request = ChatRequest::new("m").user("hi");

    let whole = complete(&mut service, request.clone()).await.unwrap();
    assert_eq!(whole.text(), "Hi there");
    let got = collect(&mut service, LlmRequest::stream(request.clone()))
        .await
        .unwrap();
    assert!(got.error.is_none(), "{got:?}");
    assert_eq!((got.starts(), got.finishes()), (1, 1));
    assert_eq!(got.text(), "Hi there");
    assert_eq!(got.fold().text(), "Hi there");
    assert_eq!(streamed(&mock, request).await.unwrap().text(), "Hi there");
}

#[tokio::test]
async fn collected_keeps_the_events_and_the_error_that_ended_the_stream() {
    let truncated = Error::StreamTruncated {
        provider: "mock".into(),
    };
    let mock = MockProvider::new().push(
        MockReply::stream(vec![StreamEvent::text("par"), StreamEvent::text("tial")]).then_fail(truncated),
    );
    let stream = mock
        .chat_stream(&ChatRequest::new("m").user("x"), &RequestMeta::new())
        .await
        .unwrap();
    let got = Collected::read(stream).await;
    assert_eq!(got.count(|e| matches!(e, StreamEvent::TextDelta { .. })), 2);
    assert_eq!(got.text(), "partial");
    assert_eq!(got.fold().text(), "partial");
    assert!(matches!(got.into_reply(), Err(Error::StreamTruncated { .. })));
}
