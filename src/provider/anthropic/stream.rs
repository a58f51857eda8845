//! [`AnthropicStreamDecoder`]: Messages API stream events to [`StreamEvent`]s.

use std::collections::VecDeque;
use std::sync::Arc;

use super::codec::{content_part, finish_reason};
use super::error;
use super::wire::{EventWire, UsageWire};
use crate::error::{Error, Result};
use crate::provider::lenient::from_name;
use crate::provider::StreamDecoder;
use crate::transport::{SseDecoder, SseEvent};
use crate::types::{ContentPart, FinishReason, StreamEvent};

/// At most this many content blocks may be open at once (Anthropic opens one
/// at a time); more is a malformed stream, not a reason to grow without bound.
const MAX_OPEN_BLOCKS: usize = 256;

/// Decodes the server-sent events of one streamed Messages API reply.
///
/// Made by [`AnthropicCodec::stream_decoder`](crate::provider::Codec::stream_decoder).
/// Tool calls are numbered from 0 in the order they begin, whatever Anthropic's
/// content block index; usage events carry full figures (input figures from
/// `message_start`, cumulative output from `message_delta`).
#[derive(Debug)]
pub struct AnthropicStreamDecoder {
    provider: Arc<str>,
    done: bool,
    /// Input figures from `message_start`, for the usage of `message_delta`.
    start_usage: UsageWire,
    /// Open content blocks: (Anthropic's block index, what it is).
    blocks: Vec<(u64, Block)>,
    next_tool: usize,
    /// A stop reason `message_start` carried, for a stream whose
    /// `message_delta` gives none.
    start_stop: Option<FinishReason>,
    /// A `Finish` event was emitted.
    finished: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    /// A client tool call, with its neutral index.
    Tool(usize),
    Thinking,
    /// A server tool call, a server tool result, or a type added later.
    Other,
}

impl AnthropicStreamDecoder {
    pub(super) fn new(provider: Arc<str>) -> Self {
        Self {
            provider,
            done: false,
            start_usage: UsageWire::default(),
            blocks: Vec::new(),
            next_tool: 0,
            start_stop: None,
            finished: false,
        }
    }

    fn decode_error(&self, message: impl std::fmt::Display) -> Error {
        Error::decode(&self.provider, message)
    }

    fn block(&self, index: Option<u64>) -> Option<Block> {
        let index = index?;
        self.blocks
            .iter()
            .rev()
            .find(|(i, _)| *i == index)
            .map(|(_, b)| *b)
    }

    fn open_block(&mut self, index: u64, block: Block) -> Result<()> {
        if let Some(slot) = self.blocks.iter_mut().find(|(i, _)| *i == index) {
            slot.1 = block;
            return Ok(());
        }
        if self.blocks.len() >= MAX_OPEN_BLOCKS {
            return Err(self.decode_error("too many content blocks open at once"));
        }
        self.blocks.push((index, block));
        Ok(())
    }

    fn content_block_start(&mut self, wire: EventWire<'_>, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let index = wire
            .index
            .ok_or_else(|| self.decode_error("content_block_start without an index"))?;
        let block = wire
            .content_block
            .ok_or_else(|| self.decode_error("content_block_start without a content_block"))?;
        let kind = match block.kind.as_str() {
            "text" => {
                if let Some(text) = block.text.filter(|t| !t.is_empty()) {
                    out.push_back(StreamEvent::TextDelta { text });
                }
                Block::Text
            }
            "tool_use" => {
                let tool = self.next_tool;
                self.next_tool += 1;
                // The start block holds `input: {}`; the arguments follow as
                // `input_json_delta` fragments. Keep a non-empty one, should it come.
                let arguments = match block.input {
                    Some(serde_json::Value::Object(map)) if !map.is_empty() => {
                        serde_json::Value::Object(map).to_string()
                    }
                    _ => String::new(),
                };
                out.push_back(StreamEvent::ToolCallDelta {
                    index: tool,
                    id: block.id,
                    name: block.name,
                    arguments,
                });
                Block::Tool(tool)
            }
            "thinking" => {
                let text = block.thinking.unwrap_or_default();
                let signature = block.signature.filter(|s| !s.is_empty());
                if !text.is_empty() || signature.is_some() {
                    out.push_back(StreamEvent::ReasoningDelta {
                        text,
                        signature,
                        redacted: None,
                    });
                }
                Block::Thinking
            }
            "redacted_thinking" => {
                let data = block
                    .data
                    .ok_or_else(|| self.decode_error("a redacted_thinking block without data"))?;
                out.push_back(StreamEvent::ReasoningDelta {
                    text: String::new(),
                    signature: None,
                    redacted: Some(data),
                });
                Block::Other
            }
            _ => Block::Other,
        };
        self.open_block(index, kind)
    }

