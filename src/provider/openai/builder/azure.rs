//! [`AzureBuilder`]: Azure OpenAI deployments.

use std::fmt;

use http::header::AUTHORIZATION;
use http::HeaderName;

use super::{OpenAiOptions, OpenAiSettings};
use crate::error::{Error, Result};
use crate::provider::openai::{MaxTokensField, OpenAi, OpenAiCodec, AZURE_DEFAULT_API_VERSION};
use crate::provider::options::endpoint;
use crate::provider::{ApiKey, Capabilities, HttpOptions, HttpProviderBuilder, StaticKey};

/// Builds an [`OpenAi`] provider for an Azure OpenAI resource.
///
/// With a [`deployment`](Self::deployment), requests go to
/// `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version={version}`
/// (and `/embeddings`); the deployment picks the model, so the request's
/// `model` is only sent when it is not empty. Without one, they go to Azure's
/// `{endpoint}/openai/v1/...` API, where the request's `model` names the deployment.
///
/// The key (given, or from `AZURE_OPENAI_API_KEY`) is sent as the `api-key`
/// header; a Microsoft Entra ID token given with [`entra_token`](Self::entra_token)
/// is sent as `Authorization: Bearer` instead. The endpoint may come from
/// `AZURE_OPENAI_ENDPOINT`. The provider's name is `"azure_openai"`.
///
/// ```
/// use tower_ai::provider::openai::OpenAi;
/// use tower_ai::provider::Codec;
/// use tower_ai::types::{ChatRequest, ReplyMode, RequestMeta};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_ai::Error> {
/// let provider = OpenAi::azure()
///     .endpoint("https://my-resource.openai.azure.com")
///     .deployment("gpt-4o-prod")
///     .api_key("azure-key")
///     .build()?;
/// let chat = ChatRequest::new("").user("Hi");
/// let request = provider.prepare_chat(&chat, ReplyMode::Complete, &RequestMeta::new()).await?;
/// assert_eq!(
///     request.uri(),
///     "https://my-resource.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
/// );
/// assert!(request.headers()["api-key"].is_sensitive());
/// assert_eq!(provider.codec().name(), "azure_openai");
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct AzureBuilder {
    options: OpenAiOptions,
    deployment: Option<String>,
    embeddings_deployment: Option<String>,
    api_version: String,
    api_key: Option<ApiKey>,
    entra_token: Option<ApiKey>,
}

impl fmt::Debug for AzureBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureBuilder")
            .field("options", &self.options)
            .field("deployment", &self.deployment)
            .field("embeddings_deployment", &self.embeddings_deployment)
            .field("api_version", &self.api_version)
            .field("api_key", &self.api_key)
            .field("entra_token", &self.entra_token)
            .finish()
    }
}

impl Default for AzureBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl AzureBuilder {
    /// A builder with the defaults: api-version [`AZURE_DEFAULT_API_VERSION`],
    /// `max_completion_tokens`, usage asked for on streams.
    pub fn new() -> Self {
        Self {
            options: OpenAiOptions::new(
                "azure_openai",
                MaxTokensField::MaxCompletionTokens,
                Capabilities::all(),
            ),
            deployment: None,
            embeddings_deployment: None,
            api_version: AZURE_DEFAULT_API_VERSION.to_owned(),
            api_key: None,
            entra_token: None,
        }
    }

    /// The resource endpoint, `https://{resource}.openai.azure.com` (default:
    /// `AZURE_OPENAI_ENDPOINT`). The same as [`base_url`](HttpProviderBuilder::base_url).
    pub fn endpoint(self, endpoint: impl Into<String>) -> Self {
        self.base_url(endpoint)
    }

    /// The deployment chat requests (and, unless set apart, embedding requests) go to.
    pub fn deployment(mut self, deployment: impl Into<String>) -> Self {
        self.deployment = Some(deployment.into());
        self
    }

