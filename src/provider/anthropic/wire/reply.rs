//! Replies and stream events.
//!
//! Read into flat structs (no internally tagged enums, which would buffer
//! every value) that ignore unknown keys, with the
//! [lenient](crate::provider::lenient) helpers for strings and counts.

use serde::Deserialize;
use serde_json::Value;

use crate::provider::lenient::{maybe_string, Count, CowStr};
use crate::types::Usage;

/// A complete reply (`"type": "message"`), or an error envelope sent with a 2xx.
#[derive(Deserialize)]
pub(crate) struct MessageResponse<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(crate) kind: Option<CowStr<'a>>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) model: Option<String>,
    #[serde(default, borrow)]
    pub(crate) content: Option<Vec<ContentBlock<'a>>>,
    #[serde(default, borrow)]
    pub(crate) stop_reason: Option<CowStr<'a>>,
    #[serde(default)]
    pub(crate) usage: Option<UsageWire>,
}

/// One content block of a reply, or the opening of one in a stream.
///
/// Fields that belong to other block types are read leniently (anything that
/// is not a string is `None`), so a block type added later never breaks decoding.
#[derive(Deserialize)]
pub(crate) struct ContentBlock<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: CowStr<'a>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) text: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) input: Option<Value>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) thinking: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) signature: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) data: Option<String>,
}

/// Anthropic's usage object. Every figure is optional (older replies leave
/// the cache figures out; `message_delta` may carry only `output_tokens`),
/// and read as a lenient [`Count`]: `null` is absent, a negative number 0, a
/// float or a numeric string its count.
#[derive(Debug, Deserialize, Default, Clone, Copy)]
pub(crate) struct UsageWire {
    #[serde(default)]
    pub(crate) input_tokens: Option<Count>,
    #[serde(default)]
    pub(crate) output_tokens: Option<Count>,
    #[serde(default)]
    pub(crate) cache_creation_input_tokens: Option<Count>,
    #[serde(default)]
    pub(crate) cache_read_input_tokens: Option<Count>,
}

impl UsageWire {
    /// The neutral figures: input counts cached tokens too.
    pub(crate) fn to_usage(self) -> Usage {
        let figure = |count: Option<Count>| count.map_or(0, |c| c.0);
        let input = figure(self.input_tokens);
        let write = figure(self.cache_creation_input_tokens);
        let read = figure(self.cache_read_input_tokens);
        Usage::new(
            input.saturating_add(write).saturating_add(read),
            figure(self.output_tokens),
        )
        .with_cache_read(read)
        .with_cache_write(write)
    }
}

// ---------------------------------------------------------------------------
// Stream events
// ---------------------------------------------------------------------------

/// Any stream event: the fields of every event type, all optional.
#[derive(Deserialize)]
pub(crate) struct EventWire<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(crate) kind: Option<CowStr<'a>>,
    #[serde(default)]
    pub(crate) index: Option<u64>,
    #[serde(default, borrow)]
    pub(crate) message: Option<StartMessage<'a>>,
    #[serde(default, borrow)]
    pub(crate) content_block: Option<ContentBlock<'a>>,
    #[serde(default, borrow)]
    pub(crate) delta: Option<DeltaWire<'a>>,
    #[serde(default)]
    pub(crate) usage: Option<UsageWire>,
    #[serde(default)]
    pub(crate) error: Option<Value>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) request_id: Option<String>,
}

/// The message of `message_start`: usually with empty `content` and no
/// `stop_reason`, but a message may open with complete blocks already in it
/// (server-side and programmatic tool calling), and with its stop reason.
#[derive(Deserialize)]
pub(crate) struct StartMessage<'a> {
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) id: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) usage: Option<UsageWire>,
    #[serde(default, borrow)]
    pub(crate) content: Option<Vec<ContentBlock<'a>>>,
    #[serde(default, borrow)]
    pub(crate) stop_reason: Option<CowStr<'a>>,
}

/// The `delta` of `content_block_delta` or of `message_delta`.
#[derive(Deserialize)]
pub(crate) struct DeltaWire<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(crate) kind: Option<CowStr<'a>>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) text: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) partial_json: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) thinking: Option<String>,
    #[serde(default, deserialize_with = "maybe_string")]
    pub(crate) signature: Option<String>,
    #[serde(default, borrow)]
    pub(crate) stop_reason: Option<CowStr<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_figures_are_lenient_counts() {
        let usage: UsageWire = serde_json::from_str(
            r#"{"input_tokens": "10", "output_tokens": 3.9, "cache_creation_input_tokens": null,
                "cache_read_input_tokens": -2}"#,
        )
        .unwrap();
        assert_eq!(usage.input_tokens, Some(Count(10)));
        assert_eq!(usage.output_tokens, Some(Count(3)));
        // `null` is an absent figure, so a later event's figure is not replaced by 0.
        assert_eq!(usage.cache_creation_input_tokens, None);
        assert_eq!(usage.cache_read_input_tokens, Some(Count(0)));
        let usage = usage.to_usage();
        assert_eq!((usage.input_tokens, usage.output_tokens), (10, 3));
    }

    #[test]
    fn input_counts_cached_tokens_and_saturates() {
        let usage: UsageWire = serde_json::from_str(
            r#"{"input_tokens": 18446744073709551615, "cache_read_input_tokens": 5, "output_tokens": 1e300}"#,
        )
        .unwrap();
        let usage = usage.to_usage();
        assert_eq!((usage.input_tokens, usage.cache_read_tokens), (u64::MAX, 5));
        assert_eq!(usage.output_tokens, u64::MAX);
    }
}
