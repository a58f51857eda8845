//! Building blocks of the semantic lookup: a bounded vector index per
//! tenant, and the lexical guard that refuses a similar prompt that differs
//! in negation, numbers, quoted text or names.
//!
//! The lookup that uses them is not part of the cache layer yet; until it
//! is, they are exercised by their own tests and `benches/semantic_index.rs`.
#![allow(dead_code)]

pub(crate) mod guard;
pub(crate) mod index;
