//! A streamed leader's events, passed on to the followers of its flight as
//! they arrive.
//!
//! The leader's observer pushes a copy of each event into the flight's
//! [`Relay`]; each follower that asked for a stream reads them at its own
//! pace from its own position. The leader never waits for a follower: the
//! relay holds the latest events up to its limit, dropping the oldest. A
//! follower that falls further behind than that waits for the stored reply
//! and goes on from where it was, by the bytes of text, reasoning and
//! tool-call arguments it has passed on ([`Progress`]), so its caller gets
//! every byte once.
//!
//! A leader whose caller goes away while followers are reading is not
//! cancelled: its stream is handed to a background task that reads it to
//! its end ([`Handoff`]), so the followers finish and the reply is stored.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::{Stream, StreamExt};
use tokio::sync::watch;

use super::{in_deltas, landing_of, Follow, Landing};
use crate::background::Background;
use crate::error::{Error, Result};
use crate::types::{ChatResponse, ChatStream, ServedBy, StreamEvent, UsageSource};

/// One flight's events so far, for its streaming followers.
pub(super) struct Relay {
    state: Mutex<State>,
    /// Bumped on every change; followers wait on it.
    changed: watch::Sender<u64>,
    limit: usize,
}

struct State {
    /// The latest events, at most the limit.
    events: VecDeque<StreamEvent>,
    /// How many events were dropped from the front: `events[0]` is the
    /// leader's event number `dropped`.
    dropped: usize,
    end: Option<Ended>,
    /// Followers reading the relay now.
    readers: usize,
    served_by: Option<ServedBy>,
}

/// How the leader's stream ended.
#[derive(Clone)]
pub(super) enum Ended {
    Finished,
    Failed(Error),
    /// The leader's caller went away and no follower was reading: the
    /// upstream call was cancelled.
    Abandoned,
}

impl Relay {
    /// A relay holding at most `limit` events.
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                events: VecDeque::new(),
                dropped: 0,
                end: None,
                readers: 0,
                served_by: None,
            }),
            changed: watch::Sender::new(0),
            limit,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.changed
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// Who serves the leader, for the followers' responses.
    pub(super) fn set_served_by(&self, served_by: Option<ServedBy>) {
        self.state().served_by = served_by;
    }

    /// Who serves the leader, once it has its response.
    pub(super) fn served_by(&self) -> Option<ServedBy> {
        self.state().served_by.clone()
    }

    /// Passes on one of the leader's events.
    pub(super) fn push(&self, event: &StreamEvent) {
        {
            let mut state = self.state();
            if state.end.is_some() {
                return;
            }
            if self.limit == 0 {
                state.dropped += 1;
            } else {
                if state.events.len() == self.limit {
                    state.events.pop_front();
                    state.dropped += 1;
                }
                state.events.push_back(event.clone());
            }
        }
        self.bump();
    }

    /// The leader's stream ended (the first end counts).
    pub(super) fn end(&self, ended: Ended) {
        self.state().end.get_or_insert(ended);
        self.bump();
    }

    /// Whether the leader's stream has begun (or ended): a follower that
    /// asked for a stream can follow it live.
    pub(super) fn started(&self) -> bool {
        let state = self.state();
        !state.events.is_empty() || state.dropped > 0 || state.end.is_some()
    }

    /// Waits until the leader's stream has begun.
    pub(super) async fn wait_started(&self) {
        let mut changed = self.changed.subscribe();
        // Never fails: the relay holds its own sender.
        let _ = changed.wait_for(|_| self.started()).await;
    }

    /// Counts a follower that may read the relay, from now until the
    /// registration is dropped: while one is counted, the leader's stream
    /// is read to its end even if the leader's caller goes away.
    pub(super) fn register(self: &Arc<Self>) -> Registration {
        self.state().readers += 1;
        Registration(Arc::clone(self))
    }

    /// Whether the leader's stream was cancelled with no follower counted:
    /// a follower that comes after that calls anew.
    pub(super) fn abandoned(&self) -> bool {
        matches!(self.state().end, Some(Ended::Abandoned))
    }

    /// Called when the leader's caller drops its stream before the end:
    /// true if followers are counted, and the stream must be read on for
    /// them; else the relay is marked abandoned.
    fn hand_off(&self) -> bool {
        let mut state = self.state();
        if state.readers > 0 {
            return true;
        }
        state.end.get_or_insert(Ended::Abandoned);
        drop(state);
        self.bump();
        false
    }

    /// A stream of the leader's events for one follower, from the first.
    pub(super) fn follow(registration: Registration, landing: Follow) -> ChatStream {
        let relay = Arc::clone(&registration.0);
        let reader = Reader {
            changed: relay.changed.subscribe(),
            relay,
            _registration: registration,
            landing,
            next: 0,
            progress: Progress::default(),
            rest: Vec::new().into_iter(),
            done: false,
        };
        ChatStream::new(futures_util::stream::unfold(reader, |mut reader| async move {
            reader.next().await.map(|item| (item, reader))
        }))
    }
}

