#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod guide;
pub mod provider;
pub mod transport;
pub mod types;

pub use error::{ApiError, BoxError, Error, Result};
pub use types::{LlmRequest, LlmResponse, Principal, Reply, RequestMeta};

/// The types most applications need, in one import.
pub mod prelude {
    pub use crate::error::{Error, Result};
    pub use crate::provider::{Provider, ProviderService};
    pub use crate::types::{
        ChatRequest, ChatResponse, ChatStream, ContentPart, LlmRequest, LlmResponse, Message, Principal,
        Reply, ResponseFormat, Role, StreamEvent, Tool, ToolCall, ToolChoice, Usage,
    };
}
