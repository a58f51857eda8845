//! The I/O-free half of a provider: requests to bytes, bytes to replies.

use std::collections::VecDeque;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::error::{Error, Result};
use crate::transport::SseEvent;
use crate::types::{ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, StreamEvent};

use super::Capabilities;

/// A vendor's wire format, without any I/O.
///
/// A codec turns a [`ChatRequest`] into an `http::Request<Bytes>` and the
/// vendor's answers back into provider-neutral types. Joined to a
/// [`Transport`](crate::transport::Transport) by [`HttpProvider`](super::HttpProvider),
/// it makes a [`Provider`](super::Provider). Because a codec does no I/O it is
/// tested against recorded wire fixtures without a socket.
pub trait Codec: Send + Sync + 'static {
    /// The stream decoder this codec uses for one streamed reply.
    type StreamDecoder: StreamDecoder;

    /// The provider's name, as used in errors and telemetry (`"openai"`, `"anthropic"`).
    fn name(&self) -> &str;

    /// What the vendor supports.
    fn capabilities(&self) -> Capabilities;

    /// Builds the HTTP request for a chat call. `stream` says whether to ask
    /// for a streamed reply (and, where the vendor needs it, for usage in the stream).
    fn encode_chat(&self, request: &ChatRequest, stream: bool) -> Result<http::Request<Bytes>>;

    /// Decodes a successful (2xx) complete reply.
    fn decode_chat(&self, body: &[u8]) -> Result<ChatResponse>;

    /// A fresh decoder for one streamed reply.
    fn stream_decoder(&self) -> Self::StreamDecoder;

    /// Maps a non-2xx answer to a typed error.
    fn decode_error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error;

    /// Builds the HTTP request for an embeddings call.
    fn encode_embeddings(&self, request: &EmbeddingRequest) -> Result<http::Request<Bytes>> {
        let _ = request;
        Err(Error::unsupported(self.name(), "embeddings"))
    }

    /// Decodes a successful embeddings reply.
    fn decode_embeddings(&self, body: &[u8]) -> Result<EmbeddingResponse> {
        let _ = body;
        Err(Error::unsupported(self.name(), "embeddings"))
    }
}

/// Turns the server-sent events of one streamed reply into [`StreamEvent`]s.
pub trait StreamDecoder: Send + Unpin + 'static {
    /// Decodes one server-sent event, pushing zero or more events to `out`.
    ///
    /// An error event from the vendor is returned as the matching typed
    /// [`Error`]; malformed data is an [`Error::Decode`].
    fn decode(&mut self, event: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<()>;

    /// Whether the vendor's terminal event (`[DONE]`, `message_stop`, ...) has been seen.
    /// A body that ends before this is a truncated stream.
    fn is_done(&self) -> bool;
}
