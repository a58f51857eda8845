//! [`OpenAiBuilder`]: OpenAI and the OpenAI-compatible servers.

use std::fmt;
use std::sync::Arc;

use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

use super::codec::{AuthKind, MaxTokensField, OpenAiCodec, SystemRole};
use super::OpenAi;
use crate::error::{Error, Result};
use crate::provider::{ApiKey, Capabilities, HttpProvider};
use crate::transport::Transport;

/// OpenAI's API.
const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// The setters both OpenAI-family builders share (they keep them in `common`).
macro_rules! common_setters {
    () => {
        /// The provider's name in errors and telemetry (presets set `"groq"`, `"azure_openai"`, ...).
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.common.name = name.into();
            self
        }

        /// A header sent with every request. Checked by `build`.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.common.headers.push((name.into(), value.into()));
            self
        }

        /// The HTTP transport (default: [`Transport::default`], reqwest).
        pub fn transport(mut self, transport: Transport) -> Self {
            self.common.transport = Some(transport);
            self
        }

        /// Limits the size of one stream event (see [`HttpProvider::max_event_bytes`](crate::provider::HttpProvider::max_event_bytes)).
        pub fn max_event_bytes(mut self, max: usize) -> Self {
            self.common.max_event_bytes = Some(max);
            self
        }

        /// Limits the size of a complete response (see [`HttpProvider::max_response_bytes`](crate::provider::HttpProvider::max_response_bytes)).
        pub fn max_response_bytes(mut self, max: usize) -> Self {
            self.common.max_response_bytes = Some(max);
            self
        }

        /// The field the token limit is sent in (the preset's by default).
        pub fn max_tokens_field(mut self, field: MaxTokensField) -> Self {
            self.common.max_tokens_field = field;
            self
        }

        /// The role system messages are sent with (default `system`).
        pub fn system_role(mut self, role: SystemRole) -> Self {
            self.common.system_role = role;
            self
        }

        /// Whether streamed requests send `"stream_options": {"include_usage": true}`
        /// (default: yes; off for servers that refuse it).
        pub fn include_usage(mut self, include: bool) -> Self {
            self.common.include_usage = include;
            self
        }

        /// What the provider reports it supports (the preset's by default).
        pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
            self.common.capabilities = capabilities;
            self
        }
    };
}
pub(super) use common_setters;

impl HttpProvider<OpenAiCodec> {
    /// A builder for OpenAI: `https://api.openai.com/v1` (or `OPENAI_BASE_URL`),
    /// with the key given or read from `OPENAI_API_KEY`.
    ///
    /// The builder's other constructors ([`OpenAiBuilder::ollama`],
    /// [`OpenAiBuilder::groq`], ...) preset OpenAI-compatible servers.
    pub fn builder() -> OpenAiBuilder {
        OpenAiBuilder::openai()
    }

    /// A builder for Azure OpenAI.
    pub fn azure() -> super::AzureBuilder {
        super::AzureBuilder::new()
    }
}

/// Settings both builders share.
pub(super) struct Common {
    pub(super) name: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) transport: Option<Transport>,
    pub(super) max_event_bytes: Option<usize>,
    pub(super) max_response_bytes: Option<usize>,
    pub(super) max_tokens_field: MaxTokensField,
    pub(super) system_role: SystemRole,
    pub(super) include_usage: bool,
    pub(super) capabilities: Capabilities,
}

impl Common {
    pub(super) fn new(name: &str, max_tokens_field: MaxTokensField, capabilities: Capabilities) -> Self {
        Self {
            name: name.to_owned(),
            headers: Vec::new(),
            transport: None,
            max_event_bytes: None,
            max_response_bytes: None,
            max_tokens_field,
            system_role: SystemRole::System,
            include_usage: true,
            capabilities,
        }
    }

    /// The codec, with `auth` (a header and how to show it) and the default headers.
    pub(super) fn codec(
        &self,
        chat_uri: Uri,
        embeddings_uri: Uri,
        auth: Option<(HeaderName, HeaderValue, AuthKind)>,
    ) -> Result<OpenAiCodec> {
        let mut headers = HeaderMap::with_capacity(2 + self.headers.len());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::Config(format!("{name:?} is not a valid header name")))?;
            // The value is never echoed: it may be a credential.
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| Error::Config(format!("the value of the {name} header is not valid")))?;
            if is_credential_header(&name) {
                value.set_sensitive(true);
            }
            headers.append(name, value);
        }
        let mut kind = AuthKind::None;
        if let Some((name, value, auth_kind)) = auth {
            headers.insert(name, value);
            kind = auth_kind;
        }
        Ok(OpenAiCodec {
            name: Arc::from(self.name.as_str()),
            chat_uri,
            embeddings_uri,
            headers,
            auth: kind,
            max_tokens_field: self.max_tokens_field,
            system_role: self.system_role,
            include_usage: self.include_usage,
            capabilities: self.capabilities,
        })
    }

    /// The provider: the codec joined to the transport, with the limits.
    pub(super) fn provider(self, codec: OpenAiCodec) -> Result<OpenAi> {
        HttpProvider::assemble(
            codec,
            self.transport,
            self.max_event_bytes,
            self.max_response_bytes,
        )
    }
}

