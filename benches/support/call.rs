//! What the call benchmarks share.

use std::hint::black_box;

use criterion::{BatchSize, Bencher};
use futures_util::StreamExt;
use tokio::runtime::Runtime;
use tower::{Service, ServiceExt};
use tower_ai::types::Reply;
use tower_ai::{Error, LlmRequest, LlmResponse};

/// Times one call of `service` on a fresh `request()`, the reply read to
/// its end (a stream's events counted).
pub(crate) fn time_call<S>(
    b: &mut Bencher<'_>,
    runtime: &Runtime,
    service: &S,
    request: impl Fn() -> LlmRequest,
) where
    S: Service<LlmRequest, Response = LlmResponse, Error = Error> + Clone,
{
    b.iter_batched(
        || (service.clone(), request()),
        |(mut service, call)| {
            runtime.block_on(async move {
                let reply = service.ready().await.unwrap().call(call).await.unwrap();
                match reply.reply {
                    Reply::Stream(stream) => black_box(stream.count().await),
                    complete => black_box(
                        LlmResponse::new(complete)
                            .into_complete()
                            .await
                            .unwrap()
                            .message
                            .content
                            .len(),
                    ),
                }
            })
        },
        BatchSize::SmallInput,
    );
}
