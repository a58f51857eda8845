//! The lifecycle alone: every ending, filters on both reply shapes, peeking.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tower::{service_fn, ServiceBuilder, ServiceExt};

use super::*;
use crate::error::{Error, Result, TimeoutKind};
use crate::provider::mock::{MockProvider, MockReply};
use crate::provider::ProviderService;
use crate::types::{
    ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, FinishReason, LlmRequest, LlmResponse, Reply,
    StreamEvent, Usage,
};

/// What a recording observer saw: one line per hook.
type Log = Arc<Mutex<Vec<String>>>;

struct Recording {
    log: Log,
    events: usize,
}

impl Recording {
    fn new(log: &Log) -> Self {
        Self {
            log: Arc::clone(log),
            events: 0,
        }
    }

    fn write(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
}

impl Observer for Recording {
    fn on_response(&mut self, response: &LlmResponse) {
        self.write(format!("head stream={}", response.is_stream()));
    }

    fn on_event(&mut self, _: &StreamEvent) {
        self.events += 1;
    }

    fn on_end(self, end: End<'_>) {
        let line = match &end {
            End::Finished(reply) => format!("finished {:?} after {} events", reply.text(), self.events),
            End::Failed { error, partial } => format!("failed {} after {:?}", error.kind(), partial.text()),
            End::Embedded(e) => format!("embedded {}", e.embeddings.len()),
        };
        self.write(line);
    }

    fn on_error(self, error: &Error) {
        self.write(format!("error {}", error.kind()));
    }

