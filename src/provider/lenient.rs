//! Lenient serde helpers for reading vendor replies.
//!
//! Vendors and the servers that imitate them differ in small ways: a count
//! that is `null` or a string, text that comes as an array of parts, tool-call
//! arguments as an object instead of a JSON string, a reason or event type
//! added after the codec was written. These helpers read such fields without
//! failing the whole reply, and borrow from the body where they can. They are
//! shared by every vendor's `wire` module.
//!
//! | helper | reads | gives |
//! |---|---|---|
//! | [`CowStr`] | a string | the string, borrowed when it holds no escapes; anything else is an error |
//! | [`Count`] | a non-negative integer, or `null`, a negative number, a float, a numeric string | the count; `null`, negatives, and strings that are not numbers are 0, floats are cut, values too large are `u64::MAX` |
//! | [`MaybeStr`], [`maybe_string`] | a string | the string; any other value is `None` (and is skipped unread) |
//! | [`TextContent`] | a string, or an array of `{"type": "text", "text": ...}` parts | the text, parts joined; any other value is `None` |
//! | [`Arguments`] | tool-call arguments: a JSON string, or a JSON value | the string as it is, a value written out as JSON text; `null` is empty |
//! | [`from_name`] | a name from a set the vendor may grow | the table's value, or `other(name)` for a name not in the table |

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// A string that borrows from the body when it holds no escapes.
#[derive(Debug, Deserialize)]
pub(crate) struct CowStr<'a>(#[serde(borrow)] pub(crate) Cow<'a, str>);

impl CowStr<'_> {
    /// The string.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for CowStr<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// A count that tolerates what compatible servers send instead of a
/// non-negative integer: `null`, negative numbers, floats, numeric strings.
///
/// `null`, negative numbers and strings that are not a count read as 0;
/// floats are cut to an integer, and numbers past `u64::MAX` saturate.
/// Booleans, arrays and objects are still an error. In an `Option<Count>`,
/// `null` is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Count(pub(crate) u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Count, E> {
                Ok(Count(u64::try_from(v).unwrap_or(0)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Count, E> {
                // `as` saturates (and maps NaN to 0).
                Ok(Count(if v > 0.0 { v as u64 } else { 0 }))
            }
            fn visit_str<E>(self, v: &str) -> Result<Count, E> {
                Ok(Count(v.trim().parse().unwrap_or(0)))
            }
            fn visit_unit<E>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_none<E>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Count, D::Error> {
                d.deserialize_any(self)
            }
        }
        deserializer.deserialize_any(CountVisitor)
    }
}

/// Text that arrives as a string, or (from some compatible servers) as an
/// array of `{"type": "text", "text": ...}` parts, joined; `null` and other
/// shapes are no text.
///
/// A part without a `type` counts as text; parts of other types, and parts
/// whose `text` is not a string, are skipped. An array element that is not
/// an object is an error.
///
/// Mistral's reasoning models send their reasoning as a part of its own,
/// `{"type": "thinking", "thinking": [{"type": "text", "text": ...}]}`
/// (complete and streamed; the Mistral API's `ThinkChunk`): its text is kept
/// apart, in the second field.
#[derive(Default)]
pub(crate) struct TextContent<'a>(pub(crate) Option<Cow<'a, str>>, pub(crate) Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for TextContent<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor { parts: true })
    }
}

/// A string where one is expected, and nothing when something else comes
/// (OpenRouter sends `reasoning` as a string, others as an object). The
/// other value is skipped unread.
#[derive(Default)]
pub(crate) struct MaybeStr<'a>(pub(crate) Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for MaybeStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(TextVisitor { parts: false })
            .map(|t| MaybeStr(t.0))
    }
}

/// [`MaybeStr`] as an owned string, for `#[serde(deserialize_with = "...")]`
/// on an `Option<String>` field (with `#[serde(default)]` for a missing one).
pub(crate) fn maybe_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    MaybeStr::deserialize(deserializer).map(|s| s.0.map(Cow::into_owned))
}

struct TextVisitor {
    /// Whether an array of text parts is read as text.
    parts: bool,
}

