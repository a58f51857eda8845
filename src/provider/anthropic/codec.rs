//! [`AnthropicCodec`]: the Messages API wire format, without I/O.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value;

use super::stream::AnthropicStreamDecoder;
use super::wire::{
    ContentBlock, ContentBlockParam, ImageSourceParam, MessageParam, MessageResponse, MessagesRequest,
    OutputConfig, OutputFormat, System, ThinkingParam, ToolChoiceParam, ToolParam, ToolResultContent,
};
use super::{error, ANTHROPIC_BETA, ANTHROPIC_VERSION};
use crate::error::{Error, Result};
use crate::provider::lenient::from_name;
use crate::provider::{Capabilities, Codec};
use crate::types::{
    ChatRequest, ChatResponse, ContentPart, FinishReason, ImageSource, Message, Reasoning, ReasoningEffort,
    ReplyMode, RequestMeta, ResponseFormat, Role, ToolCall, ToolChoice,
};

/// Anthropic's smallest accepted thinking budget.
const MIN_THINKING_BUDGET: u32 = 1024;

/// The Anthropic Messages API as a [`Codec`].
///
/// Built by [`AnthropicBuilder`](super::AnthropicBuilder) (with
/// [`build`](super::AnthropicBuilder::build) for a whole provider, or
/// [`build_codec`](super::AnthropicBuilder::build_codec) for the codec alone).
/// The [module docs](super) describe how requests and replies are mapped.
/// `Debug` never shows the API key.
pub struct AnthropicCodec {
    name: Arc<str>,
    base_url: String,
    version: String,
    betas: Vec<String>,
    default_max_tokens: u32,
    endpoint: Uri,
    /// Sent with every request: content type, version, betas, the headers configured.
    headers: HeaderMap,
}

impl fmt::Debug for AnthropicCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicCodec")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("version", &self.version)
            .field("betas", &self.betas)
            .field("default_max_tokens", &self.default_max_tokens)
            .finish()
    }
}

impl AnthropicCodec {
    /// Checks the settings and prepares the endpoint and headers once.
    /// `headers` are the configured ones (content type included).
    pub(super) fn new(
        name: String,
        base_url: &str,
        version: String,
        betas: Vec<String>,
        default_max_tokens: u32,
        mut headers: HeaderMap,
    ) -> Result<Self> {
        // `https://api.anthropic.com` and `https://api.anthropic.com/v1` (with
        // or without a trailing slash) mean the same: the version segment is
        // the codec's to add.
        let base_url = base_url.trim_end_matches('/');
        let base_url = base_url.strip_suffix("/v1").unwrap_or(base_url).to_owned();
        let endpoint: Uri = format!("{base_url}/v1/messages")
            .parse()
            .map_err(|e| Error::config_with(format!("invalid Anthropic base URL {base_url:?}"), e))?;
        if endpoint.scheme().is_none() || endpoint.authority().is_none() {
            return Err(Error::config(format!(
                "invalid Anthropic base URL {base_url:?}: it needs a scheme and a host"
            )));
        }
        if default_max_tokens == 0 {
            return Err(Error::config("the default max_tokens must be at least 1"));
        }
        let version_header = HeaderValue::from_str(&version)
            .map_err(|e| Error::config_with(format!("invalid anthropic-version {version:?}"), e))?;
        headers.insert(ANTHROPIC_VERSION, version_header);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if !betas.is_empty() {
            let joined = betas.join(",");
            let beta = HeaderValue::from_str(&joined)
                .map_err(|e| Error::config_with(format!("invalid anthropic-beta {joined:?}"), e))?;
            headers.insert(ANTHROPIC_BETA, beta);
        }
        Ok(Self {
            name: name.into(),
            base_url,
            version,
            betas,
            default_max_tokens,
            endpoint,
            headers,
        })
    }

    /// The base URL requests go to (`{base_url}/v1/messages`), without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The `anthropic-version` header sent with every request.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The beta features named in the `anthropic-beta` header.
    pub fn betas(&self) -> &[String] {
        &self.betas
    }

