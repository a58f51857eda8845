//! The I/O-free half of a provider: requests to bytes, bytes to replies.

use std::collections::VecDeque;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode};

use crate::error::{Error, Result};
use crate::transport::Framer;
use crate::types::{
    ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, ReplyMode, RequestMeta, StreamEvent,
};

use super::Capabilities;

/// The header the call's request id is sent upstream in, unless the codec names another.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A vendor's wire format, without any I/O.
///
/// A codec turns a [`ChatRequest`] into an `http::Request<Bytes>` and the
/// vendor's answers back into provider-neutral types. Joined to a
/// [`Transport`](crate::transport::Transport) and a [`Signer`](super::Signer)
/// by [`HttpProvider`](super::HttpProvider), it makes a
/// [`Provider`](super::Provider). Because a codec does no I/O it is tested
/// against recorded wire fixtures without a socket. Credentials are not the
/// codec's business: the signer adds them after encoding.
pub trait Codec: Send + Sync + 'static {
    /// The stream decoder this codec uses for one streamed reply; its
    /// [`Framer`] says how the body is cut into frames (SSE events, NDJSON lines).
    type StreamDecoder: StreamDecoder;

    /// The provider's name, as used in errors and telemetry (`"openai"`, `"anthropic"`).
    fn name(&self) -> &str;

    /// What the vendor supports.
    fn capabilities(&self) -> Capabilities;

    /// Builds the HTTP request for a chat call, complete or streamed (asking,
    /// where the vendor needs it, for usage in the stream). `ctx` is the
    /// call's context, for codecs that send part of it in the body (an end
    /// user id, for one); the request id and extra headers are added by the
    /// provider.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] or [`Error::Unsupported`] when the vendor cannot
    /// express the request: refused locally, so another vendor may be tried.
    fn encode_chat(
        &self,
        request: &ChatRequest,
        mode: ReplyMode,
        ctx: &RequestMeta,
    ) -> Result<http::Request<Bytes>>;

    /// Decodes a successful (2xx) complete reply.
    fn decode_chat(&self, body: &[u8]) -> Result<ChatResponse>;

    /// A fresh decoder for one streamed reply.
    fn stream_decoder(&self) -> Self::StreamDecoder;

    /// Maps a non-2xx answer to a typed error.
    fn decode_error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error;

    /// The header the call's request id is sent in (default `x-request-id`).
    fn request_id_header(&self) -> HeaderName {
        REQUEST_ID_HEADER
    }

    /// Builds the HTTP request for an embeddings call.
    fn encode_embeddings(
        &self,
        request: &EmbeddingRequest,
        ctx: &RequestMeta,
    ) -> Result<http::Request<Bytes>> {
        let _ = (request, ctx);
        Err(Error::unsupported(self.name(), "embeddings"))
    }

    /// Decodes a successful embeddings reply.
    fn decode_embeddings(&self, body: &[u8]) -> Result<EmbeddingResponse> {
        let _ = body;
        Err(Error::unsupported(self.name(), "embeddings"))
    }
}

/// Turns the frames of one streamed reply into [`StreamEvent`]s.
pub trait StreamDecoder: Send + Unpin + 'static {
    /// How the body is cut into frames: [`SseDecoder`](crate::transport::SseDecoder)
    /// for server-sent events, [`NdjsonFramer`](crate::transport::NdjsonFramer)
    /// for one JSON value per line.
    type Framer: Framer;

    /// Decodes one frame, pushing zero or more events to `out`.
    ///
    /// An error event from the vendor is returned as the matching typed
    /// [`Error`]; malformed data is an [`Error::Decode`].
    fn decode(
        &mut self,
        frame: &<Self::Framer as Framer>::Frame,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<()>;

    /// Whether the vendor's terminal frame (`[DONE]`, `message_stop`, ...) has been seen.
    /// A body that ends before this is a truncated stream.
    fn is_done(&self) -> bool;
}
