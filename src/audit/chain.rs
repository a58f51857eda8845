//! The hash chain: [`Chain`] writes records as linked lines, with signed
//! checkpoints when a [`CheckpointSigner`] is given.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::record::AuditRecord;
use crate::types::key::to_hex;

/// The version of the line format, the `v` of every line.
pub const FORMAT_VERSION: u32 = 1;

/// The `prev` of the first line of a log: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a checkpoint's signature covers, before its `seq` and `prev`.
const CHECKPOINT_CONTEXT: &[u8] = b"tower-ai audit checkpoint v1\n";

/// Where a chain stands: the sequence number and hash of its last line.
///
/// Keep the head of the last checkpoint somewhere the log's writer cannot
/// change (another system, a ticket, a printed report): given to
/// [`Verifier::expect_head`](super::Verifier::expect_head), it shows a log
/// cut short or rewritten after it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Head {
    /// The sequence number of the last line.
    pub seq: u64,
    /// The SHA-256 of the last line (its bytes without the line feed), in
    /// lower-case hex.
    pub hash: String,
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl std::str::FromStr for Head {
    type Err = String;

    /// Reads `SEQ:HASH`, as [`Display`](fmt::Display) writes it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (seq, hash) = s
            .split_once(':')
            .ok_or_else(|| format!("a head is SEQ:HASH, not {s:?}"))?;
        let seq = seq
            .parse()
            .map_err(|_| format!("the sequence number of a head is a whole number, not {seq:?}"))?;
        if hash.len() != 64
            || !hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "the hash of a head is 64 lower-case hex digits, not {hash:?}"
            ));
        }
        Ok(Head {
            seq,
            hash: hash.to_owned(),
        })
    }
}

/// The SHA-256 of `line` in lower-case hex: a line's hash, which the next
/// line carries as its `prev`.
pub fn line_hash(line: &[u8]) -> String {
    to_hex(&Sha256::digest(line))
}

/// The bytes a checkpoint's signature covers.
pub(super) fn checkpoint_message(seq: u64, prev: &str) -> Vec<u8> {
    let mut message = CHECKPOINT_CONTEXT.to_vec();
    message.extend_from_slice(seq.to_string().as_bytes());
    message.push(b'\n');
    message.extend_from_slice(prev.as_bytes());
    message
}

/// A verifying key as a checkpoint line names it: standard base64 of its 32
/// bytes.
pub fn key_to_base64(key: &VerifyingKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

/// Reads a verifying key written by [`key_to_base64`].
///
/// # Errors
///
/// A message saying why `text` is not one: not base64, not 32 bytes, or
/// not a point of the curve.
pub fn key_from_base64(text: &str) -> Result<VerifyingKey, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| format!("{text:?} is not 32 bytes of base64"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("{text:?} is not an ed25519 public key: {e}"))
}

/// Signs checkpoints: every `every` records, and when `interval` has passed
/// since the last one, at the next record.
///
/// The key is the application's (an ed25519 key from its secret store);
/// whoever can edit the log but not read the key cannot forge the chain up
/// to a checkpoint. `Debug` never shows the key.
#[derive(Clone)]
pub struct CheckpointSigner {
    key: SigningKey,
    every: u64,
    interval: Option<Duration>,
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("key", &key_to_base64(&self.key.verifying_key()))
            .field("every", &self.every)
            .field("interval", &self.interval)
            .finish()
    }
}

impl CheckpointSigner {
    /// A checkpoint every `every` records (at least 1), signed with `key`.
    pub fn new(key: SigningKey, every: u64) -> Self {
        Self {
            key,
            every: every.max(1),
            interval: None,
        }
    }

    /// Also a checkpoint at the first record once `interval` has passed since
    /// the last checkpoint; and, written by an [`AuditLog`](super::AuditLog),
    /// when `interval` passes with no record after one not yet covered.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// The key a verifier needs ([`Verifier::trust_key`](super::Verifier::trust_key)).
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

#[derive(Serialize)]
struct CheckpointLine<'a> {
    v: u32,
    seq: u64,
    prev: &'a str,
    kind: &'static str,
    at: String,
    key: String,
    sig: String,
}

