//! Serde shapes of the OpenAI chat-completions wire format.
//!
//! Requests are serialised straight from the borrowed [`ChatRequest`]: no
//! intermediate `serde_json::Value`, no copies of message text. Replies are
//! deserialised into structs that borrow from the body where they can, and
//! that are lenient where compatible servers differ from OpenAI (numbers that
//! are `null`, `content` as an array of parts, tool-call arguments as an object).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::codec::{MaxTokensField, SystemRole};
use crate::provider::lenient::{from_name, Arguments, Count, CowStr, MaybeStr, TextContent};
use crate::types::{
    ChatRequest, ContentPart, EmbeddingRequest, FinishReason, Image, ImageDetail, ImageSource, Message,
    ReasoningConfig, ReasoningEffort, ResponseFormat, Role, Tool, ToolChoice, ToolResult, Usage,
};

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// The body of `POST /chat/completions`, borrowing everything from the request.
pub(super) struct ChatBody<'a> {
    pub(super) request: &'a ChatRequest,
    pub(super) messages: Vec<WireMessage<'a>>,
    pub(super) stream: bool,
    pub(super) include_usage: bool,
    pub(super) max_tokens_field: MaxTokensField,
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

/// One message of the OpenAI `messages` array.
pub(super) struct WireMessage<'a> {
    role: &'static str,
    content: WireContent<'a>,
    name: Option<&'a str>,
    /// The parts whose tool calls are sent (`None`: no `tool_calls` key).
    tool_calls: Option<&'a [ContentPart]>,
    tool_call_id: Option<&'a str>,
}

enum WireContent<'a> {
    /// `"content": null` (an assistant turn that only calls tools).
    Null,
    /// `"content": "..."`.
    Text(Cow<'a, str>),
    /// `"content": [...]`: the text and image parts of a user turn, and the
    /// images of the tool results in it (OpenAI takes no images in tool messages).
    UserParts(&'a [ContentPart]),
}

impl Serialize for WireMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("role", self.role)?;
        match &self.content {
            WireContent::Null => map.serialize_entry("content", &())?,
            WireContent::Text(text) => map.serialize_entry("content", text)?,
            WireContent::UserParts(parts) => map.serialize_entry("content", &UserParts(parts))?,
        }
        if let Some(name) = self.name {
            map.serialize_entry("name", name)?;
        }
        if let Some(parts) = self.tool_calls {
            map.serialize_entry("tool_calls", &ToolCalls(parts))?;
        }
        if let Some(id) = self.tool_call_id {
            map.serialize_entry("tool_call_id", id)?;
        }
        map.end()
    }
}

/// Translates the neutral conversation into OpenAI messages.
///
/// - System messages keep their place, as `system` (or `developer`) with their text.
/// - Every tool result, in a `tool` message or in a `user` message (as
///   Anthropic-style conversations carry them), becomes one `tool` message;
///   the rest of such a user turn follows as a `user` message.
/// - Assistant turns send their text and tool calls; reasoning parts are
///   dropped (OpenAI does not take them back, and DeepSeek refuses them).
pub(super) fn messages(messages: &[Message], system_role: SystemRole) -> Vec<WireMessage<'_>> {
    let mut out = Vec::with_capacity(messages.len());
    for message in messages {
        match message.role {
            Role::System => out.push(WireMessage {
                role: system_role.as_str(),
                content: WireContent::Text(joined_text(&message.content).unwrap_or_default()),
                name: message.name.as_deref(),
                tool_calls: None,
                tool_call_id: None,
            }),
            Role::Assistant => {
                let has_calls = message
                    .content
                    .iter()
                    .any(|p| matches!(p, ContentPart::ToolCall(_)));
                let content = match joined_text(&message.content) {
                    Some(text) => WireContent::Text(text),
                    None if has_calls => WireContent::Null,
                    None => WireContent::Text(Cow::Borrowed("")),
                };
                out.push(WireMessage {
                    role: "assistant",
                    content,
                    name: message.name.as_deref(),
                    tool_calls: has_calls.then_some(message.content.as_slice()),
                    tool_call_id: None,
                });
            }
            Role::User | Role::Tool => {
                for part in &message.content {
                    if let ContentPart::ToolResult(result) = part {
                        out.push(WireMessage {
                            role: "tool",
                            content: WireContent::Text(tool_result_text(result)),
                            name: None,
                            tool_calls: None,
                            tool_call_id: Some(&result.tool_call_id),
                        });
                    }
                }
                if let Some(content) = user_content(&message.content) {
                    out.push(WireMessage {
                        role: "user",
                        content,
                        name: message.name.as_deref(),
                        tool_calls: None,
                        tool_call_id: None,
                    });
                }
            }
        }
    }
    out
}