    /// The `max_tokens` sent when a request names none.
    pub fn default_max_tokens(&self) -> u32 {
        self.default_max_tokens
    }

    /// A request this codec cannot express: refused locally, before any call.
    fn invalid(&self, message: String) -> Error {
        Error::encode(&self.name, message)
    }

    /// The request body, borrowing from `request`.
    fn body<'a>(&self, request: &'a ChatRequest, stream: bool) -> Result<MessagesRequest<'a>> {
        let (system, messages) = self.messages(request)?;

        let output_config = match &request.response_format {
            None | Some(ResponseFormat::Text) => None,
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(OutputConfig {
                format: OutputFormat {
                    kind: "json_schema",
                    schema,
                },
            }),
            Some(ResponseFormat::JsonObject) => {
                return Err(Error::unsupported(
                    &self.name,
                    "JSON mode (ResponseFormat::JsonObject); use ResponseFormat::JsonSchema",
                ))
            }
        };

        let (max_tokens, thinking) = self.max_tokens_and_thinking(request)?;

        let tools = request
            .tools
            .iter()
            .map(|tool| ToolParam {
                name: &tool.name,
                description: tool.description.as_deref(),
                input_schema: &tool.parameters,
                strict: tool.strict.filter(|s| *s),
            })
            .collect();

        Ok(MessagesRequest {
            model: &request.model,
            max_tokens,
            system,
            messages,
            tools,
            tool_choice: tool_choice(request),
            temperature: request.temperature,
            top_p: request.top_p,
            top_k: request.top_k,
            stop_sequences: &request.stop,
            thinking,
            output_config,
            stream,
            extra: &request.extra,
        })
    }

    /// `max_tokens` and the thinking settings, keeping `max_tokens` above the budget.
    fn max_tokens_and_thinking(&self, request: &ChatRequest) -> Result<(u32, Option<ThinkingParam>)> {
        let budget = request
            .reasoning
            .as_ref()
            .and_then(|r| {
                r.budget_tokens
                    .or_else(|| r.effort.map(ReasoningEffort::budget_tokens))
            })
            .filter(|b| *b > 0);
        let Some(budget) = budget else {
            return Ok((request.max_tokens.unwrap_or(self.default_max_tokens), None));
        };
        let (max_tokens, budget) = match request.max_tokens {
            None if self.default_max_tokens > budget => (self.default_max_tokens, budget),
            None => (budget.saturating_add(self.default_max_tokens), budget),
            Some(max) if max > budget => (max, budget),
            Some(max) => {
                let lowered = (max / 2).max(MIN_THINKING_BUDGET);
                if lowered >= max {
                    return Err(self.invalid(format!(
                        "max_tokens {max} leaves no room for extended thinking: Anthropic needs \
                             {MIN_THINKING_BUDGET} <= budget_tokens < max_tokens"
                    )));
                }
                (max, lowered)
            }
        };
        let thinking = ThinkingParam {
            kind: "enabled",
            budget_tokens: budget,
        };
        Ok((max_tokens, Some(thinking)))
    }

    /// The system prompt and the alternating user/assistant messages.
    fn messages<'a>(&self, request: &'a ChatRequest) -> Result<(Option<System<'a>>, Vec<MessageParam<'a>>)> {
        let mut system: Vec<&'a str> = Vec::new();
        let mut out: Vec<MessageParam<'a>> = Vec::with_capacity(request.messages.len());
        for message in &request.messages {
            let role = match message.role {
                Role::System => {
                    self.system_texts(message, &mut system)?;
                    continue;
                }
                Role::User | Role::Tool => "user",
                Role::Assistant => "assistant",
            };
            let merge = out.last().is_some_and(|m| m.role == role);
            if !merge {
                out.push(MessageParam {
                    role,
                    content: Vec::with_capacity(message.content.len()),
                });
            }
            let Some(last) = out.last_mut() else { continue };
            for part in &message.content {
                self.push_part(&mut last.content, part)?;
            }
            if last.content.is_empty() {
                out.pop();
            }
        }
        for message in &mut out {
            if message.role == "user" {
                tool_results_first(&mut message.content);
            }
        }
        let system = match system.as_slice() {
            [] => None,
            [one] => Some(System::Text(one)),
            many => Some(System::Blocks(
                many.iter().map(|text| ContentBlockParam::Text { text }).collect(),
            )),
        };
        Ok((system, out))
    }

    fn system_texts<'a>(&self, message: &'a Message, out: &mut Vec<&'a str>) -> Result<()> {
        for part in &message.content {
            match part {
                ContentPart::Text { text } if text.is_empty() => {}
                ContentPart::Text { text } => out.push(text),
                _ => {
                    return Err(self.invalid(
                        "Anthropic's system prompt takes text only; a system message holds another part"
                            .into(),
                    ))
                }
            }
        }
        Ok(())
    }

    fn push_part<'a>(&self, blocks: &mut Vec<ContentBlockParam<'a>>, part: &'a ContentPart) -> Result<()> {
        match part {
            // Anthropic refuses empty text blocks; OpenAI-style histories have them
            // (an assistant turn of only tool calls).
            ContentPart::Text { text } if text.is_empty() => {}
            ContentPart::Text { text } => blocks.push(ContentBlockParam::Text { text }),
            ContentPart::Image(image) => blocks.push(image_block(&image.source)),
            ContentPart::ToolCall(call) => blocks.push(self.tool_use(call)?),
            ContentPart::ToolResult(result) => blocks.push(ContentBlockParam::ToolResult {
                tool_use_id: &result.tool_call_id,
                content: tool_result_content(&result.content),
                is_error: result.is_error,
            }),
            ContentPart::Reasoning(reasoning) => {
                if let Some(block) = reasoning_block(reasoning) {
                    blocks.push(block);
                }
            }
        }
        Ok(())
    }

    fn tool_use<'a>(&self, call: &'a ToolCall) -> Result<ContentBlockParam<'a>> {
        let input = if call.arguments.trim().is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            match serde_json::from_str::<Value>(&call.arguments) {
                Ok(value @ Value::Object(_)) => value,
                Ok(_) => {
                    return Err(self.invalid(format!(
                        "the arguments of tool call {:?} ({}) are not a JSON object; \
                             Anthropic's tool_use input must be one",
                        call.id, call.name
                    )))
                }
                Err(e) => {
                    return Err(self.invalid(format!(
                        "the arguments of tool call {:?} ({}) are not valid JSON ({e}); \
                             Anthropic's tool_use input must be a JSON object",
                        call.id, call.name
                    )))
                }
            }
        };
        Ok(ContentBlockParam::ToolUse {
            id: &call.id,
            name: &call.name,
            input,
        })
    }
}

