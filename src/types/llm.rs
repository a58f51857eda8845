//! What travels through a stack: [`LlmRequest`] in, [`LlmResponse`] out.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use super::request::ChatRequest;
use super::response::ChatResponse;
use super::stream::ChatStream;
use crate::error::Result;

/// A chat request with the context layers need: who asks, since when, and a
/// typed map for what one layer tells another.
///
/// ```
/// use tower_ai::{LlmRequest, Principal};
/// use tower_ai::types::ChatRequest;
///
/// let request = LlmRequest::new(ChatRequest::new("gpt-4o-mini").user("hi"))
///     .with_principal(Principal::new().tenant("acme").user("u-42"))
///     .with_tag("feature", "search");
/// assert_eq!(request.meta.principal.tenant.as_deref(), Some("acme"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct LlmRequest {
    /// The chat request itself.
    pub chat: ChatRequest,
    /// Who asks, when, and why.
    pub meta: RequestMeta,
    /// Values one layer leaves for another.
    pub extensions: http::Extensions,
}

impl LlmRequest {
    /// A request with fresh metadata (a new id, started now, no principal).
    pub fn new(chat: ChatRequest) -> Self {
        Self {
            chat,
            meta: RequestMeta::new(),
            extensions: http::Extensions::new(),
        }
    }

    /// Sets the principal.
    #[must_use]
    pub fn with_principal(mut self, principal: Principal) -> Self {
        self.meta.principal = principal;
        self
    }

    /// Adds a tag.
    #[must_use]
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.meta.tags.insert(key.into(), value.into());
        self
    }
}

impl From<ChatRequest> for LlmRequest {
    fn from(chat: ChatRequest) -> Self {
        Self::new(chat)
    }
}

/// Context of one call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestMeta {
    /// A unique id (a UUIDv7, so ids sort by time).
    pub id: String,
    /// When the call entered the stack.
    pub started: Instant,
    /// Who asks.
    pub principal: Principal,
    /// Free-form labels (feature, environment, ...), carried into telemetry and audit.
    pub tags: BTreeMap<String, String>,
}

impl RequestMeta {
    /// Fresh metadata: a new id, started now.
    pub fn new() -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            started: Instant::now(),
            principal: Principal::default(),
            tags: BTreeMap::new(),
        }
    }
}

impl Default for RequestMeta {
    fn default() -> Self {
        Self::new()
    }
}

/// Who a call is made for. Budgets, caches and audit records are scoped by it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Principal {
    /// The tenant (organisation, customer).
    pub tenant: Option<String>,
    /// The team within the tenant.
    pub team: Option<String>,
    /// The end user.
    pub user: Option<String>,
    /// The id of the application key the call came with (never the key itself).
    pub key_id: Option<String>,
}

impl Principal {
    /// An anonymous principal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the team.
    #[must_use]
    pub fn team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }

    /// Sets the user.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Sets the key id.
    #[must_use]
    pub fn key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = Some(key_id.into());
        self
    }
}

/// The reply to an [`LlmRequest`], with what layers noted on the way back.
#[derive(Debug)]
#[non_exhaustive]
pub struct LlmResponse {
    /// The reply.
    pub reply: Reply,
    /// Values layers leave for the caller (cache status, route taken, ...).
    pub extensions: http::Extensions,
}

impl LlmResponse {
    /// A response around a reply.
    pub fn new(reply: Reply) -> Self {
        Self {
            reply,
            extensions: http::Extensions::new(),
        }
    }

    /// Whether the reply is streamed.
    pub fn is_stream(&self) -> bool {
        matches!(self.reply, Reply::Stream(_))
    }

    /// The complete reply, reading the stream to its end if it is one.
    pub async fn into_complete(self) -> Result<ChatResponse> {
        match self.reply {
            Reply::Complete(response) => Ok(response),
            Reply::Stream(stream) => stream.collect_response().await,
        }
    }

    /// The reply as a stream, replaying a complete reply if it is one.
    pub fn into_stream(self) -> ChatStream {
        match self.reply {
            Reply::Complete(response) => ChatStream::from_response(&response),
            Reply::Stream(stream) => stream,
        }
    }
}

/// Which provider answered, left in [`LlmResponse::extensions`] by
/// [`ProviderService`](crate::provider::ProviderService).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServedBy {
    /// The provider's name (`"openai"`, `"anthropic"`, `"mock"`, ...).
    pub provider: String,
}

impl ServedBy {
    /// Names the provider.
    pub fn new(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
        }
    }
}

/// A complete or streamed reply.
#[non_exhaustive]
pub enum Reply {
    /// The whole reply at once.
    Complete(ChatResponse),
    /// The reply as it is generated.
    Stream(ChatStream),
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Complete(r) => f.debug_tuple("Complete").field(r).finish(),
            Reply::Stream(s) => f.debug_tuple("Stream").field(s).finish(),
        }
    }
}
