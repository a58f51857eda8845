//! [`OpenAiStreamDecoder`]: `chat.completion.chunk` events to [`StreamEvent`]s.

use std::collections::VecDeque;
use std::sync::Arc;

use super::codec::{finish_reason, normalise_finish};
use super::error;
use super::wire::{CompletionIn, MessageIn};
use crate::error::{Error, Result};
use crate::provider::StreamDecoder;
use crate::transport::{SseDecoder, SseEvent};
use crate::types::StreamEvent;

/// Decodes one streamed chat completion.
///
/// - [`StreamEvent::Start`] comes once, before anything else, from the first
///   chunk that names the reply's id or model (Azure's leading chunk with
///   `"model": ""` and no choices is skipped).
/// - Content, refusal and reasoning deltas become text and reasoning deltas;
///   tool-call fragments keep OpenAI's `index`.
/// - `finish_reason` becomes [`StreamEvent::Finish`], the `usage` of the last
///   chunk (or Groq's `x_groq.usage`) a [`StreamEvent::Usage`]; `"usage": null`
///   is ignored wherever it appears.
/// - `data: [DONE]` ends the stream; a body that ends before it is truncated.
/// - An `{"error": {...}}` chunk is returned as the matching typed [`Error`],
///   after a [`StreamEvent::Usage`] if the chunk carries usage.
#[derive(Debug)]
pub struct OpenAiStreamDecoder {
    provider: Arc<str>,
    started: bool,
    done: bool,
    /// How many tool calls have begun (for servers that leave out `index`).
    tool_calls: usize,
    refused: bool,
}

impl OpenAiStreamDecoder {
    pub(super) fn new(provider: Arc<str>) -> Self {
        Self {
            provider,
            started: false,
            done: false,
            tool_calls: 0,
            refused: false,
        }
    }

    /// Sends [`StreamEvent::Start`] if it has not been sent yet.
    fn start(&mut self, names: Names<'_>, out: &mut VecDeque<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push_back(StreamEvent::Start {
                id: names.id.to_owned(),
                model: names.model.to_owned(),
            });
        }
    }

    fn delta(&mut self, names: Names<'_>, mut delta: MessageIn<'_>, out: &mut VecDeque<StreamEvent>) {
        if let Some(reasoning) = delta.take_reasoning() {
            self.start(names, out);
            out.push_back(StreamEvent::ReasoningDelta {
                text: reasoning.into_owned(),
                signature: None,
                redacted: None,
            });
        }
        if let Some(text) = delta.content.0.filter(|t| !t.is_empty()) {
            self.start(names, out);
            out.push_back(StreamEvent::TextDelta {
                text: text.into_owned(),
            });
        }
        if let Some(refusal) = delta.refusal.0.filter(|t| !t.is_empty()) {
            self.start(names, out);
            self.refused = true;
            out.push_back(StreamEvent::TextDelta {
                text: refusal.into_owned(),
            });
        }
        for call in delta.tool_calls.into_iter().flatten() {
            let index = match call.index {
                Some(index) => usize::try_from(index.0).unwrap_or(usize::MAX),
                // Without an index, a fragment with an id begins a call; one
                // without continues the last call.
                None if call.id.is_some() => self.tool_calls,
                None => self.tool_calls.saturating_sub(1),
            };
            self.tool_calls = self.tool_calls.max(index.saturating_add(1));
            let (name, arguments) = match call.function {
                Some(f) => (f.name, f.arguments),
                None => (None, None),
            };
            let id = call.id.map(|i| i.0.into_owned()).filter(|i| !i.is_empty());
            let name = name.map(|n| n.0.into_owned()).filter(|n| !n.is_empty());
            let arguments = arguments.map(|a| a.0.into_owned()).unwrap_or_default();
            if id.is_none() && name.is_none() && arguments.is_empty() {
                continue;
            }
            self.start(names, out);
            out.push_back(StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            });
        }
        if let Some(function) = delta.function_call {
            // The legacy functions API streams one call.
            let name = function.name.map(|n| n.0.into_owned()).filter(|n| !n.is_empty());
            let arguments = function.arguments.map(|a| a.0.into_owned()).unwrap_or_default();
            if name.is_some() || !arguments.is_empty() {
                self.tool_calls = self.tool_calls.max(1);
                self.start(names, out);
                out.push_back(StreamEvent::ToolCallDelta {
                    index: 0,
                    id: None,
                    name,
                    arguments,
                });
            }
        }
    }
}

impl StreamDecoder for OpenAiStreamDecoder {
    type Framer = SseDecoder;

    fn decode(&mut self, event: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        if self.done {
            return Ok(());
        }
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if event.event == "error" {
            return Err(error::from_payload(&self.provider, data.as_bytes()));
        }
        let chunk: CompletionIn<'_> = serde_json::from_str(data)
            .map_err(|e| Error::decode_with(&self.provider, "invalid stream chunk", e))?;
        if chunk.is_error() {
            // Usage sent with the error (the tokens spent before it) is kept.
            if let Some(usage) = chunk.usage() {
                out.push_back(StreamEvent::Usage(usage));
            }
            return Err(error::from_payload(&self.provider, data.as_bytes()));
        }
        let usage = chunk.usage();
        let CompletionIn {
            id, model, choices, ..
        } = chunk;
        let names = Names {
            id: id.as_ref().map_or("", |i| i.as_str()),
            model: model.as_ref().map_or("", |m| m.as_str()),
        };
        if !names.id.is_empty() || !names.model.is_empty() {
            self.start(names, out);
        }
        if let Some(choice) = choices {
            if let Some(delta) = choice.delta.or(choice.message) {
                self.delta(names, delta, out);
            }
            if let Some(reason) = choice.finish_reason.and_then(|r| finish_reason(r.as_str())) {
                self.start(names, out);
                let reason = normalise_finish(reason, self.tool_calls > 0, self.refused);
                out.push_back(StreamEvent::Finish { reason });
            }
        }
        if let Some(usage) = usage {
            self.start(names, out);
            out.push_back(StreamEvent::Usage(usage));
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// The id and model of the chunk being decoded.
#[derive(Clone, Copy)]
struct Names<'a> {
    id: &'a str,
    model: &'a str,
}