    fn on_cancel(self, partial: Option<&ChatResponse>) {
        self.write(format!("cancelled {:?}", partial.map(ChatResponse::text)));
    }
}

fn lines(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

fn words(words: &[&str]) -> Vec<StreamEvent> {
    let mut events = vec![StreamEvent::Start {
        id: "r".into(),
        model: "m".into(),
    }];
    events.extend(words.iter().map(|w| StreamEvent::text(*w)));
    events.push(StreamEvent::Finish {
        reason: FinishReason::Stop,
    });
    events.push(StreamEvent::Usage(Usage::new(3, 2)));
    events
}

fn stack(
    mock: &MockProvider,
    log: &Log,
) -> impl tower::Service<LlmRequest, Response = LlmResponse, Error = Error, Future: Send> + Clone {
    let log = Arc::clone(log);
    ServiceBuilder::new()
        .layer(FilterLayer::new(move |_: &LlmRequest| Recording::new(&log)))
        .service(ProviderService::new(mock.clone()))
}

fn chat() -> ChatRequest {
    ChatRequest::new("m").user("hi")
}

#[tokio::test]
async fn a_stream_read_to_its_end_is_finished_once() {
    let log = Log::default();
    let mock = MockProvider::new().push(MockReply::stream(words(&["a", "b"])));
    let reply = stack(&mock, &log)
        .oneshot(LlmRequest::stream(chat()))
        .await
        .unwrap()
        .into_complete()
        .await
        .unwrap();
    assert_eq!(reply.text(), "ab");
    assert_eq!(
        lines(&log),
        ["head stream=true", "finished \"ab\" after 5 events"]
    );
}

#[tokio::test]
async fn a_complete_reply_goes_through_the_same_hooks() {
    let log = Log::default();
    let mock = MockProvider::new().with_text_reply("whole");
    let response = stack(&mock, &log).oneshot(LlmRequest::new(chat())).await.unwrap();
    // The end is known with the head: recorded before the caller reads anything.
    assert_eq!(
        lines(&log),
        ["head stream=false", "finished \"whole\" after 4 events"]
    );
    assert_eq!(response.into_complete().await.unwrap().text(), "whole");
}

#[tokio::test]
async fn a_stream_failing_part_way_is_failed_with_the_partial_reply() {
    let log = Log::default();
    let cut = Error::StreamTruncated {
        provider: "mock".into(),
    };
    let mock = MockProvider::new().push(MockReply::stream(vec![StreamEvent::text("par")]).then_fail(cut));
    let err = stack(&mock, &log)
        .oneshot(LlmRequest::stream(chat()))
        .await
        .unwrap()
        .into_complete()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "stream_truncated");
    assert_eq!(
        lines(&log),
        ["head stream=true", "failed stream_truncated after \"par\""]
    );
}

#[tokio::test]
async fn an_error_before_the_head_runs_on_error_only() {
    let log = Log::default();
    let mock = MockProvider::new().push(MockReply::error(Error::blocked("policy", "no")));
    let err = stack(&mock, &log)
        .oneshot(LlmRequest::new(chat()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "blocked");
    assert_eq!(lines(&log), ["error blocked"]);
}

#[tokio::test]
async fn a_call_dropped_before_the_head_is_cancelled() {
    let log = Log::default();
    let mock = MockProvider::new().with_latency(Duration::from_secs(60));
    let call = stack(&mock, &log).oneshot(LlmRequest::new(chat()));
    let timed_out = tokio::time::timeout(Duration::from_millis(20), call).await;
    assert!(timed_out.is_err());
    assert_eq!(lines(&log), ["cancelled None"]);
}

#[tokio::test]
async fn a_stream_dropped_before_finish_is_cancelled_with_what_arrived() {
    let log = Log::default();
    let mock = MockProvider::new().push(MockReply::stream(words(&["a", "b", "c"])));
    let mut stream = stack(&mock, &log)
        .oneshot(LlmRequest::stream(chat()))
        .await
        .unwrap()
        .into_stream();
    stream.next().await; // start
    stream.next().await; // "a"
    drop(stream);
    assert_eq!(lines(&log), ["head stream=true", "cancelled Some(\"a\")"]);
}

#[tokio::test]
async fn a_stream_dropped_after_finish_but_before_usage_is_finished() {
    let log = Log::default();
    let mock = MockProvider::new().push(MockReply::stream(words(&["a"])));
    let mut stream = stack(&mock, &log)
        .oneshot(LlmRequest::stream(chat()))
        .await
        .unwrap()
        .into_stream();
    let mut seen = Vec::new();
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        let finish = matches!(event, StreamEvent::Finish { .. });
        seen.push(event);
        if finish {
            break;
        }
    }
    drop(stream);
    // The trailing usage never arrived; the caller had the whole reply.
    assert_eq!(lines(&log), ["head stream=true", "finished \"a\" after 3 events"]);
}

#[tokio::test]
async fn embeddings_end_as_embedded() {
    let log = Log::default();
    let mock = MockProvider::new();
    let request = LlmRequest::embeddings(EmbeddingRequest::new("e", ["x", "y", "z"]));
    let response = stack(&mock, &log).oneshot(request).await.unwrap();
    assert_eq!(response.into_embeddings().unwrap().embeddings.len(), 3);
    assert_eq!(lines(&log), ["head stream=false", "embedded 3"]);
}

/// Upper-cases text deltas.
struct Shout;

impl Filter for Shout {
    fn on_event(&mut self, event: StreamEvent, out: &mut Emit) -> Result<()> {
        out.push(match event {
            StreamEvent::TextDelta { text } => StreamEvent::text(text.to_uppercase()),
            other => other,
        });
        Ok(())
    }
}

#[tokio::test]
async fn a_filter_rewrites_a_stream_and_a_complete_reply_alike() {
    let mock = MockProvider::new()
        .push(MockReply::stream(words(&["hel", "lo"])))
        .push_text("hello");
    let service = ServiceBuilder::new()
        .layer(FilterLayer::new(|_: &LlmRequest| Shout))
        .service(ProviderService::new(mock));
    let streamed = service.clone().oneshot(LlmRequest::stream(chat())).await.unwrap();
    assert!(streamed.is_stream());
    assert_eq!(streamed.into_complete().await.unwrap().text(), "HELLO");
    let complete = service.oneshot(LlmRequest::new(chat())).await.unwrap();
    assert!(!complete.is_stream());
    let reply = complete.into_complete().await.unwrap();
    assert_eq!(reply.text(), "HELLO");
    // The rest of the reply is kept.
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    assert!(reply.usage.is_some());
}

/// Replaces the token `SECRET` with `***`, wherever the deltas split it,
/// holding back at most `limit` bytes while it cannot tell.
struct Mask {
    held: Holdback,
}

impl Mask {
    fn held_text(&self) -> String {
        self.held
            .events()
            .iter()
            .map(|e| match e {
                StreamEvent::TextDelta { text } => text.as_str(),
                _ => "",
            })
            .collect()
    }
}

impl Filter for Mask {
    fn on_event(&mut self, event: StreamEvent, out: &mut Emit) -> Result<()> {
        let StreamEvent::TextDelta { text } = event else {
            self.held.release(out);
            out.push(event);
            return Ok(());
        };
        self.held.hold(StreamEvent::text(text))?;
        let text = self.held_text();
        if text.contains("SECRET") {
            self.held.take();
            out.push(StreamEvent::text(text.replace("SECRET", "***")));
        } else if !"SECRET".chars().any(|c| text.ends_with(c)) {
            // Nothing held can be the start of the token.
            self.held.release(out);
        }
        Ok(())
    }