impl fmt::Debug for Common {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Common")
            .field("name", &self.name)
            .field("headers", &header_names)
            .field("transport", &self.transport)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_tokens_field", &self.max_tokens_field)
            .field("system_role", &self.system_role)
            .field("include_usage", &self.include_usage)
            .finish()
    }
}

fn is_credential_header(name: &HeaderName) -> bool {
    name == AUTHORIZATION || name.as_str() == "api-key" || name.as_str() == "x-api-key"
}

/// `{base}{path}` as a URI; the base must be an `http(s)` URL.
pub(super) fn endpoint(base: &str, path: &str) -> Result<Uri> {
    let base = base.trim().trim_end_matches('/');
    // The URL is not echoed in the error: a proxy URL may carry a token.
    let invalid = || Error::Config(format!("the base URL is not a valid http(s) URL (for {path})"));
    let uri: Uri = format!("{base}{path}").parse().map_err(|_| invalid())?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(invalid()),
    }
}

/// Builds an [`OpenAi`] provider for OpenAI or an OpenAI-compatible server.
///
/// Start from [`OpenAi::builder`] (OpenAI itself) or a preset:
///
/// | preset | base URL | key | `max_tokens` sent as |
/// |---|---|---|---|
/// | [`OpenAi::builder`] | `https://api.openai.com/v1` (or `OPENAI_BASE_URL`) | `OPENAI_API_KEY`, required | `max_completion_tokens` |
/// | [`ollama`](Self::ollama) | `http://localhost:11434/v1` | none | `max_tokens` |
/// | [`lm_studio`](Self::lm_studio) | `http://localhost:1234/v1` | none | `max_tokens` |
/// | [`vllm`](Self::vllm) | given | optional | `max_tokens` |
/// | [`compatible`](Self::compatible) | given | optional | `max_tokens` |
/// | [`groq`](Self::groq) | `https://api.groq.com/openai/v1` | `GROQ_API_KEY` | `max_tokens` |
/// | [`mistral`](Self::mistral) | `https://api.mistral.ai/v1` | `MISTRAL_API_KEY` | `max_tokens` |
/// | [`together`](Self::together) | `https://api.together.ai/v1` | `TOGETHER_API_KEY` | `max_tokens` |
/// | [`openrouter`](Self::openrouter) | `https://openrouter.ai/api/v1` | `OPENROUTER_API_KEY` | `max_tokens` |
/// | [`deepseek`](Self::deepseek) | `https://api.deepseek.com` | `DEEPSEEK_API_KEY` | `max_tokens` |
///
/// A key given with [`api_key`](Self::api_key) wins over the environment; the
/// environment is read by [`build`](Self::build), not before.
///
/// ```
/// use tower_ai::provider::openai::{OpenAi, OpenAiBuilder};
/// use tower_ai::provider::Provider;
///
/// # fn main() -> Result<(), tower_ai::Error> {
/// let local = OpenAiBuilder::ollama().build_codec()?;
/// assert_eq!(local.chat_url(), "http://localhost:11434/v1/chat/completions");
///
/// let groq = OpenAiBuilder::groq().api_key("gsk-test").build_codec()?;
/// assert_eq!(groq.chat_url(), "https://api.groq.com/openai/v1/chat/completions");
///
/// // A missing required key is a configuration error, not a failed call later.
/// let err = OpenAi::builder().api_key_env("TOWER_AI_DOC_UNSET_KEY").build().unwrap_err();
/// assert!(matches!(err, tower_ai::Error::Config(_)));
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct OpenAiBuilder {
    common: Common,
    base_url: Option<String>,
    default_base_url: &'static str,
    /// Read when no base URL was given (OpenAI's `OPENAI_BASE_URL`).
    base_url_env: Option<&'static str>,
    api_key: Option<ApiKey>,
    api_key_env: Option<String>,
    key_required: bool,
}

