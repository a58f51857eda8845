//! What travels through a stack: [`LlmRequest`] in, [`LlmResponse`] out.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::embedding::{EmbeddingRequest, EmbeddingResponse};
use super::request::ChatRequest;
use super::response::ChatResponse;
use super::stream::ChatStream;
use crate::error::{Error, Result};
use crate::provider::ApiKey;

/// How the caller wants the reply: whole, or as a stream of events.
///
/// The one place the reply mode is decided: a provider asked for a stream
/// answers a real stream, one asked for a complete reply answers it whole.
/// It is not part of the [`ChatRequest`], because it does not change what
/// the model says (a cache key leaves it out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ReplyMode {
    /// The whole reply at once.
    #[default]
    Complete,
    /// The reply as it is generated.
    Stream,
}

/// What a request asks for: a chat reply or embeddings.
///
/// The request itself is held behind an [`Arc`], so cloning an
/// [`LlmRequest`] (a retry, a fallback, a cache's single-flight) costs a
/// reference count however long the conversation; a layer that edits it
/// (a guardrail redacting the prompt) gets its own copy on write through
/// [`LlmRequest::chat_mut`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Operation {
    /// A chat completion, complete or streamed.
    Chat(Arc<ChatRequest>),
    /// Embeddings of texts.
    Embeddings(Arc<EmbeddingRequest>),
}

impl Operation {
    /// The operation's name after the OpenTelemetry GenAI conventions:
    /// `chat` or `embeddings`.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Chat(_) => "chat",
            Operation::Embeddings(_) => "embeddings",
        }
    }

    /// The model (or alias) asked for.
    pub fn model(&self) -> &str {
        match self {
            Operation::Chat(chat) => &chat.model,
            Operation::Embeddings(embeddings) => &embeddings.model,
        }
    }
}

/// A request with the context layers need: what is asked (a chat or
/// embeddings), how the reply should come, who asks and since when, and a
/// typed map for what one layer tells another.
///
/// Cloning is cheap: the chat itself is shared (see [`Operation`]).
///
/// ```
/// use tower_ai::{LlmRequest, Principal};
/// use tower_ai::types::{ChatRequest, ReplyMode};
///
/// let request = LlmRequest::stream(ChatRequest::new("gpt-4o-mini").user("hi"))
///     .with_principal(Principal::new().tenant("acme").user("u-42"))
///     .with_tag("feature", "search");
/// assert_eq!(request.mode, ReplyMode::Stream);
/// assert_eq!(request.model(), "gpt-4o-mini");
/// assert_eq!(request.meta.principal.tenant.as_deref(), Some("acme"));
///
/// // A retry or a fallback clones the request; the conversation is shared.
/// let mut copy = request.clone();
/// copy.chat_mut().unwrap().model = "gpt-4o".into();
/// assert_eq!(request.model(), "gpt-4o-mini");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LlmRequest {
    /// What is asked.
    pub operation: Operation,
    /// Whether the reply is streamed (always [`ReplyMode::Complete`] for embeddings).
    pub mode: ReplyMode,
    /// Who asks, when, and with which call context.
    pub meta: RequestMeta,
    /// Values one layer leaves for another. Values inserted must be `Clone`,
    /// so the whole request can be cloned.
    pub extensions: http::Extensions,
}

impl LlmRequest {
    /// A chat request answered complete, with fresh metadata (a new id,
    /// started now, no principal).
    pub fn new(chat: ChatRequest) -> Self {
        Self::with_operation(Operation::Chat(Arc::new(chat)), ReplyMode::Complete)
    }

    /// A chat request answered as a stream.
    pub fn stream(chat: ChatRequest) -> Self {
        Self::with_operation(Operation::Chat(Arc::new(chat)), ReplyMode::Stream)
    }

    /// An embeddings request.
    pub fn embeddings(request: EmbeddingRequest) -> Self {
        Self::with_operation(Operation::Embeddings(Arc::new(request)), ReplyMode::Complete)
    }

