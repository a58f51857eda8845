//! Guardrails: what a gateway checks in prompts and replies before they go
//! on.
//!
//! [`detect`] finds personal data and secrets in text (e-mail addresses,
//! card numbers, IBANs, API keys, private keys, ...), with checksums and
//! validators to keep false positives down:
//!
//! ```
//! use tower_ai::guardrail::detect::{Detector, EntityKind};
//!
//! let detector = Detector::builder().build()?;
//! let findings = detector.find("reach me at ana@example.com");
//! assert_eq!(findings[0].kind, EntityKind::Email);
//! # Ok::<(), tower_ai::Error>(())
//! ```
//!
//! [`vault`] keeps what was redacted behind typed placeholders
//! (`<EMAIL_1>`) and puts the originals back into a reply, complete or
//! streamed, even when a placeholder is split across deltas.
//!
//! [`policy`] says which principal may call which models, with how many
//! tokens, and whether tools and images are allowed.
//!
//! [`injection`] scores prompts and tool results for prompt injection, by
//! rules in ten languages with encoded and invisible payloads decoded, and
//! puts a model behind the same trait when rules are not enough.

pub mod detect;
mod guard;
pub mod injection;
mod layer;
mod pii;
pub mod policy;
mod reply;
mod schema;
pub mod vault;

pub use self::guard::{
    input_guard_fn, output_guard_fn, Guard, GuardInput, Hit, HitAction, InputGuardFn, OutputGuardFn, TextRef,
    TextSource, Verdict,
};
pub use self::injection::{InjectionAction, InjectionGuard, INJECTION_GUARD};
pub use self::layer::{GuardOptions, Guardrail, GuardrailLayer, DEFAULT_STREAM_WINDOW};
pub use self::pii::{PiiGuard, Redaction, PII_GUARD};
pub use self::schema::{SchemaGuard, SCHEMA_GUARD};
