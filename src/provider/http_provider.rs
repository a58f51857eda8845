//! [`HttpProvider`]: a codec joined to a transport and a signer.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use http::HeaderValue;
use http_body::Body;
use http_body_util::BodyExt;

use super::codec::{Codec, StreamDecoder};
use super::error_answer;
use super::signer::{Signer, StaticKey};
use super::{Capabilities, Provider};
use crate::error::{BoxError, Error, Result, TimeoutKind};
use crate::limit::TimeLimits;
use crate::transport::{
    classify_body_error, BodyFailure, Framer, ResponseBody, Transport, DEFAULT_MAX_EVENT_BYTES,
};
use crate::types::{
    ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse, ReplyMode, RequestMeta,
    StreamEvent,
};

/// The default limit on a complete response body: 32 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// The time limits vendor builders set: 60 s of silence between two events
/// of a stream, 10 minutes for a whole call.
pub const DEFAULT_TIME_LIMITS: TimeLimits = TimeLimits {
    first_event: None,
    idle: Some(Duration::from_secs(60)),
    total: Some(Duration::from_secs(600)),
};

/// The default longest retry delay honoured: 5 minutes.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The most bytes of an error body read.
const MAX_ERROR_BODY_BYTES: usize = 1024 * 1024;

/// A [`Provider`] made of a vendor [`Codec`], a [`Transport`] and a [`Signer`].
///
/// Vendor providers are this type with their codec, for example
/// `OpenAi`. Each call's request is encoded by the
/// codec, given the call's request id (in the codec's
/// [`request_id_header`](Codec::request_id_header)) and extra headers, signed,
/// and sent. Cloning is cheap.
pub struct HttpProvider<C> {
    codec: Arc<C>,
    transport: Transport,
    signer: Arc<dyn Signer>,
    max_event_bytes: usize,
    max_response_bytes: usize,
    max_retry_after: Duration,
    limits: TimeLimits,
}