    fn on_stream_end(&mut self, out: &mut Emit) -> Result<()> {
        self.held.release(out);
        Ok(())
    }
}

#[tokio::test]
async fn a_filter_holds_a_token_split_across_three_deltas_and_rewrites_it() {
    let mock = MockProvider::new().push(MockReply::stream(words(&["my SE", "CR", "ET is x"])));
    let service = ServiceBuilder::new()
        .layer(FilterLayer::new(|_: &LlmRequest| Mask {
            held: Holdback::new(1024),
        }))
        .service(ProviderService::new(mock));
    let mut stream = service
        .oneshot(LlmRequest::stream(chat()))
        .await
        .unwrap()
        .into_stream();
    let mut texts = Vec::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::TextDelta { text } = event.unwrap() {
            texts.push(text);
        }
    }
    // Nothing of the token reached the caller before it was known whole.
    assert_eq!(texts, ["my *** is x"]);
}

#[tokio::test]
async fn a_filter_that_holds_too_much_fails_instead_of_buffering() {
    let pieces: Vec<String> = (0..100).map(|_| "S".repeat(10)).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let mock = MockProvider::new().push(MockReply::stream(words(&pieces)));
    let service = ServiceBuilder::new()
        .layer(FilterLayer::new(|_: &LlmRequest| Mask {
            held: Holdback::new(200),
        }))
        .service(ProviderService::new(mock));
    let err = service
        .oneshot(LlmRequest::stream(chat()))
        .await
        .unwrap()
        .into_complete()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::HoldLimitExceeded { limit: 200, .. }),
        "{err:?}"
    );
}

/// Ends the stream with `Blocked` at the first delta that contains "stop".
struct StopAt;

impl Filter for StopAt {
    fn on_event(&mut self, event: StreamEvent, out: &mut Emit) -> Result<()> {
        if matches!(&event, StreamEvent::TextDelta { text } if text.contains("stop")) {
            return Err(Error::blocked("stopper", "the reply said stop"));
        }
        out.push(event);
        Ok(())
    }
}

