//! The `messages` array of a chat request, borrowed from the neutral conversation.

use std::borrow::Cow;
use std::fmt;

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use crate::provider::openai::SystemRole;
use crate::types::{ContentPart, Image, ImageDetail, ImageSource, Message, Role, ToolResult};

/// One message of the OpenAI `messages` array.
pub(crate) struct WireMessage<'a> {
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
pub(crate) fn messages(messages: &[Message], system_role: SystemRole) -> Vec<WireMessage<'_>> {
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