impl fmt::Debug for OpenAiBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiBuilder")
            .field("common", &self.common)
            .field("base_url", &self.base_url)
            .field("default_base_url", &self.default_base_url)
            .field("api_key", &self.api_key)
            .field("api_key_env", &self.api_key_env)
            .field("key_required", &self.key_required)
            .finish()
    }
}

impl OpenAiBuilder {
    fn preset(
        name: &str,
        base_url: &'static str,
        api_key_env: Option<&str>,
        key_required: bool,
        max_tokens_field: MaxTokensField,
        capabilities: Capabilities,
    ) -> Self {
        Self {
            common: Common::new(name, max_tokens_field, capabilities),
            base_url: None,
            default_base_url: base_url,
            base_url_env: None,
            api_key: None,
            api_key_env: api_key_env.map(str::to_owned),
            key_required,
        }
    }

    /// OpenAI: `https://api.openai.com/v1`, or `OPENAI_BASE_URL` when set; the
    /// key from `OPENAI_API_KEY` unless given. Same as [`OpenAi::builder`].
    pub fn openai() -> Self {
        let mut builder = Self::preset(
            "openai",
            OPENAI_BASE_URL,
            Some("OPENAI_API_KEY"),
            true,
            MaxTokensField::MaxCompletionTokens,
            Capabilities::all(),
        );
        builder.base_url_env = Some("OPENAI_BASE_URL");
        builder
    }

    /// Any OpenAI-compatible server at `base_url` (the URL that
    /// `/chat/completions` follows, usually ending in `/v1`). No key is
    /// required; one given is sent as a bearer token.
    pub fn compatible(base_url: impl Into<String>) -> Self {
        Self::preset(
            "openai_compatible",
            "",
            None,
            false,
            MaxTokensField::MaxTokens,
            Capabilities::all(),
        )
        .base_url(base_url)
    }

    /// A local Ollama server: `http://localhost:11434/v1`, no key.
    ///
    /// Source: Ollama's OpenAI-compatibility docs (`base_url='http://localhost:11434/v1/'`,
    /// "api_key required but ignored"), <https://docs.ollama.com/api/openai-compatibility>.
    pub fn ollama() -> Self {
        Self::preset(
            "ollama",
            "http://localhost:11434/v1",
            None,
            false,
            MaxTokensField::MaxTokens,
            Capabilities::all(),
        )
    }

    /// A local LM Studio server: `http://localhost:1234/v1`, no key.
    ///
    /// Source: LM Studio docs, "OpenAI Compatible Endpoints"
    /// (`base_url="http://localhost:1234/v1"`), <https://lmstudio.ai/docs/api/openai-api>.
    pub fn lm_studio() -> Self {
        Self::preset(
            "lm_studio",
            "http://localhost:1234/v1",
            None,
            false,
            MaxTokensField::MaxTokens,
            Capabilities::all(),
        )
    }

    /// A vLLM server at `base_url` (`vllm serve` listens on
    /// `http://localhost:8000/v1` by default). A key is only needed if the
    /// server was started with `--api-key`.
    ///
    /// Source: vLLM docs, "OpenAI-Compatible Server",
    /// <https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html>.
    pub fn vllm(base_url: impl Into<String>) -> Self {
        Self::compatible(base_url).name("vllm")
    }

    /// Groq: `https://api.groq.com/openai/v1`, key from `GROQ_API_KEY`.
    ///
    /// Source: Groq docs, "OpenAI Compatibility" ("change the base_url to
    /// `https://api.groq.com/openai/v1`"), <https://console.groq.com/docs/openai>.
    pub fn groq() -> Self {
        Self::preset(
            "groq",
            "https://api.groq.com/openai/v1",
            Some("GROQ_API_KEY"),
            true,
            MaxTokensField::MaxTokens,
            Capabilities::chat(),
        )
    }

    /// Mistral: `https://api.mistral.ai/v1`, key from `MISTRAL_API_KEY`.
    ///
    /// Mistral refuses unknown fields, `stream_options` among them, and sends
    /// stream usage without being asked, so this preset does not ask.
    ///
    /// Source: Mistral API reference, `POST https://api.mistral.ai/v1/chat/completions`,
    /// <https://docs.mistral.ai/api/>; `stream_options` refused with a 422
    /// `extra_forbidden`: openai/openai-agents-python#442.
    pub fn mistral() -> Self {
        Self::preset(
            "mistral",
            "https://api.mistral.ai/v1",
            Some("MISTRAL_API_KEY"),
            true,
            MaxTokensField::MaxTokens,
            Capabilities::all(),
        )
        .include_usage(false)
    }