/// The text parts of `parts`, concatenated as [`Message::text`] does; `None` if there are none.
fn joined_text(parts: &[ContentPart]) -> Option<Cow<'_, str>> {
    let mut texts = parts.iter().filter_map(|p| match p {
        ContentPart::Text { text } => Some(text.as_str()),
        _ => None,
    });
    let first = texts.next()?;
    match texts.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = String::with_capacity(first.len() + second.len());
            joined.push_str(first);
            joined.push_str(second);
            texts.for_each(|t| joined.push_str(t));
            Some(Cow::Owned(joined))
        }
    }
}

fn tool_result_text(result: &ToolResult) -> Cow<'_, str> {
    joined_text(&result.content).unwrap_or_default()
}

/// The `user` content of a user (or tool) turn, without its tool results:
/// a plain string when it is one text part, parts otherwise, `None` when empty.
fn user_content(parts: &[ContentPart]) -> Option<WireContent<'_>> {
    let mut count = 0usize;
    let mut only_text = None;
    for part in parts {
        match part {
            ContentPart::Text { text } => {
                count += 1;
                only_text = Some(text.as_str());
            }
            ContentPart::Image(_) => count += 1,
            ContentPart::ToolResult(result) => {
                count += result
                    .content
                    .iter()
                    .filter(|p| matches!(p, ContentPart::Image(_)))
                    .count();
            }
            _ => {}
        }
    }
    match (count, only_text) {
        (0, _) => None,
        (1, Some(text)) => Some(WireContent::Text(Cow::Borrowed(text))),
        _ => Some(WireContent::UserParts(parts)),
    }
}

struct UserParts<'a>(&'a [ContentPart]);

impl Serialize for UserParts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for part in self.0 {
            match part {
                ContentPart::Text { text } => seq.serialize_element(&TextPart(text))?,
                ContentPart::Image(image) => seq.serialize_element(&ImagePart(image))?,
                ContentPart::ToolResult(result) => {
                    for inner in &result.content {
                        if let ContentPart::Image(image) = inner {
                            seq.serialize_element(&ImagePart(image))?;
                        }
                    }
                }
                _ => {}
            }
        }
        seq.end()
    }
}

struct TextPart<'a>(&'a str);

impl Serialize for TextPart<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", "text")?;
        map.serialize_entry("text", self.0)?;
        map.end()
    }
}

struct ImagePart<'a>(&'a Image);

impl Serialize for ImagePart<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", "image_url")?;
        map.serialize_entry("image_url", &ImageUrl(self.0))?;
        map.end()
    }
}

struct ImageUrl<'a>(&'a Image);

impl Serialize for ImageUrl<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match &self.0.source {
            ImageSource::Url { url } => map.serialize_entry("url", url)?,
            ImageSource::Base64 { media_type, data } => {
                map.serialize_entry("url", &DataUrl { media_type, data })?;
            }
        }
        if let Some(detail) = self.0.detail {
            let detail = match detail {
                ImageDetail::Auto => "auto",
                ImageDetail::Low => "low",
                ImageDetail::High => "high",
            };
            map.serialize_entry("detail", detail)?;
        }
        map.end()
    }
}

/// `data:{media_type};base64,{data}`, written straight into the body.
struct DataUrl<'a> {
    media_type: &'a str,
    data: &'a str,
}

impl Serialize for DataUrl<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for DataUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "data:{};base64,{}", self.media_type, self.data)
    }
}

/// The tool calls among `parts`, as OpenAI `tool_calls`.
struct ToolCalls<'a>(&'a [ContentPart]);

