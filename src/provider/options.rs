//! [`HttpOptions`]: what every vendor builder shares.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

use super::codec::Codec;
use super::http_provider::{
    HttpProvider, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_RETRY_AFTER, DEFAULT_TIME_LIMITS,
};
use super::secret::is_credential_header;
use super::signer::Signer;
use crate::error::{Error, Result};
use crate::limit::TimeLimits;
use crate::transport::{Transport, DEFAULT_MAX_EVENT_BYTES};

/// The settings every HTTP vendor builder shares: the provider's name, base
/// URL, extra headers, transport, signer and size limits.
///
/// Each vendor builder embeds one and gets its setters from
/// [`HttpProviderBuilder`]; [`HttpOptions::build`] joins the vendor's codec
/// to the transport and the signer.
#[must_use]
pub struct HttpOptions {
    name: String,
    base_url: Option<String>,
    /// Name, value, and whether the value is marked sensitive whatever its name.
    headers: Vec<(String, String, bool)>,
    transport: Option<Transport>,
    signer: Option<Arc<dyn Signer>>,
    max_event_bytes: usize,
    max_response_bytes: usize,
    max_retry_after: Duration,
    limits: TimeLimits,
}

impl HttpOptions {
    /// Options for the provider called `name`, with the default limits.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            base_url: None,
            headers: Vec::new(),
            transport: None,
            signer: None,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            limits: DEFAULT_TIME_LIMITS,
        }
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The base URL given, if any.
    pub fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    /// The base URL given, else the environment variable `env` when set and
    /// not empty, else `default`; trimmed, without a trailing slash.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the result is empty.
    pub fn resolve_base_url(&self, env: Option<&str>, default: &str) -> Result<String> {
        let base = match &self.base_url {
            Some(url) => url.clone(),
            None => env
                .and_then(|var| std::env::var(var).ok())
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned()),
        };
        let base = base.trim().trim_end_matches('/');
        if base.is_empty() {
            return Err(Error::config(format!("no base URL was given for {}", self.name)));
        }
        Ok(base.to_owned())
    }

    /// The headers sent with every request: `content-type: application/json`
    /// and those given with [`HttpProviderBuilder::header`] and
    /// [`sensitive_header`](HttpProviderBuilder::sensitive_header). Values of
    /// headers whose name speaks of a credential (`auth`, `key`, `token`,
    /// `secret`), and of every `sensitive_header`, are marked sensitive.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a name or value that is not a valid header (the
    /// value is never echoed: it may be a credential).
    pub fn header_map(&self) -> Result<HeaderMap> {
        let mut headers = HeaderMap::with_capacity(1 + self.headers.len());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value, sensitive) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| Error::config_with(format!("{name:?} is not a valid header name"), e))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|e| Error::config_with(format!("the value of the {name} header is not valid"), e))?;
            if *sensitive || is_credential_header(&name) {
                value.set_sensitive(true);
            }
            headers.append(name, value);
        }
        Ok(headers)
    }

    /// Joins `codec` to the transport (the one given, or reqwest's default)
    /// and to the signer (the one given with
    /// [`HttpProviderBuilder::signer`], else `default_signer`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when no transport was given and the `reqwest`
    /// feature is off.
    pub fn build<C: Codec>(self, codec: C, default_signer: impl Signer) -> Result<HttpProvider<C>> {
        let transport = match self.transport {
            Some(transport) => transport,
            None => default_transport()?,
        };
        let signer = self.signer.unwrap_or_else(|| Arc::new(default_signer));
        Ok(HttpProvider::new(codec, transport)
            .signer_arc(signer)
            .max_event_bytes(self.max_event_bytes)
            .max_response_bytes(self.max_response_bytes)
            .max_retry_after(self.max_retry_after)
            .time_limits(self.limits))
    }
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials: only their names are shown.
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _, _)| n.as_str()).collect();
        f.debug_struct("HttpOptions")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("headers", &header_names)
            .field("transport", &self.transport)
            .field("signer", &self.signer)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_retry_after", &self.max_retry_after)
            .field("limits", &self.limits)
            .finish()
    }
}

/// `{base}{path}` as a URI; the base must be an `http(s)` URL.
///
/// # Errors
///
/// [`Error::Config`] otherwise (the URL is not echoed: a proxy URL may carry a token).
#[cfg_attr(not(feature = "openai"), allow(dead_code))]
pub(crate) fn endpoint(base: &str, path: &str) -> Result<Uri> {
    let base = base.trim().trim_end_matches('/');
    let invalid = || Error::config(format!("the base URL is not a valid http(s) URL (for {path})"));
    let uri: Uri = format!("{base}{path}").parse().map_err(|_| invalid())?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(invalid()),
    }
}