    /// Together AI: `https://api.together.ai/v1`, key from `TOGETHER_API_KEY`.
    ///
    /// Source: Together docs, "OpenAI compatibility" ("`base_url` to
    /// `https://api.together.ai/v1`"), <https://docs.together.ai/docs/inference/openai-compatibility>.
    pub fn together() -> Self {
        Self::preset(
            "together",
            "https://api.together.ai/v1",
            Some("TOGETHER_API_KEY"),
            true,
            MaxTokensField::MaxTokens,
            Capabilities::all(),
        )
    }

    /// OpenRouter: `https://openrouter.ai/api/v1`, key from `OPENROUTER_API_KEY`.
    /// Its optional attribution headers (`HTTP-Referer`, `X-Title`) can be set with
    /// [`header`](Self::header).
    ///
    /// Source: OpenRouter quickstart (`base_url="https://openrouter.ai/api/v1"`),
    /// <https://openrouter.ai/docs/quickstart>.
    pub fn openrouter() -> Self {
        Self::preset(
            "openrouter",
            "https://openrouter.ai/api/v1",
            Some("OPENROUTER_API_KEY"),
            true,
            MaxTokensField::MaxTokens,
            Capabilities::chat(),
        )
    }

    /// DeepSeek: `https://api.deepseek.com`, key from `DEEPSEEK_API_KEY`.
    /// `deepseek-reasoner`'s `reasoning_content` comes back as reasoning parts.
    ///
    /// Source: DeepSeek API docs, "Your First API Call" (`base_url` =
    /// `https://api.deepseek.com`; `/v1` also accepted), <https://api-docs.deepseek.com/>.
    pub fn deepseek() -> Self {
        let mut capabilities = Capabilities::chat();
        capabilities.vision = false;
        Self::preset(
            "deepseek",
            "https://api.deepseek.com",
            Some("DEEPSEEK_API_KEY"),
            true,
            MaxTokensField::MaxTokens,
            capabilities,
        )
    }

    /// The API key, sent as `Authorization: Bearer {key}`. Wins over the environment.
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The environment variable the key is read from when none is given
    /// (the preset's, for example `OPENAI_API_KEY`).
    pub fn api_key_env(mut self, var: impl Into<String>) -> Self {
        self.api_key_env = Some(var.into());
        self
    }

    /// Whether [`build`](Self::build) fails without a key (presets of hosted
    /// APIs require one, local servers do not).
    pub fn require_api_key(mut self, required: bool) -> Self {
        self.key_required = required;
        self
    }

    /// The URL that `/chat/completions` and `/embeddings` follow, for example
    /// `https://api.openai.com/v1`. Wins over `OPENAI_BASE_URL`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// OpenAI's `OpenAI-Organization` header.
    pub fn organization(self, organization: impl Into<String>) -> Self {
        self.header("openai-organization", organization)
    }

    /// OpenAI's `OpenAI-Project` header.
    pub fn project(self, project: impl Into<String>) -> Self {
        self.header("openai-project", project)
    }

    common_setters!();

    /// The codec alone, for joining to a transport yourself or testing without one.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when a required key is missing, or the base URL or a
    /// header is invalid.
    pub fn build_codec(&self) -> Result<OpenAiCodec> {
        let base = match &self.base_url {
            Some(url) => url.clone(),
            None => self
                .base_url_env
                .and_then(|var| std::env::var(var).ok())
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| self.default_base_url.to_owned()),
        };
        if base.trim().is_empty() {
            return Err(Error::Config(format!(
                "no base URL was given for {}",
                self.common.name
            )));
        }
        let key = self
            .api_key
            .clone()
            .or_else(|| self.api_key_env.as_deref().and_then(ApiKey::from_env));
        let auth = match key {
            Some(key) => Some((AUTHORIZATION, key.header_value("Bearer ")?, AuthKind::Bearer)),
            None if self.key_required => {
                let hint = match &self.api_key_env {
                    Some(var) => format!("; set {var} or call `.api_key(...)`"),
                    None => "; call `.api_key(...)`".to_owned(),
                };
                return Err(Error::Config(format!(
                    "{} needs an API key{hint}",
                    self.common.name
                )));
            }
            None => None,
        };
        let chat = endpoint(&base, "/chat/completions")?;
        let embeddings = endpoint(&base, "/embeddings")?;
        self.common.codec(chat, embeddings, auth)
    }

    /// The provider.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when a required key is missing, the base URL or a
    /// header is invalid, or no transport was given with the `reqwest` feature off.
    pub fn build(self) -> Result<OpenAi> {
        let codec = self.build_codec()?;
        self.common.provider(codec)
    }
}
