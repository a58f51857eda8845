//! Serde structs of the Messages API wire format.
//!
//! Requests borrow from the [`ChatRequest`](crate::types::ChatRequest) they
//! are built from, so encoding copies no text before serialisation. Replies
//! and stream events are read into flat structs (no internally tagged enums,
//! which would buffer every value) that ignore unknown keys.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::provider::lenient::{maybe_string, Count, CowStr};
use crate::types::Usage;

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

/// The body of `POST /v1/messages`.
///
/// Serialised by hand so that the request's `extra` map wins: a key it names
/// is written from `extra` only, never twice.
pub(super) struct MessagesRequest<'a> {
    pub(super) model: &'a str,
    pub(super) max_tokens: u32,
    pub(super) system: Option<System<'a>>,
    pub(super) messages: Vec<MessageParam<'a>>,
    pub(super) tools: Vec<ToolParam<'a>>,
    pub(super) tool_choice: Option<ToolChoiceParam<'a>>,
    pub(super) temperature: Option<f32>,
    pub(super) top_p: Option<f32>,
    pub(super) top_k: Option<u32>,
    pub(super) stop_sequences: &'a [String],
    pub(super) thinking: Option<ThinkingParam>,
    pub(super) output_config: Option<OutputConfig<'a>>,
    pub(super) stream: bool,
    pub(super) extra: &'a Map<String, Value>,
}

impl Serialize for MessagesRequest<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let extra = self.extra;
        let mut map = serializer.serialize_map(None)?;
        macro_rules! field {
            ($key:literal, $value:expr) => {
                if extra.is_empty() || !extra.contains_key($key) {
                    map.serialize_entry($key, $value)?;
                }
            };
        }
        field!("model", self.model);
        field!("max_tokens", &self.max_tokens);
        if let Some(system) = &self.system {
            field!("system", system);
        }
        field!("messages", &self.messages);
        if !self.tools.is_empty() {
            field!("tools", &self.tools);
        }
        if let Some(choice) = &self.tool_choice {
            field!("tool_choice", choice);
        }
        if let Some(t) = &self.temperature {
            field!("temperature", t);
        }
        if let Some(p) = &self.top_p {
            field!("top_p", p);
        }
        if let Some(k) = &self.top_k {
            field!("top_k", k);
        }
        if !self.stop_sequences.is_empty() {
            field!("stop_sequences", self.stop_sequences);
        }
        if let Some(thinking) = &self.thinking {
            field!("thinking", thinking);
        }
        if let Some(output) = &self.output_config {
            field!("output_config", output);
        }
        if self.stream {
            field!("stream", &true);
        }
        for (key, value) in extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The top-level system prompt: one string, or several text blocks.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum System<'a> {
    Text(&'a str),
    Blocks(Vec<ContentBlockParam<'a>>),
}

#[derive(Serialize)]
pub(super) struct MessageParam<'a> {
    pub(super) role: &'static str,
    pub(super) content: Vec<ContentBlockParam<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ContentBlockParam<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: ImageSourceParam<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<ToolResultContent<'a>>,
        #[serde(skip_serializing_if = "is_false")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
}

impl ContentBlockParam<'_> {
    pub(super) fn is_tool_result(&self) -> bool {
        matches!(self, ContentBlockParam::ToolResult { .. })
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ImageSourceParam<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum ToolResultContent<'a> {
    Text(&'a str),
    Blocks(Vec<ContentBlockParam<'a>>),
}

#[derive(Serialize)]
pub(super) struct ToolParam<'a> {
    pub(super) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a str>,
    pub(super) input_schema: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) strict: Option<bool>,
}

#[derive(Serialize)]
pub(super) struct ToolChoiceParam<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) disable_parallel_tool_use: Option<bool>,
}

#[derive(Serialize)]
pub(super) struct ThinkingParam {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) budget_tokens: u32,
}

#[derive(Serialize)]
pub(super) struct OutputConfig<'a> {
    pub(super) format: OutputFormat<'a>,
}

#[derive(Serialize)]
pub(super) struct OutputFormat<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) schema: &'a Value,
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// A complete reply (`"type": "message"`), or an error envelope sent with a 2xx.
#[derive(Deserialize)]
pub(super) struct MessageResponse<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) kind: Option<CowStr<'a>>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) id: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) model: Option<String>,
    #[serde(default, borrow)]
    pub(super) content: Option<Vec<ContentBlock<'a>>>,
    #[serde(default, borrow)]
    pub(super) stop_reason: Option<CowStr<'a>>,
    #[serde(default)]
    pub(super) usage: Option<UsageWire>,
}

