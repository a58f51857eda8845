//! The limits alone, over the mock provider.

use std::time::Duration;

use futures_util::StreamExt;
use tower::{Service, ServiceBuilder, ServiceExt};

use super::*;
use crate::error::{Error, TimeoutKind};
use crate::provider::mock::{MockProvider, MockReply};
use crate::provider::ProviderService;
use crate::types::{ChatRequest, EmbeddingRequest, LlmRequest, StreamEvent, Usage};

fn chat() -> ChatRequest {
    ChatRequest::new("m").user("hi")
}

fn timed(mock: MockProvider, limits: TimeLimits) -> StreamTimeout<ProviderService> {
    StreamTimeout::new(ProviderService::new(mock), limits)
}

fn words(n: usize) -> Vec<StreamEvent> {
    (0..n).map(|i| StreamEvent::text(format!("w{i} "))).collect()
}

async fn stream_error(service: StreamTimeout<ProviderService>) -> Error {
    let response = service.oneshot(LlmRequest::stream(chat())).await.unwrap();
    response.into_complete().await.unwrap_err()
}

#[tokio::test]
async fn a_stream_that_goes_quiet_ends_with_an_idle_timeout() {
    let slow = MockReply::stream(words(3)).with_delay(Duration::from_millis(300));
    let limits = TimeLimits::none().idle(Duration::from_millis(40));
    let err = stream_error(timed(MockProvider::new().push(slow), limits)).await;
    assert!(
        matches!(err, Error::Timeout { kind: TimeoutKind::Idle, after: Some(d) } if d == Duration::from_millis(40)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_stream_of_keep_alives_ends_with_a_first_event_timeout() {
    // Events keep coming, none of them content: the idle limit never fires.
    let keep_alive: Vec<StreamEvent> = (0..100).map(|_| StreamEvent::Usage(Usage::new(1, 0))).collect();
    let reply = MockReply::stream(keep_alive).with_delay(Duration::from_millis(10));
    let limits = TimeLimits::none()
        .idle(Duration::from_millis(200))
        .first_event(Duration::from_millis(60));
    let err = stream_error(timed(MockProvider::new().push(reply), limits)).await;
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: TimeoutKind::FirstEvent,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_long_stream_ends_with_a_total_timeout() {
    let steady = MockReply::stream(words(100)).with_delay(Duration::from_millis(10));
    let limits = TimeLimits::none()
        .idle(Duration::from_millis(200))
        .total(Duration::from_millis(80));
    let service = timed(MockProvider::new().push(steady), limits);
    let mut stream = service
        .oneshot(LlmRequest::stream(chat()))
        .await
        .unwrap()
        .into_stream();
    let mut words = 0;
    let err = loop {
        match stream.next().await.expect("ends with an error") {
            Ok(_) => words += 1,
            Err(err) => break err,
        }
    };
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: TimeoutKind::Total,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(words > 0 && words < 100, "{words}");
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn a_slow_head_ends_with_a_first_event_timeout() {
    let mock = MockProvider::new().with_latency(Duration::from_secs(60));
    let limits = TimeLimits::none().first_event(Duration::from_millis(30));
    let err = timed(mock, limits)
        .oneshot(LlmRequest::new(chat()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: TimeoutKind::FirstEvent,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn replies_within_the_limits_pass_untouched() {
    let limits = TimeLimits::none()
        .first_event(Duration::from_secs(5))
        .idle(Duration::from_secs(5))
        .total(Duration::from_secs(5));
    let mock = MockProvider::new()
        .push(MockReply::stream(words(3)).with_delay(Duration::from_millis(1)))
        .push_text("whole");
    let service = timed(mock, limits);
    let streamed = service.clone().oneshot(LlmRequest::stream(chat())).await.unwrap();
    assert_eq!(streamed.into_complete().await.unwrap().text(), "w0 w1 w2 ");
    let whole = service.clone().oneshot(LlmRequest::new(chat())).await.unwrap();
    assert_eq!(whole.into_complete().await.unwrap().text(), "whole");
    let vectors = service
        .oneshot(LlmRequest::embeddings(EmbeddingRequest::new("e", ["x"])))
        .await
        .unwrap();
    assert_eq!(vectors.into_embeddings().unwrap().embeddings.len(), 1);
}

#[tokio::test]
async fn a_stream_holds_its_permit_until_it_ends() {
    let mock = MockProvider::new();
    for _ in 0..3 {
        mock.enqueue(MockReply::stream(words(2)));
    }
    let mut service = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::new(2))
        .service(ProviderService::new(mock));
    let first = service
        .ready()
        .await
        .unwrap()
        .call(LlmRequest::stream(chat()))
        .await
        .unwrap();
    let second = service
        .ready()
        .await
        .unwrap()
        .call(LlmRequest::stream(chat()))
        .await
        .unwrap();
    // Two streams are open: a third call must wait.
    let waiting = tokio::time::timeout(Duration::from_millis(30), service.ready()).await;
    assert!(
        waiting.is_err(),
        "a third call started while two streams were open"
    );
    // Reading one to its end frees its permit.
    first.into_complete().await.unwrap();
    let third = service
        .ready()
        .await
        .unwrap()
        .call(LlmRequest::stream(chat()))
        .await
        .unwrap();
    let mut second = second.into_stream();
    second.next().await;
    assert_eq!(service.available(), 0, "two streams are open");
    // Dropping a stream half-read frees its permit too.
    drop(second);
    assert_eq!(service.available(), 1);
    drop(third);
    assert_eq!(service.available(), 2);
}

#[tokio::test]
async fn many_concurrent_streams_never_pass_the_limit() {
    let mock = MockProvider::new();
    for _ in 0..64 {
        mock.enqueue(MockReply::stream(words(5)).with_delay(Duration::from_millis(2)));
    }
    let layer = ConcurrencyLimitLayer::new(2);
    let service = ServiceBuilder::new()
        .layer(layer.clone())
        .service(ProviderService::new(mock));
    let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let service = service.clone();
        let (open, peak) = (open.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let response = service.oneshot(LlmRequest::stream(chat())).await.unwrap();
            let now = open.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
            let mut stream = response.into_stream();
            let mut read = 0;
            while let Some(event) = stream.next().await {
                event.unwrap();
                read += 1;
                if read == 5 {
                    // The stream ends here; count it closed before it lets go.
                    open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(peak.load(std::sync::atomic::Ordering::SeqCst) <= 2);
}
