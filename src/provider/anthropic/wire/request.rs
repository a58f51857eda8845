//! The body of `POST /v1/messages`.
//!
//! Borrowed from the [`ChatRequest`](crate::types::ChatRequest) it is built
//! from, so encoding copies no text before serialisation.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

/// The body of `POST /v1/messages`.
///
/// Serialised by hand so that the request's `extra` map wins: a key it names
/// is written from `extra` only, never twice.
pub(crate) struct MessagesRequest<'a> {
    pub(crate) model: &'a str,
    pub(crate) max_tokens: u32,
    pub(crate) system: Option<System<'a>>,
    pub(crate) messages: Vec<MessageParam<'a>>,
    pub(crate) tools: Vec<ToolParam<'a>>,
    pub(crate) tool_choice: Option<ToolChoiceParam<'a>>,
    pub(crate) temperature: Option<f32>,
    pub(crate) top_p: Option<f32>,
    pub(crate) top_k: Option<u32>,
    pub(crate) stop_sequences: &'a [String],
    pub(crate) thinking: Option<ThinkingParam>,
    pub(crate) output_config: Option<OutputConfig<'a>>,
    pub(crate) stream: bool,
    pub(crate) extra: &'a Map<String, Value>,
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
pub(crate) enum System<'a> {
    Text(&'a str),
    Blocks(Vec<ContentBlockParam<'a>>),
}

#[derive(Serialize)]
pub(crate) struct MessageParam<'a> {
    pub(crate) role: &'static str,
    pub(crate) content: Vec<ContentBlockParam<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ContentBlockParam<'a> {
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
    pub(crate) fn is_tool_result(&self) -> bool {
        matches!(self, ContentBlockParam::ToolResult { .. })
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ImageSourceParam<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum ToolResultContent<'a> {
    Text(&'a str),
    Blocks(Vec<ContentBlockParam<'a>>),
}

#[derive(Serialize)]
pub(crate) struct ToolParam<'a> {
    pub(crate) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<&'a str>,
    pub(crate) input_schema: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) strict: Option<bool>,
}

#[derive(Serialize)]
pub(crate) struct ToolChoiceParam<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) disable_parallel_tool_use: Option<bool>,
}

#[derive(Serialize)]
pub(crate) struct ThinkingParam {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) budget_tokens: u32,
}

#[derive(Serialize)]
pub(crate) struct OutputConfig<'a> {
    pub(crate) format: OutputFormat<'a>,
}

#[derive(Serialize)]
pub(crate) struct OutputFormat<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) schema: &'a Value,
}
