//! [`Holdback`]: a bounded place for a filter to hold events.

use super::filter::Emit;
use crate::error::{Error, Result};
use crate::types::StreamEvent;

/// Events a [`Filter`](super::Filter) holds back, with a limit.
///
/// A filter that must see more than one event before deciding (a
/// placeholder split across text deltas, a phrase to block) holds them here
/// and [`release`](Self::release)s them later. Holding more than the limit
/// fails with [`Error::HoldLimitExceeded`] instead of buffering without end.
/// Each event weighs the bytes of its text (or arguments) plus a fixed 16.
///
/// ```
/// use tower_ai::observe::Holdback;
/// use tower_ai::types::StreamEvent;
///
/// let mut held = Holdback::new(64);
/// held.hold(StreamEvent::text("a secret"))?;
/// assert_eq!(held.len(), 1);
/// let err = held.hold(StreamEvent::text("x".repeat(100))).unwrap_err();
/// assert!(matches!(err, tower_ai::Error::HoldLimitExceeded { limit: 64, .. }));
/// # Ok::<(), tower_ai::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Holdback {
    events: Vec<StreamEvent>,
    bytes: usize,
    limit: usize,
}

impl Holdback {
    /// An empty holdback that holds at most `limit_bytes`.
    pub fn new(limit_bytes: usize) -> Self {
        Self {
            events: Vec::new(),
            bytes: 0,
            limit: limit_bytes,
        }
    }

    /// Holds an event back.
    ///
    /// # Errors
    ///
    /// [`Error::HoldLimitExceeded`] when holding it would pass the limit (the
    /// event is not held).
    pub fn hold(&mut self, event: StreamEvent) -> Result<()> {
        let weight = weight(&event);
        if self.bytes.saturating_add(weight) > self.limit {
            return Err(Error::HoldLimitExceeded { limit: self.limit });
        }
        self.bytes += weight;
        self.events.push(event);
        Ok(())
    }

    /// Sends every held event on, in order, and empties the holdback.
    pub fn release(&mut self, out: &mut Emit) {
        for event in self.events.drain(..) {
            out.push(event);
        }
        self.bytes = 0;
    }

    /// Takes the held events out (to rewrite them), emptying the holdback.
    pub fn take(&mut self) -> Vec<StreamEvent> {
        self.bytes = 0;
        std::mem::take(&mut self.events)
    }

    /// The held events.
    pub fn events(&self) -> &[StreamEvent] {
        &self.events
    }

    /// How many events are held.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The weight held, in bytes.
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// The limit, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

fn weight(event: &StreamEvent) -> usize {
    let header = match event {
        StreamEvent::Start { id, model } => id.len() + model.len(),
        _ => 0,
    };
    crate::types::stream_content_len(event) + header + 16
}