/// Puts a user message's `tool_result` blocks first (Anthropic refuses text
/// before them), keeping the order within each group.
fn tool_results_first(blocks: &mut [ContentBlockParam<'_>]) {
    let first_other = blocks.iter().position(|b| !b.is_tool_result());
    let last_result = blocks.iter().rposition(ContentBlockParam::is_tool_result);
    if let (Some(other), Some(result)) = (first_other, last_result) {
        if other < result {
            blocks.sort_by_key(|b| !b.is_tool_result());
        }
    }
}

fn tool_choice(request: &ChatRequest) -> Option<ToolChoiceParam<'_>> {
    // Anthropic refuses `tool_choice` without `tools`.
    if request.tools.is_empty() {
        return None;
    }
    let disable_parallel = (request.parallel_tool_calls == Some(false)).then_some(true);
    let choice = |kind, name| ToolChoiceParam {
        kind,
        name,
        disable_parallel_tool_use: disable_parallel,
    };
    match &request.tool_choice {
        None if disable_parallel.is_some() => Some(choice("auto", None)),
        None => None,
        Some(ToolChoice::Auto) => Some(choice("auto", None)),
        Some(ToolChoice::Required) => Some(choice("any", None)),
        Some(ToolChoice::Tool { name }) => Some(choice("tool", Some(name))),
        Some(ToolChoice::None) => Some(ToolChoiceParam {
            kind: "none",
            name: None,
            disable_parallel_tool_use: None,
        }),
    }
}

