//! [`AuditLog`]: the bounded queue between the calls and the sink, and the
//! thread that completes, chains and writes records in batches.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use sha2::{Digest, Sha256};

use super::chain::{Chain, CheckpointSigner, Head};
use super::layer::AuditLayer;
use super::record::AuditRecord;
use super::sink::{AuditBatch, AuditSink};
use crate::types::key::to_hex;
use crate::types::{Message, Operation};

/// What happens to a call when the queue in front of the sink is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueuePolicy {
    /// The call is refused before anything is sent upstream, with
    /// [`Error::AuditUnavailable`](crate::Error::AuditUnavailable): no call
    /// goes unrecorded (fail closed). The default.
    #[default]
    Refuse,
    /// The call waits for room (the service is not ready until there is):
    /// back-pressure on the callers.
    Wait,
    /// The call goes on and its record is dropped, counted in
    /// [`AuditLog::dropped`], in the `tower_ai.audit.dropped` metric
    /// (feature `telemetry`) and in the next record's `dropped_before`.
    /// Only when chosen.
    DropAndCount,
}

/// One item of the queue.
pub(super) enum Entry {
    Record {
        record: Box<AuditRecord>,
        rest: Rest,
        ack: Option<oneshot::Sender<u64>>,
    },
    Shutdown(oneshot::Sender<io::Result<Option<Head>>>),
}

/// What of a record the writer completes, off the calls' path: the
/// times' text, the request's and the reply's hashes.
pub(super) struct Rest {
    pub(super) operation: Operation,
    pub(super) started: SystemTime,
    pub(super) ended: SystemTime,
    pub(super) reply: Option<Message>,
}

impl Rest {
    fn complete(self, record: &mut AuditRecord) {
        record.start = humantime::format_rfc3339_micros(self.started).to_string();
        record.end = humantime::format_rfc3339_micros(self.ended).to_string();
        if let Operation::Chat(chat) = &self.operation {
            record.request_sha256 = chat.canonical_key().to_hex();
        }
        if let Some(message) = &self.reply {
            let bytes = serde_json::to_vec(message).unwrap_or_default();
            record.reply_sha256 = Some(to_hex(&Sha256::digest(&bytes)));
        }
    }
}

pub(super) struct Shared {
    pub(super) policy: QueuePolicy,
    pub(super) dropped: AtomicU64,
    /// Drops not yet reported in a record.
    pub(super) dropped_since: AtomicU64,
    pub(super) content: bool,
    pub(super) hold: bool,
    /// A shutdown was asked for.
    pub(super) closing: std::sync::atomic::AtomicBool,
}

/// The audit log: a bounded queue of records, and a thread of its own
/// (`tower-ai-audit`, with a one-thread Tokio runtime for the sink) that
/// completes them (times, hashes), chains them ([`Chain`]) and writes them
/// to a sink in batches. A call pays only for what it must: noting what
/// happened and putting the record in the queue.
///
/// [`layer`](Self::layer) makes the layer that records each call. Clones
/// share the log. [`shutdown`](Self::shutdown) writes what is queued, a
/// last checkpoint, and closes the sink.
///
/// ```
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_ai::audit::{AuditLog, FileSink, Verifier};
/// use tower_ai::provider::{mock::MockProvider, ProviderService};
/// use tower_ai::types::ChatRequest;
/// use tower_ai::LlmRequest;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("tower-ai-doc-{}", std::process::id()));
/// let path = dir.join("audit.jsonl");
/// let log = AuditLog::builder(FileSink::open(&path)?).start().await?;
/// let service = ServiceBuilder::new()
///     .layer(log.layer())
///     .service(ProviderService::new(MockProvider::new().with_text_reply("hi")));
///
/// service.oneshot(LlmRequest::new(ChatRequest::new("m").user("hello"))).await?;
/// log.shutdown().await?;
///
/// let report = Verifier::new().verify_files(&FileSink::files(&path)?)?;
/// assert!(report.is_intact());
/// assert_eq!(report.records, 1);
/// # std::fs::remove_dir_all(dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AuditLog {
    pub(super) queue: mpsc::Sender<Entry>,
    pub(super) shared: Arc<Shared>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("policy", &self.shared.policy)
            .field("queued", &(self.queue.max_capacity() - self.queue.capacity()))
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

/// Builds an [`AuditLog`]: see [`AuditLog::builder`].
pub struct AuditLogBuilder {
    sink: Box<dyn AuditSink>,
    capacity: usize,
    batch: usize,
    policy: QueuePolicy,
    signer: Option<CheckpointSigner>,
    content: bool,
    hold: bool,
}