#[tokio::test]
async fn a_filter_stops_a_stream_midway_and_the_upstream_is_let_go() {
    let log = Log::default();
    let upstream_dropped = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&upstream_dropped);
    // An upstream that would go on for ever, and notes when it is dropped.
    let inner = service_fn(move |_: LlmRequest| {
        let guard = DropFlag(Arc::clone(&flag));
        let events = futures_util::stream::iter(["one ", "two ", "stop ", "three"])
            .map(|w| Ok(StreamEvent::text(w)))
            .chain(futures_util::stream::pending())
            .map(move |item| {
                let _ = &guard;
                item
            });
        std::future::ready(Ok::<_, Error>(LlmResponse::new(Reply::Stream(ChatStream::new(
            events,
        )))))
    });
    let recording = Arc::clone(&log);
    let service = ServiceBuilder::new()
        .layer(FilterLayer::new(move |_: &LlmRequest| Recording::new(&recording)))
        .layer(FilterLayer::new(|_: &LlmRequest| StopAt))
        .service(inner);
    let mut stream = service
        .oneshot(LlmRequest::stream(chat()))
        .await
        .unwrap()
        .into_stream();
    let mut texts = String::new();
    let err = loop {
        match stream.next().await.expect("the stream ends with an error") {
            Ok(StreamEvent::TextDelta { text }) => texts.push_str(&text),
            Ok(_) => {}
            Err(err) => break err,
        }
    };
    assert_eq!(texts, "one two ");
    assert!(matches!(&err, Error::Blocked { guard, .. } if guard == "stopper"));
    assert!(stream.next().await.is_none(), "nothing after the error");
    assert!(
        *upstream_dropped.lock().unwrap(),
        "the upstream stream was dropped"
    );
    assert_eq!(
        lines(&log),
        ["head stream=true", "failed blocked after \"one two \""]
    );
}

struct DropFlag(Arc<Mutex<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = true;
    }
}

/// Refuses at the head.
struct RefuseHead(Log);

impl Filter for RefuseHead {
    fn on_response(&mut self, _: &mut LlmResponse) -> Result<()> {
        Err(Error::blocked("head", "refused"))
    }

    fn on_end(self, _: End<'_>) {
        self.0.lock().unwrap().push("end".into());
    }

    fn on_error(self, error: &Error) {
        self.0.lock().unwrap().push(format!("error {}", error.kind()));
    }
}

#[tokio::test]
async fn a_filter_refusing_the_head_fails_the_call_and_sees_on_error() {
    let log = Log::default();
    let hook_log = Arc::clone(&log);
    let service = ServiceBuilder::new()
        .layer(FilterLayer::new(move |_: &LlmRequest| {
            RefuseHead(Arc::clone(&hook_log))
        }))
        .service(ProviderService::new(MockProvider::new()));
    let err = service.oneshot(LlmRequest::stream(chat())).await.unwrap_err();
    assert_eq!(err.kind(), "blocked");
    assert_eq!(lines(&log), ["error blocked"]);
}

fn stream_of(items: Vec<Result<StreamEvent>>) -> ChatStream {
    ChatStream::from_events(items)
}

#[tokio::test]
async fn peek_on_a_stream_that_errors_before_content_gives_the_error() {
    let stream = stream_of(vec![
        Ok(StreamEvent::Start {
            id: "r".into(),
            model: "m".into(),
        }),
        Err(Error::timeout(TimeoutKind::FirstEvent, None)),
        Ok(StreamEvent::text("never")),
    ]);
    let err = peek_content(stream).await.unwrap_err();
    assert_eq!(err.kind(), "timeout");
}

#[tokio::test]
async fn peek_on_a_stream_without_content_says_it_ended() {
    let stream = stream_of(vec![
        Ok(StreamEvent::Start {
            id: "r".into(),
            model: "m".into(),
        }),
        Ok(StreamEvent::Finish {
            reason: FinishReason::Stop,
        }),
    ]);
    let peeked = peek_content(stream).await.unwrap();
    assert_eq!(peeked.stop, PeekStop::Ended);
    assert!(peeked.first.is_none());
    assert_eq!(peeked.head.len(), 2);
    let reply = peeked.into_stream().collect_response().await.unwrap();
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
}