    /// A different deployment for embedding requests.
    pub fn embeddings_deployment(mut self, deployment: impl Into<String>) -> Self {
        self.embeddings_deployment = Some(deployment.into());
        self
    }

    /// The `api-version` query parameter (default [`AZURE_DEFAULT_API_VERSION`]).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// The API key, sent as the `api-key` header. Wins over `AZURE_OPENAI_API_KEY`.
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// A Microsoft Entra ID access token, sent as `Authorization: Bearer` in
    /// place of an API key. Tokens expire: to refresh them, give a
    /// [`Signer`](crate::provider::Signer) with [`signer`](HttpProviderBuilder::signer) instead.
    pub fn entra_token(mut self, token: impl Into<ApiKey>) -> Self {
        self.entra_token = Some(token.into());
        self
    }

    /// The codec alone. It holds no credentials: [`build`](Self::build)
    /// adds the signer that sends the key or token.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the endpoint is missing, or the endpoint,
    /// deployment, api-version or a header is invalid.
    pub fn build_codec(&self) -> Result<OpenAiCodec> {
        let endpoint_url = self
            .options
            .http
            .resolve_base_url(Some("AZURE_OPENAI_ENDPOINT"), "")
            .map_err(|_| {
                Error::config(
                    "Azure OpenAI needs an endpoint; set AZURE_OPENAI_ENDPOINT or call `.endpoint(...)`",
                )
            })?;
        let (chat, embeddings) = match &self.deployment {
            Some(deployment) => {
                check_segment("deployment", deployment)?;
                check_segment("api-version", &self.api_version)?;
                let embeddings_deployment = self.embeddings_deployment.as_deref().unwrap_or(deployment);
                check_segment("embeddings deployment", embeddings_deployment)?;
                let version = &self.api_version;
                (
                    endpoint(
                        &endpoint_url,
                        &format!("/openai/deployments/{deployment}/chat/completions?api-version={version}"),
                    )?,
                    endpoint(
                        &endpoint_url,
                        &format!(
                            "/openai/deployments/{embeddings_deployment}/embeddings?api-version={version}"
                        ),
                    )?,
                )
            }
            None => (
                endpoint(&endpoint_url, "/openai/v1/chat/completions")?,
                endpoint(&endpoint_url, "/openai/v1/embeddings")?,
            ),
        };
        self.options.codec(chat, embeddings)
    }

    /// The signer: an Entra token as a bearer token, else the key in `api-key`.
    fn key_signer(&self) -> Result<StaticKey> {
        if let Some(token) = &self.entra_token {
            return StaticKey::header(AUTHORIZATION, "Bearer ", Some(token.clone()));
        }
        let key = self
            .api_key
            .clone()
            .or_else(|| ApiKey::from_env("AZURE_OPENAI_API_KEY"))
            .ok_or_else(|| {
                Error::config(
                    "Azure OpenAI needs an API key; set AZURE_OPENAI_API_KEY, or call `.api_key(...)` or `.entra_token(...)`",
                )
            })?;
        StaticKey::header(HeaderName::from_static("api-key"), "", Some(key))
    }

    /// The provider.
    ///
    /// # Errors
    ///
    /// As [`build_codec`](Self::build_codec), and [`Error::Config`] when the
    /// credentials are missing, or no transport was given with the `reqwest`
    /// feature off.
    pub fn build(self) -> Result<OpenAi> {
        let codec = self.build_codec()?;
        let signer = self.key_signer()?;
        self.options.http.build(codec, signer)
    }
}

impl HttpProviderBuilder for AzureBuilder {
    fn http_options(&mut self) -> &mut HttpOptions {
        &mut self.options.http
    }
}

impl OpenAiSettings for AzureBuilder {
    fn openai_options(&mut self) -> &mut OpenAiOptions {
        &mut self.options
    }
}

/// Deployment names and api-versions go into the URL as they are: they must
/// not need escaping.
fn check_segment(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "the Azure {what} {value:?} may only hold letters, digits, '-', '_' and '.'"
        )))
    }
}
