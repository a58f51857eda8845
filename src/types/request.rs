//! The provider-neutral chat request.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::message::{ContentPart, Message, Role};

/// A chat request, the same whichever vendor answers it.
///
/// ```
/// use tower_ai::types::{ChatRequest, Tool, ToolChoice};
///
/// let request = ChatRequest::new("gpt-4o-mini")
///     .system("You are terse.")
///     .user("What is the weather in Paris?")
///     .tool(Tool::function(
///         "get_weather",
///         "Current weather for a city",
///         serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}}),
///     ))
///     .tool_choice(ToolChoice::Auto)
///     .max_tokens(200)
///     .temperature(0.2);
/// assert_eq!(request.messages.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatRequest {
    /// The model, or an alias a router resolves.
    pub model: String,
    /// The conversation so far. System instructions are messages with [`Role::System`];
    /// codecs move them where their vendor wants them.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Whether and which tool the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// The most tokens to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Top-k sampling (Anthropic, Gemini, Cohere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Sequences that end generation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// A seed for reproducible sampling, where supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    /// The shape the reply must take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Reasoning ("thinking") settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningConfig>,
    /// Vendor-only fields, merged into the top level of the vendor's request body
    /// as given (they win over fields the codec wrote).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// An empty request for `model`.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            ..Self::default()
        }
    }

    /// Appends a message.
    #[must_use]
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Appends messages.
    #[must_use]
    pub fn messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.messages.extend(messages);
        self
    }

    /// Appends a system message.
    #[must_use]
    pub fn system(self, text: impl Into<String>) -> Self {
        self.message(Message::system(text))
    }

    /// Appends a user message.
    #[must_use]
    pub fn user(self, text: impl Into<String>) -> Self {
        self.message(Message::user(text))
    }

    /// Appends an assistant message.
    #[must_use]
    pub fn assistant(self, text: impl Into<String>) -> Self {
        self.message(Message::assistant(text))
    }

    /// Adds a tool.
    #[must_use]
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Sets the tool choice.
    #[must_use]
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Sets the token limit of the reply.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the temperature.
    #[must_use]
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets nucleus sampling.
    #[must_use]
    pub fn top_p(mut self, top_p: f32) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Adds a stop sequence.
    #[must_use]
    pub fn stop(mut self, stop: impl Into<String>) -> Self {
        self.stop.push(stop.into());
        self
    }

    /// Sets the seed.
    #[must_use]
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets the response format.
    #[must_use]
    pub fn response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = Some(format);
        self
    }

    /// Sets the reasoning settings.
    #[must_use]
    pub fn reasoning(mut self, reasoning: ReasoningConfig) -> Self {
        self.reasoning = Some(reasoning);
        self
    }

    /// Adds a vendor-only field to the request body.
    #[must_use]
    pub fn extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    /// The text of the last user message, if any.
    pub fn last_user_text(&self) -> Option<String> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(Message::text)
    }

    /// Checks what no vendor accepts, before anything is sent: an empty
    /// model name, no messages, `max_tokens` of 0, a tool result that
    /// answers no tool call made before it in the conversation.
    ///
    /// ```
    /// use tower_ai::types::{ChatRequest, Message};
    ///
    /// assert!(ChatRequest::new("m").user("hi").validate().is_ok());
    /// let err = ChatRequest::new("m").validate().unwrap_err();
    /// assert!(err.to_string().contains("no messages"));
    /// let orphan = ChatRequest::new("m").user("hi").message(Message::tool_result("call_9", "42"));
    /// assert!(orphan.validate().unwrap_err().to_string().contains("call_9"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config), saying what to change.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::Error;
        if self.model.trim().is_empty() {
            return Err(Error::config(
                "the request names no model: set `ChatRequest::new(model)`",
            ));
        }
        if self.messages.is_empty() {
            return Err(Error::config(
                "the request has no messages: add one with `.user(...)` or `.message(...)`",
            ));
        }
        if self.max_tokens == Some(0) {
            return Err(Error::config(
                "max_tokens is 0: ask for at least 1 token, or leave it unset",
            ));
        }
        // One pass: the calls made so far, then each result checked against them.
        let mut calls = std::collections::HashSet::new();
        for part in self.messages.iter().flat_map(|m| &m.content) {
            match part {
                ContentPart::ToolCall(call) => {
                    calls.insert(call.id.as_str());
                }
                ContentPart::ToolResult(result) if !calls.contains(result.tool_call_id.as_str()) => {
                    return Err(Error::config(format!(
                        "the tool result for {:?} answers no tool call before it in the \
                         conversation: keep the assistant message that made the call",
                        result.tool_call_id
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The name of the tool the call `tool_call_id` went to, looked up in the
    /// conversation's assistant messages.
    pub fn tool_name_for(&self, tool_call_id: &str) -> Option<&str> {
        self.messages.iter().find_map(|m| {
            m.content.iter().find_map(|p| match p {
                ContentPart::ToolCall(c) if c.id == tool_call_id => Some(c.name.as_str()),
                _ => None,
            })
        })
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// The tool's name.
    pub name: String,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON Schema of the tool's arguments (an object schema).
    pub parameters: Value,
    /// Whether the vendor must follow the schema exactly (OpenAI `strict`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

impl Tool {
    /// A function tool.
    pub fn function(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        Self {
            name: name.into(),
            description: Some(description.into()),
            parameters,
            strict: None,
        }
    }
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// The model must not call a tool.
    None,
    /// The model must call some tool.
    Required,
    /// The model must call this tool.
    Tool {
        /// The tool's name.
        name: String,
    },
}

/// The shape a reply must take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// Any valid JSON object ("JSON mode").
    JsonObject,
    /// JSON that follows a schema ("structured output").
    JsonSchema {
        /// A name for the schema.
        name: String,
        /// The JSON Schema.
        schema: Value,
        /// Whether the vendor must follow the schema exactly.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
        /// What the schema describes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
}

impl ResponseFormat {
    /// A strict JSON-schema format.
    pub fn json_schema(name: impl Into<String>, schema: Value) -> Self {
        ResponseFormat::JsonSchema {
            name: name.into(),
            schema,
            strict: Some(true),
            description: None,
        }
    }
}

/// Reasoning ("thinking") settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReasoningConfig {
    /// A qualitative effort, for vendors that take one (OpenAI `reasoning_effort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<ReasoningEffort>,
    /// A token budget, for vendors that take one (Anthropic, Gemini). Codecs
    /// map an effort to a budget and back where only one is understood.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_tokens: Option<u32>,
}

impl ReasoningConfig {
    /// Reasoning with a qualitative effort.
    pub fn effort(effort: ReasoningEffort) -> Self {
        Self {
            effort: Some(effort),
            budget_tokens: None,
        }
    }

    /// Reasoning with a token budget.
    pub fn budget(tokens: u32) -> Self {
        Self {
            effort: None,
            budget_tokens: Some(tokens),
        }
    }
}

/// How hard a reasoning model thinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReasoningEffort {
    /// The least reasoning the vendor allows.
    Minimal,
    /// Little reasoning.
    Low,
    /// The usual amount.
    Medium,
    /// Much reasoning.
    High,
}

impl ReasoningEffort {
    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }

    /// A token budget of the same order, for vendors that only take budgets.
    pub fn budget_tokens(self) -> u32 {
        match self {
            ReasoningEffort::Minimal => 1024,
            ReasoningEffort::Low => 2048,
            ReasoningEffort::Medium => 8192,
            ReasoningEffort::High => 24576,
        }
    }
}
