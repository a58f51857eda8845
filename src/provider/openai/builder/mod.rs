//! [`OpenAiBuilder`]: OpenAI and the OpenAI-compatible servers; the
//! settings it shares with [`AzureBuilder`] (in `azure.rs`).

mod azure;

pub use self::azure::AzureBuilder;

use std::fmt;
use std::sync::Arc;

use http::Uri;

use super::codec::{MaxTokensField, OpenAiCodec, SystemRole};
use super::{OpenAi, OPENAI_BASE_URL};
use crate::error::{Error, Result};
use crate::provider::options::endpoint;
use crate::provider::{ApiKey, Capabilities, HttpOptions, HttpProvider, HttpProviderBuilder, StaticKey};

/// The settings of the OpenAI wire format that both OpenAI-family builders
/// ([`OpenAiBuilder`], [`AzureBuilder`]) share.
pub struct OpenAiOptions {
    pub(super) http: HttpOptions,
    pub(super) max_tokens_field: MaxTokensField,
    pub(super) system_role: SystemRole,
    pub(super) include_usage: bool,
    pub(super) capabilities: Capabilities,
}

impl OpenAiOptions {
    pub(super) fn new(name: &str, max_tokens_field: MaxTokensField, capabilities: Capabilities) -> Self {
        Self {
            http: HttpOptions::new(name),
            max_tokens_field,
            system_role: SystemRole::System,
            include_usage: true,
            capabilities,
        }
    }

    /// The codec for these endpoints.
    pub(super) fn codec(&self, chat_uri: Uri, embeddings_uri: Uri) -> Result<OpenAiCodec> {
        Ok(OpenAiCodec {
            name: Arc::from(self.http.name()),
            chat_uri,
            embeddings_uri,
            headers: self.http.header_map()?,
            max_tokens_field: self.max_tokens_field,
            system_role: self.system_role,
            include_usage: self.include_usage,
            capabilities: self.capabilities,
        })
    }
}

impl fmt::Debug for OpenAiOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiOptions")
            .field("http", &self.http)
            .field("max_tokens_field", &self.max_tokens_field)
            .field("system_role", &self.system_role)
            .field("include_usage", &self.include_usage)
            .field("capabilities", &self.capabilities)
            .finish()
    }
}

/// The setters of the OpenAI wire format, shared by [`OpenAiBuilder`] and
/// [`AzureBuilder`].
pub trait OpenAiSettings: HttpProviderBuilder {
    /// The builder's OpenAI settings.
    fn openai_options(&mut self) -> &mut OpenAiOptions;

    /// The field the token limit is sent in (the preset's by default).
    #[must_use]
    fn max_tokens_field(mut self, field: MaxTokensField) -> Self {
        self.openai_options().max_tokens_field = field;
        self
    }

    /// The role system messages are sent with (default `system`).
    #[must_use]
    fn system_role(mut self, role: SystemRole) -> Self {
        self.openai_options().system_role = role;
        self
    }

    /// Whether streamed requests send `"stream_options": {"include_usage": true}`
    /// (default: yes; off for servers that refuse it).
    #[must_use]
    fn include_usage(mut self, include: bool) -> Self {
        self.openai_options().include_usage = include;
        self
    }

    /// What the provider reports it supports (the preset's by default).
    #[must_use]
    fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.openai_options().capabilities = capabilities;
        self
    }
}

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
    pub fn azure() -> AzureBuilder {
        AzureBuilder::new()
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
/// assert!(matches!(err, tower_ai::Error::Config { .. }));
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct OpenAiBuilder {
    options: OpenAiOptions,
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
            .field("options", &self.options)
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
            options: OpenAiOptions::new(name, max_tokens_field, capabilities),
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

    /// OpenAI's `OpenAI-Organization` header.
    pub fn organization(self, organization: impl Into<String>) -> Self {
        self.header("openai-organization", organization)
    }

    /// OpenAI's `OpenAI-Project` header.
    pub fn project(self, project: impl Into<String>) -> Self {
        self.header("openai-project", project)
    }

    /// The codec alone, for joining to a transport yourself or testing
    /// without one. It holds no credentials: [`build`](Self::build) adds the
    /// signer that sends the key.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the base URL or a header is invalid.
    pub fn build_codec(&self) -> Result<OpenAiCodec> {
        let base = self
            .options
            .http
            .resolve_base_url(self.base_url_env, self.default_base_url)?;
        let chat = endpoint(&base, "/chat/completions")?;
        let embeddings = endpoint(&base, "/embeddings")?;
        self.options.codec(chat, embeddings)
    }

    /// The signer: the key given, else the one in the environment, sent as a
    /// bearer token.
    fn key_signer(&self) -> Result<StaticKey> {
        let key = self
            .api_key
            .clone()
            .or_else(|| self.api_key_env.as_deref().and_then(ApiKey::from_env));
        if key.is_none() && self.key_required {
            let hint = match &self.api_key_env {
                Some(var) => format!("; set {var} or call `.api_key(...)`"),
                None => "; call `.api_key(...)`".to_owned(),
            };
            return Err(Error::config(format!(
                "{} needs an API key{hint}",
                self.options.http.name()
            )));
        }
        StaticKey::header(http::header::AUTHORIZATION, "Bearer ", key)
    }

    /// The provider.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when a required key is missing, the base URL or a
    /// header is invalid, or no transport was given with the `reqwest` feature off.
    pub fn build(self) -> Result<OpenAi> {
        let codec = self.build_codec()?;
        let signer = self.key_signer()?;
        self.options.http.build(codec, signer)
    }
}

impl HttpProviderBuilder for OpenAiBuilder {
    fn http_options(&mut self) -> &mut HttpOptions {
        &mut self.options.http
    }
}

impl OpenAiSettings for OpenAiBuilder {
    fn openai_options(&mut self) -> &mut OpenAiOptions {
        &mut self.options
    }
}
