//! [`Verifier`]: checks a log's chain and signatures, and says where and
//! how it was broken.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde::Deserialize;

use super::chain::{checkpoint_message, key_to_base64, line_hash, Head, FORMAT_VERSION, GENESIS};

/// The longest line read, 16 MiB: a longer one is reported as
/// [`Tamper::Unreadable`] rather than held in memory.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Where a line is: its file (as given) and line number, from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineAt {
    /// The file's name, as given to the verifier.
    pub file: String,
    /// The line's number in it, from 1.
    pub line: u64,
}

impl fmt::Display for LineAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// How a log was changed after it was written: the first break found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tamper {
    /// A line was changed: the next line's `prev` is not its hash. `seq`
    /// is the changed line's (or the link itself was changed).
    Edited {
        /// The sequence number of the line changed.
        seq: u64,
        /// Where the line after it, whose link does not hold, is.
        at: LineAt,
    },
    /// Lines are missing: the sequence jumps from `after` to the line at
    /// `at`, and the missing numbers appear nowhere else in the log.
    Deleted {
        /// The last sequence number before the gap.
        after: u64,
        /// How many are missing.
        count: u64,
        /// Where the line after the gap is.
        at: LineAt,
    },
    /// A line was added: its sequence number is taken by another line too.
    Inserted {
        /// The sequence number twice present.
        seq: u64,
        /// Where the second line with it is.
        at: LineAt,
    },
    /// Lines were moved: a sequence number comes before one it should
    /// follow.
    Reordered {
        /// The sequence number out of place.
        seq: u64,
        /// Where it is.
        at: LineAt,
    },
    /// The log ends before a head known from elsewhere
    /// ([`Verifier::expect_head`]): its tail was cut off.
    Truncated {
        /// The last sequence number in the log, `None` if it is empty.
        last: Option<u64>,
        /// The sequence number the log should reach.
        expected: u64,
    },
    /// The line at a head known from elsewhere is not the one the head
    /// names: the log was rewritten up to there.
    HeadMismatch {
        /// The head's sequence number.
        seq: u64,
        /// Where that line is.
        at: LineAt,
    },
    /// A checkpoint whose signature does not hold, or signed by a key not
    /// trusted.
    BadCheckpoint {
        /// The checkpoint's sequence number.
        seq: u64,
        /// Where it is.
        at: LineAt,
        /// What is wrong with it.
        reason: String,
    },
    /// A line that is not a line of a chain (before the last, which may be
    /// torn by a crash), or longer than [`MAX_LINE_BYTES`].
    Unreadable {
        /// Where it is.
        at: LineAt,
        /// Why.
        reason: String,
    },
    /// The first line of a log that starts at sequence number 0 does not
    /// link to [`GENESIS`].
    BadGenesis {
        /// Where it is.
        at: LineAt,
    },
    /// The log does not start at sequence number 0: its first lines were
    /// removed (or only later files of a rotated log were given; see
    /// [`Verifier::from_any_start`]).
    MissingStart {
        /// The first sequence number found.
        first: u64,
        /// Where it is.
        at: LineAt,
    },
}

impl fmt::Display for Tamper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tamper::Edited { seq, at } => write!(
                f,
                "the line with seq {seq} was edited (its hash does not match the link at {at})"
            ),
            Tamper::Deleted { after, count, at } => {
                write!(
                    f,
                    "{count} line(s) after seq {after} were deleted (the sequence jumps at {at})"
                )
            }
            Tamper::Inserted { seq, at } => {
                write!(f, "a line was inserted: seq {seq} appears twice, again at {at}")
            }
            Tamper::Reordered { seq, at } => {
                write!(f, "lines were reordered: seq {seq} is out of place at {at}")
            }
            Tamper::Truncated { last, expected } => match last {
                Some(last) => write!(
                    f,
                    "the log was truncated: it ends at seq {last}, the known head is seq {expected}"
                ),
                None => write!(
                    f,
                    "the log was truncated: it is empty, the known head is seq {expected}"
                ),
            },
            Tamper::HeadMismatch { seq, at } => {
                write!(
                    f,
                    "the line with seq {seq}, at {at}, is not the one the known head names: the log was rewritten"
                )
            }
            Tamper::BadCheckpoint { seq, at, reason } => {
                write!(
                    f,
                    "the checkpoint with seq {seq}, at {at}, does not hold: {reason}"
                )
            }
            Tamper::Unreadable { at, reason } => write!(f, "{at} is not a line of the log: {reason}"),
            Tamper::BadGenesis { at } => write!(f, "the first line, at {at}, does not start a chain"),
            Tamper::MissingStart { first, at } => {
                write!(
                    f,
                    "the log starts at seq {first}, at {at}, not at 0: its first lines are missing"
                )
            }
        }
    }
}

