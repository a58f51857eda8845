//! The Anthropic stream decoder, behind the SSE framer and the provider's
//! stream: the input is a 200 answer's body, read in frames of varied sizes
//! (the first byte picks them); the second byte picks the content type
//! (mostly `text/event-stream`, sometimes none or JSON, which is replayed
//! as a stream).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_ai_fuzz::{check_stream, Answer, Vendor};

fuzz_target!(|data: &[u8]| {
    let [seed, kind, body @ ..] = data else {
        return;
    };
    let answer = Answer::new(200, body, *seed);
    let answer = match kind % 8 {
        6 => answer,
        7 => answer.header("content-type", b"application/json"),
        _ => answer.header("content-type", b"text/event-stream; charset=utf-8"),
    };
    check_stream(Vendor::Anthropic, answer);
});
