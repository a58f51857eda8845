//! [`AnthropicBuilder`]: configuration of an Anthropic provider.

use super::{Anthropic, AnthropicCodec, DEFAULT_BASE_URL, DEFAULT_MAX_TOKENS, DEFAULT_VERSION, X_API_KEY};
use crate::error::{Error, Result};
use crate::provider::{ApiKey, HttpOptions, HttpProvider, HttpProviderBuilder, StaticKey};

impl HttpProvider<AnthropicCodec> {
    /// A builder for an Anthropic provider.
    pub fn builder() -> AnthropicBuilder {
        AnthropicBuilder::new()
    }
}

/// Builds an [`Anthropic`] provider (or its [`AnthropicCodec`] alone).
///
/// Made by [`Anthropic::builder`]. Every setting has a default except the API
/// key, which falls back to the `ANTHROPIC_API_KEY` environment variable.
///
/// ```
/// use tower_ai::provider::anthropic::Anthropic;
/// use tower_ai::provider::HttpProviderBuilder;
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
    http: HttpOptions,
    api_key: Option<ApiKey>,
    version: String,
    betas: Vec<String>,
    default_max_tokens: u32,
}

impl AnthropicBuilder {
    pub(super) fn new() -> Self {
        Self {
            http: HttpOptions::new("anthropic"),
            api_key: None,
            version: DEFAULT_VERSION.to_owned(),
            betas: Vec::new(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
        }
    }

    /// The API key, sent as `x-api-key`. Without one, `build` reads
    /// `ANTHROPIC_API_KEY`, and fails with [`Error::Config`] if it is unset.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
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

    /// The codec alone, without a transport: for encoding and decoding
    /// without I/O, or for joining to a transport with [`HttpProvider::new`](crate::provider::HttpProvider::new).
    ///
    /// It holds no credentials: [`build`](Self::build) adds the signer that
    /// sends the key. Fails with [`Error::Config`] when a setting cannot be used (a base URL that does not parse, a version or
    /// beta name that is not a valid header value, a `default_max_tokens` of 0).
    pub fn build_codec(&self) -> Result<AnthropicCodec> {
        // Requests go to `{base_url}/v1/messages`; a base URL given with `/v1`
        // is read the same.
        let base_url = self
            .http
            .resolve_base_url(Some("ANTHROPIC_BASE_URL"), DEFAULT_BASE_URL)?;
        AnthropicCodec::new(
            self.http.name().to_owned(),
            &base_url,
            self.version.clone(),
            self.betas.clone(),
            self.default_max_tokens,
            self.http.header_map()?,
        )
    }

    /// The provider.
    ///
    /// Fails as [`build_codec`](Self::build_codec) does, when no API key is
    /// given or found, and when no transport is given and the `reqwest`
    /// feature is off.
    pub fn build(self) -> Result<Anthropic> {
        let codec = self.build_codec()?;
        let api_key = match &self.api_key {
            Some(key) => key.clone(),
            None => ApiKey::from_env("ANTHROPIC_API_KEY").ok_or_else(|| {
                Error::config("no Anthropic API key: call .api_key(..) or set ANTHROPIC_API_KEY")
            })?,
        };
        self.http
            .build(codec, StaticKey::header(X_API_KEY, "", Some(api_key))?)
    }
}

impl HttpProviderBuilder for AnthropicBuilder {
    fn http_options(&mut self) -> &mut HttpOptions {
        &mut self.http
    }
}