impl<C> Clone for HttpProvider<C> {
    fn clone(&self) -> Self {
        Self {
            codec: Arc::clone(&self.codec),
            transport: self.transport.clone(),
            signer: Arc::clone(&self.signer),
            max_event_bytes: self.max_event_bytes,
            max_response_bytes: self.max_response_bytes,
            max_retry_after: self.max_retry_after,
            limits: self.limits,
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for HttpProvider<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProvider")
            .field("codec", &self.codec)
            .field("signer", &self.signer)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_retry_after", &self.max_retry_after)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<C: Codec> HttpProvider<C> {
    /// Joins a codec to a transport, with no credentials (a signer that only
    /// sends a call's own [`credential`](RequestMeta::credential), as a bearer token).
    pub fn new(codec: C, transport: Transport) -> Self {
        Self {
            codec: Arc::new(codec),
            transport,
            signer: Arc::new(StaticKey::none()),
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            limits: TimeLimits::none(),
        }
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// The transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The signer.
    pub fn signer_ref(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// Replaces the signer.
    #[must_use]
    pub fn signer(self, signer: impl Signer) -> Self {
        self.signer_arc(Arc::new(signer))
    }

    /// Replaces the signer with a shared one.
    #[must_use]
    pub fn signer_arc(mut self, signer: Arc<dyn Signer>) -> Self {
        self.signer = signer;
        self
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

    /// The time limits of every call: to the first event (for a complete
    /// reply, the reply), between two events of a stream, and for the whole
    /// call, stream included. A limit that fires ends the call with
    /// [`Error::Timeout`] naming it. None when built with [`new`](Self::new);
    /// the vendor builders set [`DEFAULT_TIME_LIMITS`](crate::provider::DEFAULT_TIME_LIMITS).
    #[must_use]
    pub fn time_limits(mut self, limits: TimeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The longest retry delay a vendor may ask for and be honoured (default
    /// 5 minutes). A longer one (`retry-after: 99999999999`, a date in year
    /// 9999) is reported in [`ApiError::unusable_retry_after`](crate::ApiError::unusable_retry_after)
    /// and never in [`Error::retry_after`], so no layer waits for ever or
    /// overflows an `Instant`.
    #[must_use]
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// The HTTP request a chat call would send, exactly: encoded, with the
    /// request id and the call's headers, signed. For tests and debugging.
    ///
    /// # Errors
    ///
    /// As the codec's encoding and the signer.
    pub async fn prepare_chat(
        &self,
        request: &ChatRequest,
        mode: ReplyMode,
        ctx: &RequestMeta,
    ) -> Result<http::Request<Bytes>> {
        let http_request = self.codec.encode_chat(request, mode, ctx)?;
        self.prepare(http_request, ctx).await
    }

    /// Adds the call's request id and headers to an encoded request, then signs it.
    async fn prepare(
        &self,
        mut request: http::Request<Bytes>,
        ctx: &RequestMeta,
    ) -> Result<http::Request<Bytes>> {
        let headers = request.headers_mut();
        if let Ok(id) = HeaderValue::from_str(&ctx.id) {
            headers.insert(self.codec.request_id_header(), id);
        }
        for (name, value) in &ctx.headers {
            headers.insert(name, value.clone());
        }
        self.signer.sign(&mut request, ctx).await?;
        Ok(request)
    }

    /// What tidies the errors built from this call's upstream answers.
    fn upstream_errors(&self, ctx: &RequestMeta) -> UpstreamErrors {
        UpstreamErrors {
            signer: Arc::clone(&self.signer),
            credential: ctx.credential.clone(),
            max_retry_after: self.max_retry_after,
        }
    }

    async fn send(
        &self,
        request: http::Request<Bytes>,
        ctx: &RequestMeta,
    ) -> Result<http::Response<ResponseBody>> {
        let uri = request.uri().clone();
        let request = self.prepare(request, ctx).await?;
        let response = self
            .transport
            .send(request)
            .await
            .map_err(|e| e.at(self.codec.name(), &host_of(&uri)))?;
        if response.status().is_success() {
            return Ok(response);
        }
        if response.status().is_redirection() {
            let location = error_answer::header_str(response.headers(), "location").unwrap_or_default();
            return Err(self.upstream_errors(ctx).tidy(Error::Redirected {
                provider: self.codec.name().to_owned(),
                status: response.status(),
                location,
            }));
        }
        let (parts, body) = response.into_parts();
        // An error body is read up to a small limit; a vendor error is never large.
        let body = read_body(body, MAX_ERROR_BODY_BYTES).await.unwrap_or_default();
        let mut err = self.codec.decode_error(parts.status, &parts.headers, &body);
        if let Some(api) = err.api_mut() {
            // The vendor's id for the request, for a support ticket, whatever
            // header the vendor puts it in.
            if api.request_id.is_none() {
                api.request_id = upstream_request_id(&parts.headers);
            }
            // A 404 is most often a base URL that is not quite right: say where it went.
            if parts.status == http::StatusCode::NOT_FOUND {
                api.message = format!("{} (not found at {uri}: check the base URL)", api.message);
            }
        }
        Err(self.upstream_errors(ctx).tidy(err))
    }

    /// A streamed call answered with something that is not a stream. A
    /// complete JSON reply (some proxies answer so) is decoded and replayed
    /// as a stream; anything else (an HTML page from a captive portal or a
    /// misrouted proxy) is a `Decode` error naming the type and the first
    /// bytes, never a retryable cut stream.
    async fn not_a_stream(
        &self,
        content_type: &str,
        response: http::Response<ResponseBody>,
        ctx: &RequestMeta,
    ) -> Result<ChatStream> {
        let body = read_body(response.into_body(), self.max_response_bytes).await?;
        if content_type == "application/json" || content_type.ends_with("+json") {
            let reply = self
                .codec
                .decode_chat(&body)
                .map_err(|e| self.upstream_errors(ctx).tidy(e))?;
            return Ok(ChatStream::from_response(&reply));
        }
        let start = error_answer::body_snippet(&body[..body.len().min(256)]).unwrap_or_default();
        Err(self.upstream_errors(ctx).tidy(Error::decode(
            self.codec.name(),
            format_args!("a streamed reply came as {content_type}, not as a stream: {start}"),
        )))
    }

    /// Sends a request for a complete reply: its body, and the vendor's id
    /// for the request.
    async fn send_complete(
        &self,
        request: http::Request<Bytes>,
        ctx: &RequestMeta,
    ) -> Result<(Bytes, Option<String>)> {
        let host = host_of(request.uri());
        let response = self.send(request, ctx).await?;
        let request_id = upstream_request_id(response.headers());
        let body = read_body(response.into_body(), self.max_response_bytes)
            .await
            .map_err(|e| e.at(self.codec.name(), &host))?;
        Ok((body, request_id))
    }
}

/// The vendor's id for a request, from whichever header the vendor puts it
/// in (OpenAI and Azure `x-request-id`, Anthropic `request-id`).
fn upstream_request_id(headers: &http::HeaderMap) -> Option<String> {
    ["x-request-id", "request-id"]
        .iter()
        .find_map(|name| error_answer::header_str(headers, name))
}

/// The host and port a request goes to, for error messages.
fn host_of(uri: &http::Uri) -> String {
    uri.authority().map(ToString::to_string).unwrap_or_default()
}

/// The error for a body that could not be read to its end: a time-out is
/// [`Error::Timeout`]; a cut is [`Error::StreamTruncated`] on a stream;
/// anything else (and a cut complete reply) is a transport failure, named
/// later with [`Error::at`].
fn body_error(err: BoxError, streaming: bool) -> Error {
    match err.downcast::<Error>() {
        Ok(typed) => *typed,
        Err(err) => match classify_body_error(&*err) {
            BodyFailure::TimedOut if streaming => Error::timeout(TimeoutKind::Idle, None),
            BodyFailure::TimedOut => Error::timeout(TimeoutKind::Request, None),
            BodyFailure::Cut if streaming => Error::StreamTruncated {
                provider: String::new(),
            },
            BodyFailure::Cut | BodyFailure::Other => Error::transport(err),
        },
    }
}

/// Reads a whole body, refusing one longer than `limit`.
async fn read_body(body: ResponseBody, limit: usize) -> Result<Bytes> {
    let mut body = body;
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| body_error(err, false))?;
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

    async fn chat(&self, request: &ChatRequest, ctx: &RequestMeta) -> Result<ChatResponse> {
        request.validate()?;
        let http_request = self.codec.encode_chat(request, ReplyMode::Complete, ctx)?;
        let started = Instant::now();
        let (body, request_id) = self
            .limits
            .bound(started, self.send_complete(http_request, ctx))
            .await?;
        let mut reply = self
            .codec
            .decode_chat(&body)
            .map_err(|e| self.upstream_errors(ctx).tidy(e))?;
        reply.upstream_request_id = request_id;
        Ok(reply)
    }

    async fn chat_stream(&self, request: &ChatRequest, ctx: &RequestMeta) -> Result<ChatStream> {
        request.validate()?;
        let http_request = self.codec.encode_chat(request, ReplyMode::Stream, ctx)?;
        let host: Arc<str> = host_of(http_request.uri()).into();
        let started = Instant::now();
        let response = self.limits.bound(started, self.send(http_request, ctx)).await?;
        let request_id = upstream_request_id(response.headers());
        let content_type = error_answer::header_str(response.headers(), "content-type").map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        match content_type.as_deref() {
            Some(ct) if !<C::StreamDecoder as StreamDecoder>::Framer::accepts(ct) => {
                return self
                    .not_a_stream(ct, response, ctx)
                    .await
                    .map(|stream| stream.with_upstream_request_id(request_id))
                    .map_err(|e| e.at(self.codec.name(), &host));
            }
            _ => {}
        }
        let stream = ChatStream::new(FramedChatStream {
            body: Some(response.into_body()),
            framer: <C::StreamDecoder as StreamDecoder>::Framer::with_max_frame_bytes(self.max_event_bytes),
            decoder: self.codec.stream_decoder(),
            pending: VecDeque::new(),
            provider: self.codec.name().into(),
            host,
            started: false,
            finish_seen: false,
            finished: false,
            pending_error: None,
            upstream_errors: self.upstream_errors(ctx),
        });
        Ok(self
            .limits
            .wrap(stream.with_upstream_request_id(request_id), started))
    }

    async fn embed(&self, request: &EmbeddingRequest, ctx: &RequestMeta) -> Result<EmbeddingResponse> {
        let http_request = self.codec.encode_embeddings(request, ctx)?;
        let (body, request_id) = self
            .limits
            .bound(Instant::now(), self.send_complete(http_request, ctx))
            .await?;
        let mut response = self
            .codec
            .decode_embeddings(&body)
            .map_err(|e| self.upstream_errors(ctx).tidy(e))?;
        // One vector per input, or the reply cannot be matched to the inputs.
        if response.embeddings.len() != request.input.len() {
            return Err(Error::decode(
                self.codec.name(),
                format_args!(
                    "{} vectors came back for {} inputs",
                    response.embeddings.len(),
                    request.input.len()
                ),
            ));
        }
        response.upstream_request_id = request_id;
        Ok(response)
    }
}

/// A streamed reply read frame by frame from a body.
struct FramedChatStream<D: StreamDecoder> {
    /// `None` once the body is done with (read to its end, or no longer needed).
    body: Option<ResponseBody>,
    framer: D::Framer,
    decoder: D,
    pending: VecDeque<StreamEvent>,
    provider: Arc<str>,
    host: Arc<str>,
    /// A `Start` / a `Finish` event was passed on.
    started: bool,
    finish_seen: bool,
    /// No more items after `pending` is drained.
    finished: bool,
    /// An error to yield once `pending` is drained.
    pending_error: Option<Error>,
    upstream_errors: UpstreamErrors,
}

/// What every error built from an upstream answer goes through, for every
/// vendor: the call's credentials (the signer's, and one given for the call)
/// are redacted from its text, and a retry delay over the limit is set apart.
struct UpstreamErrors {
    signer: Arc<dyn Signer>,
    credential: Option<crate::provider::ApiKey>,
    max_retry_after: Duration,
}

impl UpstreamErrors {
    fn tidy(&self, mut err: Error) -> Error {
        for secret in self.signer.secrets() {
            err.redact(secret);
        }
        if let Some(key) = &self.credential {
            err.redact(key.expose());
        }
        err.cap_retry_after(self.max_retry_after);
        err
    }
}

impl<D: StreamDecoder> FramedChatStream<D> {
    /// Ends the stream with `err`, releasing the connection.
    fn fail(&mut self, err: Error) -> Poll<Option<Result<StreamEvent>>> {
        self.finished = true;
        self.body = None;
        self.pending.clear();
        Poll::Ready(Some(Err(self.upstream_errors.tidy(err))))
    }

    /// Decodes one frame into `pending`. Events the decoder produced before
    /// an error (usage carried in an error chunk) are kept, and the error is
    /// yielded after them.
    fn decode(&mut self, frame: <D::Framer as Framer>::Frame) {
        let before = self.pending.len();
        let decoded = self.decoder.decode(&frame, &mut self.pending);
        // One Start and one Finish per reply, whatever the vendor repeats (a
        // second `message_start`, a finish reason sent in two chunks).
        let (started, finished) = (&mut self.started, &mut self.finish_seen);
        let mut index = 0;
        self.pending.retain(|event| {
            index += 1;
            if index <= before {
                return true;
            }
            match event {
                StreamEvent::Start { .. } => !std::mem::replace(started, true),
                StreamEvent::Finish { .. } => !std::mem::replace(finished, true),
                _ => true,
            }
        });
        if let Err(err) = decoded {
            self.pending_error = Some(err);
            self.finished = true;
            self.body = None;
        } else if self.decoder.is_done() {
            // The vendor said it is finished: stop reading, release the connection.
            self.finished = true;
            self.body = None;
        }
    }
}

impl<D: StreamDecoder> Stream for FramedChatStream<D> {
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
            match this.framer.next_frame() {
                Ok(Some(event)) => {
                    this.decode(event);
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
                        this.framer.push(data);
                    }
                }
                Some(Err(err)) => {
                    let err = match body_error(err, true) {
                        Error::StreamTruncated { .. } => Error::StreamTruncated {
                            provider: this.provider.to_string(),
                        },
                        other => other.at(&this.provider, &this.host),
                    };
                    return this.fail(err);
                }
                None => {
                    this.body = None;
                    while this.pending_error.is_none() {
                        match this.framer.finish() {
                            Ok(Some(event)) => this.decode(event),
                            Ok(None) => break,
                            Err(err) => this.pending_error = Some(err),
                        }
                    }
                    if this.pending_error.is_none() && !this.decoder.is_done() {
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
