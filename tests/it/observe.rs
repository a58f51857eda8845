//! FilteredStream with observers: each hook runs exactly once, at the right moment.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tower_ai::observe::{observe, End, FilteredStream, Observer};
use tower_ai::types::{ChatResponse, ChatStream, FinishReason, LlmResponse, Reply, StreamEvent, Usage};
use tower_ai::Error;

#[derive(Debug, Default)]
struct Log {
    events: Vec<StreamEvent>,
    finished: Vec<ChatResponse>,
    failed: Vec<(String, ChatResponse)>,
    cancelled: Vec<ChatResponse>,
    dropped: usize,
}

#[derive(Clone, Default)]
struct Recording(Arc<Mutex<Log>>);

impl Recording {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.0.lock().unwrap()
    }
}

impl Observer for Recording {
    fn on_event(&mut self, event: &StreamEvent) {
        self.log().events.push(event.clone());
    }
    fn on_end(self, end: End<'_>) {
        match end {
            End::Finished(reply) => self.log().finished.push(reply.clone()),
            End::Failed { error, partial } => self.log().failed.push((error.kind().into(), partial.clone())),
            _ => unreachable!(),
        }
    }
    fn on_cancel(self, partial: Option<&ChatResponse>) {
        self.log().cancelled.push(
            partial
                .cloned()
                .unwrap_or_else(|| ChatResponse::text_reply("", "", "")),
        );
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        // Counts how often an observer value is dropped (clones included).
        if let Ok(mut log) = self.0.lock() {
            log.dropped += 1;
        }
    }
}

/// Metadata-only: asks for no content.
#[derive(Clone, Default)]
struct Summary(Arc<Mutex<Option<ChatResponse>>>);

impl Observer for Summary {
    const NEEDS_CONTENT: bool = false;
    fn on_end(self, end: End<'_>) {
        *self.0.lock().unwrap() = end.reply().cloned();
    }
}

fn events() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "r-1".into(),
            model: "m-1".into(),
        },
        StreamEvent::text("Let me "),
        StreamEvent::text("look."),
        StreamEvent::ToolCallDelta {
            index: 0,
            id: Some("call_1".into()),
            name: Some("lookup".into()),
            arguments: "{\"q\":".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            id: None,
            name: None,
            arguments: "\"rust\"}".into(),
        },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
        },
        StreamEvent::Usage(Usage::new(30, 12)),
    ]
}

fn stream_of(items: Vec<Result<StreamEvent, Error>>) -> ChatStream {
    ChatStream::from_events(items)
}

#[tokio::test]
async fn a_finished_stream_calls_the_end_hook_once_with_fragments_merged() {
    let rec = Recording::default();
    let stream = FilteredStream::new(stream_of(events().into_iter().map(Ok).collect()), rec.clone());
    let items: Vec<_> = stream.collect().await;
    assert_eq!(items.len(), 7, "items pass through unchanged");

    let log = rec.log();
    assert_eq!(log.events, events());
    assert_eq!(log.finished.len(), 1);
    assert!(log.failed.is_empty() && log.cancelled.is_empty());
    let reply = &log.finished[0];
    assert_eq!(reply.text(), "Let me look.");
    let calls: Vec<_> = reply.tool_calls().collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].arguments, "{\"q\":\"rust\"}");
    assert_eq!(reply.usage.unwrap().output_tokens, 12);
}

#[tokio::test]
async fn a_mid_stream_error_calls_the_end_hook_once_as_failed() {
    let rec = Recording::default();
    let items = vec![
        Ok(StreamEvent::text("par")),
        Ok(StreamEvent::text("tial")),
        Err(Error::StreamTruncated { provider: "p".into() }),
    ];
    let mut stream = FilteredStream::new(stream_of(items), rec.clone());
    while stream.next().await.is_some() {}
    // Polling after the end does not call a hook again.
    assert!(stream.next().await.is_none());
    drop(stream);

    let log = rec.log();
    assert_eq!(log.failed.len(), 1);
    assert_eq!(log.failed[0].0, "stream_truncated");
    assert_eq!(log.failed[0].1.text(), "partial");
    assert!(log.finished.is_empty() && log.cancelled.is_empty());
}