    fn with_operation(operation: Operation, mode: ReplyMode) -> Self {
        Self {
            operation,
            mode,
            meta: RequestMeta::new(),
            extensions: http::Extensions::new(),
        }
    }

    /// The chat request, if this is a chat.
    pub fn chat(&self) -> Option<&ChatRequest> {
        match &self.operation {
            Operation::Chat(chat) => Some(chat),
            Operation::Embeddings(_) => None,
        }
    }

    /// The chat request to edit, if this is a chat. Copies it first when
    /// another clone of the request shares it (copy on write).
    pub fn chat_mut(&mut self) -> Option<&mut ChatRequest> {
        match &mut self.operation {
            Operation::Chat(chat) => Some(Arc::make_mut(chat)),
            Operation::Embeddings(_) => None,
        }
    }

    /// The embeddings request, if this is one.
    pub fn embedding_request(&self) -> Option<&EmbeddingRequest> {
        match &self.operation {
            Operation::Embeddings(request) => Some(request),
            Operation::Chat(_) => None,
        }
    }

    /// The embeddings request to edit, if this is one (copy on write).
    pub fn embedding_request_mut(&mut self) -> Option<&mut EmbeddingRequest> {
        match &mut self.operation {
            Operation::Embeddings(request) => Some(Arc::make_mut(request)),
            Operation::Chat(_) => None,
        }
    }

    /// The model (or alias) asked for.
    pub fn model(&self) -> &str {
        self.operation.model()
    }

    /// Whether the reply is to be streamed.
    pub fn is_stream(&self) -> bool {
        self.mode == ReplyMode::Stream
    }

    /// Sets the reply mode.
    #[must_use]
    pub fn with_mode(mut self, mode: ReplyMode) -> Self {
        self.mode = mode;
        self
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

    /// Sets the deadline: the time by which the whole call must be done.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.meta.deadline = Some(deadline);
        self
    }

    /// Sends this call with `key` in place of the provider's own credential
    /// (bring-your-own-key, per-tenant keys).
    #[must_use]
    pub fn with_credential(mut self, key: impl Into<ApiKey>) -> Self {
        self.meta.credential = Some(key.into());
        self
    }

    /// Adds a header sent upstream with this call only (a vendor beta flag,
    /// a trace header). It wins over the provider's headers of the same name.
    /// A header whose name speaks of a credential (`auth`, `key`, `token`,
    /// `secret`) is marked sensitive, so `Debug` and HTTP logs leave its value out.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the name or the value is not a valid header
    /// (the value is never echoed: it may be a credential).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self> {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| Error::config_with(format!("{name:?} is not a valid header name"), e))?;
        let mut value = http::HeaderValue::from_str(value)
            .map_err(|e| Error::config_with(format!("the value of the {name} header is not valid"), e))?;
        if crate::provider::is_credential_header(&name) {
            value.set_sensitive(true);
        }
        self.meta.headers.insert(name, value);
        Ok(self)
    }
}

impl From<ChatRequest> for LlmRequest {
    fn from(chat: ChatRequest) -> Self {
        Self::new(chat)
    }
}

impl From<EmbeddingRequest> for LlmRequest {
    fn from(request: EmbeddingRequest) -> Self {
        Self::embeddings(request)
    }
}

/// The context of one call: who asks, since when, until when, with which
/// credential. Providers receive it with every call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestMeta {
    /// A unique id (a UUIDv7, so ids sort by time). Sent upstream as a header
    /// (`x-request-id`, or the vendor's own) so logs can be matched with the vendor's.
    pub id: String,
    /// When the call entered the stack.
    pub started: Instant,
    /// When the whole call must be done, if there is a limit.
    pub deadline: Option<Instant>,
    /// Who asks.
    pub principal: Principal,
    /// Free-form labels (feature, environment, ...), carried into telemetry and audit.
    pub tags: BTreeMap<String, String>,
    /// A credential that replaces the provider's own for this call only.
    /// `Debug` never shows it.
    pub credential: Option<ApiKey>,
    /// Headers sent upstream with this call only.
    pub headers: http::HeaderMap,
}

