//! Limits that hold for a call's whole life, streams included.
//!
//! Tower's `timeout` and `concurrency_limit` stop at the reply head: a
//! stream that stalls after its head hangs the caller, and a stream in
//! flight holds no permit. These layers keep the same promises until the
//! reply's real end.
//!
//! ```
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//! use tower_ai::limit::{ConcurrencyLimitLayer, StreamTimeoutLayer, TimeLimits};
//! use tower_ai::provider::{mock::MockProvider, ProviderService};
//!
//! let limits = TimeLimits::none()
//!     .first_event(Duration::from_secs(30))
//!     .idle(Duration::from_secs(60))
//!     .total(Duration::from_secs(600));
//! let stack = ServiceBuilder::new()
//!     .layer(ConcurrencyLimitLayer::new(64))
//!     .layer(StreamTimeoutLayer::new(limits))
//!     .service(ProviderService::new(MockProvider::new()));
//! # let _ = stack;
//! ```

mod concurrency;
mod timeout;

pub use self::concurrency::{ConcurrencyLimit, ConcurrencyLimitLayer, Permit};
pub use self::timeout::{StreamTimeout, StreamTimeoutLayer, TimeLimits, TimeoutFuture};

#[cfg(test)]
mod tests;
