//! Serde shapes of the OpenAI chat-completions wire format.
//!
//! Requests are serialised straight from the borrowed [`ChatRequest`]: no
//! intermediate `serde_json::Value`, no copies of message text. Replies are
//! deserialised into structs that borrow from the body where they can, and
//! that are lenient where compatible servers differ from OpenAI (numbers that
//! are `null`, `content` as an array of parts, tool-call arguments as an object).
//!
//! - [`request`]: the chat and embeddings request bodies;
//! - [`messages`]: the `messages` array of a chat request;
//! - [`reply`]: completions, stream chunks and embeddings replies.
//!
//! [`ChatRequest`]: crate::types::ChatRequest

mod messages;
mod reply;
mod request;

pub(crate) use self::messages::messages;
pub(crate) use self::reply::{CompletionIn, EmbeddingsIn, FunctionIn, MessageIn};
pub(crate) use self::request::{ChatBody, EmbeddingBody};