impl Serialize for ToolCalls<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for part in self.0 {
            if let ContentPart::ToolCall(call) = part {
                seq.serialize_element(&WireToolCall {
                    id: &call.id,
                    kind: "function",
                    function: WireFunctionCall {
                        name: &call.name,
                        // OpenAI wants a JSON object; a call without arguments sends `{}`.
                        arguments: if call.arguments.trim().is_empty() {
                            "{}"
                        } else {
                            &call.arguments
                        },
                    },
                })?;
            }
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
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
pub(super) struct EmbeddingBody<'a> {
    pub(super) request: &'a EmbeddingRequest,
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

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// `usage` of a completion or of the last stream chunk.
#[derive(Deserialize, Default)]
pub(super) struct WireUsage {
    #[serde(default)]
    prompt_tokens: Count,
    #[serde(default)]
    completion_tokens: Count,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    /// DeepSeek reports cache reads here.
    #[serde(default)]
    prompt_cache_hit_tokens: Option<Count>,
}

#[derive(Deserialize, Default)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<Count>,
}

#[derive(Deserialize, Default)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Count,
}

impl WireUsage {
    pub(super) fn to_usage(&self) -> Usage {
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .or(self.prompt_cache_hit_tokens)
            .unwrap_or_default();
        let reasoning = self
            .completion_tokens_details
            .as_ref()
            .map(|d| d.reasoning_tokens)
            .unwrap_or_default();
        Usage::new(self.prompt_tokens.0, self.completion_tokens.0)
            .with_cache_read(cached.0)
            .with_reasoning(reasoning.0)
    }
}

/// Groq reports stream usage under `x_groq`.
#[derive(Deserialize)]
pub(super) struct XGroq {
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
}

/// A tool call of a message, or a fragment of one in a stream delta.
#[derive(Deserialize)]
pub(super) struct ToolCallIn<'a> {
    #[serde(default)]
    pub(super) index: Option<Count>,
    #[serde(default, borrow)]
    pub(super) id: Option<CowStr<'a>>,
    #[serde(default, borrow)]
    pub(super) function: Option<FunctionIn<'a>>,
}

/// The `function` of a tool call (and the legacy `function_call`).
#[derive(Deserialize)]
pub(super) struct FunctionIn<'a> {
    #[serde(default, borrow)]
    pub(super) name: Option<CowStr<'a>>,
    #[serde(default, borrow)]
    pub(super) arguments: Option<Arguments<'a>>,
}

/// The `message` of a choice, or the `delta` of a stream chunk.
#[derive(Deserialize)]
pub(super) struct MessageIn<'a> {
    #[serde(default, borrow)]
    pub(super) content: TextContent<'a>,
    #[serde(default, borrow)]
    pub(super) refusal: MaybeStr<'a>,
    /// DeepSeek (and vLLM's reasoning parsers).
    #[serde(default, borrow)]
    pub(super) reasoning_content: MaybeStr<'a>,
    /// OpenRouter, Ollama, newer vLLM.
    #[serde(default, borrow)]
    pub(super) reasoning: MaybeStr<'a>,
    #[serde(default, borrow)]
    pub(super) tool_calls: Option<Vec<ToolCallIn<'a>>>,
    /// The legacy functions API.
    #[serde(default, borrow)]
    pub(super) function_call: Option<FunctionIn<'a>>,
}

impl<'a> MessageIn<'a> {
    /// The reasoning text, under whichever name the server used.
    pub(super) fn take_reasoning(&mut self) -> Option<Cow<'a, str>> {
        self.reasoning_content
            .0
            .take()
            .or_else(|| self.reasoning.0.take())
            .filter(|r| !r.is_empty())
    }
}

/// One choice of a completion or of a stream chunk.
#[derive(Deserialize)]
pub(super) struct ChoiceIn<'a> {
    #[serde(default)]
    pub(super) index: Option<Count>,
    #[serde(default, borrow)]
    pub(super) message: Option<MessageIn<'a>>,
    #[serde(default, borrow)]
    pub(super) delta: Option<MessageIn<'a>>,
    #[serde(default, borrow)]
    pub(super) finish_reason: Option<CowStr<'a>>,
}

