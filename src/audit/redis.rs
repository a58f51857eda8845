//! [`RedisStreamSink`]: the log as a Redis stream.

use std::io;

use ::redis::aio::ConnectionManager;
use ::redis::streams::StreamRangeReply;
use ::redis::Value;
use async_trait::async_trait;

use super::chain::Head;
use super::sink::{AuditBatch, AuditSink};

/// Appends each line to a Redis stream (`XADD`), under the entry id
/// `0-<seq + 1>`: the stream's own order is the chain's, and a batch
/// written again after a failure skips the lines the stream already has, so
/// none is added twice. Each entry has one field, `line`, the line as the
/// file sink writes it, which the [`Verifier`](super::Verifier) reads.
///
/// Acknowledged when Redis answered the `XADD`s: as durable as the server's
/// persistence settings (AOF with `appendfsync always` for a record of
/// account). When Redis is down, the batch is tried again and the log's
/// queue fills: its [`QueuePolicy`](super::QueuePolicy) applies to new
/// calls.
pub struct RedisStreamSink {
    conn: ConnectionManager,
    key: String,
}

impl std::fmt::Debug for RedisStreamSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreamSink")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl RedisStreamSink {
    /// A sink writing to the stream `key` on `conn`'s server.
    pub fn new(conn: ConnectionManager, key: impl Into<String>) -> Self {
        Self {
            conn,
            key: key.into(),
        }
    }

    /// Connects to the server at `url` (`redis://host:port/db`).
    ///
    /// # Errors
    ///
    /// The URL is not one, or the server cannot be reached.
    pub async fn connect(url: &str, key: impl Into<String>) -> io::Result<Self> {
        let client = ::redis::Client::open(url).map_err(io::Error::other)?;
        let conn = ConnectionManager::new(client).await.map_err(io::Error::other)?;
        Ok(Self::new(conn, key))
    }

    /// The stream's last entry: its sequence number and line.
    async fn last(&mut self) -> io::Result<Option<(u64, String)>> {
        let reply: StreamRangeReply = ::redis::cmd("XREVRANGE")
            .arg(&self.key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn)
            .await
            .map_err(io::Error::other)?;
        let Some(entry) = reply.ids.into_iter().next() else {
            return Ok(None);
        };
        let seq = entry
            .id
            .split_once('-')
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .and_then(|n| n.checked_sub(1))
            .ok_or_else(|| {
                io::Error::other(format!(
                    "the audit stream's entry {} is not one of ours",
                    entry.id
                ))
            })?;
        let line = match entry.map.get("line") {
            Some(Value::BulkString(bytes)) => String::from_utf8_lossy(&bytes[..]).into_owned(),
            _ => return Err(io::Error::other("the audit stream's last entry has no line")),
        };
        Ok(Some((seq, line)))
    }

    /// Every line of the stream, in order: for a verifier.
    ///
    /// # Errors
    ///
    /// The server cannot be reached or the stream is not one of ours.
    pub async fn lines(&mut self) -> io::Result<Vec<String>> {
        let reply: StreamRangeReply = ::redis::cmd("XRANGE")
            .arg(&self.key)
            .arg("-")
            .arg("+")
            .query_async(&mut self.conn)
            .await
            .map_err(io::Error::other)?;
        Ok(reply
            .ids
            .into_iter()
            .filter_map(|entry| match entry.map.get("line") {
                Some(Value::BulkString(bytes)) => Some(String::from_utf8_lossy(&bytes[..]).into_owned()),
                _ => None,
            })
            .collect())
    }
}

#[async_trait]
impl AuditSink for RedisStreamSink {
    async fn write(&mut self, batch: &AuditBatch) -> io::Result<()> {
        let written = self.last().await?.map(|(seq, _)| seq);
        let mut pipe = ::redis::pipe();
        let mut any = false;
        for (seq, line) in batch.lines() {
            if written.is_some_and(|last| seq <= last) {
                continue;
            }
            pipe.cmd("XADD")
                .arg(&self.key)
                .arg(format!("0-{}", seq + 1))
                .arg("line")
                .arg(line)
                .ignore();
            any = true;
        }
        if any {
            pipe.query_async::<()>(&mut self.conn)
                .await
                .map_err(io::Error::other)?;
        }
        Ok(())
    }

    async fn head(&mut self) -> io::Result<Option<Head>> {
        Ok(self
            .last()
            .await?
            .and_then(|(_, line)| Head::of_line(line.as_bytes())))
    }
}
