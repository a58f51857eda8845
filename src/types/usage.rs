//! Token usage.

use serde::{Deserialize, Serialize};

/// Token usage of one call, normalised across vendors.
///
/// `input_tokens` counts *every* prompt token, cached ones included; the cache
/// figures say how many of them were read from or written to the vendor's
/// prompt cache. `output_tokens` counts every generated token, reasoning ones
/// included. (OpenAI reports this way; Anthropic reports cache tokens apart
/// from `input_tokens`, and its codec adds them up.)
///
/// ```
/// use tower_ai::types::{Usage, UsageSource};
///
/// let usage = Usage::new(1200, 80).with_cache_read(1024);
/// assert_eq!(usage.total_tokens(), 1280);
/// assert_eq!(usage.uncached_input_tokens(), 176);
/// assert_eq!(usage.source, UsageSource::Reported);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    /// Generated tokens, reasoning ones included.
    pub output_tokens: u64,
    /// Prompt tokens read from the vendor's cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the vendor's cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Generated tokens spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Where the figures came from.
    #[serde(default)]
    pub source: UsageSource,
}

impl Usage {
    /// Reported usage with input and output figures.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            ..Self::default()
        }
    }

    /// Sets the cache-read figure.
    #[must_use]
    pub fn with_cache_read(mut self, tokens: u64) -> Self {
        self.cache_read_tokens = tokens;
        self
    }

    /// Sets the cache-write figure.
    #[must_use]
    pub fn with_cache_write(mut self, tokens: u64) -> Self {
        self.cache_write_tokens = tokens;
        self
    }

    /// Sets the reasoning figure.
    #[must_use]
    pub fn with_reasoning(mut self, tokens: u64) -> Self {
        self.reasoning_tokens = tokens;
        self
    }

    /// Sets the source.
    #[must_use]
    pub fn with_source(mut self, source: UsageSource) -> Self {
        self.source = source;
        self
    }

    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Input tokens that were neither read from nor written to a cache.
    pub fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cache_read_tokens)
            .saturating_sub(self.cache_write_tokens)
    }

    /// Folds another report into this one: each figure keeps the larger value.
    ///
    /// For combining partial reports of unknown order. A stream's usage
    /// events need no merging: they are cumulative, and the last one is the
    /// truth (see [`StreamEvent::Usage`](crate::types::StreamEvent::Usage)).
    pub fn merge(&mut self, later: &Usage) {
        self.input_tokens = self.input_tokens.max(later.input_tokens);
        self.output_tokens = self.output_tokens.max(later.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.max(later.cache_read_tokens);
        self.cache_write_tokens = self.cache_write_tokens.max(later.cache_write_tokens);
        self.reasoning_tokens = self.reasoning_tokens.max(later.reasoning_tokens);
        self.source = later.source;
    }
}

/// Where usage figures came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UsageSource {
    /// The vendor reported them.
    #[default]
    Reported,
    /// They were counted or estimated locally.
    Estimated,
    /// The reply came from a cache; the vendor was not called.
    CacheHit,
}
