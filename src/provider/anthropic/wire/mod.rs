//! Serde structs of the Messages API wire format.
//!
//! - [`request`]: the request body, borrowed from the neutral request;
//! - [`reply`]: complete replies and stream events, read leniently.
//!
//! Error bodies are read in [`error`](super::error).

mod reply;
mod request;

pub(crate) use self::reply::{ContentBlock, EventWire, MessageResponse, UsageWire};
pub(crate) use self::request::{
    ContentBlockParam, ImageSourceParam, MessageParam, MessagesRequest, OutputConfig, OutputFormat, System,
    ThinkingParam, ToolChoiceParam, ToolParam, ToolResultContent,
};
