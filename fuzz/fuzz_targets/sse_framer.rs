//! The SSE framer (`SseDecoder`): the input, after its first byte, is a body
//! fed in frames of varied sizes (the first byte picks them). Checked against
//! a plain reading of the event-stream rules, and for bounded memory under a
//! small event limit.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tower_ai::transport::{SseDecoder, SseEvent};
use tower_ai::Error;
use tower_ai_fuzz::frames;

/// The WHATWG event-stream rules, read plainly from a whole body.
fn reference(body: &[u8]) -> Vec<SseEvent> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\n' => {
                lines.push(&body[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&body[start..i]);
                if body.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    // A last line without its end is discarded.
    let (mut event, mut data, mut id, mut retry) = (String::new(), None::<String>, None::<Arc<str>>, None);
    let mut out = Vec::new();
    let mut dispatch =
        |event: &mut String, data: &mut Option<String>, id: &Option<Arc<str>>, retry: &mut Option<u64>| {
            let retry = retry.take();
            let event = std::mem::take(event);
            if let Some(data) = data.take() {
                let mut e = SseEvent::default();
                e.event = event;
                e.data = data;
                e.id = id.clone();
                e.retry = retry;
                out.push(e);
            }
        };
    for line in lines {
        if line.is_empty() {
            dispatch(&mut event, &mut data, &id, &mut retry);
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value_text = String::from_utf8_lossy(value);
        match field {
            b"data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(&value_text);
                }
                None => data = Some(value_text.into_owned()),
            },
            b"event" => event = value_text.into_owned(),
            b"id" if !value.contains(&0) => {
                let mut cut = value_text.len().min(1024);
                while !value_text.is_char_boundary(cut) {
                    cut -= 1;
                }
                id = Some(Arc::from(&value_text[..cut]));
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                retry = value_text.parse().ok();
            }
            _ => {}
        }
    }
    dispatch(&mut event, &mut data, &id, &mut retry);
    out
}

/// Feeds `body` in `seed`'s frames; the events, or the first error.
fn decode(body: &[u8], seed: u8, max: usize) -> Result<Vec<SseEvent>, Error> {
    let mut decoder = SseDecoder::with_max_event_bytes(max);
    let mut out = Vec::new();
    for frame in frames(body, seed) {
        decoder.push(&frame);
        while let Some(event) = decoder.next_event()? {
            out.push(event);
        }
        // Whatever is held is within the limit.
        // (A byte-order mark not yet whole is held before the limit applies.)
        assert!(
            decoder.buffered() <= max.max(2),
            "{} bytes held, limit {max}",
            decoder.buffered()
        );
    }
    while let Some(event) = decoder.finish()? {
        out.push(event);
    }
    assert_eq!(decoder.buffered(), 0);
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((seed, body)) = data.split_first() else {
        return;
    };
    // With room enough, every split gives what the rules say.
    let events = decode(body, *seed, 1 << 20).expect("within the limit");
    assert_eq!(events, reference(body));
    // With a small limit, an event over it is an error, never a panic.
    let max = usize::from(*seed % 32) * 8;
    if let Err(err) = decode(body, seed.rotate_left(3), max) {
        assert!(
            matches!(err, Error::EventTooLarge { limit } if limit == max),
            "{err:?}"
        );
    }
});
