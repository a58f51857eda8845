//! The Anthropic complete-reply decoder: the input is a 200 answer's body,
//! read in frames of varied sizes; the first byte picks the sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_ai_fuzz::{complete_target, Vendor};

fuzz_target!(|data: &[u8]| complete_target(Vendor::Anthropic, data));
