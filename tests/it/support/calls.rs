//! Calling a service or a provider and reading its reply: the few lines every
//! test would otherwise repeat.
//!
//! The service helpers take any `Service<LlmRequest>` of the stack (a bare
//! `ProviderService` or one under layers) and anything that converts into an
//! `LlmRequest` (a `ChatRequest` does).

use futures_util::StreamExt;
use tower::{Service, ServiceExt};
use tower_ai::provider::Provider;
use tower_ai::types::RequestMeta;
use tower_ai::types::{ChatRequest, ChatResponse, ChatStream, StreamAccumulator, StreamEvent};
use tower_ai::{Error, LlmRequest, LlmResponse};

/// Waits for `service` to be ready, then calls it with `request`.
pub async fn call<S>(service: &mut S, request: impl Into<LlmRequest>) -> Result<LlmResponse, Error>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
{
    service.ready().await?.call(request.into()).await
}

/// Calls `service` and reads the whole reply, complete or streamed, as one `ChatResponse`.
pub async fn complete<S>(service: &mut S, request: impl Into<LlmRequest>) -> Result<ChatResponse, Error>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
{
    call(service, request).await?.into_complete().await
}

/// Calls `service` and reads the reply as a stream, item by item (a complete
/// reply is replayed as events). Fails only if the call itself fails; an error
/// inside the stream is kept in [`Collected::error`].
pub async fn collect<S>(service: &mut S, request: impl Into<LlmRequest>) -> Result<Collected, Error>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error>,
{
    Ok(Collected::read(call(service, request).await?.into_stream()).await)
}

/// `provider.chat_stream(&request, &RequestMeta::new())`, read to its end and folded into one reply.
pub async fn streamed<P: Provider + ?Sized>(
    provider: &P,
    request: ChatRequest,
) -> Result<ChatResponse, Error> {
    provider
        .chat_stream(&request, &RequestMeta::new())
        .await?
        .collect_response()
        .await
}

/// What a stream yielded: its events in order, and the error that ended it, if any.
#[derive(Debug)]
pub struct Collected {
    /// The events before the end (or before the error).
    pub events: Vec<StreamEvent>,
    /// The error the stream ended with. Reading stops at the first error.
    pub error: Option<Error>,
}

impl Collected {
    /// Reads `stream` until it ends or yields an error.
    pub async fn read(mut stream: ChatStream) -> Self {
        let mut events = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => events.push(event),
                Err(error) => {
                    return Collected {
                        events,
                        error: Some(error),
                    }
                }
            }
        }
        Collected { events, error: None }
    }

    /// The text deltas, joined.
    pub fn text(&self) -> String {
        self.events
            .iter()
            .filter_map(|event| match event {
                StreamEvent::TextDelta { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// How many events match `pred`.
    pub fn count(&self, pred: impl Fn(&StreamEvent) -> bool) -> usize {
        self.events.iter().filter(|event| pred(event)).count()
    }

    /// How many `Start` events there were.
    pub fn starts(&self) -> usize {
        self.count(|event| matches!(event, StreamEvent::Start { .. }))
    }

    /// How many `Finish` events there were.
    pub fn finishes(&self) -> usize {
        self.count(|event| matches!(event, StreamEvent::Finish { .. }))
    }

    /// The events folded into one reply, whatever ended the stream.
    pub fn fold(&self) -> ChatResponse {
        let mut acc = StreamAccumulator::new();
        for event in &self.events {
            acc.push(event);
        }
        acc.finish()
    }

    /// The folded reply, or the error the stream ended with.
    pub fn into_reply(self) -> Result<ChatResponse, Error> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(self.fold()),
        }
    }
}
