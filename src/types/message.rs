//! Messages and their typed parts.

use serde::{Deserialize, Serialize};

/// Who speaks a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// Instructions from the application (a system prompt).
    System,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call, sent back to the model.
    Tool,
}

/// One turn of a conversation: a role and its ordered parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What was said, in order: text, images, tool calls, tool results, reasoning.
    pub content: Vec<ContentPart>,
    /// An optional participant name (OpenAI's `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    /// A message with the given role and parts.
    pub fn new(role: Role, content: Vec<ContentPart>) -> Self {
        Self {
            role,
            content,
            name: None,
        }
    }

    /// A system message with one text part.
    pub fn system(text: impl Into<String>) -> Self {
        Self::new(Role::System, vec![ContentPart::text(text)])
    }

    /// A user message with one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, vec![ContentPart::text(text)])
    }

    /// An assistant message with one text part.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new(Role::Assistant, vec![ContentPart::text(text)])
    }

    /// A tool message carrying the result of the call `tool_call_id`.
    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self::new(
            Role::Tool,
            vec![ContentPart::ToolResult(ToolResult::new(tool_call_id, content))],
        )
    }

    /// The concatenation of the message's text parts.
    pub fn text(&self) -> String {
        concat_text(&self.content)
    }

    /// The tool calls the message carries, in order.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.content.iter().filter_map(|p| match p {
            ContentPart::ToolCall(call) => Some(call),
            _ => None,
        })
    }

    /// The reasoning parts the message carries, in order.
    pub fn reasoning(&self) -> impl Iterator<Item = &Reasoning> {
        self.content.iter().filter_map(|p| match p {
            ContentPart::Reasoning(r) => Some(r),
            _ => None,
        })
    }

    /// Sets the participant name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// One typed part of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentPart {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// An image, by URL or inline.
    Image(Image),
    /// A call the assistant asked the application to make.
    ToolCall(ToolCall),
    /// The application's answer to a tool call.
    ToolResult(ToolResult),
    /// The model's reasoning ("thinking"), kept so it can be sent back.
    Reasoning(Reasoning),
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text { text: text.into() }
    }

    /// An image part from a URL.
    pub fn image_url(url: impl Into<String>) -> Self {
        ContentPart::Image(Image {
            source: ImageSource::Url { url: url.into() },
            detail: None,
        })
    }

    /// An image part from base64-encoded bytes.
    pub fn image_base64(media_type: impl Into<String>, data: impl Into<String>) -> Self {
        ContentPart::Image(Image {
            source: ImageSource::Base64 {
                media_type: media_type.into(),
                data: data.into(),
            },
            detail: None,
        })
    }
}

/// An image in a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Where the image's bytes are.
    pub source: ImageSource,
    /// How closely the model should look (OpenAI's `detail`), when the vendor supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ImageDetail>,
}

/// Where an image's bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ImageSource {
    /// An `http(s)` URL (or a `data:` URL) the vendor fetches.
    Url {
        /// The URL.
        url: String,
    },
    /// Inline base64-encoded bytes.
    Base64 {
        /// The MIME type, for example `image/png`.
        media_type: String,
        /// The base64 text (no `data:` prefix).
        data: String,
    },
}

/// How closely a model should look at an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ImageDetail {
    /// Let the vendor decide.
    Auto,
    /// Fewer tokens.
    Low,
    /// More tokens.
    High,
}

/// A call to a tool, made by the assistant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, echoed by the matching [`ToolResult`]. Vendors that do
    /// not give ids (Gemini) get one made up by their codec.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON text, exactly as the model wrote them.
    ///
    /// A model may write invalid JSON; [`ToolCall::arguments_json`] parses it.
    pub arguments: String,
}

impl ToolCall {
    /// A call with JSON-text arguments.
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    /// The arguments parsed as JSON. Empty arguments parse as an empty object.
    pub fn arguments_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        if self.arguments.trim().is_empty() {
            return Ok(serde_json::Value::Object(Default::default()));
        }
        serde_json::from_str(&self.arguments)
    }
}

/// The application's answer to a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The id of the call this answers.
    pub tool_call_id: String,
    /// The tool's name. Vendors that match results by name (Gemini) need it;
    /// codecs fill it from the conversation's earlier tool call when it is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The result: text parts, and images where the vendor accepts them.
    pub content: Vec<ContentPart>,
    /// Whether the tool failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl ToolResult {
    /// A successful result with one text part.
    pub fn new(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: tool_call_id.into(),
            name: None,
            content: vec![ContentPart::text(content)],
            is_error: false,
        }
    }

    /// Marks the result as a failure.
    #[must_use]
    pub fn error(mut self) -> Self {
        self.is_error = true;
        self
    }

    /// The concatenation of the result's text parts.
    pub fn text(&self) -> String {
        concat_text(&self.content)
    }
}

/// A model's reasoning, as a vendor returned it.
///
/// Anthropic requires thinking blocks to be sent back unchanged, signature
/// included, when a conversation with tool use goes on; this part carries them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reasoning {
    /// The readable reasoning text (may be a summary, or empty).
    pub text: String,
    /// The vendor's signature over the reasoning, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Opaque reasoning the vendor will not show (Anthropic `redacted_thinking`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
}

/// The concatenation of the text parts among `parts`.
pub(crate) fn concat_text(parts: &[ContentPart]) -> String {
    let mut out = String::new();
    for part in parts {
        if let ContentPart::Text { text } = part {
            out.push_str(text);
        }
    }
    out
}
