//! The mock provider and ProviderService, as users' own tests would use them.

use std::time::Duration;

use tower::{Service, ServiceBuilder, ServiceExt};
use tower_ai::error::TimeoutKind;
use tower_ai::provider::mock::{MockProvider, MockReply};
use tower_ai::provider::{Provider, ProviderService};
use tower_ai::types::{ChatRequest, EmbeddingRequest, FinishReason, Message, StreamEvent, UsageSource};
use tower_ai::Error;
use tower_ai::LlmRequest;

use crate::support::{call, Collected};
use tower_ai::types::RequestMeta;

#[tokio::test]
async fn the_service_answers_complete_or_streamed_as_the_request_says() {
    let mock = MockProvider::new().with_text_reply("Hello there, friend.");
    let mut service = ProviderService::new(mock.clone());

    let whole = call(&mut service, ChatRequest::new("m").user("hi"))
        .await
        .unwrap();
    assert!(!whole.is_stream());
    let reply = whole.into_complete().await.unwrap();
    assert_eq!(reply.text(), "Hello there, friend.");
    assert_eq!(reply.model, "m");
    assert_eq!(reply.usage.unwrap().source, UsageSource::Estimated);

    let streamed = call(&mut service, LlmRequest::stream(ChatRequest::new("m").user("hi")))
        .await
        .unwrap();
    assert!(streamed.is_stream());
    let got = Collected::read(streamed.into_stream()).await;
    assert!(got.error.is_none(), "{got:?}");
    assert!(matches!(got.events.first(), Some(StreamEvent::Start { .. })));
    assert!(matches!(
        got.events.last(),
        Some(StreamEvent::Finish {
            reason: FinishReason::Stop
        })
    ));
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test]
async fn scripted_failures_and_mid_stream_errors_reach_the_caller() {
    let mock = MockProvider::new()
        .push(MockReply::error(Error::timeout(TimeoutKind::Request, None)))
        .push(
            MockReply::stream(vec![StreamEvent::text("par"), StreamEvent::text("tial")]).then_fail(
                Error::StreamTruncated {
                    provider: "mock".into(),
                },
            ),
        );
    let err = mock
        .chat(&ChatRequest::new("m").user("x"), &RequestMeta::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }));

    let stream = mock
        .chat_stream(&ChatRequest::new("m").user("x"), &RequestMeta::new())
        .await
        .unwrap();
    let got = Collected::read(stream).await;
    assert_eq!(got.text(), "partial");
    assert!(matches!(got.error, Some(Error::StreamTruncated { .. })));
}

