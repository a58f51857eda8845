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

pub mod detect;
