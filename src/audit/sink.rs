//! Where records go: [`AuditSink`] and the sinks in the crate but the file
//! ([`FileSink`](super::FileSink)).

use std::fmt;
use std::future::Future;
use std::io;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;

use super::chain::Head;

/// Lines of the chain handed to the sinks at once, in order: each a JSON
/// object ending with a line feed.
#[derive(Debug, Clone, Default)]
pub struct AuditBatch {
    pub(super) text: Bytes,
    pub(super) lines: Vec<(u64, Range<usize>)>,
}

impl AuditBatch {
    /// The lines, each with its line feed, as one buffer.
    pub fn bytes(&self) -> &Bytes {
        &self.text
    }

    /// Each line's sequence number and text (without its line feed).
    pub fn lines(&self) -> impl Iterator<Item = (u64, &str)> + '_ {
        self.lines.iter().map(|(seq, range)| {
            let line = &self.text[range.start..range.end - 1];
            // The chain writes UTF-8 JSON.
            (*seq, std::str::from_utf8(line).unwrap_or_default())
        })
    }

    /// How many lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// A batch of the given lines (without line feeds) and their sequence
    /// numbers: for a sink's own tests, or to write a log's lines again to
    /// another sink.
    pub fn from_lines(lines: impl IntoIterator<Item = (u64, String)>) -> Self {
        let mut text = Vec::new();
        let mut ranges = Vec::new();
        for (seq, line) in lines {
            let start = text.len();
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
            ranges.push((seq, start..text.len()));
        }
        Self {
            text: Bytes::from(text),
            lines: ranges,
        }
    }
}

/// Where the audit log's lines go.
///
/// [`write`](Self::write) returning `Ok` is what *acknowledged* means for
/// the records in the batch: the sink holds them as durably as it can (the
/// file sink after `fsync`). Until then the writer holds them; on an error
/// it retries the same batch, and the queue in front of it fills up and its
/// policy applies ([`QueuePolicy`](super::QueuePolicy)).
///
/// Sinks are called from one task, one batch at a time.
#[async_trait]
pub trait AuditSink: Send + 'static {
    /// Writes `batch`, after every batch before it.
    ///
    /// # Errors
    ///
    /// The batch is not durable; it will be written again.
    async fn write(&mut self, batch: &AuditBatch) -> io::Result<()>;

    /// The last line the sink already holds, from an earlier run, for the
    /// chain to go on from. `None` (the default) starts a new chain.
    ///
    /// # Errors
    ///
    /// The sink's state cannot be read; the log does not start.
    async fn head(&mut self) -> io::Result<Option<Head>> {
        Ok(None)
    }

    /// Called once at shutdown, after the last batch.
    ///
    /// # Errors
    ///
    /// What closing the sink reported.
    async fn close(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[async_trait]
impl AuditSink for Box<dyn AuditSink> {
    async fn write(&mut self, batch: &AuditBatch) -> io::Result<()> {
        (**self).write(batch).await
    }

    async fn head(&mut self) -> io::Result<Option<Head>> {
        (**self).head().await
    }

    async fn close(&mut self) -> io::Result<()> {
        (**self).close().await
    }
}

/// Each line as a `tracing` event at `INFO`, target `tower_ai::audit`,
/// with fields `seq` and `line`: for a log pipeline that already collects
/// the application's events. Acknowledged when the event is emitted.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

#[async_trait]
impl AuditSink for TracingSink {
    async fn write(&mut self, batch: &AuditBatch) -> io::Result<()> {
        for (seq, line) in batch.lines() {
            tracing::info!(target: "tower_ai::audit", seq, line, "audit record");
        }
        Ok(())
    }
}

/// Every batch to several sinks, in order; acknowledged when all of them
/// took it. The chain goes on from the first sink that holds a head.
///
/// A sink that fails has the batch again, and so have the ones before it:
/// they may hold a line twice, which a reader of that sink recognises by
/// its sequence number.
pub struct FanOut {
    sinks: Vec<Box<dyn AuditSink>>,
}

impl fmt::Debug for FanOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOut")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl FanOut {
    /// No sink yet.
    pub fn new() -> Self {
        Self { sinks: Vec::new() }
    }

    /// Adds `sink`.
    #[must_use]
    pub fn sink(mut self, sink: impl AuditSink) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }
}

impl Default for FanOut {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl AuditSink for FanOut {
    async fn write(&mut self, batch: &AuditBatch) -> io::Result<()> {
        for sink in &mut self.sinks {
            sink.write(batch).await?;
        }
        Ok(())
    }

    async fn head(&mut self) -> io::Result<Option<Head>> {
        for sink in &mut self.sinks {
            if let Some(head) = sink.head().await? {
                return Ok(Some(head));
            }
        }
        Ok(None)
    }

    async fn close(&mut self) -> io::Result<()> {
        let mut first = Ok(());
        for sink in &mut self.sinks {
            let closed = sink.close().await;
            if first.is_ok() {
                first = closed;
            }
        }
        first
    }
}

/// A sink from a closure over each batch's lines (sequence number and
/// text): see [`sink_fn`].
pub struct SinkFn<F> {
    f: F,
}

impl<F> fmt::Debug for SinkFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkFn").finish_non_exhaustive()
    }
}

/// A sink that calls `f` with each batch's lines, as owned `(seq, line)`
/// pairs; the batch is acknowledged when its future returns `Ok`.
///
/// ```
/// use tower_ai::audit::sink_fn;
///
/// let sink = sink_fn(|lines: Vec<(u64, String)>| async move {
///     for (seq, line) in lines {
///         println!("{seq}: {line}");
///     }
///     Ok(())
/// });
/// # let _ = sink;
/// ```
pub fn sink_fn<F, Fut>(f: F) -> SinkFn<F>
where
    F: FnMut(Vec<(u64, String)>) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<()>> + Send,
{
    SinkFn { f }
}

#[async_trait]
impl<F, Fut> AuditSink for SinkFn<F>
where
    F: FnMut(Vec<(u64, String)>) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<()>> + Send,
{
    async fn write(&mut self, batch: &AuditBatch) -> io::Result<()> {
        let lines = batch.lines().map(|(seq, line)| (seq, line.to_owned())).collect();
        (self.f)(lines).await
    }
}