impl ChoiceIn<'_> {
    /// Whether this is the first choice (servers that send one choice may leave out `index`).
    pub(super) fn is_first(&self) -> bool {
        self.index.is_none_or(|i| i.0 == 0)
    }
}

/// A chat completion, or one chunk of a streamed one.
#[derive(Deserialize)]
pub(super) struct CompletionIn<'a> {
    #[serde(default, borrow)]
    pub(super) id: Option<CowStr<'a>>,
    #[serde(default, borrow)]
    pub(super) model: Option<CowStr<'a>>,
    #[serde(default, borrow)]
    pub(super) object: Option<CowStr<'a>>,
    #[serde(default, borrow, deserialize_with = "first_choice")]
    pub(super) choices: Option<ChoiceIn<'a>>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
    #[serde(default)]
    pub(super) x_groq: Option<XGroq>,
    /// An error reported in a 2xx body or inside a stream.
    #[serde(default)]
    pub(super) error: Option<IgnoredAny>,
}

impl CompletionIn<'_> {
    /// Whether the body is an error payload rather than a completion.
    pub(super) fn is_error(&self) -> bool {
        self.error.is_some() || self.object.as_ref().is_some_and(|o| o.as_str() == "error")
    }

    /// The usage figures, wherever the server put them.
    pub(super) fn usage(&self) -> Option<Usage> {
        self.usage
            .as_ref()
            .or_else(|| self.x_groq.as_ref().and_then(|x| x.usage.as_ref()))
            .map(WireUsage::to_usage)
    }
}

/// Reads the `choices` array keeping only the first choice (index 0), so that
/// no vector is allocated per chunk; `null` is no choice.
fn first_choice<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<ChoiceIn<'de>>, D::Error> {
    struct ChoicesVisitor;
    impl<'de> Visitor<'de> for ChoicesVisitor {
        type Value = Option<ChoiceIn<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of choices")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut first = None;
            while let Some(choice) = seq.next_element_seed(ChoiceSeed)? {
                if first.is_none() && choice.is_first() {
                    first = Some(choice);
                }
            }
            Ok(first)
        }
    }
    deserializer.deserialize_any(ChoicesVisitor)
}

struct ChoiceSeed;

impl<'de> DeserializeSeed<'de> for ChoiceSeed {
    type Value = ChoiceIn<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        ChoiceIn::deserialize(deserializer)
    }
}

/// OpenAI finish reasons, and the names compatible servers use for them.
static FINISH_REASONS: &[(&str, FinishReason)] = &[
    ("stop", FinishReason::Stop),
    ("end_turn", FinishReason::Stop),
    ("stop_sequence", FinishReason::Stop),
    ("eos", FinishReason::Stop),
    ("length", FinishReason::Length),
    ("max_tokens", FinishReason::Length),
    ("model_length", FinishReason::Length),
    ("tool_calls", FinishReason::ToolCalls),
    ("function_call", FinishReason::ToolCalls),
    ("tool_use", FinishReason::ToolCalls),
    ("content_filter", FinishReason::ContentFilter),
    ("refusal", FinishReason::Refusal),
];

/// The neutral finish reason of an OpenAI `finish_reason`; `""` is none, an
/// unknown reason is [`FinishReason::Other`].
pub(super) fn finish_reason(reason: &str) -> Option<FinishReason> {
    if reason.is_empty() {
        return None;
    }
    Some(from_name(reason, FINISH_REASONS, |other| {
        FinishReason::Other(other.to_owned())
    }))
}

/// `POST /embeddings` reply.
#[derive(Deserialize)]
pub(super) struct EmbeddingsIn {
    pub(super) data: Vec<EmbeddingIn>,
    #[serde(default)]
    pub(super) model: Option<String>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
    #[serde(default)]
    pub(super) error: Option<IgnoredAny>,
}

#[derive(Deserialize)]
pub(super) struct EmbeddingIn {
    #[serde(default)]
    pub(super) index: Option<Count>,
    pub(super) embedding: Vec<f32>,
}