    fn content_block_delta(&mut self, wire: EventWire<'_>, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let delta = wire
            .delta
            .ok_or_else(|| self.decode_error("content_block_delta without a delta"))?;
        let missing = |field: &str| self.decode_error(format!("a {field} delta without its {field}"));
        match delta.kind.as_deref() {
            Some("text_delta") => {
                let text = delta.text.ok_or_else(|| missing("text"))?;
                if !text.is_empty() {
                    out.push_back(StreamEvent::TextDelta { text });
                }
            }
            Some("input_json_delta") => {
                let fragment = delta.partial_json.ok_or_else(|| missing("partial_json"))?;
                match self.block(wire.index) {
                    Some(Block::Tool(index)) => {
                        if !fragment.is_empty() {
                            out.push_back(StreamEvent::ToolCallDelta {
                                index,
                                id: None,
                                name: None,
                                arguments: fragment,
                            });
                        }
                    }
                    // A server tool's input: not a call for the application.
                    Some(_) => {}
                    None => {
                        return Err(self.decode_error("an input_json_delta for a block that was not started"))
                    }
                }
            }
            Some("thinking_delta") => {
                let text = delta.thinking.ok_or_else(|| missing("thinking"))?;
                if !text.is_empty() {
                    out.push_back(StreamEvent::ReasoningDelta {
                        text,
                        signature: None,
                        redacted: None,
                    });
                }
            }
            Some("signature_delta") => {
                let signature = delta.signature.ok_or_else(|| missing("signature"))?;
                out.push_back(StreamEvent::ReasoningDelta {
                    text: String::new(),
                    signature: Some(signature),
                    redacted: None,
                });
            }
            // citations_delta and types added later.
            _ => {}
        }
        Ok(())
    }

    fn message_delta(&mut self, wire: EventWire<'_>, out: &mut VecDeque<StreamEvent>) {
        if let Some(usage) = wire.usage {
            // Figures are cumulative; the input ones may be left out.
            let start = self.start_usage;
            let full = UsageWire {
                input_tokens: usage.input_tokens.or(start.input_tokens),
                output_tokens: usage.output_tokens.or(start.output_tokens),
                cache_creation_input_tokens: usage
                    .cache_creation_input_tokens
                    .or(start.cache_creation_input_tokens),
                cache_read_input_tokens: usage.cache_read_input_tokens.or(start.cache_read_input_tokens),
            };
            out.push_back(StreamEvent::Usage(full.to_usage()));
        }
        if let Some(reason) = wire.delta.and_then(|d| d.stop_reason) {
            self.finish(finish_reason(&reason), out);
        }
    }

    fn finish(&mut self, reason: FinishReason, out: &mut VecDeque<StreamEvent>) {
        self.finished = true;
        out.push_back(StreamEvent::Finish { reason });
    }

    /// `message_start`: the head, the input usage, and any content the message
    /// already holds, folded in as if it had streamed.
    fn message_start(&mut self, wire: EventWire<'_>, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let message = wire
            .message
            .ok_or_else(|| self.decode_error("message_start without a message"))?;
        out.push_back(StreamEvent::Start {
            id: message.id.unwrap_or_default(),
            model: message.model.unwrap_or_default(),
        });
        if let Some(usage) = message.usage {
            self.start_usage = usage;
            out.push_back(StreamEvent::Usage(usage.to_usage()));
        }
        for block in message.content.into_iter().flatten() {
            match content_part(&self.provider, block)? {
                Some(ContentPart::Text { text }) => out.push_back(StreamEvent::TextDelta { text }),
                Some(ContentPart::ToolCall(call)) => {
                    let index = self.next_tool;
                    self.next_tool += 1;
                    out.push_back(StreamEvent::ToolCallDelta {
                        index,
                        id: Some(call.id),
                        name: Some(call.name),
                        arguments: call.arguments,
                    });
                }
                Some(ContentPart::Reasoning(reasoning)) => out.push_back(StreamEvent::ReasoningDelta {
                    text: reasoning.text,
                    signature: reasoning.signature,
                    redacted: reasoning.redacted,
                }),
                Some(_) | None => {}
            }
        }
        self.start_stop = message.stop_reason.as_deref().map(finish_reason);
        Ok(())
    }
}

