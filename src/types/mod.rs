//! Provider-neutral data: requests, replies, stream events, usage, embeddings,
//! and a canonical key per request.
//!
//! Every type here is serde-serialisable and carries what the supported
//! vendors need, so a conversation started with one vendor can continue on
//! another. [`ModelCatalog`] tells what a model costs and can do, from a
//! built-in table of OpenAI and Anthropic models that applications can override.
//!
//! ```
//! use tower_ai::types::{ChatRequest, ChatResponse, StreamAccumulator};
//!
//! let request = ChatRequest::new("gpt-4o-mini").system("Be brief.").user("Hello!");
//! let reply = ChatResponse::text_reply("r-1", "gpt-4o-mini", "Hi.");
//!
//! // A complete reply can be replayed as stream events, and folded back.
//! let mut acc = StreamAccumulator::new();
//! for event in reply.to_events() {
//!     acc.push(&event);
//! }
//! assert_eq!(acc.finish(), reply);
//! # let _ = request;
//! ```

mod canonical;
mod embedding;
pub(crate) mod key;
mod llm;
mod message;
mod model;
mod model_table;
mod notes;
mod request;
mod response;
mod stream;
mod usage;

pub use embedding::{EmbeddingRequest, EmbeddingResponse};
pub use key::RequestKey;
pub use llm::{LlmRequest, LlmResponse, Operation, Principal, Reply, ReplyMode, RequestMeta, ServedBy};
pub use message::{
    ContentPart, Image, ImageDetail, ImageSource, Message, Reasoning, Role, ToolCall, ToolResult,
};
pub use model::{BuiltinCatalog, Catalog, ModelCapabilities, ModelCatalog, ModelInfo, ModelKind, Prices};
#[cfg(feature = "budget")]
pub(crate) use notes::Settlement;
pub use notes::{
    BudgetCharge, CacheDiscard, CacheStatus, Charge, FindingAction, FindingLocation, GuardAction,
    GuardFinding, GuardStage, GuardVerdict, GuardVerdicts, Outcome, RouteTaken,
};
pub use request::{ChatRequest, ReasoningConfig, ReasoningEffort, ResponseFormat, Tool, ToolChoice};
pub use response::{ChatResponse, FinishReason};
pub(crate) use stream::content_len as stream_content_len;
pub use stream::{ChatStream, StreamAccumulator, StreamEvent};
pub use usage::{Usage, UsageSource};
