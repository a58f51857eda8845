//! The router: one public model name served by several deployments, with
//! traffic spread by a strategy and failures hidden by retries, fallbacks,
//! cooldowns and failover of streams before their first content.
//!
//! [`Router`] is a bottom service over many inner services, like tower's
//! `Steer` and `Balance`: it sits where a single
//! [`ProviderService`](crate::provider::ProviderService) would, and every
//! other layer stacks above it.
//!
//! ```
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_ai::error::ApiError;
//! use tower_ai::provider::mock::{MockProvider, MockReply};
//! use tower_ai::router::{Deployment, FallbackOn, Group, LeastBusy, Router};
//! use tower_ai::types::{ChatRequest, RouteTaken};
//! use tower_ai::{Error, LlmRequest};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! // The first deployment of "fast" fails once with a server error.
//! let flaky = MockProvider::new()
//!     .with_name("east")
//!     .push(MockReply::error(Error::Server(ApiError::new("east", "boom").into())));
//! let steady = MockProvider::new().with_name("west");
//! let large = MockProvider::new().with_name("large").with_text_reply("from the large model");
//!
//! let router = Router::builder()
//!     .group(
//!         Group::new("gpt-4o-mini")
//!             .alias("fast")
//!             .strategy(LeastBusy)
//!             .deployment(Deployment::provider("east", "gpt-4o-mini", flaky).weight(1))
//!             .deployment(Deployment::provider("west", "gpt-4o-mini-west", steady))
//!             .fallback(FallbackOn::ContextLength, "gpt-4.1"),
//!     )
//!     .group(Group::new("gpt-4.1").deployment(Deployment::provider("large", "gpt-4.1", large)))
//!     .build()?;
//!
//! // Layers stack above the router as above a provider.
//! let stack = ServiceBuilder::new().service(router.clone());
//! for _ in 0..2 {
//!     let request = LlmRequest::new(ChatRequest::new("fast").user("hello"));
//!     let response = stack.clone().oneshot(request).await?;
//!     // Whichever deployment failed, the caller got a reply; the route says how.
//!     let route = response.extensions.get::<RouteTaken>().unwrap().clone();
//!     assert!(route.attempts() <= 2);
//!     assert_eq!(response.into_complete().await?.text(), "hello");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # What a router does with a call
//!
//! 1. The request's model names a [`Group`] (by its name or an alias);
//!    none: [`Error::NoRoute`](crate::Error::NoRoute).
//! 2. The group's [`Strategy`] chooses among its deployments that may take
//!    the call now: not cooling down after a rate limit, circuit not open,
//!    under their rpm/tpm limits, not drained. With none:
//!    [`Error::Unavailable`](crate::Error::Unavailable), with the time until
//!    the first may take calls again (or a fallback for
//!    [`FallbackOn::Unavailable`]).
//! 3. The chosen deployment's concrete model replaces the one asked for;
//!    the call goes to a clone of its service, whose readiness is driven in
//!    the call's future (see [Readiness](Router#readiness)).
//! 4. A streamed reply is read up to its first content event
//!    ([`peek_content`](crate::observe::peek_content)). A failure before it
//!    counts as a failed attempt, like a failed head; the held head events
//!    are re-emitted, so the caller sees one clean stream. A failure after
//!    content reached the caller ends the stream with that error: no second
//!    answer is spliced in.
//! 5. A [retryable](crate::Error::is_retryable) failure is retried
//!    ([`RetryPolicy`], within the [`RetryBudget`] and the call's deadline);
//!    a [fallback candidate](crate::Error::is_fallback_candidate) moves to
//!    another deployment of the group, then to the group's fallbacks
//!    ([`FallbackOn`]); anything else (an invalid request, a guardrail's
//!    refusal) fails at once.
//! 6. A group may [hedge](Group::hedge) its first attempt: after a delay
//!    without an answer, a second attempt races it on another deployment.
//! 7. The response carries [`RouteTaken`](crate::types::RouteTaken): the
//!    deployment, its model, and every failed attempt with its error and
//!    duration. A call that fails after several attempts fails with
//!    [`Error::AllAttemptsFailed`](crate::Error::AllAttemptsFailed), which
//!    keeps them all; after one attempt, with that attempt's own error.
//!
//! The guide [`routing`](crate::guide::routing) covers strategies, retries
//! and fallbacks, the stream rule and tuning.

mod deployment;
mod group;
mod policy;
mod service;
mod strategy;

pub use self::deployment::{CircuitState, Deployment, DeploymentService, DeploymentStatus};
pub use self::group::Group;
pub use self::policy::{FallbackOn, HealthPolicy, RetryBudget, RetryPolicy};
pub use self::service::{Router, RouterBuilder, RouterFuture};
pub use self::strategy::{
    estimated_prompt_tokens, has_images, has_tools, Candidate, LeastBusy, LeastLatency, LowestCost,
    RoundRobin, Rules, Strategy, WeightedRandom,
};
