//! The audit log: one record per call, in a hash chain that shows any
//! change made to it afterwards.
//!
//! ```
//! use tower_ai::audit::{AuditRecord, Chain, Verifier};
//!
//! // Each record becomes a line that carries the hash of the line before.
//! let mut chain = Chain::new();
//! let mut log = Vec::new();
//! for id in ["req-1", "req-2", "req-3"] {
//!     chain.append(&AuditRecord::new(id), &mut log);
//! }
//!
//! // An untouched log verifies; one with a line removed does not.
//! assert!(Verifier::new().verify_reader("audit.jsonl", &log[..])?.is_intact());
//! let text = String::from_utf8(log).unwrap();
//! let without_second: String = text.lines().enumerate()
//!     .filter(|(i, _)| *i != 1)
//!     .map(|(_, line)| format!("{line}\n"))
//!     .collect();
//! let report = Verifier::new().verify_reader("audit.jsonl", without_second.as_bytes())?;
//! assert!(!report.is_intact());
//! println!("{report}"); // BROKEN: 1 line(s) after seq 0 were deleted ...
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! - [`AuditRecord`]: who called which model with what, what answered,
//!   the outcome, what the guards, the cache and the budget decided, usage,
//!   cost and latency, and hashes of the request and the reply. Never a
//!   credential or a redacted value.
//! - [`Chain`] writes records as JSON lines, each with a sequence number
//!   and the SHA-256 of the line before; with a [`CheckpointSigner`], a
//!   signed checkpoint line every N records or T seconds (ed25519, the
//!   application's key), so that someone who can edit the file but not
//!   read the key cannot rewrite the chain up to a checkpoint.
//! - [`AuditLog`] and its layer record every call through a bounded queue
//!   and a writer that writes batches to an [`AuditSink`] ([`FileSink`],
//!   `RedisStreamSink`, [`TracingSink`], [`FanOut`], [`sink_fn`]).
//! - [`Verifier`] reads a log (rotated files in order) and reports the
//!   first break and its kind ([`Tamper`]): an edited line, a deleted one,
//!   an inserted one, a reordering, a bad checkpoint, a tail cut off
//!   before a head kept elsewhere; it tolerates and reports a last line
//!   torn by a crash.
//!
//! The guide ([`guide::audit`](crate::guide::audit)) has the record's
//! schema, what is guaranteed and what is not, and verification.

mod chain;
mod file;
mod hold;
mod layer;
mod log;
mod record;
#[cfg(feature = "redis")]
mod redis;
mod sink;
mod verify;

pub use self::chain::{
    key_from_base64, key_to_base64, line_hash, Chain, CheckpointSigner, Head, FORMAT_VERSION, GENESIS,
};
pub use self::file::FileSink;
pub use self::hold::Held;
pub use self::layer::{Audit, AuditLayer, Recorder};
pub use self::log::{AuditLog, AuditLogBuilder, QueuePolicy};
pub use self::record::{
    AuditAttempt, AuditCharge, AuditFinding, AuditGuard, AuditOutcome, AuditPrincipal, AuditRecord,
    AuditServed, AuditUsage,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::RedisStreamSink;
pub use self::sink::{sink_fn, AuditBatch, AuditSink, FanOut, SinkFn, TracingSink};
pub use self::verify::{LineAt, Report, Tamper, TornTail, Verifier, MAX_LINE_BYTES};

/// The key types of checkpoint signatures, from `ed25519-dalek`.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