impl StreamDecoder for AnthropicStreamDecoder {
    type Framer = SseDecoder;

    fn decode(&mut self, event: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        // Events without a name are told apart by their JSON `type`; `ping`
        // and named events of types added later are skipped unread.
        if !event.event.is_empty() && matches!(EventKind::of(&event.event), EventKind::Other) {
            return Ok(());
        }
        if self.done {
            return Ok(());
        }
        let wire: EventWire<'_> = serde_json::from_str(&event.data)
            .map_err(|e| Error::decode_with(&self.provider, "invalid stream event", e))?;
        let kind = match wire.kind.as_deref() {
            Some(kind) => EventKind::of(kind),
            None if !event.event.is_empty() => EventKind::of(&event.event),
            None => return Err(self.decode_error("a stream event without a type")),
        };
        match kind {
            EventKind::MessageStart => self.message_start(wire, out)?,
            EventKind::BlockStart => self.content_block_start(wire, out)?,
            EventKind::BlockDelta => self.content_block_delta(wire, out)?,
            EventKind::BlockStop => {
                if let Some(index) = wire.index {
                    if let Some(pos) = self.blocks.iter().rposition(|(i, _)| *i == index) {
                        self.blocks.swap_remove(pos);
                    }
                }
            }
            EventKind::MessageDelta => self.message_delta(wire, out),
            EventKind::MessageStop => {
                self.done = true;
                if !self.finished {
                    if let Some(reason) = self.start_stop.take() {
                        self.finish(reason, out);
                    }
                }
            }
            EventKind::Error => {
                return Err(error::from_event(
                    &self.provider,
                    wire.error.as_ref(),
                    wire.request_id,
                ));
            }
            EventKind::Other => {}
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// The stream event types this decoder acts on.
#[derive(Clone, Copy)]
enum EventKind {
    MessageStart,
    BlockStart,
    BlockDelta,
    BlockStop,
    MessageDelta,
    MessageStop,
    Error,
    /// `ping`, and types added later.
    Other,
}

/// The stream event types, by name.
static EVENT_KINDS: &[(&str, EventKind)] = &[
    ("message_start", EventKind::MessageStart),
    ("content_block_start", EventKind::BlockStart),
    ("content_block_delta", EventKind::BlockDelta),
    ("content_block_stop", EventKind::BlockStop),
    ("message_delta", EventKind::MessageDelta),
    ("message_stop", EventKind::MessageStop),
    ("error", EventKind::Error),
];

impl EventKind {
    fn of(name: &str) -> Self {
        from_name(name, EVENT_KINDS, |_| EventKind::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_index_counts_calls_not_blocks() {
        let mut d = AnthropicStreamDecoder::new("anthropic".into());
        let mut out = VecDeque::new();
        let ev = |name: &str, data: &str| SseEvent {
            event: name.into(),
            data: data.into(),
            ..SseEvent::default()
        };
        d.decode(
            &ev("message_start", r#"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":3,"cache_read_input_tokens":2}}}"#),
            &mut out,
        )
        .unwrap();
        assert!(
            matches!(out.back(), Some(StreamEvent::Usage(u)) if u.input_tokens == 5 && u.cache_read_tokens == 2)
        );
        d.decode(
            &ev("content_block_start", r#"{"type":"content_block_start","index":5,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}"#),
            &mut out,
        )
        .unwrap();
        assert!(matches!(
            out.back(),
            Some(StreamEvent::ToolCallDelta { index: 0, .. })
        ));
    }
}
