//! What the integration tests share: readers of the recorded wire fixtures
//! in `tests/it/fixtures/` (see each folder's `SOURCES.md`), as bytes or as
//! [`Scripted`] replies of `tower_ai::testing`, and (in `calls`) the helpers
//! that call a service or a provider and read its reply.
//!
//! The fake upstream servers themselves are the crate's own
//! `tower_ai::testing`, the same an application uses.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use tower_ai::testing::Scripted;

mod calls;
#[cfg(feature = "redis")]
pub mod redis;

pub use calls::{call, collect, complete, streamed, Collected};

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures");

/// Reads `tests/it/fixtures/{rel_path}` (panics with a helpful message if it is missing).
pub fn fixture_bytes(rel_path: &str) -> Bytes {
    let path = format!("{FIXTURE_DIR}/{}", rel_path.trim_start_matches('/'));
    match std::fs::read(&path) {
        Ok(data) => Bytes::from(data),
        Err(err) => panic!("cannot read fixture {path}: {err}"),
    }
}

/// A reply with this status whose JSON body is the fixture `rel_path`.
pub fn json_fixture(status: u16, rel_path: &str) -> Scripted {
    Scripted::json(status, fixture_bytes(rel_path))
}

/// A 200 `text/event-stream` reply of the fixture `rel_path`, one event a frame.
pub fn sse_fixture(rel_path: &str) -> Scripted {
    Scripted::sse_bytes(fixture_bytes(rel_path))
}

/// The events of the SSE fixture `rel_path`, each with its blank line.
pub fn sse_fixture_events(rel_path: &str) -> Vec<Bytes> {
    sse_fixture(rel_path).frames().to_vec()
}