impl fmt::Debug for AuditLogBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLogBuilder")
            .field("capacity", &self.capacity)
            .field("batch", &self.batch)
            .field("policy", &self.policy)
            .field("signer", &self.signer)
            .field("content", &self.content)
            .field("hold", &self.hold)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// A log writing to `sink`, with a queue of 4,096 records, batches of
    /// up to 512, [`QueuePolicy::Refuse`], no checkpoints, no content.
    pub fn builder(sink: impl AuditSink) -> AuditLogBuilder {
        AuditLogBuilder {
            sink: Box::new(sink),
            capacity: 4096,
            batch: 512,
            policy: QueuePolicy::Refuse,
            signer: None,
            content: false,
            hold: false,
        }
    }

    /// The layer that records every call through it into this log. Place it
    /// outermost (after telemetry), to see what every inner layer decided.
    pub fn layer(&self) -> AuditLayer {
        AuditLayer::new(self.clone())
    }

    /// Records dropped so far under [`QueuePolicy::DropAndCount`].
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Stops the log: calls that start after it are refused
    /// ([`Error::AuditUnavailable`](crate::Error::AuditUnavailable)),
    /// whatever the policy; the calls in flight end and send their records
    /// (a stream its caller keeps open holds the shutdown until it is
    /// dropped); every record is written, then a last checkpoint (with a
    /// signer), and the sink is closed. Returns the chain's head.
    ///
    /// A sink that fails is tried five times a batch from then on, not
    /// for ever, so a sink that is down cannot hold the shutdown.
    ///
    /// # Errors
    ///
    /// The sink refused lines it was given after the shutdown was asked
    /// for (they were not written), closing it failed, or the writer had
    /// already stopped.
    pub async fn shutdown(&self) -> io::Result<Option<Head>> {
        let (done, answer) = oneshot::channel();
        // A writer stuck on a sink that is down gives up after a few tries
        // from now on, and reaches the shutdown.
        self.shared.closing.store(true, Ordering::Relaxed);
        self.queue
            .send(Entry::Shutdown(done))
            .await
            .map_err(|_| io::Error::other("the audit writer has already stopped"))?;
        answer
            .await
            .map_err(|_| io::Error::other("the audit writer stopped before it was done"))?
    }
}

impl AuditLogBuilder {
    /// Room for `records` in the queue between the calls and the sink (at
    /// least 1).
    #[must_use]
    pub fn capacity(mut self, records: usize) -> Self {
        self.capacity = records.max(1);
        self
    }

    /// The most records written (and synced) at once (at least 1).
    #[must_use]
    pub fn batch(mut self, records: usize) -> Self {
        self.batch = records.max(1);
        self
    }