/// A follower counted by its relay ([`Relay::register`]).
pub(super) struct Registration(Arc<Relay>);

impl Drop for Registration {
    fn drop(&mut self) {
        self.0.state().readers -= 1;
    }
}

/// One follower's place in the relay.
struct Reader {
    relay: Arc<Relay>,
    _registration: Registration,
    changed: watch::Receiver<u64>,
    landing: Follow,
    next: usize,
    progress: Progress,
    /// What is left to send from the stored reply, after an overflow.
    rest: std::vec::IntoIter<StreamEvent>,
    done: bool,
}

enum Step {
    Event(StreamEvent),
    Wait,
    Resume,
    End(Option<Error>),
}

impl Reader {
    async fn next(&mut self) -> Option<Result<StreamEvent>> {
        loop {
            if let Some(event) = self.rest.next() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            let step = {
                let state = self.relay.state();
                if self.next < state.dropped {
                    Step::Resume
                } else if let Some(event) = state.events.get(self.next - state.dropped) {
                    Step::Event(event.clone())
                } else {
                    match &state.end {
                        None => Step::Wait,
                        Some(Ended::Finished) => Step::End(None),
                        Some(Ended::Failed(error)) => Step::End(Some(error.clone())),
                        Some(Ended::Abandoned) => Step::End(Some(cut())),
                    }
                }
            };
            match step {
                Step::Event(mut event) => {
                    self.next += 1;
                    self.progress.note(&event);
                    if let StreamEvent::Usage(usage) = &mut event {
                        usage.source = UsageSource::CacheHit;
                    }
                    return Some(Ok(event));
                }
                Step::Wait => {
                    // Never fails: the relay holds its own sender.
                    let _ = self.changed.changed().await;
                }
                Step::End(error) => {
                    self.done = true;
                    return error.map(Err);
                }
                Step::Resume => {
                    self.done = true;
                    match landing_of(&mut self.landing).await {
                        Some(Landing::Reply(entry, _)) => {
                            self.rest = self.progress.rest_of(&entry.reply).into_iter();
                        }
                        Some(Landing::Failed(error)) => return Some(Err(error)),
                        None => return Some(Err(cut())),
                    }
                }
            }
        }
    }
}

/// The error a follower ends with when the leader's stream stopped and
/// nothing can finish it.
pub(super) fn cut() -> Error {
    Error::StreamTruncated {
        provider: "cache (the shared upstream call)".to_owned(),
    }
}

/// What a follower has passed on: bytes of each kind of content, so the
/// rest can be taken from the stored reply.
#[derive(Default)]
struct Progress {
    started: bool,
    reasoning: usize,
    /// Reasoning signatures and redacted blocks passed on.
    reasoning_extras: usize,
    text: usize,
    /// Per tool call: whether its id and name went out, and the bytes of
    /// arguments.
    tools: Vec<usize>,
}

impl Progress {
    fn note(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Start { .. } => self.started = true,
            StreamEvent::TextDelta { text } => self.text += text.len(),
            StreamEvent::ReasoningDelta {
                text,
                signature,
                redacted,
            } => {
                self.reasoning += text.len();
                self.reasoning_extras += usize::from(signature.is_some()) + usize::from(redacted.is_some());
            }
            StreamEvent::ToolCallDelta { index, arguments, .. } => {
                if self.tools.len() <= *index {
                    self.tools.resize(index + 1, 0);
                }
                self.tools[*index] += arguments.len();
            }
            StreamEvent::Usage(_) | StreamEvent::Finish { .. } => {}
        }
    }

    /// The events that finish `reply` for a follower that has passed on
    /// this much of it: the reply's own events less what went out, in
    /// deltas as a replayed hit has them, usage marked as a cache hit.
    fn rest_of(&self, reply: &ChatResponse) -> Vec<StreamEvent> {
        let (mut text_seen, mut reasoning_seen, mut extras_seen) = (0, 0, 0);
        let rest = reply.to_events().into_iter().filter_map(|event| match event {
            StreamEvent::Start { .. } => (!self.started).then_some(event),
            StreamEvent::TextDelta { text } => Some(StreamEvent::text(
                unsent(&text, &mut text_seen, self.text).to_owned(),
            )),
            StreamEvent::ReasoningDelta {
                text,
                signature,
                redacted,
            } => {
                let rest = unsent(&text, &mut reasoning_seen, self.reasoning).to_owned();
                extras_seen += usize::from(signature.is_some()) + usize::from(redacted.is_some());
                let extras_sent = extras_seen <= self.reasoning_extras;
                Some(StreamEvent::ReasoningDelta {
                    text: rest,
                    signature: signature.filter(|_| !extras_sent),
                    redacted: redacted.filter(|_| !extras_sent),
                })
            }
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => Some(match self.tools.get(index) {
                None => StreamEvent::ToolCallDelta {
                    index,
                    id,
                    name,
                    arguments,
                },
                Some(&sent) => StreamEvent::ToolCallDelta {
                    index,
                    id: None,
                    name: None,
                    arguments: arguments.get(sent..).unwrap_or_default().to_owned(),
                },
            }),
            StreamEvent::Usage(mut usage) => {
                usage.source = UsageSource::CacheHit;
                Some(StreamEvent::Usage(usage))
            }
            finish @ StreamEvent::Finish { .. } => Some(finish),
        });
        in_deltas(rest)
    }
}

