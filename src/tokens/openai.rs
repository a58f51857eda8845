//! OpenAI's framing rules: what a message, a tool definition and an image
//! cost beyond their text.

use std::hash::{Hash, Hasher};

use serde_json::Value;

use super::{image, Encoding};
use crate::types::{ContentPart, ImageSource, Message, Role, Tool};

/// Tokens that prime the reply (`<|start|>assistant<|message|>`), once per prompt.
pub(super) const REPLY_PRIMING: u64 = 3;
/// Tokens that frame every message.
const PER_MESSAGE: u64 = 3;
/// Tokens a message's `name` adds beyond its text.
const PER_NAME: u64 = 1;
/// Tokens a tool call adds beyond its name and arguments.
const PER_TOOL_CALL: u64 = 1;

/// The figures that differ between models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Profile {
    /// Tokens that open each function definition.
    function_start: u64,
    /// What an image costs: the base, and each 512-pixel tile.
    pub(super) image_base: u64,
    pub(super) image_tile: u64,
}

impl Profile {
    pub(super) fn for_model(model: &str, encoding: Encoding) -> Self {
        let function_start = match encoding {
            Encoding::O200kBase => 7,
            Encoding::Cl100kBase => 10,
        };
        let model = model.rsplit('/').next().unwrap_or(model);
        // A fine-tune is priced as its base model.
        let model = model.strip_prefix("ft:").unwrap_or(model);
        let (image_base, image_tile) = if model.starts_with("gpt-4o-mini") {
            (2833, 5667)
        } else {
            (85, 170)
        };
        Profile {
            function_start,
            image_base,
            image_tile,
        }
    }
}

fn role(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// One message: framing, role, name and parts.
pub(super) fn message(message: &Message, encoding: Encoding, profile: &Profile) -> u64 {
    let mut tokens = PER_MESSAGE + encoding.count(role(message.role)) as u64;
    if let Some(name) = &message.name {
        tokens += encoding.count(name) as u64 + PER_NAME;
    }
    for part in &message.content {
        tokens += self::part(part, encoding, profile);
    }
    tokens
}

fn part(part: &ContentPart, encoding: Encoding, profile: &Profile) -> u64 {
    match part {
        ContentPart::Text { text } => encoding.count(text) as u64,
        ContentPart::Image(image) => image::tokens(image, profile),
        ContentPart::ToolCall(call) => {
            encoding.count(&call.name) as u64 + encoding.count(&call.arguments) as u64 + PER_TOOL_CALL
        }
        ContentPart::ToolResult(result) => result
            .content
            .iter()
            .map(|part| self::part(part, encoding, profile))
            .sum(),
        // Earlier reasoning is not read again as prompt.
        ContentPart::Reasoning(_) => 0,
        #[allow(unreachable_patterns)]
        _ => 0,
    }
}

/// Tool definitions, by the cookbook's per-function formula.
pub(super) fn tools(tools: &[Tool], encoding: Encoding, profile: &Profile) -> u64 {
    const PROPERTIES_START: i64 = 3;
    const PER_PROPERTY: i64 = 3;
    const ENUM_START: i64 = -3;
    const PER_ENUM_ITEM: i64 = 3;
    const FUNCTIONS_END: i64 = 12;

    if tools.is_empty() {
        return 0;
    }
    let count = |text: &str| encoding.count(text) as i64;
    let mut tokens: i64 = 0;
    for tool in tools {
        tokens += profile.function_start as i64;
        let description = tool.description.as_deref().unwrap_or("");
        let description = description.strip_suffix('.').unwrap_or(description);
        tokens += count(&format!("{}:{description}", tool.name));
        let Some(properties) = tool.parameters.get("properties").and_then(Value::as_object) else {
            continue;
        };
        if properties.is_empty() {
            continue;
        }
        tokens += PROPERTIES_START;
        for (name, schema) in properties {
            tokens += PER_PROPERTY;
            let kind = schema.get("type").and_then(Value::as_str).unwrap_or("");
            let description = schema.get("description").and_then(Value::as_str).unwrap_or("");
            let description = description.strip_suffix('.').unwrap_or(description);
            if let Some(items) = schema.get("enum").and_then(Value::as_array) {
                tokens += ENUM_START;
                for item in items {
                    tokens += PER_ENUM_ITEM;
                    tokens += match item {
                        Value::String(s) => count(s),
                        other => count(&other.to_string()),
                    };
                }
            }
            tokens += count(&format!("{name}:{kind}:{description}"));
            // What the formula leaves out (nested schemas, formats, ranges)
            // is counted by its JSON text: more than the API's figure, never less.
            if let Value::Object(fields) = schema {
                for (key, value) in fields {
                    if !matches!(key.as_str(), "type" | "description" | "enum") {
                        tokens += count(key) + count(&value.to_string());
                    }
                }
            }
        }
    }
    (tokens + FUNCTIONS_END).max(0) as u64
}

/// Feeds everything a message's count depends on to `state`.
pub(super) fn hash_message<H: Hasher>(message: &Message, state: &mut H) {
    message.role.hash(state);
    message.name.hash(state);
    message.content.len().hash(state);
    for part in &message.content {
        hash_part(part, state);
    }
}

fn hash_part<H: Hasher>(part: &ContentPart, state: &mut H) {
    match part {
        ContentPart::Text { text } => {
            0u8.hash(state);
            text.hash(state);
        }
        ContentPart::Image(image) => {
            1u8.hash(state);
            match &image.source {
                ImageSource::Url { url } => url.hash(state),
                ImageSource::Base64 { media_type, data } => {
                    media_type.hash(state);
                    data.hash(state);
                }
                #[allow(unreachable_patterns)]
                other => format!("{other:?}").hash(state),
            }
            image.detail.map(|d| d as u8).hash(state);
        }
        ContentPart::ToolCall(call) => {
            2u8.hash(state);
            call.name.hash(state);
            call.arguments.hash(state);
        }
        ContentPart::ToolResult(result) => {
            3u8.hash(state);
            result.content.len().hash(state);
            for part in &result.content {
                hash_part(part, state);
            }
        }
        ContentPart::Reasoning(_) => 4u8.hash(state),
        #[allow(unreachable_patterns)]
        other => format!("{other:?}").hash(state),
    }
}
