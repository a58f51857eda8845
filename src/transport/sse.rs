//! A bounded decoder for `text/event-stream` bodies.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use memchr::{memchr, memchr2};

use crate::error::Error;

/// The most bytes of an `id:` kept.
const MAX_ID_BYTES: usize = 1024;

/// The default limit on one event's size: 4 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SseEvent {
    /// The `event:` field; empty when the server sent none (a "message").
    pub event: String,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
    /// The last `id:` field seen, if any: shared between the events that
    /// carry it, not copied, and at most 1 KiB (a longer id is cut at a
    /// character boundary: ids of the vendors served here are short).
    pub id: Option<Arc<str>>,
    /// The `retry:` field of this event, in milliseconds.
    pub retry: Option<u64>,
}

/// Decodes server-sent events from body chunks, following the WHATWG
/// event-stream rules: `\n`, `\r\n` and `\r` line ends (also split across
/// chunks), multi-line `data`, comments, a leading byte-order mark.
///
/// It is bounded: an event (or a line) longer than the limit is an
/// [`Error::EventTooLarge`], never unbounded memory.
///
/// Lines are decoded as UTF-8 with invalid bytes replaced by U+FFFD, as the
/// event-stream rules say; so invalid UTF-8 inside a stream becomes U+FFFD,
/// while a complete (JSON) reply with invalid UTF-8 is refused as
/// [`Error::Decode`].
///
/// ```
/// use tower_ai::transport::SseDecoder;
///
/// let mut decoder = SseDecoder::new();
/// decoder.push(b"event: greet\r\ndata: hel");
/// assert!(decoder.next_event().unwrap().is_none());
/// decoder.push(b"lo\r\ndata: world\r\n\r\n: a comment\n");
/// let event = decoder.next_event().unwrap().unwrap();
/// assert_eq!(event.event, "greet");
/// assert_eq!(event.data, "hello\nworld");
/// ```
#[derive(Debug)]
pub struct SseDecoder {
    buf: BytesMut,
    /// How far into `buf` a line end has been searched for already.
    scanned: usize,
    event: String,
    data: String,
    has_data: bool,
    id: Option<Arc<str>>,
    retry: Option<u64>,
    max_event_bytes: usize,
    /// The previous line ended with `\r`; a `\n` at the front of `buf` belongs to it.
    skip_lf: bool,
    started: bool,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// A decoder with the default event size limit.
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that refuses events larger than `max` bytes.
    pub fn with_max_event_bytes(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            scanned: 0,
            event: String::new(),
            data: String::new(),
            has_data: false,
            id: None,
            retry: None,
            max_event_bytes: max,
            skip_lf: false,
            started: false,
        }
    }

    /// Feeds more body bytes in.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event, if the bytes so far hold one.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, Error> {
        loop {
            if self.skip_lf && !self.buf.is_empty() {
                if self.buf[0] == b'\n' {
                    self.buf.advance(1);
                }
                self.skip_lf = false;
            }
            if !self.started {
                if self.buf.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.buf) {
                    return Ok(None);
                }
                if self.buf.starts_with(b"\xEF\xBB\xBF") {
                    self.buf.advance(3);
                }
                self.started = true;
            }
            let Some(offset) = memchr2(b'\n', b'\r', &self.buf[self.scanned..]) else {
                self.scanned = self.buf.len();
                self.check_size(self.buf.len())?;
                return Ok(None);
            };
            let end = self.scanned + offset;
            self.scanned = 0;
            let terminator = self.buf[end];
            let mut line = self.buf.split_to(end + 1);
            line.truncate(end);
            if terminator == b'\r' {
                if self.buf.is_empty() {
                    self.skip_lf = true;
                } else if self.buf[0] == b'\n' {
                    self.buf.advance(1);
                }
            }
            if line.is_empty() {
                if let Some(event) = self.dispatch() {
                    return Ok(Some(event));
                }
                continue;
            }
            self.process_line(&line)?;
        }
    }

    /// Ends the body. An event whose lines all arrived but whose closing blank
    /// line did not is dispatched; a half-received line is discarded.
    pub fn finish(&mut self) -> Result<Option<SseEvent>, Error> {
        if let Some(event) = self.next_event()? {
            return Ok(Some(event));
        }
        self.buf.clear();
        self.scanned = 0;
        Ok(self.dispatch())
    }

    /// Bytes received but not yet turned into events.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.data.len()
    }

    fn check_size(&self, pending_line: usize) -> Result<(), Error> {
        if pending_line + self.data.len() + self.event.len() > self.max_event_bytes {
            return Err(Error::EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        Ok(())
    }

    fn process_line(&mut self, line: &[u8]) -> Result<(), Error> {
        // Comments count too: a keep-alive line is no licence for unbounded bytes.
        self.check_size(line.len())?;
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                let value = value.strip_prefix(b" ").unwrap_or(value);
                (&line[..colon], value)
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
                // Invalid bytes become U+FFFD, three bytes each: the limit
                // holds for the text kept, not only for the bytes read.
                self.check_size(0)?;
            }
            b"event" => {
                self.event.clear();
                self.event.push_str(&String::from_utf8_lossy(value));
                self.check_size(0)?;
            }
            b"id" if memchr(0, value).is_none() => {
                let id = String::from_utf8_lossy(value);
                let mut cut = id.len().min(MAX_ID_BYTES);
                while !id.is_char_boundary(cut) {
                    cut -= 1;
                }
                self.id = Some(Arc::from(&id[..cut]));
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let retry = self.retry.take();
        if !self.has_data {
            self.event.clear();
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event: std::mem::take(&mut self.event),
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
            retry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(decoder: &mut SseDecoder) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while let Some(e) = decoder.next_event().unwrap() {
            out.push(e);
        }
        out
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let body = b"\xEF\xBB\xBFevent: a\r\ndata: one\r\ndata: two\r\n\r\n: keep-alive\n\ndata:x\rdata: y\r\rid: 7\ndata: {\"k\": 1}\n\n";
        let mut whole = SseDecoder::new();
        whole.push(body);
        let expected = all(&mut whole);
        assert_eq!(expected.len(), 3);
        assert_eq!(expected[0].event, "a");
        assert_eq!(expected[0].data, "one\ntwo");
        assert_eq!(expected[1].data, "x\ny");
        assert_eq!(expected[2].data, "{\"k\": 1}");
        assert_eq!(expected[2].id.as_deref(), Some("7"));

        // A long id is cut, and shared by the events after it rather than copied.
        let mut long = SseDecoder::new();
        long.push(format!("id: {}\ndata: a\n\ndata: b\n\n", "é".repeat(1000)).as_bytes());
        let a = long.next_event().unwrap().unwrap();
        let b = long.next_event().unwrap().unwrap();
        let (a, b) = (a.id.unwrap(), b.id.unwrap());
        assert!(a.len() <= 1024 && a.len() >= 1022, "{}", a.len());
        assert!(Arc::ptr_eq(&a, &b));
        for split in 0..body.len() {
            for second in split..body.len() {
                let mut d = SseDecoder::new();
                let mut got = Vec::new();
                for piece in [&body[..split], &body[split..second], &body[second..]] {
                    d.push(piece);
                    got.extend(all(&mut d));
                }
                assert_eq!(got, expected, "split at {split} and {second}");
            }
        }
    }

    #[test]
    fn oversized_event_is_an_error() {
        let mut d = SseDecoder::with_max_event_bytes(16);
        d.push(b"data: 0123456789\ndata: 0123456789\n");
        assert!(matches!(d.next_event(), Err(Error::EventTooLarge { limit: 16 })));
    }

    #[test]
    fn the_limit_holds_for_the_decoded_text() {
        // 12 invalid bytes become 12 U+FFFD, 36 bytes of text.
        let mut d = SseDecoder::with_max_event_bytes(20);
        let mut body = b"data: ".to_vec();
        body.extend_from_slice(&[0xFF; 12]);
        body.extend_from_slice(b"\n\n");
        d.push(&body);
        assert!(matches!(d.next_event(), Err(Error::EventTooLarge { limit: 20 })));
    }

    #[test]
    fn a_comment_line_past_the_limit_is_an_error() {
        let mut d = SseDecoder::with_max_event_bytes(16);
        d.push(format!(": {}\n\ndata: x\n\n", "k".repeat(40)).as_bytes());
        assert!(matches!(d.next_event(), Err(Error::EventTooLarge { limit: 16 })));
    }

    #[test]
    fn oversized_line_without_end_is_an_error() {
        let mut d = SseDecoder::with_max_event_bytes(16);
        d.push(&[b'x'; 40]);
        assert!(matches!(d.next_event(), Err(Error::EventTooLarge { .. })));
    }

    #[test]
    fn finish_keeps_complete_lines_and_drops_a_partial_one() {
        let mut d = SseDecoder::new();
        d.push(b"data: [DONE]\n");
        assert_eq!(d.next_event().unwrap(), None);
        assert_eq!(d.finish().unwrap().unwrap().data, "[DONE]");

        let mut d = SseDecoder::new();
        d.push(b"data: {\"half");
        assert_eq!(d.finish().unwrap(), None);
    }

    #[test]
    fn event_without_data_is_not_dispatched() {
        let mut d = SseDecoder::new();
        d.push(b"event: ping\n\ndata: x\n\n");
        let events = all(&mut d);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "");
    }
}
