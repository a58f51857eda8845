//! The provider seam alone: the call context reaching the wire, signers,
//! and `ProviderService` answering as the request asks.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tower::{service_fn, ServiceExt};

use super::mock::MockProvider;
use super::*;
use crate::transport::{SseDecoder, SseEvent, Transport};
use crate::types::{ChatRequest, EmbeddingRequest, LlmRequest, ReplyMode, ServedBy, StreamEvent};

/// A codec for a made-up vendor: the body is the last user text, the reply
/// body is the text.
#[derive(Debug)]
struct Echo;

struct EchoDecoder(bool);

impl StreamDecoder for EchoDecoder {
    type Framer = SseDecoder;

    fn decode(&mut self, frame: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        if frame.data == "[DONE]" {
            self.0 = true;
        } else {
            out.push_back(StreamEvent::text(frame.data.clone()));
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.0
    }
}

impl Codec for Echo {
    type StreamDecoder = EchoDecoder;

    fn name(&self) -> &str {
        "echo"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::chat()
    }

    fn encode_chat(
        &self,
        request: &ChatRequest,
        mode: ReplyMode,
        _: &RequestMeta,
    ) -> Result<http::Request<Bytes>> {
        let mut http = http::Request::new(Bytes::from(request.last_user_text().unwrap_or_default()));
        *http.uri_mut() = http::Uri::from_static("http://echo.invalid/chat");
        if mode == ReplyMode::Stream {
            http.headers_mut()
                .insert("x-stream", http::HeaderValue::from_static("1"));
        }
        Ok(http)
    }

    fn decode_chat(&self, body: &[u8]) -> Result<ChatResponse> {
        Ok(ChatResponse::text_reply(
            "e",
            "echo",
            String::from_utf8_lossy(body),
        ))
    }

    fn stream_decoder(&self) -> EchoDecoder {
        EchoDecoder(false)
    }

    fn decode_error(&self, status: StatusCode, _: &HeaderMap, _: &[u8]) -> Error {
        Error::Server(crate::ApiError::new("echo", "failed").with_status(status).into())
    }
}

/// The headers of every request the transport saw.
type Seen = Arc<Mutex<Vec<HeaderMap>>>;

fn echo_provider(seen: &Seen) -> HttpProvider<Echo> {
    let seen = Arc::clone(seen);
    let transport = Transport::new(service_fn(move |request: http::Request<Bytes>| {
        seen.lock().unwrap().push(request.headers().clone());
        let body = if request.headers().contains_key("x-stream") {
            let text = String::from_utf8_lossy(request.body()).into_owned();
            Bytes::from(format!("data: {text}\n\ndata: [DONE]\n\n"))
        } else {
            request.into_body()
        };
        std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(
            http_body_util::Full::new(body),
        )))
    }));
    HttpProvider::new(Echo, transport).signer(StaticKey::bearer(ApiKey::new("sk-app")).unwrap())
}

#[tokio::test]
async fn the_request_id_and_call_headers_go_upstream() {
    let seen = Seen::default();
    let service = ProviderService::new(echo_provider(&seen));
    let request = LlmRequest::new(ChatRequest::new("m").user("hi"))
        .with_header("anthropic-beta", "tools-2024")
        .unwrap();
    let id = request.meta.id.clone();
    let reply = service
        .oneshot(request)
        .await
        .unwrap()
        .into_complete()
        .await
        .unwrap();
    assert_eq!(reply.text(), "hi");
    let headers = &seen.lock().unwrap()[0];
    assert_eq!(headers["x-request-id"], id.as_str());
    assert_eq!(headers["anthropic-beta"], "tools-2024");
    assert_eq!(headers["authorization"], "Bearer sk-app");
}

#[tokio::test]
async fn a_credential_override_is_used_for_that_call_only() {
    let seen = Seen::default();
    let service = ProviderService::new(echo_provider(&seen));
    let byok = LlmRequest::new(ChatRequest::new("m").user("a")).with_credential("sk-tenant");
    service.clone().oneshot(byok).await.unwrap();
    service
        .oneshot(LlmRequest::new(ChatRequest::new("m").user("b")))
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0]["authorization"], "Bearer sk-tenant");
    assert!(seen[0]["authorization"].is_sensitive());
    assert_eq!(seen[1]["authorization"], "Bearer sk-app");
}

