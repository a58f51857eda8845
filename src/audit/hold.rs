//! Holding a call's reply until its record is acknowledged
//! ([`AuditLogBuilder::hold_until_acknowledged`](super::AuditLogBuilder::hold_until_acknowledged)).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::types::{ChatStream, LlmResponse, Reply, StreamEvent};

/// The refusal of a reply whose record was not acknowledged.
fn not_acknowledged() -> Error {
    Error::AuditUnavailable {
        reason: "record not acknowledged",
    }
}

pin_project_lite::pin_project! {
    /// The future of an audited call: the inner call's, held until the
    /// call's record is acknowledged when the log asks for it.
    ///
    /// A complete reply (or an error) is returned once its record is; a
    /// stream is returned at once, and its last item (the finish, or the
    /// error) is held until the record is.
    #[derive(Debug)]
    pub struct Held<F> {
        #[pin]
        inner: F,
        ack: Option<oneshot::Receiver<u64>>,
        ready: Option<Result<LlmResponse>>,
    }
}

impl<F> Held<F> {
    pub(super) fn new(inner: F, ack: Option<oneshot::Receiver<u64>>) -> Self {
        Self {
            inner,
            ack,
            ready: None,
        }
    }
}

impl<F> Future for Held<F>
where
    F: Future<Output = Result<LlmResponse>>,
{
    type Output = Result<LlmResponse>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.ready.is_none() {
            let result = ready!(this.inner.poll(cx));
            let Some(ack) = this.ack.take() else {
                return Poll::Ready(result);
            };
            match result {
                Ok(LlmResponse {
                    reply: Reply::Stream(stream),
                    extensions,
                }) => {
                    let stream = stream.map_stream(|inner| HeldStream {
                        inner,
                        ack: Some(ack),
                        held: None,
                        ended: false,
                    });
                    return Poll::Ready(Ok(LlmResponse {
                        reply: Reply::Stream(stream),
                        extensions,
                    }));
                }
                other => {
                    *this.ready = Some(other);
                    *this.ack = Some(ack);
                }
            }
        }
        let ack = this.ack.as_mut().map(Pin::new);
        let acknowledged = match ack {
            Some(ack) => ready!(ack.poll(cx)).is_ok(),
            None => true,
        };
        *this.ack = None;
        let result = this.ready.take().unwrap_or_else(|| Err(not_acknowledged()));
        Poll::Ready(if acknowledged {
            result
        } else {
            Err(not_acknowledged())
        })
    }
}

/// A stream whose last item waits for the record.
struct HeldStream {
    inner: ChatStream,
    ack: Option<oneshot::Receiver<u64>>,
    /// The finish or error, held.
    held: Option<Result<StreamEvent>>,
    /// Whether the inner stream returned its end (and so the record was
    /// sent).
    ended: bool,
}

impl Stream for HeldStream {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.ended {
                if let Some(ack) = this.ack.as_mut() {
                    let acknowledged = ready!(Pin::new(ack).poll(cx)).is_ok();
                    this.ack = None;
                    if !acknowledged {
                        this.held = None;
                        return Poll::Ready(Some(Err(not_acknowledged())));
                    }
                }
                return Poll::Ready(this.held.take());
            }
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(item @ (Ok(StreamEvent::Finish { .. }) | Err(_))) => {
                    // The last item: read on to the stream's end, where
                    // the record is sent, before handing it out.
                    this.held = Some(item);
                }
                Some(item) => return Poll::Ready(Some(item)),
                None => this.ended = true,
            }
        }
    }
}
