//! [`HttpProvider`]: a codec joined to a transport.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use http_body::Body;
use http_body_util::BodyExt;

use super::codec::{Codec, StreamDecoder};
use super::{Capabilities, Provider};
use crate::error::{Error, Result};
use crate::transport::{ResponseBody, SseDecoder, Transport, DEFAULT_MAX_EVENT_BYTES};
use crate::types::{ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse, StreamEvent};

/// The default limit on a complete response body: 32 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// A [`Provider`] made of a vendor [`Codec`] and a [`Transport`].
///
/// Vendor providers are this type with their codec, for example
/// [`OpenAi`](super::openai::OpenAi). Cloning is cheap.
pub struct HttpProvider<C> {
    codec: Arc<C>,
    transport: Transport,
    max_event_bytes: usize,
    max_response_bytes: usize,
}

impl<C> Clone for HttpProvider<C> {
    fn clone(&self) -> Self {
        Self {
            codec: Arc::clone(&self.codec),
            transport: self.transport.clone(),
            max_event_bytes: self.max_event_bytes,
            max_response_bytes: self.max_response_bytes,
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for HttpProvider<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProvider")
            .field("codec", &self.codec)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl<C: Codec> HttpProvider<C> {
    /// Joins a codec to a transport.
    pub fn new(codec: C, transport: Transport) -> Self {
        Self {
            codec: Arc::new(codec),
            transport,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// What a vendor builder assembles: the codec, the given transport or
    /// the default one, and the limits that were set.
    #[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
    pub(crate) fn assemble(
        codec: C,
        transport: Option<Transport>,
        max_event_bytes: Option<usize>,
        max_response_bytes: Option<usize>,
    ) -> Result<Self> {
        let transport = match transport {
            Some(transport) => transport,
            None => default_transport()?,
        };
        let mut provider = Self::new(codec, transport);
        if let Some(max) = max_event_bytes {
            provider = provider.max_event_bytes(max);
        }
        if let Some(max) = max_response_bytes {
            provider = provider.max_response_bytes(max);
        }
        Ok(provider)
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// The transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Limits the size of one stream event (default 4 MiB).
    #[must_use]
    pub fn max_event_bytes(mut self, max: usize) -> Self {
        self.max_event_bytes = max;
        self
    }

    /// Limits the size of a complete response body (default 32 MiB).
    #[must_use]
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<ResponseBody>> {
        let response = self.transport.send(request).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let (parts, body) = response.into_parts();
        // An error body is read up to a small limit; a vendor error is never large.
        let body = read_body(body, 1024 * 1024).await.unwrap_or_default();
        Err(self.codec.decode_error(parts.status, &parts.headers, &body))
    }

    async fn send_complete(&self, request: http::Request<Bytes>) -> Result<Bytes> {
        let response = self.send(request).await?;
        read_body(response.into_body(), self.max_response_bytes).await
    }
}

#[cfg(feature = "reqwest")]
#[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
fn default_transport() -> Result<Transport> {
    Ok(Transport::default())
}

#[cfg(not(feature = "reqwest"))]
#[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
fn default_transport() -> Result<Transport> {
    Err(Error::Config(
        "no transport was given and the `reqwest` feature is off: call `.transport(...)`".into(),
    ))
}

/// Reads a whole body, refusing one longer than `limit`.
async fn read_body(body: ResponseBody, limit: usize) -> Result<Bytes> {
    let mut body = body;
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Error::Transport)?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(Error::ResponseTooLarge { limit });
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

#[async_trait]
impl<C: Codec + fmt::Debug> Provider for HttpProvider<C> {
    fn name(&self) -> &str {
        self.codec.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.codec.capabilities()
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse> {
        let http_request = self.codec.encode_chat(&request, false)?;
        let body = self.send_complete(http_request).await?;
        self.codec.decode_chat(&body)
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream> {
        let http_request = self.codec.encode_chat(&request, true)?;
        let response = self.send(http_request).await?;
        Ok(ChatStream::new(SseChatStream {
            body: Some(response.into_body()),
            sse: SseDecoder::with_max_event_bytes(self.max_event_bytes),
            decoder: self.codec.stream_decoder(),
            pending: VecDeque::new(),
            provider: self.codec.name().into(),
            finished: false,
            pending_error: None,
        }))
    }

    async fn embed(&self, request: EmbeddingRequest) -> Result<EmbeddingResponse> {
        let http_request = self.codec.encode_embeddings(&request)?;
        let body = self.send_complete(http_request).await?;
        self.codec.decode_embeddings(&body)
    }
}

/// A streamed reply read from an SSE body.
struct SseChatStream<D> {
    /// `None` once the body is done with (read to its end, or no longer needed).
    body: Option<ResponseBody>,
    sse: SseDecoder,
    decoder: D,
    pending: VecDeque<StreamEvent>,
    provider: Arc<str>,
    /// No more items after `pending` is drained.
    finished: bool,
    /// An error to yield once `pending` is drained.
    pending_error: Option<Error>,
}

impl<D: StreamDecoder> SseChatStream<D> {
    /// Ends the stream with `err`, releasing the connection.
    fn fail(&mut self, err: Error) -> Poll<Option<Result<StreamEvent>>> {
        self.finished = true;
        self.body = None;
        self.pending.clear();
        Poll::Ready(Some(Err(err)))
    }

    fn decode(&mut self, event: crate::transport::SseEvent) -> Result<()> {
        self.decoder.decode(&event, &mut self.pending)?;
        if self.decoder.is_done() {
            // The vendor said it is finished: stop reading, release the connection.
            self.finished = true;
            self.body = None;
        }
        Ok(())
    }
}

impl<D: StreamDecoder> Stream for SseChatStream<D> {
    type Item = Result<StreamEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(err) = this.pending_error.take() {
                return this.fail(err);
            }
            if this.finished {
                return Poll::Ready(None);
            }
            match this.sse.next_event() {
                Ok(Some(event)) => {
                    if let Err(err) = this.decode(event) {
                        return this.fail(err);
                    }
                    continue;
                }
                Ok(None) => {}
                Err(err) => return this.fail(err),
            }
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(Pin::new(body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        this.sse.push(data);
                    }
                }
                Some(Err(err)) => return this.fail(Error::Transport(err)),
                None => {
                    this.body = None;
                    loop {
                        match this.sse.finish() {
                            Ok(Some(event)) => {
                                if let Err(err) = this.decode(event) {
                                    return this.fail(err);
                                }
                            }
                            Ok(None) => break,
                            Err(err) => return this.fail(err),
                        }
                    }
                    if !this.decoder.is_done() {
                        let provider = this.provider.to_string();
                        // Events decoded before the cut are still delivered first.
                        this.pending_error = Some(Error::StreamTruncated { provider });
                    }
                    this.finished = true;
                }
            }
        }
    }
}
