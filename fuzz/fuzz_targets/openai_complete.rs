//! The OpenAi complete-reply decoder: the input is a 200 answer's body,
//! read in frames of varied sizes; the first byte picks the sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_ai_fuzz::{chat, check_complete, Answer, Vendor};

fuzz_target!(|data: &[u8]| {
    let Some((seed, body)) = data.split_first() else {
        return;
    };
    let answer = Answer::new(200, body, *seed).header("content-type", b"application/json");
    check_complete(chat(Vendor::OpenAi, answer));
});
