//! [`Lifecycle`]: the future that runs a filter over a whole call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use super::filter::{Emit, End, Filter, Observer};
use super::stream::FilteredStream;
use crate::error::Result;
use crate::types::{ChatResponse, LlmResponse, Reply, StreamAccumulator};

pin_project! {
    /// The future of a call with a [`Filter`] (or an [`Observer`]) on it,
    /// from `call()` on.
    ///
    /// It resolves like the inner future, with the filter attached to the
    /// reply; exactly one end hook runs (see the [module docs](super)):
    /// dropped before it resolves, it runs [`on_cancel`](Filter::on_cancel)
    /// with `None`; an inner error runs [`on_error`](Filter::on_error).
    ///
    /// ```
    /// use tower::{Service, ServiceExt};
    /// use tower_ai::observe::{Lifecycle, Observer};
    /// use tower_ai::provider::mock::{MockProvider, MockReply};
    /// use tower_ai::provider::ProviderService;
    /// use tower_ai::types::ChatRequest;
    /// use tower_ai::LlmRequest;
    ///
    /// struct Failed(std::sync::Arc<std::sync::atomic::AtomicBool>);
    /// impl Observer for Failed {
    ///     fn on_error(self, _: &tower_ai::Error) {
    ///         self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mock = MockProvider::new().push(MockReply::error(tower_ai::Error::config("down")));
    /// let mut service = ProviderService::new(mock);
    /// let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    /// let call = service.ready().await.unwrap().call(LlmRequest::new(ChatRequest::new("m").user("hi")));
    /// assert!(Lifecycle::new(call, Failed(flag.clone())).await.is_err());
    /// assert!(flag.load(std::sync::atomic::Ordering::SeqCst));
    /// # }
    /// ```
    pub struct Lifecycle<Fut, F>
    where
        F: Filter,
    {
        #[pin]
        inner: Fut,
        // `None` once the future resolved (the filter moved on with the reply).
        filter: Option<F>,
    }

    impl<Fut, F> PinnedDrop for Lifecycle<Fut, F>
    where
        F: Filter,
    {
        fn drop(this: Pin<&mut Self>) {
            if let Some(filter) = this.project().filter.take() {
                filter.on_cancel(None);
            }
        }
    }
}

impl<Fut, F: Filter> Lifecycle<Fut, F> {
    /// Runs `filter` over the call whose future is `inner`.
    pub fn new(inner: Fut, filter: F) -> Self {
        Self {
            inner,
            filter: Some(filter),
        }
    }
}

impl<Fut, F: Filter> fmt::Debug for Lifecycle<Fut, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lifecycle")
            .field("resolved", &self.filter.is_none())
            .finish_non_exhaustive()
    }
}

impl<Fut, F> Future for Lifecycle<Fut, F>
where
    Fut: Future<Output = Result<LlmResponse>>,
    F: Filter,
{
    type Output = Result<LlmResponse>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some(filter) = this.filter.take() else {
            // Polled again after it resolved: pass the inner answer on.
            return Poll::Ready(result);
        };
        Poll::Ready(match result {
            Ok(response) => attach(response, filter),
            Err(error) => {
                filter.on_error(&error);
                Err(error)
            }
        })
    }
}

/// Attaches a filter to a response that has arrived, whatever its shape.
///
/// [`on_response`](Filter::on_response) runs first. A streamed reply is then
/// wrapped in a [`FilteredStream`]. A complete reply goes through the same
/// hooks at once: each event of [`ChatResponse::to_events`], then
/// [`on_stream_end`](Filter::on_stream_end), and the reply is rebuilt from
/// what the filter emitted (an observer's reply is left as it is), then
/// [`on_end`](Filter::on_end). Embeddings go to `on_end` with [`End::Embedded`].
///
/// # Errors
///
/// The filter's error from `on_response` (after its `on_error` ran) or, for a
/// complete reply, from `on_event` / `on_stream_end` (after its `on_end` ran
/// with [`End::Failed`]).
pub fn attach<F: Filter>(mut response: LlmResponse, mut filter: F) -> Result<LlmResponse> {
    if let Err(error) = filter.on_response(&mut response) {
        filter.on_error(&error);
        return Err(error);
    }
    let LlmResponse { reply, extensions } = response;
    let reply = match reply {
        Reply::Stream(stream) => Reply::Stream(stream.map_stream(|s| FilteredStream::new(s, filter))),
        Reply::Complete(complete) => Reply::Complete(filter_complete(complete, filter)?),
        Reply::Embeddings(embeddings) => {
            filter.on_end(End::Embedded(&embeddings));
            Reply::Embeddings(embeddings)
        }
    };
    Ok(LlmResponse { reply, extensions })
}

/// Attaches an observer to a response: [`attach`] for hooks that cannot fail.
pub fn observe<O: Observer>(response: LlmResponse, mut observer: O) -> LlmResponse {
    Observer::on_response(&mut observer, &response);
    let LlmResponse { reply, extensions } = response;
    let reply = match reply {
        Reply::Stream(stream) => Reply::Stream(stream.map_stream(|s| FilteredStream::new(s, observer))),
        Reply::Complete(complete) => {
            if observer.watches_complete_events() {
                for event in complete.to_events() {
                    Observer::on_event(&mut observer, &event);
                }
            }
            Observer::on_end(observer, End::Finished(&complete));
            Reply::Complete(complete)
        }
        Reply::Embeddings(embeddings) => {
            Observer::on_end(observer, End::Embedded(&embeddings));
            Reply::Embeddings(embeddings)
        }
    };
    LlmResponse { reply, extensions }
}

/// Runs a complete reply through a filter: its events, the stream's end,
/// then the end hook with the reply the filter let through.
fn filter_complete<F: Filter>(reply: ChatResponse, mut filter: F) -> Result<ChatResponse> {
    if F::PASSES_THROUGH {
        for event in reply.to_events() {
            filter.watch_event(&event);
        }
        filter.on_end(End::Finished(&reply));
        return Ok(reply);
    }
    let mut out = Emit::new();
    let mut acc = StreamAccumulator::new();
    let mut failure = None;
    for event in reply.to_events() {
        let step = filter.on_event(event, &mut out);
        while let Some(event) = out.pop() {
            acc.push(&event);
        }
        if let Err(error) = step {
            failure = Some(error);
            break;
        }
    }
    if failure.is_none() {
        let step = filter.on_stream_end(&mut out);
        while let Some(event) = out.pop() {
            acc.push(&event);
        }
        failure = step.err();
    }
    out.clear();
    let rebuilt = acc.finish();
    match failure {
        None => {
            filter.on_end(End::Finished(&rebuilt));
            Ok(rebuilt)
        }
        Some(error) => {
            filter.on_end(End::Failed {
                error: &error,
                partial: &rebuilt,
            });
            Err(error)
        }
    }
}