    /// What a call meets when the queue is full.
    #[must_use]
    pub fn on_full(mut self, policy: QueuePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Signed checkpoints, from `signer`.
    #[must_use]
    pub fn checkpoints(mut self, signer: CheckpointSigner) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Keeps the request and the reply in each record (`content`), as they
    /// were past the layers inside the audit layer's: put a guardrail
    /// inside it to keep them redacted. Off by default.
    #[must_use]
    pub fn with_content(mut self, on: bool) -> Self {
        self.content = on;
        self
    }

    /// Holds each call's reply until its record is acknowledged by the
    /// sink: a complete reply or an error is returned, and a stream's last
    /// item (its finish, or its error) handed out, only once the record is
    /// durable, so a caller that got its reply knows the call is on
    /// record. A record the log could not write (dropped by
    /// [`QueuePolicy::DropAndCount`], or lost at a failed shutdown) turns
    /// the reply into [`Error::AuditUnavailable`](crate::Error::AuditUnavailable).
    /// Costs every call the sink's latency (an `fsync` for the file sink,
    /// shared by the calls of one batch).
    #[must_use]
    pub fn hold_until_acknowledged(mut self, on: bool) -> Self {
        self.hold = on;
        self
    }

    /// Reads the sink's head, to go on with its chain, and starts the
    /// writer's thread.
    ///
    /// # Errors
    ///
    /// The sink's head cannot be read, or the thread cannot be started.
    pub async fn start(mut self) -> io::Result<AuditLog> {
        let chain = match self.sink.head().await? {
            Some(head) => Chain::resume(&head),
            None => Chain::new(),
        };
        let chain = match self.signer {
            Some(signer) => chain.checkpoints(signer),
            None => chain,
        };
        let (queue, receiver) = mpsc::channel(self.capacity);
        let shared = Arc::new(Shared {
            policy: self.policy,
            dropped: AtomicU64::new(0),
            dropped_since: AtomicU64::new(0),
            content: self.content,
            hold: self.hold,
            closing: std::sync::atomic::AtomicBool::new(false),
        });
        let writer = Writer {
            sink: self.sink,
            chain,
            receiver,
            batch: self.batch,
            shared: shared.clone(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("tower-ai-audit".to_owned())
            .spawn(move || runtime.block_on(writer.run()))?;
        Ok(AuditLog { queue, shared })
    }
}

struct Writer {
    sink: Box<dyn AuditSink>,
    chain: Chain,
    receiver: mpsc::Receiver<Entry>,
    batch: usize,
    shared: Arc<Shared>,
}

/// The longest wait between two tries of a batch the sink refused.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Writer {
    async fn run(mut self) {
        let mut entries = Vec::with_capacity(self.batch);
        // The shutdown's caller, once it asked; and how many records could
        // not be written since.
        let mut closing: Option<oneshot::Sender<io::Result<Option<Head>>>> = None;
        let mut lost = 0u64;
        loop {
            entries.clear();
            let received = match self.chain.checkpoint_interval() {
                Some(interval) if closing.is_none() => {
                    match tokio::time::timeout(interval, self.receiver.recv_many(&mut entries, self.batch))
                        .await
                    {
                        Ok(received) => received,
                        Err(_) => {
                            // Quiet for a whole interval: a checkpoint over
                            // the records since the last one, if any.
                            let mut bytes = Vec::new();
                            self.chain.checkpoint(&mut bytes);
                            if !bytes.is_empty() {
                                let mut lines = Vec::new();
                                push_lines(&bytes, 0, self.chain.head().map_or(0, |h| h.seq), &mut lines);
                                let batch = AuditBatch {
                                    text: Bytes::from(bytes),
                                    lines,
                                };
                                self.write(&batch).await;
                            }
                            continue;
                        }
                    }
                }
                _ => self.receiver.recv_many(&mut entries, self.batch).await,
            };
            if received == 0 {
                // Nothing more can come: after a shutdown, every call in
                // flight has sent its record; without one, every handle
                // of the log is gone.
                let mut bytes = Vec::new();
                self.chain.checkpoint(&mut bytes);
                if !bytes.is_empty() {
                    let mut lines = Vec::new();
                    let count = push_lines(&bytes, 0, self.chain.head().map_or(0, |h| h.seq), &mut lines);
                    let batch = AuditBatch {
                        text: Bytes::from(bytes),
                        lines,
                    };
                    if !self.write(&batch).await {
                        lost += count;
                    }
                }
                let closed = self.sink.close().await;
                if let Some(done) = closing {
                    let result = match closed {
                        Ok(()) if lost == 0 => Ok(self.chain.head()),
                        Ok(()) => Err(io::Error::other(format!(
                            "the audit sink refused the last {lost} lines at shutdown; they were not written"
                        ))),
                        Err(error) => Err(error),
                    };
                    let _ = done.send(result);
                }
                return;
            }
            let mut acks = Vec::new();
            let mut bytes = Vec::new();
            let mut lines = Vec::new();
            for entry in entries.drain(..) {
                match entry {
                    Entry::Record {
                        mut record,
                        rest,
                        ack,
                    } => {
                        rest.complete(&mut record);
                        record.dropped_before += self.shared.dropped_since.swap(0, Ordering::Relaxed);
                        self.append(&record, &mut bytes, &mut lines, ack, &mut acks);
                    }
                    Entry::Shutdown(done) => {
                        // No new call gets a place; the calls in flight
                        // still send theirs, read until the end.
                        self.receiver.close();
                        self.shared.closing.store(true, Ordering::Relaxed);
                        closing = Some(done);
                    }
                }
            }
            if !lines.is_empty() {
                let count = lines.len() as u64;
                let batch = AuditBatch {
                    text: Bytes::from(bytes),
                    lines,
                };
                if self.write(&batch).await {
                    for (seq, ack) in acks {
                        let _ = ack.send(seq);
                    }
                } else {
                    lost += count;
                }
            }
        }
    }

    fn append(
        &mut self,
        record: &AuditRecord,
        bytes: &mut Vec<u8>,
        lines: &mut Vec<(u64, std::ops::Range<usize>)>,
        ack: Option<oneshot::Sender<u64>>,
        acks: &mut Vec<(u64, oneshot::Sender<u64>)>,
    ) {
        let start = bytes.len();
        let seq = self.chain.append(record, bytes);
        if let Some(ack) = ack {
            acks.push((seq, ack));
        }
        let last = self.chain.head().map_or(seq, |h| h.seq);
        push_lines(bytes, start, last, lines);
        debug_assert!(lines.iter().any(|(s, _)| *s == seq));
    }

    /// Writes `batch`, trying again (with a growing pause) until the sink
    /// takes it: records are never acknowledged before, and the queue
    /// fills meanwhile, so the policy applies to new calls. Once a
    /// shutdown was asked for, gives up after the fifth try (`false`:
    /// nothing acknowledged), so that a sink that is down cannot hold the
    /// shutdown for ever.
    async fn write(&mut self, batch: &AuditBatch) -> bool {
        let mut pause = Duration::from_millis(10);
        let mut tries = 0;
        loop {
            match self.sink.write(batch).await {
                Ok(()) => return true,
                Err(error) => {
                    tries += 1;
                    tracing::error!(target: "tower_ai::audit", %error, tries, "the audit sink refused a batch; trying again");
                    if tries >= 5 && self.shared.closing.load(Ordering::Relaxed) {
                        return false;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Notes the lines written to `bytes` from `start`, numbered up to `last`;
/// returns how many.
fn push_lines(bytes: &[u8], start: usize, last: u64, lines: &mut Vec<(u64, std::ops::Range<usize>)>) -> u64 {
    let count = memchr::memchr_iter(b'\n', &bytes[start..]).count() as u64;
    let mut from = start;
    for (seq, end) in (last + 1 - count..).zip(memchr::memchr_iter(b'\n', &bytes[start..])) {
        lines.push((seq, from..start + end + 1));
        from = start + end + 1;
    }
    count
}
