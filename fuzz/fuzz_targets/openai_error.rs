//! The OpenAi error decoder: an error status (400 to 599, from the first
//! byte) with retry headers and a body from the input, for a complete or a
//! streamed call (see `check_error_answer`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_ai_fuzz::{check_error_answer, Vendor};

fuzz_target!(|data: &[u8]| {
    check_error_answer(Vendor::OpenAi, data);
});