/// The part of `text` past the first `sent` bytes of its kind, where `seen`
/// bytes of that kind came before it in the reply (advanced past `text`).
fn unsent<'a>(text: &'a str, seen: &mut usize, sent: usize) -> &'a str {
    let skip = sent.saturating_sub(*seen).min(text.len());
    *seen += text.len();
    // The bytes passed on were whole deltas of this same text, so `skip`
    // falls on a character boundary; were it not, sending the whole part
    // again is better than losing it.
    text.get(skip..).unwrap_or(text)
}

/// A leader's stream which, dropped before its end while followers read
/// its relay, is read to its end in the background instead of cancelled.
pub(super) struct Handoff {
    inner: Option<ChatStream>,
    relay: Arc<Relay>,
    background: Arc<Background>,
}

impl Handoff {
    pub(super) fn new(inner: ChatStream, relay: Arc<Relay>, background: Arc<Background>) -> Self {
        Self {
            inner: Some(inner),
            relay,
            background,
        }
    }
}

impl Stream for Handoff {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let item = std::task::ready!(inner.poll_next_unpin(cx));
        if item.is_none() {
            self.inner = None;
        }
        Poll::Ready(item)
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        if !self.relay.hand_off() {
            // Nobody else reads it: the upstream call is cancelled.
            return;
        }
        tracing::debug!("a streamed cache leader went away; its stream is read on for its followers");
        self.background
            .run(async move { while inner.next().await.is_some() {} });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ContentPart, FinishReason, Reasoning, StreamAccumulator, ToolCall, Usage};

    /// A reply with every kind of content, each longer than one delta.
    fn reply() -> ChatResponse {
        let mut reply = ChatResponse::text_reply("r-1", "m", "")
            .with_finish_reason(FinishReason::ToolCalls)
            .with_usage(Usage::new(12, 40));
        reply.message.content = vec![
            ContentPart::Reasoning(Reasoning {
                text: "The user asks about the sky; light scatters by wavelength. ".repeat(2),
                signature: Some("sig-1".into()),
                redacted: None,
            }),
            ContentPart::Reasoning(Reasoning {
                text: String::new(),
                signature: None,
                redacted: Some("opaque".into()),
            }),
            ContentPart::Text {
                text: "Rayleigh scattering favours short waves, so the sky looks blue — ".repeat(2),
            },
            ContentPart::ToolCall(ToolCall::new(
                "call_1",
                "cite",
                r#"{"source":"physics","pages":[1,2,3,4,5,6,7,8,9,10,11,12]}"#,
            )),
            ContentPart::ToolCall(ToolCall::new("call_2", "cite", r#"{"source":"optics"}"#)),
        ];
        reply
    }

    #[test]
    fn a_follower_cut_after_any_event_finishes_with_the_whole_reply() {
        let reply = reply();
        let events = in_deltas(reply.to_events());
        assert!(events.len() > 12, "every kind of content comes in several deltas");
        for cut in 0..=events.len() {
            let mut progress = Progress::default();
            let mut seen = events[..cut].to_vec();
            for event in &seen {
                progress.note(event);
            }
            seen.extend(progress.rest_of(&reply));
            let mut accumulator = StreamAccumulator::new();
            for event in &seen {
                accumulator.push(event);
            }
            let folded = accumulator.finish();
            assert_eq!(folded.message, reply.message, "cut after {cut} events");
            assert_eq!(folded.finish_reason, reply.finish_reason);
            let usage = folded.usage.expect("usage");
            assert_eq!((usage.input_tokens, usage.output_tokens), (12, 40));
            assert_eq!(
                seen.iter()
                    .filter(|e| matches!(e, StreamEvent::Start { .. }))
                    .count(),
                1
            );
        }
    }
}
