//! [`Signer`]: how a provider puts its credentials on a request.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue};

use super::ApiKey;
use crate::error::Result;
use crate::types::RequestMeta;

/// Puts credentials on each outgoing request, right before it is sent.
///
/// The hook is async, so a signer may fetch or refresh a token (Microsoft
/// Entra ID tokens expire; Vertex AI needs OAuth tokens; Bedrock signs each
/// request with SigV4). [`StaticKey`] is the fixed API key most vendors use;
/// vendor builders make one from their `api_key` setting, and
/// [`HttpProviderBuilder::signer`](super::HttpProviderBuilder::signer)
/// replaces it.
///
/// A signer should honour [`RequestMeta::credential`] (a key given for one
/// call) where its scheme allows.
///
/// ```
/// use std::sync::Mutex;
/// use std::time::{Duration, Instant};
/// use tower_ai::provider::{ApiKey, Signer};
/// use tower_ai::types::RequestMeta;
///
/// /// A bearer token refreshed once it is an hour old.
/// #[derive(Debug)]
/// struct Refreshing {
///     token: Mutex<Option<(ApiKey, Instant)>>,
/// }
///
/// impl Refreshing {
///     async fn fetch(&self) -> tower_ai::Result<ApiKey> {
///         // An application asks its identity provider here.
///         Ok(ApiKey::new("fresh-token"))
///     }
/// }
///
/// #[async_trait::async_trait]
/// impl Signer for Refreshing {
///     async fn sign(&self, request: &mut http::Request<bytes::Bytes>, _: &RequestMeta) -> tower_ai::Result<()> {
///         let cached = self.token.lock().unwrap().clone();
///         let token = match cached {
///             Some((token, at)) if at.elapsed() < Duration::from_secs(3600) => token,
///             _ => {
///                 let token = self.fetch().await?;
///                 *self.token.lock().unwrap() = Some((token.clone(), Instant::now()));
///                 token
///             }
///         };
///         request.headers_mut().insert(http::header::AUTHORIZATION, token.header_value("Bearer ")?);
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> tower_ai::Result<()> {
/// let signer = Refreshing { token: Mutex::new(None) };
/// let mut request = http::Request::new(bytes::Bytes::new());
/// signer.sign(&mut request, &RequestMeta::new()).await?;
/// assert_eq!(request.headers()["authorization"], "Bearer fresh-token");
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait Signer: Send + Sync + fmt::Debug + 'static {
    /// Adds the credentials to `request`.
    ///
    /// # Errors
    ///
    /// Whatever stops the signer (a token that cannot be fetched); the call
    /// fails with it before anything is sent.
    async fn sign(&self, request: &mut http::Request<Bytes>, ctx: &RequestMeta) -> Result<()>;

    /// The credentials this signer sends, so that the provider can redact
    /// them from any error text an upstream echoes them in. A signer whose
    /// tokens change returns the current ones.
    fn secrets(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// A fixed API key sent in one header, marked sensitive: `Authorization:
/// Bearer {key}` (OpenAI and most compatible servers), `x-api-key: {key}`
/// (Anthropic), `api-key: {key}` (Azure OpenAI).
///
/// A [`RequestMeta::credential`] replaces the key for that call. Without a
/// key of its own (a local server), it sends none unless a call brings one.
/// `Debug` never shows the key.
///
/// ```
/// use tower_ai::provider::{ApiKey, Signer, StaticKey};
/// use tower_ai::types::RequestMeta;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> tower_ai::Result<()> {
/// let signer = StaticKey::bearer(ApiKey::new("sk-app"))?;
/// let mut ctx = RequestMeta::new();
/// ctx.credential = Some(ApiKey::new("sk-tenant"));
/// let mut request = http::Request::new(bytes::Bytes::new());
/// signer.sign(&mut request, &ctx).await?;
/// assert_eq!(request.headers()["authorization"], "Bearer sk-tenant");
/// assert!(request.headers()["authorization"].is_sensitive());
/// assert_eq!(format!("{signer:?}"), "StaticKey { header: \"authorization\", key: Some(ApiKey(***)) }");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct StaticKey {
    header: HeaderName,
    prefix: &'static str,
    key: Option<ApiKey>,
    /// The header value, made once (and marked sensitive).
    value: Option<HeaderValue>,
}

impl StaticKey {
    /// `Authorization: Bearer {key}`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) when the key cannot be a header value.
    pub fn bearer(key: impl Into<ApiKey>) -> Result<Self> {
        Self::header(AUTHORIZATION, "Bearer ", Some(key.into()))
    }

    /// `{name}: {prefix}{key}`; without a key, only a per-call credential is sent.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) when the key cannot be a header value.
    pub fn header(name: HeaderName, prefix: &'static str, key: Option<ApiKey>) -> Result<Self> {
        if key.as_ref().is_some_and(|k| k.expose().trim().is_empty()) {
            return Err(crate::Error::config(
                "the API key is empty: give the provider's key, or leave it out for a server that needs none",
            ));
        }
        let value = key.as_ref().map(|k| k.header_value(prefix)).transpose()?;
        Ok(Self {
            header: name,
            prefix,
            key,
            value,
        })
    }

    /// The signer that sends no key of its own, only a call's
    /// [`credential`](RequestMeta::credential), as a bearer token.
    pub fn none() -> Self {
        Self {
            header: AUTHORIZATION,
            prefix: "Bearer ",
            key: None,
            value: None,
        }
    }

    /// The header the key goes in.
    pub fn header_name(&self) -> &HeaderName {
        &self.header
    }

    /// Whether the signer has a key of its own.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }
}

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKey")
            .field("header", &self.header.as_str())
            .field("key", &self.key)
            .finish()
    }
}

#[async_trait]
impl Signer for StaticKey {
    async fn sign(&self, request: &mut http::Request<Bytes>, ctx: &RequestMeta) -> Result<()> {
        let value = match &ctx.credential {
            Some(key) => Some(key.header_value(self.prefix)?),
            None => self.value.clone(),
        };
        if let Some(value) = value {
            request.headers_mut().insert(self.header.clone(), value);
        }
        Ok(())
    }

    fn secrets(&self) -> Vec<&str> {
        self.key.iter().map(ApiKey::expose).collect()
    }
}
