//! [`AnthropicBuilder`]: configuration of an Anthropic provider.

use super::{Anthropic, AnthropicCodec, DEFAULT_BASE_URL, DEFAULT_MAX_TOKENS, DEFAULT_VERSION};
use crate::error::{Error, Result};
use crate::provider::{ApiKey, HttpProvider};
use crate::transport::Transport;

/// Builds an [`Anthropic`] provider (or its [`AnthropicCodec`] alone).
///
/// Made by [`Anthropic::builder`]. Every setting has a default except the API
/// key, which falls back to the `ANTHROPIC_API_KEY` environment variable.
///
/// ```
/// use tower_ai::provider::anthropic::Anthropic;
///
/// let provider = Anthropic::builder()
///     .api_key("sk-ant-example")
///     .base_url("http://127.0.0.1:8080")
///     .beta("interleaved-thinking-2025-05-14")
///     .default_max_tokens(1024)
///     .build()?;
/// assert_eq!(provider.codec().base_url(), "http://127.0.0.1:8080");
/// # Ok::<(), tower_ai::Error>(())
/// ```
#[derive(Debug)]
pub struct AnthropicBuilder {
    api_key: Option<ApiKey>,
    base_url: Option<String>,
    version: String,
    betas: Vec<String>,
    default_max_tokens: u32,
    name: String,
    transport: Option<Transport>,
    max_event_bytes: Option<usize>,
    max_response_bytes: Option<usize>,
}

impl AnthropicBuilder {
    pub(super) fn new() -> Self {
        Self {
            api_key: None,
            base_url: None,
            version: DEFAULT_VERSION.to_owned(),
            betas: Vec::new(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
            name: "anthropic".to_owned(),
            transport: None,
            max_event_bytes: None,
            max_response_bytes: None,
        }
    }

    /// The API key, sent as `x-api-key`. Without one, `build` reads
    /// `ANTHROPIC_API_KEY`, and fails with [`Error::Config`] if it is unset.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The API's base URL, without `/v1` (requests go to `{base_url}/v1/messages`).
    ///
    /// Default: `ANTHROPIC_BASE_URL` if set, else [`DEFAULT_BASE_URL`].
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The `anthropic-version` header (default [`DEFAULT_VERSION`]).
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Adds a beta feature to the `anthropic-beta` header (names are joined with commas).
    #[must_use]
    pub fn beta(mut self, beta: impl Into<String>) -> Self {
        let beta = beta.into();
        if !self.betas.contains(&beta) {
            self.betas.push(beta);
        }
        self
    }

    /// The `max_tokens` sent when a request names none (default
    /// [`DEFAULT_MAX_TOKENS`]; Anthropic requires the field). Must be at least 1.
    #[must_use]
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = max_tokens;
        self
    }

    /// The provider's name in errors and telemetry (default `"anthropic"`).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The HTTP transport (default: [`Transport::default`], a reqwest client).
    #[must_use]
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Limits the size of one stream event (see [`HttpProvider::max_event_bytes`]).
    #[must_use]
    pub fn max_event_bytes(mut self, max: usize) -> Self {
        self.max_event_bytes = Some(max);
        self
    }

    /// Limits the size of a complete response body (see [`HttpProvider::max_response_bytes`]).
    #[must_use]
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = Some(max);
        self
    }

    /// The codec alone, without a transport: for encoding and decoding
    /// without I/O, or for joining to a transport with [`HttpProvider::new`].
    ///
    /// Fails with [`Error::Config`] when no API key is given or found, or a
    /// setting cannot be used (a base URL that does not parse, a version or
    /// beta name that is not a valid header value, a `default_max_tokens` of 0).
    pub fn build_codec(&self) -> Result<AnthropicCodec> {
        let api_key = match &self.api_key {
            Some(key) => key.clone(),
            None => ApiKey::from_env("ANTHROPIC_API_KEY").ok_or_else(|| {
                Error::Config("no Anthropic API key: call .api_key(..) or set ANTHROPIC_API_KEY".into())
            })?,
        };
        let base_url = match &self.base_url {
            Some(url) => url.clone(),
            None => std::env::var("ANTHROPIC_BASE_URL")
                .ok()
                .filter(|url| !url.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
        };
        AnthropicCodec::new(
            self.name.clone(),
            api_key,
            base_url.trim(),
            self.version.clone(),
            self.betas.clone(),
            self.default_max_tokens,
        )
    }

    /// The provider.
    ///
    /// Fails as [`build_codec`](Self::build_codec) does, and when no
    /// transport is given and the `reqwest` feature is off.
    pub fn build(self) -> Result<Anthropic> {
        let codec = self.build_codec()?;
        HttpProvider::assemble(
            codec,
            self.transport,
            self.max_event_bytes,
            self.max_response_bytes,
        )
    }
}
