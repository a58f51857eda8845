//! API keys that never show.

use std::fmt;

/// An API key. `Debug` and `Display` print `***`, so a key cannot leak
/// through logs, errors or audit records by formatting.
///
/// ```
/// use tower_ai::provider::ApiKey;
///
/// let key = ApiKey::new("sk-live-1234");
/// assert_eq!(format!("{key:?}"), "ApiKey(***)");
/// assert_eq!(key.expose(), "sk-live-1234");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// Reads a key from an environment variable; `None` if it is unset or empty.
    pub fn from_env(var: &str) -> Option<Self> {
        std::env::var(var).ok().filter(|k| !k.trim().is_empty()).map(Self)
    }

    /// The key itself, for building a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A header value holding `prefix` + the key, marked sensitive so that
    /// HTTP layers that log headers leave it out.
    pub fn header_value(&self, prefix: &str) -> Result<http::HeaderValue, crate::Error> {
        let mut value = http::HeaderValue::try_from(format!("{prefix}{}", self.0))
            .map_err(|_| crate::Error::config("the API key is not a valid header value"))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// Whether a header's name says it carries a credential: `authorization`,
/// `proxy-authorization`, and any name with `auth`, `key`, `token` or
/// `secret` in it (`x-api-key`, `api-key`, `helicone-auth`,
/// `x-portkey-api-key`, `cf-aig-authorization`, ...). Such values are marked
/// sensitive, so `Debug` and HTTP logging layers leave them out.
pub(crate) fn is_credential_header(name: &http::HeaderName) -> bool {
    let name = name.as_str();
    ["auth", "key", "token", "secret"]
        .iter()
        .any(|word| name.contains(word))
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}