/// Writes records as a chain of JSON lines: each line carries a sequence
/// number and the hash of the line before it, so that a line edited,
/// removed, added or moved breaks the chain where it happened.
///
/// A record's line is the record's JSON with four fields in front: `v`
/// ([`FORMAT_VERSION`]), `seq` (0, 1, 2, ... across files, checkpoints
/// included), `prev` (the previous line's [`line_hash`], [`GENESIS`] for
/// the first) and `kind` (`"call"`). A checkpoint line has `kind`
/// `"checkpoint"`, the time, the signer's public key and an ed25519
/// signature over its `seq` and `prev`: the whole chain up to it.
///
/// ```
/// use tower_ai::audit::{AuditRecord, Chain, Verifier};
///
/// let mut chain = Chain::new();
/// let mut log = Vec::new();
/// for id in ["a", "b", "c"] {
///     chain.append(&AuditRecord::new(id), &mut log);
/// }
/// let report = Verifier::new().verify_reader("log", &log[..]).unwrap();
/// assert!(report.is_intact());
/// assert_eq!(report.records, 3);
/// ```
#[derive(Debug, Clone)]
pub struct Chain {
    next_seq: u64,
    prev: String,
    signer: Option<CheckpointSigner>,
    since_checkpoint: u64,
    last_checkpoint: Instant,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// A chain that starts a new log.
    pub fn new() -> Self {
        Self {
            next_seq: 0,
            prev: GENESIS.to_owned(),
            signer: None,
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
        }
    }

    /// A chain that goes on after `head`: the last line of a log written
    /// before (see [`Head::of_line`]).
    pub fn resume(head: &Head) -> Self {
        Self {
            next_seq: head.seq.saturating_add(1),
            prev: head.hash.clone(),
            ..Self::new()
        }
    }

    /// Signs checkpoints with `signer`.
    #[must_use]
    pub fn checkpoints(mut self, signer: CheckpointSigner) -> Self {
        self.signer = Some(signer);
        self
    }

    /// How long a quiet log waits before a checkpoint, if it has one.
    pub(super) fn checkpoint_interval(&self) -> Option<Duration> {
        self.signer.as_ref().and_then(|s| s.interval)
    }

    /// The last line written, `None` before the first.
    pub fn head(&self) -> Option<Head> {
        self.next_seq.checked_sub(1).map(|seq| Head {
            seq,
            hash: self.prev.clone(),
        })
    }

    /// Writes `record`'s line to `out`, then a checkpoint's if one is due.
    /// Returns the record's sequence number.
    pub fn append(&mut self, record: &AuditRecord, out: &mut Vec<u8>) -> u64 {
        let start = out.len();
        let seq = self.next_seq;
        out.extend_from_slice(b"{\"v\":");
        out.extend_from_slice(FORMAT_VERSION.to_string().as_bytes());
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(seq.to_string().as_bytes());
        out.extend_from_slice(b",\"prev\":\"");
        out.extend_from_slice(self.prev.as_bytes());
        out.extend_from_slice(b"\",\"kind\":\"call\"");
        // The record's object, its opening brace turned into the comma
        // that joins it to the fields above (it is never empty: it has an
        // id).
        let brace = out.len();
        serde_json::to_writer(&mut *out, record).unwrap_or_else(|_| unreachable!("a record serialises"));
        out[brace] = b',';
        self.close_line(start, out);
        self.since_checkpoint += 1;
        let due = self.signer.as_ref().is_some_and(|signer| {
            self.since_checkpoint >= signer.every
                || signer
                    .interval
                    .is_some_and(|interval| self.last_checkpoint.elapsed() >= interval)
        });
        if due {
            self.checkpoint(out);
        }
        seq
    }

    /// Writes a checkpoint's line to `out` now (at the end of a file, at
    /// shutdown), if there is a signer and a record since the last
    /// checkpoint.
    pub fn checkpoint(&mut self, out: &mut Vec<u8>) {
        let Some(signer) = &self.signer else {
            return;
        };
        if self.since_checkpoint == 0 {
            return;
        }
        let seq = self.next_seq;
        let signature = signer.key.sign(&checkpoint_message(seq, &self.prev));
        let line = CheckpointLine {
            v: FORMAT_VERSION,
            seq,
            prev: &self.prev,
            kind: "checkpoint",
            at: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
            key: key_to_base64(&signer.key.verifying_key()),
            sig: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
        };
        let start = out.len();
        serde_json::to_writer(&mut *out, &line).unwrap_or_else(|_| unreachable!("a checkpoint serialises"));
        self.close_line(start, out);
        self.since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
    }

    /// Hashes the line written from `start`, ends it, moves on.
    fn close_line(&mut self, start: usize, out: &mut Vec<u8>) {
        self.prev = line_hash(&out[start..]);
        out.push(b'\n');
        self.next_seq += 1;
    }
}

impl Head {
    /// The head a log ends with, from its last complete line (without the
    /// line feed), or `None` if that is not a line of a chain.
    pub fn of_line(line: &[u8]) -> Option<Head> {
        #[derive(Deserialize)]
        struct Seq {
            seq: u64,
        }
        let Seq { seq } = serde_json::from_slice(line).ok()?;
        Some(Head {
            seq,
            hash: line_hash(line),
        })
    }
}
