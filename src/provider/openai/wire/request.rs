//! Request bodies: `POST /chat/completions` and `POST /embeddings`.
//!
//! Serialised straight from the borrowed [`ChatRequest`] and
//! [`EmbeddingRequest`]; the request's `extra` fields are written last and
//! win over the fields of the same name.

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use super::messages::WireMessage;
use crate::provider::openai::MaxTokensField;
use crate::types::{
    ChatRequest, EmbeddingRequest, ReasoningConfig, ReasoningEffort, ResponseFormat, Tool, ToolChoice,
};

/// The body of `POST /chat/completions`, borrowing everything from the request.
pub(crate) struct ChatBody<'a> {
    pub(crate) request: &'a ChatRequest,
    pub(crate) messages: Vec<WireMessage<'a>>,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    pub(crate) max_tokens_field: MaxTokensField,
}

impl Serialize for ChatBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.request;
        let extra = &r.extra;
        let mut map = serializer.serialize_map(None)?;
        // A key the caller also put in `extra` is written once, from `extra`
        // (at the end), so the body never holds a key twice.
        macro_rules! field {
            ($key:expr, $value:expr) => {
                if !extra.contains_key($key) {
                    map.serialize_entry($key, $value)?;
                }
            };
        }
        if !r.model.is_empty() {
            field!("model", &r.model);
        }
        field!("messages", &self.messages);
        if !r.tools.is_empty() {
            field!("tools", &Tools(&r.tools));
            if let Some(choice) = &r.tool_choice {
                field!("tool_choice", &WireToolChoice(choice));
            }
            // OpenAI refuses `parallel_tool_calls` without `tools`.
            if let Some(parallel) = r.parallel_tool_calls {
                field!("parallel_tool_calls", &parallel);
            }
        } else if let Some(choice @ ToolChoice::None) = &r.tool_choice {
            field!("tool_choice", &WireToolChoice(choice));
        }
        if let Some(max) = r.max_tokens {
            field!(self.max_tokens_field.as_str(), &max);
        }
        if let Some(t) = r.temperature {
            field!("temperature", &t);
        }
        if let Some(p) = r.top_p {
            field!("top_p", &p);
        }
        if !r.stop.is_empty() {
            field!("stop", &r.stop);
        }
        if let Some(seed) = r.seed {
            field!("seed", &seed);
        }
        if let Some(p) = r.frequency_penalty {
            field!("frequency_penalty", &p);
        }
        if let Some(p) = r.presence_penalty {
            field!("presence_penalty", &p);
        }
        if let Some(format) = &r.response_format {
            field!("response_format", &WireResponseFormat(format));
        }
        if let Some(effort) = r.reasoning.as_ref().and_then(reasoning_effort) {
            field!("reasoning_effort", effort);
        }
        if self.stream {
            field!("stream", &true);
            if self.include_usage {
                field!("stream_options", &StreamOptions { include_usage: true });
            }
        }
        for (key, value) in extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// OpenAI takes a qualitative effort only; a bare token budget is mapped to the
/// effort of the same order (never `minimal`, which o-series models refuse).
fn reasoning_effort(config: &ReasoningConfig) -> Option<&'static str> {
    if let Some(effort) = config.effort {
        return Some(effort.as_str());
    }
    let budget = config.budget_tokens?;
    let effort = if budget <= ReasoningEffort::Low.budget_tokens() {
        ReasoningEffort::Low
    } else if budget <= ReasoningEffort::Medium.budget_tokens() {
        ReasoningEffort::Medium
    } else {
        ReasoningEffort::High
    };
    Some(effort.as_str())
}

struct Tools<'a>(&'a [Tool]);

impl Serialize for Tools<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for tool in self.0 {
            seq.serialize_element(&WireTool {
                kind: "function",
                function: WireFunction {
                    name: &tool.name,
                    description: tool.description.as_deref(),
                    parameters: &tool.parameters,
                    strict: tool.strict,
                },
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

struct WireToolChoice<'a>(&'a ToolChoice);

impl Serialize for WireToolChoice<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            ToolChoice::Auto => serializer.serialize_str("auto"),
            ToolChoice::None => serializer.serialize_str("none"),
            ToolChoice::Required => serializer.serialize_str("required"),
            ToolChoice::Tool { name } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("type", "function")?;
                map.serialize_entry("function", &NameOnly { name })?;
                map.end()
            }
        }
    }
}

#[derive(Serialize)]
struct NameOnly<'a> {
    name: &'a str,
}

struct WireResponseFormat<'a>(&'a ResponseFormat);

impl Serialize for WireResponseFormat<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self.0 {
            ResponseFormat::Text => map.serialize_entry("type", "text")?,
            ResponseFormat::JsonObject => map.serialize_entry("type", "json_object")?,
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
                description,
            } => {
                map.serialize_entry("type", "json_schema")?;
                map.serialize_entry(
                    "json_schema",
                    &JsonSchema {
                        name,
                        schema,
                        strict: *strict,
                        description: description.as_deref(),
                    },
                )?;
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
struct JsonSchema<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    schema: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

/// The body of `POST /embeddings`.
pub(crate) struct EmbeddingBody<'a> {
    pub(crate) request: &'a EmbeddingRequest,
}

impl Serialize for EmbeddingBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.request;
        let extra: &Map<String, Value> = &r.extra;
        let mut map = serializer.serialize_map(None)?;
        if !r.model.is_empty() && !extra.contains_key("model") {
            map.serialize_entry("model", &r.model)?;
        }
        if !extra.contains_key("input") {
            map.serialize_entry("input", &r.input)?;
        }
        if let Some(dimensions) = r.dimensions {
            if !extra.contains_key("dimensions") {
                map.serialize_entry("dimensions", &dimensions)?;
            }
        }
        if !extra.contains_key("encoding_format") {
            map.serialize_entry("encoding_format", "float")?;
        }
        for (key, value) in extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}