/// A last line cut short by a crash: tolerated, reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Where it is.
    pub at: LineAt,
    /// How many bytes it has.
    pub bytes: usize,
}

/// What [`Verifier`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Report {
    /// Lines read: records and checkpoints.
    pub lines: u64,
    /// Records read.
    pub records: u64,
    /// The first line's sequence number (0 for a log read from its start;
    /// more for later files of a rotated log read without the first).
    pub first_seq: Option<u64>,
    /// The last complete line.
    pub head: Option<Head>,
    /// Checkpoints whose signature was checked and holds.
    pub checkpoints_verified: u64,
    /// Checkpoints not checked: no key was trusted.
    pub checkpoints_unchecked: u64,
    /// Lines after the last verified checkpoint (all lines when none was
    /// verified): the chain holds for them, but someone who can rewrite
    /// the log could have rewritten them consistently.
    pub unsigned_tail: u64,
    /// A last line cut short, left out of the chain.
    pub torn_tail: Option<TornTail>,
    /// The first break, if any.
    pub tamper: Option<Tamper>,
}

impl Report {
    /// Whether no break was found (a torn tail is not one).
    pub fn is_intact(&self) -> bool {
        self.tamper.is_none()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tamper {
            Some(tamper) => writeln!(f, "BROKEN: {tamper}")?,
            None => writeln!(f, "intact")?,
        }
        write!(f, "{} lines ({} records)", self.lines, self.records)?;
        if let (Some(first), Some(head)) = (self.first_seq, &self.head) {
            write!(f, ", seq {first} to {}", head.seq)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{} checkpoints verified, {} not checked (no trusted key), {} lines after the last verified one",
            self.checkpoints_verified, self.checkpoints_unchecked, self.unsigned_tail
        )?;
        if let Some(head) = &self.head {
            writeln!(f, "head {head}")?;
        }
        if let Some(torn) = &self.torn_tail {
            writeln!(
                f,
                "torn last line at {} ({} bytes), left out",
                torn.at, torn.bytes
            )?;
        }
        Ok(())
    }
}

/// Checks logs written by a [`Chain`](super::Chain): the links between
/// lines, the sequence numbers, the checkpoints' signatures, and the end
/// against a head kept elsewhere. Reports the first break and what kind it
/// is, and tolerates a last line torn by a crash.
///
/// The files of a rotated log are given in order; the chain runs across
/// them. Memory grows with the number of lines, to tell a deletion from a
/// move: about 250 bytes each (its hash and its link in hex, its file's
/// name and its number), 250 MB for a million lines.
///
/// ```
/// use tower_ai::audit::{AuditRecord, Chain, Tamper, Verifier};
///
/// let mut chain = Chain::new();
/// let mut log = Vec::new();
/// for id in ["a", "b", "c"] {
///     chain.append(&AuditRecord::new(id), &mut log);
/// }
/// let edited = String::from_utf8(log).unwrap().replacen("\"a\"", "\"x\"", 1);
/// let report = Verifier::new().verify_reader("log", edited.as_bytes()).unwrap();
/// assert!(matches!(report.tamper, Some(Tamper::Edited { seq: 0, .. })));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    keys: Vec<VerifyingKey>,
    expected: Option<Head>,
    any_start: bool,
}

/// What is kept of each line, to classify a break.
struct Seen {
    seq: u64,
    prev: String,
    hash: String,
    at: LineAt,
}

#[derive(Deserialize)]
struct LineHead {
    v: u32,
    seq: u64,
    prev: String,
    kind: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    sig: Option<String>,
}