impl<'de> Visitor<'de> for TextVisitor {
    type Value = TextContent<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(TextContent(Some(Cow::Borrowed(v)), None))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(TextContent(Some(Cow::Owned(v.to_owned())), None))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(TextContent(Some(Cow::Owned(v)), None))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(TextContent(None, None))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(TextContent(None, None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(TextContent(None, None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(TextContent(None, None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(TextContent(None, None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(TextContent(None, None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(TextContent(None, None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if !self.parts {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(TextContent(None, None));
        }
        let mut text: Option<Cow<'de, str>> = None;
        let mut thinking: Option<Cow<'de, str>> = None;
        while let Some(part) = seq.next_element::<TextPartIn<'de>>()? {
            match part.kind.as_ref().map(CowStr::as_str) {
                None | Some("text") => append(&mut text, part.text.and_then(|t| t.0)),
                Some("thinking") => {
                    // Its own text parts, or (leniently) one string.
                    let inner = part.thinking.and_then(|t| t.0);
                    append(&mut thinking, inner);
                }
                Some(_) => {}
            }
        }
        Ok(TextContent(text, thinking))
    }
}

/// Appends `more` to the text in `acc`, borrowing while there is one piece.
fn append<'a>(acc: &mut Option<Cow<'a, str>>, more: Option<Cow<'a, str>>) {
    let Some(more) = more else { return };
    match acc {
        None => *acc = Some(more),
        Some(text) => text.to_mut().push_str(&more),
    }
}

/// One part of an array of content parts, as [`TextContent`] reads it.
#[derive(Deserialize)]
struct TextPartIn<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<CowStr<'a>>,
    #[serde(default, borrow)]
    text: Option<MaybeStr<'a>>,
    /// The parts of a Mistral `thinking` part.
    #[serde(default, borrow)]
    thinking: Option<TextContent<'a>>,
}

/// Tool-call arguments: a JSON string as OpenAI sends them, or a JSON value
/// (some compatible servers send an object), which is written out as text.
/// `null` is empty arguments.
#[derive(Default)]
pub(crate) struct Arguments<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Arguments<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = Arguments<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("tool-call arguments")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Arguments(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Arguments(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Arguments(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Arguments::default())
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Arguments::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Arguments(Cow::Owned(value.to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let value = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Arguments(Cow::Owned(value.to_string())))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Arguments(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Arguments(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Arguments(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Arguments(Cow::Owned(Value::from(v).to_string())))
            }
        }
        deserializer.deserialize_any(ArgsVisitor)
    }
}

/// A tolerant enum: `name` looked up in a vendor's `table` of wire names, and
/// `other(name)` for a name the table does not hold (one the vendor added
/// later), so that a new value never fails decoding.
///
/// ```text
/// static STOP_REASONS: &[(&str, FinishReason)] = &[("end_turn", FinishReason::Stop), ...];
/// from_name(reason, STOP_REASONS, |other| FinishReason::Other(other.to_owned()))
/// ```
pub(crate) fn from_name<T: Clone>(name: &str, table: &[(&str, T)], other: impl FnOnce(&str) -> T) -> T {
    match table.iter().find(|(known, _)| *known == name) {
        Some((_, value)) => value.clone(),
        None => other(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(json: &str) -> Result<Count, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn count_reads_integers() {
        assert_eq!(count("0").unwrap(), Count(0));
        assert_eq!(count("42").unwrap(), Count(42));
        assert_eq!(count("18446744073709551615").unwrap(), Count(u64::MAX));
    }

    #[test]
    fn count_null_is_zero() {
        assert_eq!(count("null").unwrap(), Count(0));
        // In an `Option`, `null` is no count at all.
        assert_eq!(serde_json::from_str::<Option<Count>>("null").unwrap(), None);
        assert_eq!(
            serde_json::from_str::<Option<Count>>("7").unwrap(),
            Some(Count(7))
        );
    }

    #[test]
    fn count_negative_is_zero() {
        assert_eq!(count("-5").unwrap(), Count(0));
        assert_eq!(count("-9223372036854775808").unwrap(), Count(0));
        assert_eq!(count("-0.5").unwrap(), Count(0));
        assert_eq!(count("-1e300").unwrap(), Count(0));
    }

    #[test]
    fn count_float_is_cut() {
        assert_eq!(count("1.7").unwrap(), Count(1));
        assert_eq!(count("3.0").unwrap(), Count(3));
        assert_eq!(count("0.2").unwrap(), Count(0));
        assert_eq!(count("1e3").unwrap(), Count(1000));
    }

    #[test]
    fn count_numeric_string() {
        assert_eq!(count(r#""42""#).unwrap(), Count(42));
        assert_eq!(count(r#"" 7 ""#).unwrap(), Count(7));
        // Strings that are not a count read as 0.
        assert_eq!(count(r#""abc""#).unwrap(), Count(0));
        assert_eq!(count(r#""""#).unwrap(), Count(0));
        assert_eq!(count(r#""-3""#).unwrap(), Count(0));
        assert_eq!(count(r#""1.5""#).unwrap(), Count(0));
        assert_eq!(count(r#""99999999999999999999""#).unwrap(), Count(0));
    }

    #[test]
    fn count_huge_number_saturates() {
        assert_eq!(count("18446744073709551616").unwrap(), Count(u64::MAX));
        assert_eq!(count("1e300").unwrap(), Count(u64::MAX));
    }

    #[test]
    fn count_other_shapes_are_errors() {
        assert!(count("true").is_err());
        assert!(count("{}").is_err());
        assert!(count("[1]").is_err());
    }

    #[test]
    fn count_missing_field_defaults_to_zero() {
        #[derive(Deserialize)]
        struct Usage {
            #[serde(default)]
            tokens: Count,
            #[serde(default)]
            cached: Option<Count>,
        }
        let usage: Usage = serde_json::from_str("{}").unwrap();
        assert_eq!((usage.tokens, usage.cached), (Count(0), None));
    }

    #[test]
    fn cow_str_borrows_unless_escaped() {
        let s: CowStr<'_> = serde_json::from_str(r#""plain""#).unwrap();
        assert!(matches!(s.0, Cow::Borrowed("plain")));
        assert_eq!(s.as_str(), "plain");
        let s: CowStr<'_> = serde_json::from_str(r#""a\nb""#).unwrap();
        assert!(matches!(s.0, Cow::Owned(_)));
        assert_eq!(s.as_str(), "a\nb");
        assert!(serde_json::from_str::<CowStr<'_>>("1").is_err());
        assert!(serde_json::from_str::<CowStr<'_>>("null").is_err());
        assert!(serde_json::from_str::<Option<CowStr<'_>>>("null")
            .unwrap()
            .is_none());
    }

    fn text(json: &str) -> Option<String> {
        serde_json::from_str::<TextContent<'_>>(json)
            .unwrap()
            .0
            .map(Cow::into_owned)
    }

    #[test]
    fn text_content_reads_a_string() {
        let t: TextContent<'_> = serde_json::from_str(r#""hi""#).unwrap();
        assert!(matches!(t.0, Some(Cow::Borrowed("hi"))));
        assert_eq!(text(r#""a\u00e9""#).as_deref(), Some("aé"));
        assert_eq!(text(r#""""#).as_deref(), Some(""));
    }

    #[test]
    fn text_content_joins_text_parts() {
        let parts = r#"[{"type": "text", "text": "a"}, {"text": "b"},
                        {"type": "image_url", "image_url": {"url": "x"}, "text": "no"},
                        {"type": "text", "text": 5}, {"type": "text"}, {"type": "text", "text": "c"}]"#;
        assert_eq!(text(parts).as_deref(), Some("abc"));
        // One part is borrowed as it is.
        let t: TextContent<'_> = serde_json::from_str(r#"[{"type": "text", "text": "one"}]"#).unwrap();
        assert!(matches!(t.0, Some(Cow::Borrowed("one"))));
        assert_eq!(text("[]"), None);
        assert_eq!(text(r#"[{"type": "image_url"}]"#), None);
        // An element that is not a part is an error.
        assert!(serde_json::from_str::<TextContent<'_>>(r#"["a"]"#).is_err());
    }

    #[test]
    fn text_content_other_shapes_are_no_text() {
        for json in ["null", "true", "3", "-3", "1.5", r#"{"text": "x"}"#] {
            assert_eq!(text(json), None, "{json}");
        }
        let t: TextContent<'_> = serde_json::from_str::<Option<TextContent<'_>>>("null")
            .unwrap()
            .unwrap_or_default();
        assert!(t.0.is_none());
    }

    #[test]
    fn maybe_str_reads_strings_only() {
        let s: MaybeStr<'_> = serde_json::from_str(r#""why""#).unwrap();
        assert!(matches!(s.0, Some(Cow::Borrowed("why"))));
        for json in [
            "null",
            "false",
            "12",
            "-1",
            "2.5",
            r#"{"text": "x"}"#,
            r#"[{"type": "text", "text": "x"}]"#,
            r#"["x"]"#,
        ] {
            let s: MaybeStr<'_> = serde_json::from_str(json).unwrap();
            assert!(s.0.is_none(), "{json}");
        }
    }

    #[test]
    fn maybe_string_as_a_field() {
        #[derive(Deserialize)]
        struct Block {
            #[serde(default, deserialize_with = "maybe_string")]
            text: Option<String>,
            #[serde(default, deserialize_with = "maybe_string")]
            id: Option<String>,
        }
        let block: Block = serde_json::from_str(r#"{"text": "a\"b", "id": {"nested": [1, 2]}}"#).unwrap();
        assert_eq!(block.text.as_deref(), Some("a\"b"));
        assert_eq!(block.id, None);
        let block: Block = serde_json::from_str(r#"{"text": null}"#).unwrap();
        assert_eq!((block.text, block.id), (None, None));
    }

    fn arguments(json: &str) -> String {
        serde_json::from_str::<Arguments<'_>>(json)
            .unwrap()
            .0
            .into_owned()
    }

    #[test]
    fn arguments_as_a_string() {
        let a: Arguments<'_> = serde_json::from_str(r#""{}""#).unwrap();
        assert!(matches!(a.0, Cow::Borrowed("{}")));
        assert_eq!(arguments(r#""{\"city\": \"Paris\"}""#), r#"{"city": "Paris"}"#);
        assert_eq!(arguments(r#""not json""#), "not json");
        assert_eq!(arguments(r#""""#), "");
    }

    #[test]
    fn arguments_as_an_object() {
        assert_eq!(
            arguments(r#"{"city": "Paris", "days": [1, 2]}"#),
            r#"{"city":"Paris","days":[1,2]}"#
        );
        assert_eq!(arguments("{}"), "{}");
        assert_eq!(arguments(r#"[1, "a"]"#), r#"[1,"a"]"#);
    }

    #[test]
    fn arguments_as_scalars() {
        assert_eq!(arguments("null"), "");
        assert_eq!(arguments("true"), "true");
        assert_eq!(arguments("7"), "7");
        assert_eq!(arguments("-7"), "-7");
        assert_eq!(arguments("1.5"), "1.5");
        assert!(serde_json::from_str::<Option<Arguments<'_>>>("null")
            .unwrap()
            .is_none());
    }

    #[test]
    fn from_name_falls_back_to_other() {
        #[derive(Debug, Clone, PartialEq)]
        enum Reason {
            Stop,
            Length,
            Other(String),
        }
        static TABLE: &[(&str, Reason)] = &[
            ("stop", Reason::Stop),
            ("eos", Reason::Stop),
            ("length", Reason::Length),
        ];
        let of = |name| from_name(name, TABLE, |other| Reason::Other(other.to_owned()));
        assert_eq!(of("stop"), Reason::Stop);
        assert_eq!(of("eos"), Reason::Stop);
        assert_eq!(of("length"), Reason::Length);
        assert_eq!(of("pause_turn"), Reason::Other("pause_turn".into()));
        assert_eq!(of(""), Reason::Other(String::new()));
        assert_eq!(of("STOP"), Reason::Other("STOP".into()));
    }
}