#[tokio::test]
async fn a_stream_request_gets_a_real_stream_and_a_complete_one_a_complete_reply() {
    let seen = Seen::default();
    let service = ProviderService::new(echo_provider(&seen));
    let streamed = service
        .clone()
        .oneshot(LlmRequest::stream(ChatRequest::new("m").user("flowing")))
        .await
        .unwrap();
    assert!(streamed.is_stream());
    assert_eq!(streamed.into_complete().await.unwrap().text(), "flowing");
    let complete = service
        .oneshot(LlmRequest::new(ChatRequest::new("m").user("whole")))
        .await
        .unwrap();
    assert!(!complete.is_stream());
    let seen = seen.lock().unwrap();
    assert!(seen[0].contains_key("x-stream"));
    assert!(!seen[1].contains_key("x-stream"));
}

#[tokio::test]
async fn served_by_names_the_provider_and_the_model_asked_for() {
    let mock = MockProvider::new().with_name("mocky");
    let response = ProviderService::new(mock)
        .oneshot(LlmRequest::new(ChatRequest::new("gpt-x").user("hi")))
        .await
        .unwrap();
    assert_eq!(
        response.extensions.get::<ServedBy>(),
        Some(&ServedBy::new("mocky", "gpt-x"))
    );
}

#[tokio::test]
async fn the_call_context_reaches_the_provider() {
    let mock = MockProvider::new();
    let request = LlmRequest::embeddings(EmbeddingRequest::new("e", ["x"]))
        .with_principal(crate::Principal::new().tenant("acme"))
        .with_tag("feature", "search");
    let id = request.meta.id.clone();
    ProviderService::new(mock.clone()).oneshot(request).await.unwrap();
    let ctx = &mock.contexts()[0];
    assert_eq!(ctx.id, id);
    assert_eq!(ctx.principal.tenant.as_deref(), Some("acme"));
    assert_eq!(ctx.tags["feature"], "search");
}

#[tokio::test]
async fn a_deadline_bounds_the_wait_for_the_reply() {
    let mock = MockProvider::new().with_latency(Duration::from_secs(60));
    let request = LlmRequest::new(ChatRequest::new("m").user("hi"))
        .with_deadline(Instant::now() + Duration::from_millis(20));
    let err = ProviderService::new(mock).oneshot(request).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: crate::error::TimeoutKind::Total,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_embeddings_reply_is_not_a_chat_reply() {
    let response = ProviderService::new(MockProvider::new())
        .oneshot(LlmRequest::embeddings(EmbeddingRequest::new("e", ["x"])))
        .await
        .unwrap();
    let err = response.into_complete().await.unwrap_err();
    assert_eq!(err.kind(), "config");
}

#[test]
fn call_headers_that_carry_credentials_never_show() {
    let request = LlmRequest::new(ChatRequest::new("m").user("hi"))
        .with_header("helicone-auth", "Bearer sk-helicone-31f7")
        .unwrap()
        .with_header("x-trace", "t-1")
        .unwrap();
    let shown = format!("{request:?}");
    assert!(!shown.contains("sk-helicone-31f7"), "{shown}");
    assert!(shown.contains("t-1"), "{shown}");
    let err = LlmRequest::new(ChatRequest::new("m"))
        .with_header("x-key", "bad\nsk-secret-value")
        .unwrap_err();
    assert!(!err.to_string().contains("sk-secret-value"));
}

#[tokio::test]
async fn a_deadline_bounds_a_stream_to_its_end() {
    use crate::provider::mock::MockReply;
    let words = (0..50).map(|i| StreamEvent::text(format!("w{i} "))).collect();
    let slow = MockReply::stream(words).with_delay(Duration::from_millis(10));
    let request = LlmRequest::stream(ChatRequest::new("m").user("hi"))
        .with_deadline(Instant::now() + Duration::from_millis(80));
    let response = ProviderService::new(MockProvider::new().push(slow))
        .oneshot(request)
        .await
        .unwrap();
    let err = response.into_complete().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: crate::error::TimeoutKind::Total,
                ..
            }
        ),
        "{err:?}"
    );
}