impl Verifier {
    /// A verifier that trusts no key: checkpoints are counted, not checked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks checkpoints signed with `key`; a checkpoint signed by another
    /// key is then a break.
    #[must_use]
    pub fn trust_key(mut self, key: VerifyingKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Accepts a log that starts after sequence number 0: the later files
    /// of a rotated log, the earlier ones archived or removed by policy.
    /// The first line's link is then taken as it is.
    #[must_use]
    pub fn from_any_start(mut self) -> Self {
        self.any_start = true;
        self
    }

    /// The log must reach `head` (kept outside the log, from a checkpoint
    /// or a report), with that very line: a shorter log was truncated, a
    /// different line means a rewrite.
    #[must_use]
    pub fn expect_head(mut self, head: Head) -> Self {
        self.expected = Some(head);
        self
    }

    /// Checks the files of one log, in order.
    ///
    /// # Errors
    ///
    /// A file that cannot be opened or read.
    pub fn verify_files<P: AsRef<Path>>(&self, files: &[P]) -> io::Result<Report> {
        let mut readers = Vec::with_capacity(files.len());
        for path in files {
            let path = path.as_ref();
            readers.push((path.display().to_string(), BufReader::new(File::open(path)?)));
        }
        self.verify(readers)
    }

    /// Checks one log read from `reader`, named `name` in the report.
    ///
    /// # Errors
    ///
    /// A read that fails.
    pub fn verify_reader(&self, name: &str, reader: impl Read) -> io::Result<Report> {
        self.verify(vec![(name.to_owned(), BufReader::new(reader))])
    }

    fn verify<R: BufRead>(&self, files: Vec<(String, R)>) -> io::Result<Report> {
        let mut report = Report::default();
        let mut seen: Vec<Seen> = Vec::new();
        let count = files.len();
        let mut line = Vec::new();
        for (index, (name, mut reader)) in files.into_iter().enumerate() {
            let last_file = index + 1 == count;
            let mut number = 0u64;
            loop {
                line.clear();
                let read = (&mut reader)
                    .take(MAX_LINE_BYTES as u64 + 1)
                    .read_until(b'\n', &mut line)?;
                if read == 0 {
                    break;
                }
                number += 1;
                let at = LineAt {
                    file: name.clone(),
                    line: number,
                };
                let complete = line.last() == Some(&b'\n');
                if complete {
                    line.pop();
                } else if line.len() > MAX_LINE_BYTES {
                    report.tamper = Some(Tamper::Unreadable {
                        at,
                        reason: format!("longer than {MAX_LINE_BYTES} bytes"),
                    });
                    return Ok(report);
                }
                let parsed = serde_json::from_slice::<LineHead>(&line);
                if !complete {
                    // The end of a file without a line feed: a crash's torn
                    // write if it is the last file, whatever it holds.
                    if last_file {
                        report.torn_tail = Some(TornTail {
                            at,
                            bytes: line.len(),
                        });
                        break;
                    }
                    // A file that ends mid-line and is followed by another.
                    if parsed.is_err() {
                        report.tamper = Some(Tamper::Unreadable {
                            at,
                            reason: "cut short, and not the log's last line".to_owned(),
                        });
                        return Ok(report);
                    }
                }
                let head = match parsed {
                    Ok(head)
                        if head.v == FORMAT_VERSION
                            && matches!(head.kind.as_str(), "call" | "checkpoint") =>
                    {
                        head
                    }
                    Ok(head) => {
                        report.tamper = Some(Tamper::Unreadable {
                            at,
                            reason: format!(
                                "version {} of kind {:?} is not one this verifier reads",
                                head.v, head.kind
                            ),
                        });
                        return Ok(report);
                    }
                    Err(e) => {
                        report.tamper = Some(Tamper::Unreadable {
                            at,
                            reason: format!("not a line of a chain: {e}"),
                        });
                        return Ok(report);
                    }
                };
                let hash = line_hash(&line);
                report.lines += 1;
                if head.kind == "call" {
                    report.records += 1;
                    report.unsigned_tail += 1;
                } else {
                    self.checkpoint(&head, &at, &mut report);
                }
                report.first_seq.get_or_insert(head.seq);
                report.head = Some(Head {
                    seq: head.seq,
                    hash: hash.clone(),
                });
                seen.push(Seen {
                    seq: head.seq,
                    prev: head.prev,
                    hash,
                    at,
                });
            }
        }
        if report.tamper.is_none() {
            report.tamper = links(&seen, self.any_start);
        }
        if report.tamper.is_none() {
            report.tamper = self.against_expected(&seen);
        }
        Ok(report)
    }

    /// Checks a checkpoint's signature, noting a bad one as the break if
    /// none came before.
    fn checkpoint(&self, head: &LineHead, at: &LineAt, report: &mut Report) {
        if self.keys.is_empty() {
            report.checkpoints_unchecked += 1;
            report.unsigned_tail += 1;
            return;
        }
        match self.check_signature(head) {
            Ok(()) => {
                report.checkpoints_verified += 1;
                report.unsigned_tail = 0;
            }
            Err(reason) => {
                report.unsigned_tail += 1;
                report.tamper.get_or_insert(Tamper::BadCheckpoint {
                    seq: head.seq,
                    at: at.clone(),
                    reason,
                });
            }
        }
    }

    fn check_signature(&self, head: &LineHead) -> Result<(), String> {
        let named = head.key.as_deref().unwrap_or_default();
        let key = self
            .keys
            .iter()
            .find(|k| key_to_base64(k) == named)
            .ok_or_else(|| format!("signed by a key not trusted ({named:?})"))?;
        let sig = head.sig.as_deref().unwrap_or_default();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .ok_or_else(|| "its signature is not 64 bytes of base64".to_owned())?;
        key.verify(
            &checkpoint_message(head.seq, &head.prev),
            &Signature::from_bytes(&bytes),
        )
        .map_err(|_| "its signature does not match its place in the chain".to_owned())
    }

    fn against_expected(&self, seen: &[Seen]) -> Option<Tamper> {
        let expected = self.expected.as_ref()?;
        match seen.iter().find(|s| s.seq == expected.seq) {
            Some(line) if line.hash == expected.hash => None,
            Some(line) => Some(Tamper::HeadMismatch {
                seq: expected.seq,
                at: line.at.clone(),
            }),
            // The files given start after the head: nothing to compare.
            None if seen.first().is_some_and(|s| s.seq > expected.seq) => None,
            None => Some(Tamper::Truncated {
                last: seen.last().map(|s| s.seq),
                expected: expected.seq,
            }),
        }
    }
}

/// The first break in the links and sequence of `seen`, classified.
fn links(seen: &[Seen], any_start: bool) -> Option<Tamper> {
    let first = seen.first()?;
    if first.seq == 0 && first.prev != GENESIS {
        return Some(Tamper::BadGenesis { at: first.at.clone() });
    }
    if first.seq != 0 && !any_start {
        return Some(Tamper::MissingStart {
            first: first.seq,
            at: first.at.clone(),
        });
    }
    for (i, pair) in seen.windows(2).enumerate() {
        let (before, line) = (&pair[0], &pair[1]);
        if line.seq == before.seq + 1 {
            if line.prev != before.hash {
                return Some(Tamper::Edited {
                    seq: before.seq,
                    at: line.at.clone(),
                });
            }
            continue;
        }
        if line.seq > before.seq {
            // A gap: moved if a missing number comes later, else deleted.
            let missing = before.seq + 1..line.seq;
            if let Some(moved) = seen[i + 2..].iter().find(|s| missing.contains(&s.seq)) {
                return Some(Tamper::Reordered {
                    seq: moved.seq,
                    at: moved.at.clone(),
                });
            }
            return Some(Tamper::Deleted {
                after: before.seq,
                count: line.seq - before.seq - 1,
                at: line.at.clone(),
            });
        }
        // A number at or below the one before: twice present, or moved.
        let twice = seen[..=i].iter().any(|s| s.seq == line.seq);
        return Some(if twice {
            Tamper::Inserted {
                seq: line.seq,
                at: line.at.clone(),
            }
        } else {
            Tamper::Reordered {
                seq: line.seq,
                at: line.at.clone(),
            }
        });
    }
    None
}
