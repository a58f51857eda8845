//! `tower_ai::testing`, the fake vendors the crate ships for applications'
//! tests (and uses for its own), seen from a plain HTTP client; and the call
//! helpers of `tests/it/support`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tower_ai::provider::mock::{MockProvider, MockReply};
use tower_ai::provider::{HttpProviderBuilder, Provider, ProviderService};
use tower_ai::testing::{canned, FakeUpstream, Scripted};
use tower_ai::types::{ChatRequest, RequestMeta, StreamEvent};
use tower_ai::{Error, LlmRequest};

use crate::support::{collect, complete, fixture_bytes, json_fixture, sse_fixture, streamed, Collected};

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

async fn post_stream(up: &FakeUpstream) -> Response {
    post(up, "/v1/chat/completions", CHAT_STREAM).await
}

fn json_of(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("a JSON body")
}

/// The JSON of each `data:` line of an SSE body, `[DONE]` left out.
fn sse_data(body: &[u8]) -> Vec<serde_json::Value> {
    std::str::from_utf8(body)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

#[tokio::test]
async fn default_replies_follow_the_path_and_the_stream_flag() {
    let up = FakeUpstream::start().await;
    assert!(up.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(up.base_url(), format!("http://{}", up.addr()));

    let response = post(&up, "/v1/chat/completions", CHAT).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "application/json");
    let json = json_of(&concat(&frames(response).await));
    assert_eq!(json["object"], "chat.completion");
    assert_eq!(
        json["choices"][0]["message"]["content"],
        "Hello! How can I help you today?"
    );

    let response = post_stream(&up).await;
    assert_eq!(content_type(&response), "text/event-stream");
    let body = concat(&frames(response).await);
    assert!(body.ends_with(b"data: [DONE]\n\n"));
    let chunks = sse_data(&body);
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    assert!(chunks.last().unwrap()["usage"]["total_tokens"].is_u64());

    let response = post(&up, "/v1/embeddings", r#"{"input":["a","b","c"]}"#).await;
    let json = json_of(&concat(&frames(response).await));
    assert_eq!(json["data"].as_array().unwrap().len(), 3);

    let path = "/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21";
    let json = json_of(&concat(&frames(post(&up, path, CHAT).await).await));
    assert_eq!(json["object"], "chat.completion");

    let json = json_of(&concat(
        &frames(post(&up, "/v1/messages", r#"{"model":"claude","max_tokens":8}"#).await).await,
    ));
    assert_eq!(json["type"], "message");
    assert_eq!(json["content"][0]["text"], "Hello! How can I help you today?");
    let body = r#"{"model":"claude","max_tokens":8,"stream":true}"#;
    let body = concat(&frames(post(&up, "/v1/messages", body).await).await);
    assert!(body.starts_with(b"event: message_start\n"));
    assert!(body.ends_with(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));

    let seen = up.requests();
    assert_eq!(seen.len(), 6);
    assert_eq!(seen[3].path_and_query, path);
    assert_eq!(seen[3].path(), "/openai/deployments/my-gpt/chat/completions");
    assert!(seen[1].is_stream() && !seen[0].is_stream());
}

#[tokio::test]
async fn unknown_paths_are_404_and_other_methods_405_and_recorded() {
    let up = FakeUpstream::start().await;
    let response = post(&up, "/v1/nope", "{}").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let json = json_of(&concat(&frames(response).await));
    assert!(json["error"]["message"].is_string());
    assert_eq!(json["error"]["type"], "invalid_request_error");

    let response = send(&client(), &up, Method::GET, "/v1/chat/completions", &[], "").await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path_and_query, "/v1/nope");
    assert_eq!(seen[1].method, Method::GET);
}

#[tokio::test]
async fn a_fallback_replaces_the_default_replies() {
    let up = FakeUpstream::builder()
        .fallback(|seen| Scripted::json(418, format!(r#"{{"path":"{}"}}"#, seen.path())))
        .start()
        .await;
    let response = post(&up, "/v1/chat/completions", CHAT).await;
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(
        json_of(&concat(&frames(response).await))["path"],
        "/v1/chat/completions"
    );
}

#[tokio::test]
async fn a_pushed_reply_keeps_its_status_headers_and_body() {
    let up = FakeUpstream::start().await;
    up.push(
        json_fixture(429, "openai/error_rate_limit.json")
            .with_retry_after(Duration::from_millis(6_500))
            .with_header("x-request-id", "req_1"),
    );
    assert_eq!(up.queued(), 1);

    let response = post(&up, "/v1/chat/completions", CHAT).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(response.headers()["x-request-id"], "req_1");
    assert_eq!(content_type(&response), "application/json");
    assert_eq!(
        concat(&frames(response).await),
        fixture_bytes("openai/error_rate_limit.json")
    );

    // The queue is empty again: back to the default reply.
    assert_eq!(up.queued(), 0);
    let response = post(&up, "/v1/chat/completions", CHAT).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn pushed_replies_are_fifo_on_any_path_and_a_header_overrides_the_content_type() {
    let up = FakeUpstream::start().await;
    up.push(Scripted::json(500, r#"{"error":{"message":"first"}}"#))
        .push(Scripted::json(503, "second").with_header("Content-Type", "text/plain"))
        .push(Scripted::raw(200, "", "third"));

    let first = post(&up, "/v1/embeddings", "{}").await;
    assert_eq!(first.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let second = post(&up, "/v1/messages", "{}").await;
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(content_type(&second), "text/plain");
    assert_eq!(concat(&frames(second).await), Bytes::from_static(b"second"));
    let third = post(&up, "/anywhere", "{}").await;
    assert!(third.headers().get("content-type").is_none());
}

#[tokio::test]
async fn vendor_errors_have_the_vendors_shapes() {
    let up = FakeUpstream::start().await;
    up.push(Scripted::openai_error(400, "invalid_request_error", "bad"))
        .push(Scripted::anthropic_error(529, "overloaded_error", "Overloaded"));
    let openai = post(&up, "/v1/chat/completions", CHAT).await;
    assert_eq!(openai.status(), StatusCode::BAD_REQUEST);
    let json = json_of(&concat(&frames(openai).await));
    assert_eq!(json["error"]["type"], "invalid_request_error");
    assert_eq!(json["error"]["message"], "bad");
    let anthropic = post(&up, "/v1/messages", "{}").await;
    assert_eq!(anthropic.status().as_u16(), 529);
    let json = json_of(&concat(&frames(anthropic).await));
    assert_eq!(
        (json["type"].as_str(), json["error"]["type"].as_str()),
        (Some("error"), Some("overloaded_error"))
    );
}

#[tokio::test]
async fn latency_comes_before_the_head() {
    let up = FakeUpstream::start().await;
    up.push(Scripted::openai_text("late").with_latency(Duration::from_millis(150)));
    let started = Instant::now();
    let response = post(&up, "/v1/chat/completions", CHAT).await;
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    let json = json_of(&concat(&frames(response).await));
    assert_eq!(json["choices"][0]["message"]["content"], "late");
}

#[tokio::test]
async fn a_stream_arrives_event_by_event_with_its_delay() {
    let up = FakeUpstream::start().await;
    let reply = Scripted::openai_stream(["a", "b", "c"]).with_event_delay(Duration::from_millis(30));
    assert_eq!(reply.frames().len(), 7);
    up.push(reply.clone());

    let started = Instant::now();
    let response = post_stream(&up).await;
    let head = started.elapsed();
    assert_eq!(content_type(&response), "text/event-stream");
    let received = frames(response).await;
    // Six pauses between seven events, after the head.
    assert!(
        started.elapsed() >= head + Duration::from_millis(180),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(received.len(), 7, "one frame an event");
    assert_eq!(concat(&received), reply.body());
    let text: String = sse_data(&reply.body())
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "abc");
    assert_eq!(up.disconnects(), 0);
}

#[tokio::test]
async fn dropping_a_slow_stream_counts_a_disconnect() {
    let up = FakeUpstream::start().await;
    let pieces: Vec<String> = (0..200).map(|i| format!("tok{i} ")).collect();
    up.push(Scripted::openai_stream(pieces).with_event_delay(Duration::from_millis(50)));

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
async fn a_cut_stream_ends_cleanly_early_and_is_no_disconnect() {
    let up = FakeUpstream::start().await;
    up.push(sse_fixture("openai/stream_text.sse").with_event_delay(Duration::from_millis(5)));
    up.push(
        sse_fixture("openai/stream_text.sse")
            .with_event_delay(Duration::from_millis(5))
            .cut_after(2),
    );

    let full = frames(post_stream(&up).await).await;
    assert_eq!(concat(&full), fixture_bytes("openai/stream_text.sse"));

    let cut = frames(post_stream(&up).await).await;
    let events = sse_fixture("openai/stream_text.sse");
    assert_eq!(concat(&cut), concat(&events.frames()[..2]));

    assert!(!up.wait_for_disconnects(1, Duration::from_millis(200)).await);
    assert_eq!(up.disconnects(), 0);
}

#[tokio::test]
async fn an_aborted_reply_sends_its_frames_then_breaks_the_body() {
    let up = FakeUpstream::start().await;
    up.push(Scripted::openai_stream(["a", "b"]).abort_after(2));

    let response = post_stream(&up).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut received = Vec::new();
    let mut error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => received.extend(frame.into_data().ok()),
            Err(err) => {
                error = Some(err);
                break;
            }
        }
    }
    assert!(error.is_some(), "the body should end with an error");
    assert_eq!(received.len(), 2);
    assert_eq!(up.disconnects(), 0, "a scripted abort is not the client leaving");
}

#[tokio::test]
async fn a_closed_connection_sends_no_head() {
    let up = FakeUpstream::start().await;
    up.push(Scripted::close());
    let request = Request::post(format!("{}/v1/chat/completions", up.base_url()))
        .body(Full::new(Bytes::from_static(CHAT.as_bytes())))
        .unwrap();
    assert!(client().request(request).await.is_err());
    assert_eq!(up.requests().len(), 1);
    // The server goes on answering.
    assert_eq!(
        post(&up, "/v1/chat/completions", CHAT).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn chunked_replies_keep_their_bytes_in_small_frames() {
    let up = FakeUpstream::start().await;
    up.push(sse_fixture("openai/stream_text.sse").chunked(7));
    let received = frames(post_stream(&up).await).await;
    assert!(received.len() > 10, "{}", received.len());
    assert!(received.iter().all(|f| f.len() <= 7));
    assert_eq!(concat(&received), fixture_bytes("openai/stream_text.sse"));
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

#[test]
fn sse_constructors_make_one_frame_an_event() {
    let file = fixture_bytes("openai/stream_text.sse");
    let reply = sse_fixture("openai/stream_text.sse");
    assert!(reply.frames().len() > 2);
    assert!(reply.frames().iter().all(|c| c.ends_with(b"\n\n")));
    assert_eq!(reply.body(), file);
    assert_eq!(reply.headers()["content-type"], "text/event-stream");

    let reply = Scripted::sse(["{\"a\":1}", "two\nlines"]);
    assert_eq!(
        reply.frames(),
        [&b"data: {\"a\":1}\n\n"[..], &b"data: two\ndata: lines\n\n"[..]]
    );
}

#[tokio::test]
async fn a_canned_transport_keeps_the_scripted_reply() {
    let provider = tower_ai::provider::openai::OpenAi::builder()
        .api_key("sk-test")
        .transport(canned(sse_fixture("openai/stream_text.sse").chunked(5)))
        .build()
        .unwrap();
    let reply = streamed(&provider, ChatRequest::new("gpt-4o-mini").user("hi"))
        .await
        .unwrap();
    assert_eq!(reply.text(), "Hello! How can I help?");

    let provider = tower_ai::provider::openai::OpenAi::builder()
        .api_key("sk-test")
        .transport(canned(Scripted::openai_stream(["a", "b"]).cut_after(3)))
        .build()
        .unwrap();
    let err = streamed(&provider, ChatRequest::new("gpt-4o-mini").user("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StreamTruncated { .. }), "{err:?}");
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

/// The vendor-shaped replies decode, through the vendors' own providers, to
/// what they say: text, streams with usage, parallel tool calls, typed errors.
#[cfg(feature = "anthropic")]
#[tokio::test]
async fn the_vendor_shaped_replies_decode_as_the_vendors_own() {
    use serde_json::json;
    use tower_ai::provider::anthropic::Anthropic;
    use tower_ai::provider::openai::OpenAi;
    use tower_ai::types::{EmbeddingRequest, FinishReason};

    let up = FakeUpstream::start().await;
    let openai = OpenAi::builder()
        .api_key("sk-test")
        .base_url(format!("{}/v1", up.base_url()))
        .build()
        .unwrap();
    let claude = Anthropic::builder()
        .api_key("sk-ant-test")
        .base_url(up.base_url())
        .build()
        .unwrap();
    let request = ChatRequest::new("m").user("hi");
    let ctx = RequestMeta::new();
    let calls = || [("get_weather", json!({"city": "Paris"})), ("get_time", json!({}))];

    for provider in [&openai as &dyn Provider, &claude] {
        let anthropic = provider.name() == "anthropic";
        let (text, stream, tools, error) = if anthropic {
            (
                Scripted::anthropic_text("one"),
                Scripted::anthropic_stream(["t", "wo"]),
                Scripted::anthropic_tool_calls(calls()),
                Scripted::anthropic_error(529, "overloaded_error", "Overloaded"),
            )
        } else {
            (
                Scripted::openai_text("one"),
                Scripted::openai_stream(["t", "wo"]),
                Scripted::openai_tool_calls(calls()),
                Scripted::openai_error(429, "requests", "Rate limit reached")
                    .with_retry_after(Duration::from_millis(1_500)),
            )
        };
        up.push(text).push(stream).push(tools).push(error);

        let reply = provider.chat(&request, &ctx).await.unwrap();
        assert_eq!(reply.text(), "one");
        assert_eq!(reply.finish_reason, Some(FinishReason::Stop));

        let reply = streamed(provider, request.clone()).await.unwrap();
        assert_eq!(reply.text(), "two", "{}", provider.name());
        assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
        assert!(reply.usage.unwrap().output_tokens > 0);

        let reply = provider.chat(&request, &ctx).await.unwrap();
        assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
        let tool_calls: Vec<_> = reply.tool_calls().collect();
        assert_eq!(tool_calls.len(), 2);
        assert_eq!(tool_calls[0].name, "get_weather");
        assert_eq!(tool_calls[0].arguments_json().unwrap()["city"], "Paris");
        assert_eq!(tool_calls[1].name, "get_time");
        assert_ne!(tool_calls[0].id, tool_calls[1].id);

        let err = provider.chat(&request, &ctx).await.unwrap_err();
        if anthropic {
            assert!(matches!(err, Error::Overloaded(_)), "{err:?}");
        } else {
            assert!(matches!(err, Error::RateLimited(_)), "{err:?}");
            assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        }
    }

    up.push(Scripted::openai_embeddings(3));
    let embeddings = openai
        .embed(&EmbeddingRequest::new("e", ["a", "b", "c"]), &ctx)
        .await
        .unwrap();
    assert_eq!(embeddings.embeddings.len(), 3);
    assert!(embeddings.embeddings.iter().all(|v| v.len() == 8));
    assert_eq!(up.requests().len(), 9);
}

#[tokio::test]
async fn the_server_stops_when_dropped() {
    let up = FakeUpstream::start().await;
    let addr = up.addr();
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    drop(up);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still listening on {addr}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
