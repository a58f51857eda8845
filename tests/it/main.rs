//! The integration tests, as one test binary (`cargo test --test it`); it
//! needs the `testing` feature, whose fake upstream servers most areas use.
//!
//! Each module is one area; a module that needs crate features is compiled only
//! when they are on. `support` holds the fixture readers and the call helpers;
//! `testing` tests the fake upstream servers themselves; `conformance` the
//! checks every vendor passes, and each vendor's run of them; `counter_store`
//! the checks every counter store passes (Redis against a `redis-server` of
//! its own, see `support::redis`); `fixtures/` the
//! recorded wire bodies (see each folder's `SOURCES.md`).

mod support;

#[cfg(all(feature = "reqwest", feature = "anthropic"))]
mod anthropic_provider;
#[cfg(feature = "audit")]
mod audit_chain;
#[cfg(all(feature = "audit", unix))]
mod audit_crash;
#[cfg(all(feature = "audit", feature = "guardrail"))]
mod audit_layer;
#[cfg(all(feature = "audit", feature = "redis"))]
mod audit_redis;
#[cfg(all(feature = "reqwest", feature = "openai"))]
mod body_errors;
#[cfg(feature = "budget")]
mod budget;
#[cfg(all(feature = "cache", feature = "budget"))]
mod cache;
#[cfg(feature = "anthropic")]
mod codec_anthropic;
#[cfg(feature = "openai")]
mod codec_openai;
#[cfg(any(feature = "openai", feature = "anthropic"))]
mod conformance;
mod counter_store;
#[cfg(all(feature = "reqwest", feature = "openai", feature = "anthropic"))]
mod credentials;
#[cfg(all(feature = "reqwest", feature = "openai", feature = "anthropic"))]
mod cross_vendor;
#[cfg(all(feature = "openai", feature = "anthropic"))]
mod custom_transport;
#[cfg(all(feature = "openai", feature = "anthropic"))]
mod error_dialects;
#[cfg(all(
    feature = "guardrail",
    feature = "cache",
    feature = "reqwest",
    feature = "openai"
))]
mod guardrail;
#[cfg(feature = "guardrail")]
mod guardrail_detect;
#[cfg(feature = "guardrail")]
mod guardrail_injection;
#[cfg(feature = "guardrail")]
mod guardrail_pii_eval;
#[cfg(all(feature = "reqwest", feature = "openai", feature = "anthropic"))]
mod hostile;
#[cfg(feature = "local-embedder")]
mod local_embedder;
mod mock_provider;
mod observe;
#[cfg(all(feature = "reqwest", feature = "openai"))]
mod openai_provider;
mod router;
#[cfg(feature = "telemetry")]
mod telemetry;
#[cfg(all(feature = "reqwest", feature = "openai"))]
mod testing;
#[cfg(feature = "tokens")]
mod tokens;
#[cfg(all(feature = "openai", feature = "anthropic"))]
mod truncation;
mod types;