#[tokio::test]
async fn peek_on_a_stream_that_starts_with_usage_holds_it_and_replays_everything() {
    let events = vec![
        StreamEvent::Start {
            id: "r".into(),
            model: "m".into(),
        },
        StreamEvent::Usage(Usage::new(12, 0)),
        StreamEvent::text("Hel"),
        StreamEvent::text("lo"),
        StreamEvent::Finish {
            reason: FinishReason::Stop,
        },
        StreamEvent::Usage(Usage::new(12, 2)),
    ];
    let peeked = peek_content(stream_of(events.iter().cloned().map(Ok).collect()))
        .await
        .unwrap();
    assert_eq!(peeked.stop, PeekStop::Content);
    assert_eq!(peeked.head, events[..2]);
    assert_eq!(peeked.first, Some(StreamEvent::text("Hel")));
    let replayed: Vec<StreamEvent> = peeked.into_stream().map(|e| e.unwrap()).collect().await;
    assert_eq!(replayed, events);
}

#[tokio::test]
async fn peek_stops_after_its_head_limit() {
    let usage = std::iter::repeat_with(|| Ok(StreamEvent::Usage(Usage::new(1, 0)))).take(5000);
    let peeked = peek_content(ChatStream::from_events(usage.collect::<Vec<_>>()))
        .await
        .unwrap();
    assert_eq!(peeked.stop, PeekStop::HeadLimit);
    assert_eq!(peeked.head.len(), 1024);
    assert_eq!(peeked.into_stream().count().await, 5000);
}

/// Watches a call's content and records how it ended.
struct Content(Log);

impl Observer for Content {
    fn on_end(self, end: End<'_>) {
        let line = match &end {
            End::Finished(reply) => format!("finished with {} bytes", reply.text().len()),
            End::Failed { error, partial } => {
                format!("failed {} with {} bytes", error.kind(), partial.text().len())
            }
            End::Embedded(_) => "embedded".to_owned(),
        };
        self.0.lock().unwrap().push(line);
    }
}

/// Watches only the usage: no content is folded.
struct UsageOnly(Log);

impl Observer for UsageOnly {
    const NEEDS_CONTENT: bool = false;

    fn on_end(self, end: End<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("ended failed={}", end.error().is_some()));
    }
}

/// Five deltas of 8 MiB: 40 MiB of text, past the 32 MiB the fold holds.
fn huge_stream() -> ChatStream {
    let delta = "x".repeat(8 << 20);
    let mut events = vec![Ok(StreamEvent::Start {
        id: "r".into(),
        model: "m".into(),
    })];
    events.extend((0..5).map(|_| Ok(StreamEvent::TextDelta { text: delta.clone() })));
    events.push(Ok(StreamEvent::Finish {
        reason: FinishReason::Stop,
    }));
    ChatStream::from_events(events)
}

#[tokio::test]
async fn an_observer_folding_content_stops_a_stream_past_the_reply_limit() {
    let log = Log::default();
    let response = LlmResponse::new(Reply::Stream(huge_stream()));
    let Reply::Stream(mut stream) = attach(response, Content(Arc::clone(&log))).unwrap().reply else {
        panic!("a stream stays a stream");
    };
    let mut delivered = 0;
    let mut error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamEvent::TextDelta { text }) => delivered += text.len(),
            Ok(_) => {}
            Err(e) => error = Some(e),
        }
    }
    assert!(matches!(error, Some(Error::ResponseTooLarge { limit }) if limit == 32 << 20));
    assert_eq!(
        delivered,
        32 << 20,
        "the four deltas within the limit reach the caller"
    );
    assert_eq!(
        lines(&log),
        vec![format!("failed response_too_large with {} bytes", 32 << 20)]
    );
}

#[tokio::test]
async fn an_observer_that_needs_no_content_lets_a_large_stream_through() {
    let log = Log::default();
    let response = LlmResponse::new(Reply::Stream(huge_stream()));
    let reply = attach(response, UsageOnly(Arc::clone(&log))).unwrap();
    let Reply::Stream(stream) = reply.reply else {
        panic!("a stream stays a stream");
    };
    let whole = stream.collect_response_within(usize::MAX).await.unwrap();
    assert_eq!(whole.text().len(), 40 << 20);
    assert_eq!(lines(&log), vec!["ended failed=false"]);
}