fn image_block(source: &ImageSource) -> ContentBlockParam<'_> {
    let source = match source {
        ImageSource::Base64 { media_type, data } => ImageSourceParam::Base64 { media_type, data },
        ImageSource::Url { url } => match parse_data_url(url) {
            Some((media_type, data)) => ImageSourceParam::Base64 { media_type, data },
            None => ImageSourceParam::Url { url },
        },
    };
    ContentBlockParam::Image { source }
}

/// `data:<media type>[;params];base64,<data>` as (media type, data).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let meta = meta.strip_suffix(";base64")?;
    let media_type = meta.split(';').next().unwrap_or(meta);
    Some((media_type, data))
}

fn tool_result_content(parts: &[ContentPart]) -> Option<ToolResultContent<'_>> {
    match parts {
        [] => None,
        [ContentPart::Text { text }] if text.is_empty() => None,
        [ContentPart::Text { text }] => Some(ToolResultContent::Text(text)),
        parts => {
            let blocks: Vec<_> = parts
                .iter()
                .filter_map(|part| match part {
                    ContentPart::Text { text } if !text.is_empty() => Some(ContentBlockParam::Text { text }),
                    ContentPart::Image(image) => Some(image_block(&image.source)),
                    _ => None,
                })
                .collect();
            (!blocks.is_empty()).then_some(ToolResultContent::Blocks(blocks))
        }
    }
}

/// A thinking block to send back; `None` for reasoning Anthropic would refuse
/// (no signature and no redacted data: it came from another vendor).
fn reasoning_block(reasoning: &Reasoning) -> Option<ContentBlockParam<'_>> {
    if let Some(data) = &reasoning.redacted {
        return Some(ContentBlockParam::RedactedThinking { data });
    }
    let signature = reasoning.signature.as_deref()?;
    Some(ContentBlockParam::Thinking {
        thinking: &reasoning.text,
        signature,
    })
}

/// A rough size of the encoded body, to allocate once.
/// The neutral part of one complete content block of a reply (also the
/// content a `message_start` event may carry); `None` for an empty text block,
/// server tool blocks and block types added later.
pub(super) fn content_part(provider: &str, block: ContentBlock<'_>) -> Result<Option<ContentPart>> {
    let missing = |field: &str| {
        Error::decode(
            provider,
            format!("a `{}` block without a string `{field}`", block.kind.as_str()),
        )
    };
    let part = match block.kind.as_str() {
        // An empty text block (sent next to a tool call) is no content.
        "text" => match block.text {
            Some(text) if text.is_empty() => return Ok(None),
            Some(text) => ContentPart::Text { text },
            None => return Err(missing("text")),
        },
        "tool_use" => {
            let id = block.id.ok_or_else(|| missing("id"))?;
            let name = block.name.ok_or_else(|| missing("name"))?;
            let arguments = match block.input {
                None | Some(Value::Null) => "{}".to_owned(),
                Some(input) => input.to_string(),
            };
            ContentPart::ToolCall(ToolCall::new(id, name, arguments))
        }
        "thinking" => ContentPart::Reasoning(Reasoning {
            text: block.thinking.ok_or_else(|| missing("thinking"))?,
            signature: block.signature,
            redacted: None,
        }),
        "redacted_thinking" => ContentPart::Reasoning(Reasoning {
            text: String::new(),
            signature: None,
            redacted: Some(block.data.ok_or_else(|| missing("data"))?),
        }),
        // Server tool blocks and types added later carry nothing a neutral
        // reply holds.
        _ => return Ok(None),
    };
    Ok(Some(part))
}

