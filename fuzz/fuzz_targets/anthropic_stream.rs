//! The Anthropic stream decoder, behind the SSE framer and the provider's
//! stream: the input is a 200 answer's body, read in frames of varied sizes
//! (the first byte picks them); the second byte picks the content type
//! (mostly `text/event-stream`, sometimes none or JSON, which is replayed
//! as a stream).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_ai_fuzz::{stream_target, Vendor};

fuzz_target!(|data: &[u8]| stream_target(Vendor::Anthropic, data));
