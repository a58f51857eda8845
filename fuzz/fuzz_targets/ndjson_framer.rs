//! The NDJSON framer (`NdjsonFramer`): the input, after its first byte, is a
//! body fed in frames of varied sizes (the first byte picks them). Checked
//! against splitting the whole body at `\n`, and for its limit.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tower_ai::transport::{Framer, NdjsonFramer};
use tower_ai::Error;
use tower_ai_fuzz::frames;

/// The lines of a whole body: split at `\n`, a `\r` before it dropped,
/// blank lines skipped, a last line without its `\n` kept.
fn reference(body: &[u8]) -> Vec<Bytes> {
    body.split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(Bytes::copy_from_slice)
        .collect()
}

fn decode(body: &[u8], seed: u8, max: usize) -> Result<Vec<Bytes>, Error> {
    let mut framer = NdjsonFramer::with_max_frame_bytes(max);
    let mut out = Vec::new();
    for frame in frames(body, seed) {
        framer.push(&frame);
        while let Some(line) = framer.next_frame()? {
            out.push(line);
        }
    }
    while let Some(line) = framer.finish()? {
        out.push(line);
    }
    // Finished: nothing more comes out.
    assert!(framer.finish()?.is_none());
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((seed, body)) = data.split_first() else {
        return;
    };
    let lines = decode(body, *seed, 1 << 20).expect("within the limit");
    assert_eq!(lines, reference(body));
    // With a small limit: an error exactly when a line passes it.
    let max = usize::from(*seed % 32) * 4;
    let longest = body.split(|b| *b == b'\n').map(<[u8]>::len).max().unwrap_or(0);
    match decode(body, seed.rotate_left(3), max) {
        Ok(small) => {
            assert!(
                longest <= max,
                "a {longest}-byte line passed the {max}-byte limit"
            );
            assert_eq!(small, lines);
        }
        Err(err) => {
            assert!(
                matches!(err, Error::EventTooLarge { limit } if limit == max),
                "{err:?}"
            );
            assert!(
                longest > max,
                "refused, but the longest line is {longest} bytes, limit {max}"
            );
        }
    }
});