fn estimate_body_len(request: &ChatRequest) -> usize {
    let mut len = 256 + request.model.len();
    for message in &request.messages {
        len += 48;
        for part in &message.content {
            len += 32
                + match part {
                    ContentPart::Text { text } => text.len(),
                    ContentPart::Image(image) => match &image.source {
                        ImageSource::Base64 { data, .. } => data.len(),
                        ImageSource::Url { url } => url.len(),
                    },
                    ContentPart::ToolCall(call) => call.arguments.len() + call.id.len() + call.name.len(),
                    ContentPart::ToolResult(result) => result.content.len() * 64,
                    ContentPart::Reasoning(r) => {
                        r.text.len()
                            + r.signature.as_ref().map_or(0, String::len)
                            + r.redacted.as_ref().map_or(0, String::len)
                    }
                };
        }
    }
    len + request.tools.len() * 256
}

/// Anthropic's stop reasons.
static STOP_REASONS: &[(&str, FinishReason)] = &[
    ("end_turn", FinishReason::Stop),
    ("stop_sequence", FinishReason::Stop),
    ("max_tokens", FinishReason::Length),
    // The context window filled up: a token limit, like `max_tokens`.
    ("model_context_window_exceeded", FinishReason::Length),
    ("tool_use", FinishReason::ToolCalls),
    ("refusal", FinishReason::Refusal),
];

/// The neutral finish reason of an Anthropic `stop_reason`; an unknown one
/// (`pause_turn`, ...) is [`FinishReason::Other`].
pub(super) fn finish_reason(stop_reason: &str) -> FinishReason {
    from_name(stop_reason, STOP_REASONS, |other| {
        FinishReason::Other(other.to_owned())
    })
}

impl Codec for AnthropicCodec {
    type StreamDecoder = AnthropicStreamDecoder;

    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            json_mode: false,
            ..Capabilities::chat()
        }
    }

    fn encode_chat(
        &self,
        request: &ChatRequest,
        mode: ReplyMode,
        _ctx: &RequestMeta,
    ) -> Result<http::Request<Bytes>> {
        let body = self.body(request, mode == ReplyMode::Stream)?;
        let mut buf = Vec::with_capacity(estimate_body_len(request));
        serde_json::to_writer(&mut buf, &body).map_err(|e| Error::encode(&self.name, e))?;
        let mut http_request = http::Request::new(Bytes::from(buf));
        *http_request.method_mut() = Method::POST;
        *http_request.uri_mut() = self.endpoint.clone();
        *http_request.headers_mut() = self.headers.clone();
        Ok(http_request)
    }

    fn decode_chat(&self, body: &[u8]) -> Result<ChatResponse> {
        let wire: MessageResponse<'_> =
            serde_json::from_slice(body).map_err(|e| Error::decode_with(&self.name, "invalid message", e))?;
        if wire.kind.as_deref() == Some("error") {
            // An error envelope with a 2xx status: still an error.
            return Err(error::from_payload(&self.name, body));
        }
        let content = wire
            .content
            .ok_or_else(|| Error::decode(&self.name, "the reply has no `content`"))?;
        let mut parts = Vec::with_capacity(content.len());
        for block in content {
            parts.extend(content_part(&self.name, block)?);
        }
        let mut message = ChatResponse::empty_assistant();
        message.content = parts;
        let mut response = ChatResponse::new(
            wire.id.unwrap_or_default(),
            wire.model.unwrap_or_default(),
            message,
        );
        response.finish_reason = wire.stop_reason.as_deref().map(finish_reason);
        response.usage = wire.usage.map(|u| u.to_usage());
        Ok(response)
    }

    fn stream_decoder(&self) -> AnthropicStreamDecoder {
        AnthropicStreamDecoder::new(Arc::clone(&self.name))
    }

    fn decode_error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
        error::from_response(&self.name, status, headers, body)
    }
}