#[tokio::test]
async fn an_early_drop_calls_the_cancel_hook_once_with_what_arrived() {
    let rec = Recording::default();
    let mut stream = FilteredStream::new(stream_of(events().into_iter().map(Ok).collect()), rec.clone());
    stream.next().await.unwrap().unwrap();
    stream.next().await.unwrap().unwrap();
    assert_eq!(rec.log().dropped, 0, "the observer lives as long as the stream");
    drop(stream);

    let log = rec.log();
    assert_eq!(log.cancelled.len(), 1);
    assert_eq!(log.cancelled[0].text(), "Let me ");
    assert_eq!(log.cancelled[0].id, "r-1");
    assert!(log.finished.is_empty() && log.failed.is_empty());
    assert_eq!(log.dropped, 1);
}

#[tokio::test]
async fn a_complete_reply_and_the_same_reply_streamed_end_the_same() {
    let mut acc = tower_ai::types::StreamAccumulator::new();
    events().iter().for_each(|e| acc.push(e));
    let reply = acc.finish();

    let complete = Recording::default();
    let response = observe(LlmResponse::new(Reply::Complete(reply.clone())), complete.clone());
    assert!(!response.is_stream());
    assert_eq!(response.into_complete().await.unwrap(), reply);

    let streamed = Recording::default();
    let response = observe(
        LlmResponse::new(Reply::Stream(ChatStream::from_response(&reply))),
        streamed.clone(),
    );
    assert!(response.is_stream());
    assert_eq!(response.into_complete().await.unwrap(), reply);

    let (a, b) = (complete.log(), streamed.log());
    assert_eq!(a.finished, vec![reply.clone()]);
    assert_eq!(a.finished, b.finished);
    assert_eq!(a.events, b.events);
}

#[tokio::test]
async fn an_observer_may_skip_a_complete_replys_events_and_still_gets_the_end() {
    #[derive(Clone, Default)]
    struct EndOnly(Arc<Mutex<(usize, Vec<String>)>>);
    impl Observer for EndOnly {
        fn on_event(&mut self, _: &StreamEvent) {
            self.0.lock().unwrap().0 += 1;
        }
        fn watches_complete_events(&self) -> bool {
            false
        }
        fn on_end(self, end: End<'_>) {
            if let End::Finished(reply) = end {
                self.0.lock().unwrap().1.push(reply.text());
            }
        }
    }
    let mut acc = tower_ai::types::StreamAccumulator::new();
    events().iter().for_each(|e| acc.push(e));
    let reply = acc.finish();

    let complete = EndOnly::default();
    let response = observe(LlmResponse::new(Reply::Complete(reply.clone())), complete.clone());
    assert_eq!(response.into_complete().await.unwrap(), reply);
    assert_eq!(*complete.0.lock().unwrap(), (0, vec![reply.text()]));

    // A stream's events are shown all the same.
    let streamed = EndOnly::default();
    let response = observe(
        LlmResponse::new(Reply::Stream(ChatStream::from_response(&reply))),
        streamed.clone(),
    );
    assert_eq!(response.into_complete().await.unwrap(), reply);
    let seen = streamed.0.lock().unwrap().clone();
    assert_eq!(seen.0, reply.to_events().len());
    assert_eq!(seen.1, vec![reply.text()]);
}

#[tokio::test]
async fn an_observer_that_needs_no_content_still_sees_the_metadata() {
    let summary = Summary::default();
    let stream = FilteredStream::new(stream_of(events().into_iter().map(Ok).collect()), summary.clone());
    let _: Vec<_> = stream.collect().await;
    let reply = summary.0.lock().unwrap().clone().unwrap();
    assert_eq!(reply.id, "r-1");
    assert_eq!(reply.model, "m-1");
    assert_eq!(reply.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(reply.usage.unwrap().input_tokens, 30);
    assert_eq!(reply.text(), "", "no content was copied");
}
