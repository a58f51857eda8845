#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "audit")]
#[cfg_attr(docsrs, doc(cfg(feature = "audit")))]
pub mod audit;
#[cfg(any(feature = "budget", feature = "cache"))]
mod background;
#[cfg(feature = "budget")]
#[cfg_attr(docsrs, doc(cfg(feature = "budget")))]
pub mod budget;
mod builder;
#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cache;
pub mod error;
#[cfg(feature = "guardrail")]
#[cfg_attr(docsrs, doc(cfg(feature = "guardrail")))]
pub mod guardrail;
pub mod guide;
pub mod limit;
pub mod observe;
pub mod provider;
pub mod router;
pub mod store;
#[cfg(feature = "telemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "telemetry")))]
pub mod telemetry;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(feature = "tokens")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokens")))]
pub mod tokens;
pub mod transport;
pub mod types;

pub use builder::ServiceBuilderExt;
pub use error::{ApiError, BoxError, Error, Result};
pub use types::{LlmRequest, LlmResponse, Principal, Reply, ReplyMode, RequestMeta, ServedBy};

/// The types most applications need, in one import.
pub mod prelude {
    pub use crate::builder::ServiceBuilderExt;
    pub use crate::error::{from_box_error, Error, Result};
    pub use crate::provider::{HttpProviderBuilder, Provider, ProviderService};
    pub use crate::router::{Deployment, FallbackOn, Group, Router};
    pub use crate::types::{
        ChatRequest, ChatResponse, ChatStream, ContentPart, EmbeddingRequest, LlmRequest, LlmResponse,
        Message, Principal, Reply, ReplyMode, ResponseFormat, Role, StreamEvent, Tool, ToolCall, ToolChoice,
        Usage,
    };
}
