//! Guides, compiled with the crate so their examples stay true.

#[doc = include_str!("../docs/architecture.md")]
pub mod architecture {}

#[doc = include_str!("../docs/layers.md")]
pub mod layers {}

#[doc = include_str!("../docs/benchmarks.md")]
pub mod benchmarks {}

#[doc = include_str!("../docs/vendors.md")]
pub mod vendors {}

#[doc = include_str!("../docs/security.md")]
pub mod security {}
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
#[doc = include_str!("../docs/testing.md")]
pub mod testing {}

#[cfg(feature = "budget")]
#[cfg_attr(docsrs, doc(cfg(feature = "budget")))]
#[doc = include_str!("../docs/budgets.md")]
pub mod budgets {}

#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
#[doc = include_str!("../docs/caching.md")]
pub mod caching {}

#[doc = include_str!("../docs/routing.md")]
pub mod routing {}

#[cfg(feature = "guardrail")]
#[cfg_attr(docsrs, doc(cfg(feature = "guardrail")))]
#[doc = include_str!("../docs/guardrails.md")]
pub mod guardrails {}

#[cfg(feature = "audit")]
#[cfg_attr(docsrs, doc(cfg(feature = "audit")))]
#[doc = include_str!("../docs/audit.md")]
pub mod audit {}