/// One content block of a reply, or the opening of one in a stream.
///
/// Fields that belong to other block types are read leniently (anything that
/// is not a string is `None`), so a block type added later never breaks decoding.
#[derive(Deserialize)]
pub(super) struct ContentBlock<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: CowStr<'a>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) text: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) id: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) input: Option<Value>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) thinking: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) signature: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) data: Option<String>,
}

/// Anthropic's usage object. Every figure is optional (older replies leave
/// the cache figures out; `message_delta` may carry only `output_tokens`),
/// and read as a lenient [`Count`]: `null` is absent, a negative number 0, a
/// float or a numeric string its count.
#[derive(Debug, Deserialize, Default, Clone, Copy)]
pub(super) struct UsageWire {
    #[serde(default)]
    pub(super) input_tokens: Option<Count>,
    #[serde(default)]
    pub(super) output_tokens: Option<Count>,
    #[serde(default)]
    pub(super) cache_creation_input_tokens: Option<Count>,
    #[serde(default)]
    pub(super) cache_read_input_tokens: Option<Count>,
}

impl UsageWire {
    /// The neutral figures: input counts cached tokens too.
    pub(super) fn to_usage(self) -> Usage {
        let figure = |count: Option<Count>| count.map_or(0, |c| c.0);
        let input = figure(self.input_tokens);
        let write = figure(self.cache_creation_input_tokens);
        let read = figure(self.cache_read_input_tokens);
        Usage::new(
            input.saturating_add(write).saturating_add(read),
            figure(self.output_tokens),
        )
        .with_cache_read(read)
        .with_cache_write(write)
    }
}

// ---------------------------------------------------------------------------
// Stream events
// ---------------------------------------------------------------------------

/// Any stream event: the fields of every event type, all optional.
#[derive(Deserialize)]
pub(super) struct EventWire<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) kind: Option<CowStr<'a>>,
    #[serde(default)]
    pub(super) index: Option<u64>,
    #[serde(default)]
    pub(super) message: Option<StartMessage>,
    #[serde(default, borrow)]
    pub(super) content_block: Option<ContentBlock<'a>>,
    #[serde(default, borrow)]
    pub(super) delta: Option<DeltaWire<'a>>,
    #[serde(default)]
    pub(super) usage: Option<UsageWire>,
    #[serde(default)]
    pub(super) error: Option<Value>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) request_id: Option<String>,
}

/// The message of `message_start` (its `content` is ignored).
#[derive(Deserialize)]
pub(super) struct StartMessage {
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) id: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) model: Option<String>,
    #[serde(default)]
    pub(super) usage: Option<UsageWire>,
}

/// The `delta` of `content_block_delta` or of `message_delta`.
#[derive(Deserialize)]
pub(super) struct DeltaWire<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) kind: Option<CowStr<'a>>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) text: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) partial_json: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) thinking: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(super) signature: Option<String>,
    #[serde(default, borrow)]
    pub(super) stop_reason: Option<CowStr<'a>>,
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// What an error body said: `{"type":"error","error":{"type","message"},"request_id"}`.
///
/// Read from a [`Value`] (errors are rare), accepting near misses: an `error`
/// that is a plain string, or a top-level `message`.
#[derive(Default)]
pub(super) struct ErrorFields {
    pub(super) kind: Option<String>,
    pub(super) message: Option<String>,
    pub(super) request_id: Option<String>,
}

impl ErrorFields {
    /// Reads the fields of an error envelope; `error` is its `error` member.
    pub(super) fn from_parts(error: Option<&Value>, top: Option<&Value>) -> Self {
        let string = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let mut fields = ErrorFields::default();
        match error {
            Some(Value::Object(obj)) => {
                fields.kind = string(obj.get("type"));
                fields.message = string(obj.get("message"));
            }
            Some(Value::String(s)) => fields.message = Some(s.clone()),
            _ => {}
        }
        if let Some(Value::Object(top)) = top {
            if fields.message.is_none() {
                fields.message = string(top.get("message"));
            }
            fields.request_id = string(top.get("request_id"));
        }
        fields
    }

    /// Reads an error body; `None` if it is not a JSON object.
    pub(super) fn from_body(body: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        if !value.is_object() {
            return None;
        }
        Some(Self::from_parts(value.get("error"), Some(&value)))
    }
}