#[cfg(feature = "reqwest")]
fn default_transport() -> Result<Transport> {
    Transport::reqwest_default()
}

#[cfg(not(feature = "reqwest"))]
fn default_transport() -> Result<Transport> {
    Err(Error::config(
        "no transport was given and the `reqwest` feature is off: call `.transport(...)`",
    ))
}

/// The setters every HTTP vendor builder shares, over its [`HttpOptions`].
///
/// In the [prelude](crate::prelude), so `OpenAi::builder().transport(...)`
/// works with one import.
///
/// ```
/// use tower_ai::provider::anthropic::Anthropic;
/// use tower_ai::provider::HttpProviderBuilder;
///
/// let provider = Anthropic::builder()
///     .api_key("sk-ant-example")
///     .base_url("http://127.0.0.1:8080")
///     .name("anthropic-eu")
///     .header("x-team", "search")
///     .max_response_bytes(1 << 20)
///     .build()?;
/// # let _ = provider;
/// # Ok::<(), tower_ai::Error>(())
/// ```
pub trait HttpProviderBuilder: Sized {
    /// The builder's options.
    fn http_options(&mut self) -> &mut HttpOptions;

    /// The provider's name in errors and telemetry (presets set `"groq"`, `"azure_openai"`, ...).
    #[must_use]
    fn name(mut self, name: impl Into<String>) -> Self {
        self.http_options().name = name.into();
        self
    }

    /// The URL the vendor's API paths follow. One rule for every vendor: the
    /// root as the vendor documents it, and a trailing slash is ignored.
    /// For OpenAI and the compatible servers that root includes the version
    /// segment, since servers put it in different places
    /// (`https://api.openai.com/v1`, `https://api.groq.com/openai/v1`,
    /// `http://localhost:11434/v1`); Anthropic's may be given with or
    /// without `/v1` (`https://api.anthropic.com`). Wins over the vendor's
    /// environment variable.
    #[must_use]
    fn base_url(mut self, url: impl Into<String>) -> Self {
        self.http_options().base_url = Some(url.into());
        self
    }

    /// A header sent with every request. Checked by `build`. A value whose
    /// header name speaks of a credential (`auth`, `key`, `token`, `secret`)
    /// is marked sensitive.
    #[must_use]
    fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.http_options()
            .headers
            .push((name.into(), value.into(), false));
        self
    }

    /// A header sent with every request, its value marked sensitive whatever
    /// its name (a gateway key in a header of its own), so `Debug` and HTTP
    /// logging layers leave it out. Checked by `build`.
    #[must_use]
    fn sensitive_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.http_options()
            .headers
            .push((name.into(), value.into(), true));
        self
    }

    /// The HTTP transport (default: `Transport::reqwest_default`, a reqwest
    /// client that follows no redirect).
    #[must_use]
    fn transport(mut self, transport: Transport) -> Self {
        self.http_options().transport = Some(transport);
        self
    }

    /// The signer that puts credentials on each request, in place of the
    /// vendor's static key (a refreshed token, a request signature).
    #[must_use]
    fn signer(mut self, signer: impl Signer) -> Self {
        self.http_options().signer = Some(Arc::new(signer));
        self
    }

    /// Limits the size of one stream event (default 4 MiB).
    #[must_use]
    fn max_event_bytes(mut self, max: usize) -> Self {
        self.http_options().max_event_bytes = max;
        self
    }

    /// Limits the size of a complete response body (default 32 MiB).
    #[must_use]
    fn max_response_bytes(mut self, max: usize) -> Self {
        self.http_options().max_response_bytes = max;
        self
    }

    /// The time limits of every call (see [`HttpProvider::time_limits`];
    /// default [`DEFAULT_TIME_LIMITS`]: 60 s idle, 10 minutes in all).
    #[must_use]
    fn time_limits(mut self, limits: TimeLimits) -> Self {
        self.http_options().limits = limits;
        self
    }

    /// The longest retry delay a vendor may ask for and be honoured (see
    /// [`HttpProvider::max_retry_after`]; default 5 minutes).
    #[must_use]
    fn max_retry_after(mut self, max: Duration) -> Self {
        self.http_options().max_retry_after = max;
        self
    }
}
