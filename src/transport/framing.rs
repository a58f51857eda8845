//! [`Framer`]: how a streamed body is cut into frames, and the NDJSON framer.

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;

use super::sse::{SseDecoder, SseEvent};
use crate::error::Error;

/// Cuts a streamed response body into the frames a vendor's stream decoder
/// reads: server-sent events ([`SseDecoder`]), JSON lines ([`NdjsonFramer`]),
/// or another framing (AWS event-stream messages).
///
/// A framer is bounded: a frame longer than its limit is an
/// [`Error::EventTooLarge`], never unbounded memory.
pub trait Framer: Send + Unpin + 'static {
    /// One frame.
    type Frame: Send + 'static;

    /// A framer whose frames may be at most `max` bytes.
    fn with_max_frame_bytes(max: usize) -> Self
    where
        Self: Sized;

    /// Whether a streamed reply with this content type (lowercase, without
    /// parameters) is framed as this framer reads. A reply that states
    /// another type is not decoded as a stream (see
    /// [`HttpProvider`](crate::provider::HttpProvider)); one that states none
    /// is.
    fn accepts(content_type: &str) -> bool
    where
        Self: Sized;

    /// Feeds more body bytes in.
    fn push(&mut self, chunk: &[u8]);

    /// The next complete frame, if the bytes so far hold one.
    ///
    /// # Errors
    ///
    /// [`Error::EventTooLarge`] when a frame passes the limit.
    fn next_frame(&mut self) -> Result<Option<Self::Frame>, Error>;

    /// Ends the body: the last frame, if the framing allows one without its
    /// terminator; what is left is discarded.
    ///
    /// # Errors
    ///
    /// As [`next_frame`](Self::next_frame).
    fn finish(&mut self) -> Result<Option<Self::Frame>, Error>;
}

impl Framer for SseDecoder {
    type Frame = SseEvent;

    fn with_max_frame_bytes(max: usize) -> Self {
        SseDecoder::with_max_event_bytes(max)
    }

    fn accepts(content_type: &str) -> bool {
        content_type == "text/event-stream"
    }

    fn push(&mut self, chunk: &[u8]) {
        SseDecoder::push(self, chunk);
    }

    fn next_frame(&mut self) -> Result<Option<SseEvent>, Error> {
        self.next_event()
    }

    fn finish(&mut self) -> Result<Option<SseEvent>, Error> {
        SseDecoder::finish(self)
    }
}

/// Cuts a body of newline-delimited JSON (Ollama's native API, some
/// OpenAI-compatible servers) into lines.
///
/// Lines end with `\n` (a `\r` before it is dropped); blank lines are
/// skipped. A last line without its `\n` is still a frame at the end of the
/// body. Frames are handed out as [`Bytes`], without copying.
///
/// ```
/// use tower_ai::transport::{Framer, NdjsonFramer};
///
/// let mut framer = NdjsonFramer::with_max_frame_bytes(1024);
/// framer.push(b"{\"a\":1}\r\n\n{\"b\"");
/// assert_eq!(framer.next_frame().unwrap().unwrap(), &b"{\"a\":1}"[..]);
/// assert!(framer.next_frame().unwrap().is_none());
/// framer.push(b":2}");
/// assert_eq!(framer.finish().unwrap().unwrap(), &b"{\"b\":2}"[..]);
/// ```
#[derive(Debug)]
pub struct NdjsonFramer {
    buf: BytesMut,
    /// How far into `buf` a `\n` has been searched for already.
    scanned: usize,
    max: usize,
}

impl NdjsonFramer {
    fn line(mut line: Bytes) -> Option<Bytes> {
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(line)
        }
    }
}

impl Framer for NdjsonFramer {
    type Frame = Bytes;

    fn with_max_frame_bytes(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            scanned: 0,
            max,
        }
    }

    fn accepts(content_type: &str) -> bool {
        matches!(
            content_type,
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/json-lines"
        )
    }

    fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    fn next_frame(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            let Some(offset) = memchr(b'\n', &self.buf[self.scanned..]) else {
                self.scanned = self.buf.len();
                if self.buf.len() > self.max {
                    return Err(Error::EventTooLarge { limit: self.max });
                }
                return Ok(None);
            };
            let end = self.scanned + offset;
            self.scanned = 0;
            if end > self.max {
                return Err(Error::EventTooLarge { limit: self.max });
            }
            let line = self.buf.split_to(end).freeze();
            self.buf.advance(1);
            if let Some(line) = Self::line(line) {
                return Ok(Some(line));
            }
        }
    }

    fn finish(&mut self) -> Result<Option<Bytes>, Error> {
        if let Some(frame) = self.next_frame()? {
            return Ok(Some(frame));
        }
        self.scanned = 0;
        let rest = std::mem::take(&mut self.buf).freeze();
        Ok(Self::line(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]]) -> Result<Vec<Bytes>, Error> {
        let mut framer = NdjsonFramer::with_max_frame_bytes(64);
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk);
            while let Some(frame) = framer.next_frame()? {
                out.push(frame);
            }
        }
        while let Some(frame) = framer.finish()? {
            out.push(frame);
        }
        Ok(out)
    }

    #[test]
    fn every_split_point_gives_the_same_lines() {
        let body: &[u8] = b"{\"a\":1}\n\r\n{\"b\":[1,2]}\r\n  \n{\"c\":\"x\"}";
        let whole = frames(&[body]).unwrap();
        assert_eq!(
            whole,
            vec![&b"{\"a\":1}"[..], &b"{\"b\":[1,2]}"[..], &b"{\"c\":\"x\"}"[..]]
        );
        for i in 0..=body.len() {
            for j in i..=body.len() {
                let split = frames(&[&body[..i], &body[i..j], &body[j..]]).unwrap();
                assert_eq!(split, whole, "split at {i}, {j}");
            }
        }
    }

    #[test]
    fn a_line_over_the_limit_is_refused_even_before_its_end() {
        let long = vec![b'x'; 65];
        assert!(matches!(
            frames(&[&long]),
            Err(Error::EventTooLarge { limit: 64 })
        ));
        let mut ended = long.clone();
        ended.push(b'\n');
        assert!(matches!(
            frames(&[&ended]),
            Err(Error::EventTooLarge { limit: 64 })
        ));
        let fits = [vec![b'y'; 64], b"\n".to_vec()].concat();
        assert_eq!(frames(&[&fits]).unwrap().len(), 1);
    }

    #[test]
    fn an_empty_body_has_no_frame() {
        assert!(frames(&[b""]).unwrap().is_empty());
        assert!(frames(&[b"\n\r\n"]).unwrap().is_empty());
    }
}