impl RequestMeta {
    /// Fresh metadata: a new id, started now.
    pub fn new() -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            started: Instant::now(),
            deadline: None,
            principal: Principal::default(),
            tags: BTreeMap::new(),
            credential: None,
            headers: http::HeaderMap::new(),
        }
    }

    /// The time left before the deadline (zero once it passed), if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
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
    /// Values layers leave for the caller and for each other, of the shared
    /// types in [`types`](crate::types): [`ServedBy`], [`RouteTaken`](super::RouteTaken),
    /// [`CacheStatus`](super::CacheStatus), [`GuardVerdicts`](super::GuardVerdicts),
    /// [`BudgetCharge`](super::BudgetCharge).
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

    /// The complete chat reply, reading the stream to its end if it is one.
    ///
    /// # Errors
    ///
    /// The stream's error, if it fails; [`Error::Config`] for an embeddings reply.
    pub async fn into_complete(self) -> Result<ChatResponse> {
        match self.reply {
            Reply::Complete(response) => Ok(response),
            Reply::Stream(stream) => stream.collect_response().await,
            Reply::Embeddings(_) => Err(Error::config(
                "into_complete() was called on an embeddings reply; use into_embeddings()",
            )),
        }
    }

    /// The chat reply as a stream.
    ///
    /// A request made with [`ReplyMode::Stream`] is always answered with a
    /// real stream by the providers of this crate. A complete reply (the
    /// answer to a [`ReplyMode::Complete`] request, or a layer such as a
    /// cache that answered at once) is replayed as the events of
    /// [`ChatResponse::to_events`]: start, one delta per part, usage, finish.
    /// An embeddings reply gives a stream that fails with [`Error::Config`].
    pub fn into_stream(self) -> ChatStream {
        match self.reply {
            Reply::Complete(response) => ChatStream::from_response(&response),
            Reply::Stream(stream) => stream,
            Reply::Embeddings(_) => ChatStream::from_events([Err(Error::config(
                "into_stream() was called on an embeddings reply; use into_embeddings()",
            ))]),
        }
    }

    /// The embeddings.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a chat reply.
    pub fn into_embeddings(self) -> Result<EmbeddingResponse> {
        match self.reply {
            Reply::Embeddings(response) => Ok(response),
            _ => Err(Error::config(
                "into_embeddings() was called on a chat reply; use into_complete() or into_stream()",
            )),
        }
    }
}

/// Which provider and model answered, left in [`LlmResponse::extensions`] by
/// [`ProviderService`](crate::provider::ProviderService).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServedBy {
    /// The provider's name (`"openai"`, `"anthropic"`, `"mock"`, ...).
    pub provider: String,
    /// The concrete model the provider was asked for (after any alias was resolved).
    pub model: String,
    /// The vendor's id for the HTTP request that answered (`x-request-id`,
    /// `request-id`), for a support ticket; `None` when it sent none.
    pub upstream_request_id: Option<String>,
}

impl ServedBy {
    /// Names the provider and the model.
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
            upstream_request_id: None,
        }
    }

    /// Sets the vendor's id for the HTTP request that answered.
    #[must_use]
    pub fn with_upstream_request_id(mut self, id: Option<String>) -> Self {
        self.upstream_request_id = id;
        self
    }
}

/// A complete or streamed chat reply, or embeddings.
#[non_exhaustive]
pub enum Reply {
    /// The whole reply at once.
    Complete(ChatResponse),
    /// The reply as it is generated.
    Stream(ChatStream),
    /// Embeddings.
    Embeddings(EmbeddingResponse),
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Complete(r) => f.debug_tuple("Complete").field(r).finish(),
            Reply::Stream(s) => f.debug_tuple("Stream").field(s).finish(),
            Reply::Embeddings(e) => f.debug_tuple("Embeddings").field(e).finish(),
        }
    }
}