#[tokio::test]
async fn tower_layers_stack_on_the_provider_service() {
    let mock = MockProvider::new().with_latency(Duration::from_millis(200));
    let mut service = ServiceBuilder::new()
        .map_err(tower_ai::error::from_box_error)
        .timeout(Duration::from_millis(20))
        .service(ProviderService::new(mock));
    let err = call(&mut service, ChatRequest::new("m").user("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn tool_call_replies_and_embeddings() {
    let mock = MockProvider::new().push(MockReply::tool_call("lookup", serde_json::json!({"q": "rust"})));
    let reply = mock
        .chat(&ChatRequest::new("m").user("find rust"), &RequestMeta::new())
        .await
        .unwrap();
    assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        reply.tool_calls().collect::<Vec<_>>()[0]
            .arguments_json()
            .unwrap()["q"],
        "rust"
    );

    let mut service = ProviderService::new(mock.clone());
    let embeddings = service
        .ready()
        .await
        .unwrap()
        .call(LlmRequest::embeddings(
            EmbeddingRequest::new("e", ["a", "b", "a"]).dimensions(16),
        ))
        .await
        .unwrap()
        .into_embeddings()
        .unwrap();
    assert_eq!(embeddings.embeddings.len(), 3);
    assert_eq!(embeddings.embeddings[0].len(), 16);
    assert_eq!(embeddings.embeddings[0], embeddings.embeddings[2]);
    assert_ne!(embeddings.embeddings[0], embeddings.embeddings[1]);
    assert_eq!(mock.embedding_requests().len(), 1);
}

/// What a vendor provider refuses before any call, the strict mock refuses
/// too, with the same error; the refusal keeps the script for the next call.
#[tokio::test]
async fn the_strict_mock_refuses_what_a_vendor_refuses() {
    let mock = MockProvider::new().push_text("scripted");
    assert!(mock.is_strict());
    let ctx = RequestMeta::new();
    let orphan = ChatRequest::new("m")
        .user("weather?")
        .message(Message::tool_result("call_9", "sunny"));
    let refused = [
        ChatRequest::new("m"),
        ChatRequest::new("").user("hi"),
        ChatRequest::new("  ").user("hi"),
        orphan.clone(),
        ChatRequest::new("m").user("hi").max_tokens(0),
    ];
    for request in &refused {
        let expected = request.validate().unwrap_err().to_string();
        for err in [
            mock.chat(request, &ctx).await.unwrap_err(),
            mock.chat_stream(request, &ctx).await.err().unwrap(),
        ] {
            assert!(matches!(err, Error::Config { .. }), "{request:?}: {err:?}");
            assert_eq!(err.to_string(), expected);
        }
    }
    // Every refused call is recorded; none used the script.
    assert_eq!(mock.requests().len(), 2 * refused.len());
    let ok = mock.chat(&ChatRequest::new("m").user("hi"), &ctx).await.unwrap();
    assert_eq!(ok.text(), "scripted");

    // Through the service, the refusal is the call's error.
    let mut service = ProviderService::new(mock.clone());
    let err = call(&mut service, ChatRequest::new("m")).await.unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");

    // Not strict: the same requests are answered.
    let lenient = MockProvider::new().strict(false).with_text_reply("anything");
    assert!(!lenient.is_strict());
    for request in &refused {
        assert_eq!(lenient.chat(request, &ctx).await.unwrap().text(), "anything");
    }
}

/// A scripted stream that ends cleanly without `Finish` gets one, as every
/// vendor's stream has; a stream that already has one, or ends with an
/// error, is left as it is; `strict(false)` streams the script as written.
#[tokio::test]
async fn the_strict_mock_always_ends_a_clean_stream_with_finish() {
    let request = ChatRequest::new("m").user("hi");
    let ctx = RequestMeta::new();
    let tool_delta = StreamEvent::ToolCallDelta {
        index: 0,
        id: Some("call_1".into()),
        name: Some("lookup".into()),
        arguments: "{}".into(),
    };
    let mock = MockProvider::new()
        .push(MockReply::stream(vec![
            StreamEvent::text("a"),
            StreamEvent::text("b"),
        ]))
        .push(MockReply::stream(vec![tool_delta.clone()]))
        .push(MockReply::stream(vec![
            StreamEvent::text("a"),
            StreamEvent::Finish {
                reason: FinishReason::Length,
            },
        ]))
        .push(
            MockReply::stream(vec![StreamEvent::text("a")]).then_fail(Error::StreamTruncated {
                provider: "mock".into(),
            }),
        );

    let text = Collected::read(mock.chat_stream(&request, &ctx).await.unwrap()).await;
    assert!(text.error.is_none());
    assert!(matches!(
        text.events.last(),
        Some(StreamEvent::Finish {
            reason: FinishReason::Stop
        })
    ));

    let tool = Collected::read(mock.chat_stream(&request, &ctx).await.unwrap()).await;
    assert!(matches!(
        tool.events.last(),
        Some(StreamEvent::Finish {
            reason: FinishReason::ToolCalls
        })
    ));

    let finished = Collected::read(mock.chat_stream(&request, &ctx).await.unwrap()).await;
    assert_eq!(finished.finishes(), 1);
    assert_eq!(finished.fold().finish_reason, Some(FinishReason::Length));

    let failed = Collected::read(mock.chat_stream(&request, &ctx).await.unwrap()).await;
    assert_eq!(failed.finishes(), 0);
    assert!(matches!(failed.error, Some(Error::StreamTruncated { .. })));

    // Folded into a complete reply, the added Finish gives its reason.
    let mock = MockProvider::new().push(MockReply::stream(vec![tool_delta]));
    assert_eq!(
        mock.chat(&request, &ctx).await.unwrap().finish_reason,
        Some(FinishReason::ToolCalls)
    );

    let lenient = MockProvider::new()
        .strict(false)
        .push(MockReply::stream(vec![StreamEvent::text("a")]));
    let raw = Collected::read(lenient.chat_stream(&request, &ctx).await.unwrap()).await;
    assert_eq!(raw.events, vec![StreamEvent::text("a")]);
}
