//! A canonical key for a chat request, for caches and deduplication.

use std::fmt::{self, Write as _};

use serde_json::{Number, Value};
use sha2::{Digest, Sha256};

use super::canonical;
use super::request::ChatRequest;

/// The tag every request key's hash input starts with. A change to the
/// encoding gets a new tag, so keys of two formats never meet.
const VERSION_TAG: &[u8] = b"tower-ai/request-key/v2";

/// The tag of a key computed through the request's `serde_json::Value`
/// (see [`RequestKey::of`]): its objects are all maps, in key order.
const VALUE_TAG: &[u8] = b"tower-ai/request-key/v2/json";

/// The tag every scoped key's hash input starts with.
const SCOPE_TAG: &[u8] = b"tower-ai/request-key/v2/scope";

/// A SHA-256 digest that names what a chat request asks for, whoever sends it
/// and however its JSON was laid out.
///
/// ```
/// use tower_ai::types::{ChatRequest, RequestKey};
///
/// let a = ChatRequest::new("gpt-4o-mini").system("Be brief.").user("Hello!").temperature(0.2);
/// let b = ChatRequest::new("gpt-4o-mini").system("Be brief.").user("Hello!").temperature(0.2);
/// assert_eq!(a.canonical_key(), RequestKey::of(&b));
///
/// // Anything that can change the reply changes the key.
/// let c = b.clone().temperature(0.3);
/// assert_ne!(a.canonical_key(), c.canonical_key());
///
/// // A cache keys its entries per tenant, so one tenant never gets another's.
/// let key = a.canonical_key();
/// assert_ne!(key.scoped("acme"), key.scoped("globex"));
/// assert_eq!(key.to_hex().len(), 64);
/// assert_eq!(key.to_string(), key.to_hex());
/// ```
///
/// # What is hashed
///
/// The key is SHA-256 over a canonical encoding (below) of the request's
/// serde form: the model, every message with every part (texts,
/// images, tool calls with their ids and argument text, tool results,
/// reasoning with its signature), the participant names, the tools with
/// their schemas, the tool choice, `parallel_tool_calls`, every generation
/// parameter (`max_tokens`, `temperature`, `top_p`, `top_k`, `stop`, `seed`,
/// the penalties), the response format, the reasoning settings and `extra`.
///
/// The reply mode is not hashed: a top-level `"stream"` key is dropped, so
/// a streamed and a complete reply to the same request share a key. A
/// `"stream"` inside `extra` is hashed like any other vendor field.
///
/// What the request does not carry is not hashed either: the tenant, the
/// provider or route that answers, credentials. A cache shared between
/// tenants, or in front of several providers, derives its key with
/// [`RequestKey::scoped`].
///
/// # What is normalised, and what is not
///
/// Only what cannot reach a vendor differently is normalised:
///
/// - The order of keys in every map, at every depth (tool schemas,
///   response-format schemas, `extra` and anything in it), so whether
///   serde_json's `preserve_order` feature is on, and in what order a map
///   was filled, do not matter. The request's own fields are written in
///   the order its type declares them, whatever order a JSON text gave
///   them in.
/// - A field that serde skips is the same as its absence: a `None` option,
///   an empty `tools`, `stop` or `extra`, a tool result whose `is_error` is
///   `false`. Deserialising `"temperature": null` gives `None`, so it too is
///   the same as no temperature.
/// - An `f32` field hashes by its shortest decimal form, the one it is sent
///   as: `0.1f32` hashes as `0.1`, whether serde_json widened it to the `f64`
///   `0.10000000149011612` (its default) or kept its text (its
///   `arbitrary_precision` feature), and whether the request came from a
///   value or from JSON text. A consequence: an `f64` in `extra` that
///   happens to equal an `f32` exactly, such as `0.10000000149011612`,
///   hashes like that `f32`'s shortest decimal, here `0.1`.
///
/// Everything else is significant:
///
/// - Whitespace and Unicode form inside texts, names, ids and tool-call
///   argument text: `"Hi"` and `"Hi "` differ, and so do precomposed and
///   decomposed accents.
/// - The order of messages, of parts in a message, of tools, of stop
///   sequences, and of the items of every JSON array.
/// - The kind of a number: `1` and `1.0` differ (JSON text tells them apart
///   and some vendors' validators do too), and so do `0.0` and `-0.0`.
/// - A present but empty setting and none at all: `Some(ReasoningConfig::default())`
///   (sent as `{}`) differs from no reasoning settings.
/// - Tool-call ids, which vendors make up per call, so a conversation that
///   repeats a tool call with a new id gets a new key.
///
/// Non-finite floats have no JSON form: serde_json turns `NaN` and the
/// infinities into `null`, so a `NaN` temperature hashes like an infinite
/// one (but not like no temperature, which is absent).
///
/// # The encoding (version 2)
///
/// Lengths are unsigned LEB128 integers (seven bits a byte, low bits first).
/// The hash input is the length and bytes of the tag
/// `tower-ai/request-key/v2`, then the request written from its `Serialize`
/// impl, without a top-level `"stream"` entry:
///
/// | value | bytes |
/// |---|---|
/// | none, unit | `n` |
/// | `false`, `true` | `f`, `t` |
/// | an integer ≥ 0 (at most `u64::MAX`) | `i`, then the value in LEB128 |
/// | an integer < 0 (at least `i64::MIN`) | `j`, then `-1 - value` in LEB128 |
/// | a float | `d`, length, then its shortest round-trip decimal in Rust's `{:e}` form (`1e0`, `1.5e-7`, `-0e0`), taken as an `f32` when the value is exactly one; `n` when it is not finite, as in JSON |
/// | a number past 64 bits (serde_json's `arbitrary_precision` only) | `x`, length, then its text |
/// | a string | `s`, length, then its UTF-8 bytes |
/// | a sequence | `a`, each item, then `]` |
/// | a struct (the request, a message, a part, a tool...) | `o`, then for each field in the order the type writes it: the name as a string, then the value; then `}` |
/// | a map (`extra`, JSON schemas, any JSON object) | `o`, then for each entry in byte order of the keys: the key as a string, then the value; then `}` |
/// | an internally tagged enum's variant (a message part, a tool choice...) | a struct whose first field is the tag (`type`, or `kind` for an image source) |
/// | another enum's unit variant (a role) | its name as a string |
/// | another enum's other variants | `o`, the name as a string, the content, `}` |
///
/// Every value starts with its tag and ends where its own bytes say, so two
/// different values of one type never encode alike; the tests decode the
/// encoding of random requests back to their JSON to show it. A key stays
/// the same across versions of this crate as long as the tag does and the
/// request's serde form does (its field names and their order); a new
/// optional field that serde skips when unset changes no existing key.
///
/// A request whose `extra` holds what serde_json treats apart (its
/// `arbitrary_precision` numbers or `RawValue`s) is keyed through its
/// `serde_json::Value` instead: the same encoding with every object a map,
/// after the tag `tower-ai/request-key/v2/json`. Which way a request goes
/// depends only on the request, so its key is always the same.
///
/// # Cost
///
/// Computing a key writes the encoding into a buffer kept per thread and
/// hashes it: linear in the request's size, with no allocation once the
/// buffer has grown to the size of the requests seen. The request and its
/// messages are written by hand, the rest through serde. For a 20-message
/// conversation (a 1,822-byte encoding, where version 1 took 3,195) this
/// took 1.77 µs on the machine of `docs/benchmarks.md`, two thirds of it
/// SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey([u8; 32]);

impl RequestKey {
    /// The key of `chat`. See the type's documentation for what it covers.
    ///
    /// Never panics: every request serialises to a JSON value (non-finite
    /// floats become `null`).
    #[must_use]
    pub fn of(chat: &ChatRequest) -> RequestKey {
        canonical::with_request_encoding(chat, RequestKey::of_encoding)
            .unwrap_or_else(|_| RequestKey::through_value(chat))
    }

    /// The key of a request's canonical encoding (see the type's documentation).
    fn of_encoding(encoding: &[u8]) -> RequestKey {
        let mut hasher = Sha256::new();
        write_bytes(&mut hasher, VERSION_TAG);
        hasher.update(encoding);
        RequestKey(hasher.finalize().into())
    }

    /// The key through the request's `serde_json::Value`: what the direct
    /// encoding reproduces, taken when it meets a value it does not cover.
    fn through_value(chat: &ChatRequest) -> RequestKey {
        // A `ChatRequest` is plain derived data: string-keyed maps, structs
        // and internally tagged enums whose newtype variants all hold
        // structs, so serialising it to a `Value` has no error path
        // (serde_json maps non-finite floats to `null` rather than failing).
        let mut value = serde_json::to_value(chat)
            .expect("a ChatRequest always serialises to a JSON value: its maps have string keys");
        // The reply mode is not part of what is asked. Remove it by name from
        // the JSON rather than from the struct, so this holds whether or not
        // the request type carries it.
        if let Value::Object(fields) = &mut value {
            fields.remove("stream");
        }
        RequestKey::of_value(&value)
    }

    /// The key of a request's JSON value, after the reply mode was removed.
    fn of_value(value: &Value) -> RequestKey {
        let mut hasher = Sha256::new();
        write_bytes(&mut hasher, VALUE_TAG);
        encode(value, &mut hasher);
        RequestKey(hasher.finalize().into())
    }

    /// A key for this request within one tenant or other scope.
    ///
    /// Keys of different scopes differ, so a cache keyed by them never
    /// serves one tenant's entry to another. The scope is length-prefixed in
    /// the hash input, after its own tag, so no choice of scope can produce
    /// another scope's key or an unscoped one. Scopes compose:
    /// `key.scoped("acme").scoped("eu")` is a key within `eu` within `acme`.
    ///
    /// ```
    /// use tower_ai::types::ChatRequest;
    ///
    /// let key = ChatRequest::new("gpt-4o-mini").user("Hi").canonical_key();
    /// assert_eq!(key.scoped("acme"), key.scoped("acme"));
    /// assert_ne!(key.scoped("acme"), key.scoped("globex"));
    /// assert_ne!(key.scoped("acme"), key);
    /// ```
    #[must_use]
    pub fn scoped(&self, scope: &str) -> RequestKey {
        let mut hasher = Sha256::new();
        write_bytes(&mut hasher, SCOPE_TAG);
        write_bytes(&mut hasher, scope.as_bytes());
        hasher.update(self.0);
        RequestKey(hasher.finalize().into())
    }

    /// The 32 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest as 64 lowercase hexadecimal digits (the same as `to_string()`).
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl ChatRequest {
    /// The request's canonical key: [`RequestKey::of`] this request.
    #[must_use]
    pub fn canonical_key(&self) -> RequestKey {
        RequestKey::of(self)
    }
}

/// Lowercase hexadecimal, like [`RequestKey::to_hex`].
impl fmt::Display for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            f.write_char(hex_digit(byte >> 4))?;
            f.write_char(hex_digit(byte & 0x0f))?;
        }
        Ok(())
    }
}

/// `RequestKey(` and the hexadecimal digest `)`.
impl fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestKey({self})")
    }
}

/// `bytes` as lowercase hexadecimal: the crate's one hex encoder (request
/// keys, audit hashes, hashed redactions).
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(byte & 0x0f));
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

/// Where the canonical encoding goes: a hasher, or bytes in tests.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

#[cfg(test)]
impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

fn write_len(out: &mut impl Sink, len: usize) {
    // usize is at most 64 bits on every supported target.
    write_varint(out, len as u64);
}

fn write_varint(out: &mut impl Sink, value: u64) {
    let (bytes, len) = canonical::leb128(value);
    out.put(&bytes[..len]);
}

fn write_bytes(out: &mut impl Sink, bytes: &[u8]) {
    write_len(out, bytes.len());
    out.put(bytes);
}

/// Writes the canonical encoding of `value` (see [`RequestKey`]).
fn encode(value: &Value, out: &mut impl Sink) {
    match value {
        Value::Null => out.put(b"n"),
        Value::Bool(false) => out.put(b"f"),
        Value::Bool(true) => out.put(b"t"),
        Value::Number(number) => encode_number(number, out),
        Value::String(text) => {
            out.put(b"s");
            write_bytes(out, text.as_bytes());
        }
        Value::Array(items) => {
            out.put(b"a");
            for item in items {
                encode(item, out);
            }
            out.put(b"]");
        }
        Value::Object(fields) => {
            out.put(b"o");
            // Sorted here whatever order the map iterates in: insertion order
            // with serde_json's `preserve_order`, sorted without it.
            let mut entries: Vec<(&String, &Value)> = fields.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (key, item) in entries {
                out.put(b"s");
                write_bytes(out, key.as_bytes());
                encode(item, out);
            }
            out.put(b"}");
        }
    }
}

fn encode_number(number: &Number, out: &mut impl Sink) {
    if let Some(integer) = number.as_u64() {
        out.put(b"i");
        write_varint(out, integer);
    } else if let Some(integer) = number.as_i64() {
        // Negative, since it is not a u64.
        out.put(b"j");
        write_varint(out, !integer as u64);
    } else if let Some(float) = number.as_f64().filter(|_| number.is_f64()) {
        out.put(b"d");
        write_bytes(out, float_repr(float).as_bytes());
    } else {
        // Only with serde_json's `arbitrary_precision`: an integer too large
        // for 64 bits. Its text is already canonical (serde_json keeps it as
        // written, and it has no fraction or exponent).
        out.put(b"x");
        write_bytes(out, number.to_string().as_bytes());
    }
}

/// The shortest decimal that reads back as `value`, in `{:e}` form; as an
/// `f32` when `value` is exactly one, which is what serde_json makes of an
/// `f32` field (it widens it to `f64`, or with `arbitrary_precision` keeps
/// the `f32`'s shortest text, which reads back as the nearest `f64`; both
/// give the same form here).
fn float_repr(value: f64) -> String {
    // `as` rounds to the nearest f32 (or to an infinity, which never equals
    // a finite value), so the comparison is a test of exactness.
    let narrow = value as f32;
    if f64::from(narrow) == value {
        format!("{narrow:e}")
    } else {
        format!("{value:e}")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    use super::{canonical, encode, float_repr, RequestKey, SCOPE_TAG, VALUE_TAG, VERSION_TAG};
    use crate::types::{
        ChatRequest, ContentPart, Image, ImageDetail, ImageSource, Message, ReasoningConfig, ReasoningEffort,
        ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolResult,
    };

    fn bytes_of(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(value, &mut out);
        out
    }

    /// Reads an encoding back into JSON, a float as the string `d:` and
    /// its decimal (see `comparable`); panics on bytes that are not one
    /// whole encoded value.
    fn decode(bytes: &[u8]) -> Value {
        fn varint(bytes: &[u8], at: &mut usize) -> u64 {
            let mut value = 0u64;
            for shift in 0.. {
                let byte = bytes[*at];
                *at += 1;
                value |= u64::from(byte & 0x7f) << (7 * shift);
                if byte & 0x80 == 0 {
                    break;
                }
            }
            value
        }
        fn text(bytes: &[u8], at: &mut usize) -> String {
            let len = varint(bytes, at) as usize;
            let text = std::str::from_utf8(&bytes[*at..*at + len])
                .expect("UTF-8")
                .to_owned();
            *at += len;
            text
        }
        fn value(bytes: &[u8], at: &mut usize) -> Value {
            let tag = bytes[*at];
            *at += 1;
            match tag {
                b'n' => Value::Null,
                b'f' => Value::Bool(false),
                b't' => Value::Bool(true),
                b'i' => Value::from(varint(bytes, at)),
                b'j' => Value::from(!(varint(bytes, at) as i64)),
                b'd' => Value::String(format!("d:{}", text(bytes, at))),
                b'x' => Value::String(format!("x:{}", text(bytes, at))),
                b's' => Value::String(text(bytes, at)),
                b'a' => {
                    let mut items = Vec::new();
                    while bytes[*at] != b']' {
                        items.push(value(bytes, at));
                    }
                    *at += 1;
                    Value::Array(items)
                }
                b'o' => {
                    let mut fields = Map::new();
                    while bytes[*at] != b'}' {
                        let Value::String(key) = value(bytes, at) else {
                            panic!("an entry's key is a string");
                        };
                        let item = value(bytes, at);
                        assert!(fields.insert(key, item).is_none(), "a key repeated");
                    }
                    *at += 1;
                    Value::Object(fields)
                }
                other => panic!("no value starts with {other:#x}"),
            }
        }
        let mut at = 0;
        let decoded = value(bytes, &mut at);
        assert_eq!(at, bytes.len(), "bytes after the value");
        decoded
    }

    /// `value` as `decode` gives it back: floats as `d:` and their decimal,
    /// no top-level `"stream"`.
    fn comparable(value: Value) -> Value {
        fn walk(value: Value) -> Value {
            match value {
                Value::Number(number) if number.as_u64().is_none() && number.as_i64().is_none() => {
                    Value::String(format!("d:{}", float_repr(number.as_f64().expect("a float"))))
                }
                Value::Array(items) => Value::Array(items.into_iter().map(walk).collect()),
                Value::Object(fields) => {
                    Value::Object(fields.into_iter().map(|(k, v)| (k, walk(v))).collect())
                }
                other => other,
            }
        }
        let mut value = walk(value);
        if let Value::Object(fields) = &mut value {
            fields.remove("stream");
        }
        value
    }

    fn parse(json: &str) -> ChatRequest {
        serde_json::from_str(json).expect("a valid ChatRequest")
    }

    fn sample() -> ChatRequest {
        ChatRequest::new("gpt-4o-mini")
            .system("Be brief.")
            .user("What is the weather in Paris?")
            .tool(Tool::function(
                "get_weather",
                "Current weather for a city",
                json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            ))
            .tool_choice(ToolChoice::Auto)
            .max_tokens(200)
            .temperature(0.2)
            .extra("user", json!("u-1"))
    }

    #[test]
    fn the_same_request_gets_the_same_key() {
        let key = sample().canonical_key();
        assert_eq!(key, sample().canonical_key());
        assert_eq!(key, RequestKey::of(&sample()));
        assert_eq!(key.as_bytes().len(), 32);
    }

    /// Pins format v2: a change here means every stored key changes, which
    /// needs a new version tag.
    #[test]
    fn version_2_key_is_pinned() {
        // The first one's bytes are spelt out in `the_hash_input_is_as_documented`;
        // all three were checked against an independent implementation of the
        // documented encoding.
        let key = ChatRequest::new("gpt-4o-mini").user("Hello!").canonical_key();
        assert_eq!(
            key.to_hex(),
            "f9b69e9026db0d50aa1938b59c55665b7be030d7e7fed9b447fde6e8b4ed3671"
        );
        let key = ChatRequest::new("gpt-4o-mini")
            .system("Be brief.")
            .user("Hello!")
            .max_tokens(200)
            .temperature(0.2)
            .seed(-3)
            .extra("user", json!("u-1"))
            .extra("n", json!([1, 1.5, null, true]))
            .canonical_key();
        assert_eq!(
            key.to_hex(),
            "61a1b60bee803d19ae3d445962f617a0232988b011796cf289bf4dd3ffadd07d"
        );
        assert_eq!(
            key.scoped("acme").to_hex(),
            "5b04e6967e98e6b9722bdc08688a7eb7bf6fc85783f321784b3d2c9c9b62c69c"
        );
    }

    #[test]
    fn encoding_is_as_documented() {
        // A JSON object is a map: entries in key order, keys as strings.
        let mut expected = b"o".to_vec();
        expected.extend_from_slice(b"s\x01a");
        expected.extend_from_slice(b"s\x03");
        expected.extend_from_slice("hé".as_bytes());
        expected.extend_from_slice(b"s\x01b");
        expected.extend_from_slice(b"antf]");
        expected.extend_from_slice(b"}");
        let value = json!({"b": [null, true, false], "a": "hé"});
        assert_eq!(bytes_of(&value), expected);
        assert_eq!(canonical::encoding_of(&value).expect("covered"), expected);

        for (number, bytes) in [
            (json!(0), &b"i\x00"[..]),
            (json!(127), b"i\x7f"),
            (json!(300), b"i\xac\x02"),
            (json!(-1), b"j\x00"),
            (json!(-7), b"j\x06"),
            (json!(u64::MAX), b"i\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
            (json!(i64::MIN), b"j\xff\xff\xff\xff\xff\xff\xff\xff\x7f"),
            (json!(1.5e-7), b"d\x061.5e-7"),
            (json!(1.0), b"d\x031e0"),
        ] {
            assert_eq!(bytes_of(&number), bytes, "{number}");
            assert_eq!(
                canonical::encoding_of(&number).expect("covered"),
                bytes,
                "{number}"
            );
        }
        let long = "x".repeat(200);
        let mut expected = b"s\xc8\x01".to_vec();
        expected.extend_from_slice(long.as_bytes());
        assert_eq!(bytes_of(&json!(long)), expected);
    }

    /// The whole hash input of a small request, byte by byte: its fields
    /// in the order the type declares them, a message's role and parts, a
    /// part's `type` first.
    #[test]
    fn the_hash_input_is_as_documented() {
        use sha2::{Digest, Sha256};
        let request = ChatRequest::new("gpt-4o-mini").user("Hello!");
        let mut input = vec![VERSION_TAG.len() as u8];
        input.extend_from_slice(VERSION_TAG);
        input.extend_from_slice(b"o");
        input.extend_from_slice(b"s\x05models\x0bgpt-4o-mini");
        input.extend_from_slice(b"s\x08messagesa");
        input.extend_from_slice(b"os\x04roles\x04user");
        input.extend_from_slice(b"s\x07contentaos\x04types\x04texts\x04texts\x06Hello!}]");
        input.extend_from_slice(b"}]}");
        let direct = canonical::encoding_of(&request).expect("covered");
        assert_eq!(direct, input[1 + VERSION_TAG.len()..]);
        let digest: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(request.canonical_key().as_bytes(), &digest);

        // Through the JSON value, the request's fields are a map in key order.
        let mut input = vec![VALUE_TAG.len() as u8];
        input.extend_from_slice(VALUE_TAG);
        input.extend_from_slice(b"o");
        input.extend_from_slice(b"s\x08messagesa");
        input.extend_from_slice(b"os\x07contentaos\x04texts\x06Hello!s\x04types\x04text}]");
        input.extend_from_slice(b"s\x04roles\x04user}]");
        input.extend_from_slice(b"s\x05models\x0bgpt-4o-mini}");
        let digest: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(RequestKey::through_value(&request).as_bytes(), &digest);
        assert_ne!(RequestKey::through_value(&request), request.canonical_key());
    }

    #[test]
    fn scoping_length_prefixes_the_scope() {
        use sha2::{Digest, Sha256};
        let key = sample().canonical_key();
        let mut input = vec![SCOPE_TAG.len() as u8];
        input.extend_from_slice(SCOPE_TAG);
        input.extend_from_slice(b"\x04acme");
        input.extend_from_slice(key.as_bytes());
        let digest: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(key.scoped("acme").as_bytes(), &digest);
    }

    #[test]
    fn scopes_separate_tenants() {
        let key = sample().canonical_key();
        assert_ne!(key.scoped("acme"), key.scoped("globex"));
        assert_eq!(key.scoped("acme"), key.scoped("acme"));
        assert_ne!(key.scoped("acme"), key);
        assert_ne!(key.scoped(""), key);
        assert_ne!(key.scoped("acme").scoped("eu"), key.scoped("eu").scoped("acme"));
        assert_ne!(key.scoped("acme").scoped("eu"), key.scoped("acmeeu"));
    }

    #[test]
    fn field_order_in_json_text_does_not_matter() {
        let a = parse(r#"{"model":"m","messages":[],"temperature":0.5,"extra":{"x":1,"y":{"p":1,"q":2}}}"#);
        let b = parse(r#"{"extra":{"y":{"q":2,"p":1},"x":1},"temperature":0.5,"messages":[],"model":"m"}"#);
        assert_eq!(a.canonical_key(), b.canonical_key());
    }

    #[test]
    fn object_key_order_does_not_matter_in_the_encoding() {
        let mut forward = Map::new();
        let mut backward = Map::new();
        for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
            forward.insert(k.to_owned(), json!(v));
        }
        for (k, v) in [("c", 3), ("b", 2), ("a", 1)] {
            backward.insert(k.to_owned(), json!(v));
        }
        assert_eq!(
            bytes_of(&Value::Object(forward)),
            bytes_of(&Value::Object(backward))
        );
    }

    #[test]
    fn absent_none_and_empty_are_the_same() {
        let bare = ChatRequest::new("m").user("x");
        let from_text = parse(
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],
                "tools":[],"stop":[],"extra":{},"temperature":null,"tool_choice":null}"#,
        );
        assert_eq!(bare.canonical_key(), from_text.canonical_key());

        let built = ChatRequest::new("m").message(Message::tool_result("c1", "ok"));
        let explicit = parse(
            r#"{"model":"m","messages":[{"role":"tool","content":[{"type":"tool_result",
                "tool_call_id":"c1","content":[{"type":"text","text":"ok"}],"is_error":false}]}]}"#,
        );
        assert_eq!(built.canonical_key(), explicit.canonical_key());
    }

    #[test]
    fn empty_settings_are_not_the_same_as_none() {
        let bare = ChatRequest::new("m").user("x");
        let empty = bare.clone().reasoning(ReasoningConfig::default());
        assert_ne!(bare.canonical_key(), empty.canonical_key());
    }

    #[test]
    fn whitespace_in_texts_is_significant() {
        let a = ChatRequest::new("m").user("Hello");
        let b = ChatRequest::new("m").user("Hello ");
        let c = ChatRequest::new("m").user("Hello\n");
        assert_ne!(a.canonical_key(), b.canonical_key());
        assert_ne!(b.canonical_key(), c.canonical_key());
    }

    #[test]
    fn integers_and_floats_differ() {
        let a = ChatRequest::new("m").extra("n", json!(1));
        let b = ChatRequest::new("m").extra("n", json!(1.0));
        assert_ne!(a.canonical_key(), b.canonical_key());
        // An integer is an integer however serde_json stores it.
        let c = ChatRequest::new("m").extra("n", json!(1u64));
        let d = ChatRequest::new("m").extra("n", json!(1i64));
        assert_eq!(c.canonical_key(), d.canonical_key());
        // The sign of zero is kept.
        let zero = ChatRequest::new("m").temperature(0.0);
        let negative_zero = ChatRequest::new("m").temperature(-0.0);
        assert_ne!(zero.canonical_key(), negative_zero.canonical_key());
    }

    #[test]
    fn f32_fields_are_stable_across_number_representations() {
        for t in [1.0f32, 0.1, 0.2, 0.7, 1.3, 1e-7, 3.4e38, -0.0] {
            let request = ChatRequest::new("m").user("x").temperature(t).top_p(t);
            let key = request.canonical_key();
            // Through JSON text into a value: the f32 is read back as the f64
            // nearest its shortest text, not widened.
            let text = serde_json::to_string(&request).expect("serialises");
            let mut value: Value = serde_json::from_str(&text).expect("parses");
            if let Value::Object(fields) = &mut value {
                fields.remove("stream");
            }
            assert_eq!(
                RequestKey::of_value(&value),
                RequestKey::through_value(&request),
                "temperature {t}"
            );
            // Through JSON text into a request.
            assert_eq!(parse(&text).canonical_key(), key, "temperature {t}");
        }
        assert_eq!(float_repr(f64::from(1.0f32)), "1e0");
        assert_eq!(float_repr(f64::from(0.1f32)), "1e-1");
        assert_eq!(float_repr(0.1), "1e-1");
        assert_eq!(float_repr(0.1 + 0.2), "3.0000000000000004e-1");
    }

    #[test]
    fn non_finite_floats_hash_as_null_without_panicking() {
        let nan = ChatRequest::new("m").user("x").temperature(f32::NAN);
        let inf = ChatRequest::new("m").user("x").temperature(f32::INFINITY);
        let none = ChatRequest::new("m").user("x");
        assert_eq!(nan.canonical_key(), inf.canonical_key());
        assert_ne!(nan.canonical_key(), none.canonical_key());
        let null = ChatRequest::new("m").user("x").extra("v", Value::Null);
        let nan_extra = ChatRequest::new("m").user("x").extra("v", json!(f64::NAN));
        assert_eq!(null.canonical_key(), nan_extra.canonical_key());
    }

    #[test]
    fn the_reply_mode_is_not_hashed() {
        let base = r#""model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]"#;
        let absent = parse(&format!("{{{base}}}"));
        let streamed = parse(&format!(r#"{{{base},"stream":true}}"#));
        let complete = parse(&format!(r#"{{{base},"stream":false}}"#));
        assert_eq!(absent.canonical_key(), streamed.canonical_key());
        assert_eq!(absent.canonical_key(), complete.canonical_key());
    }

    #[test]
    fn a_stream_field_in_extra_is_hashed() {
        let bare = ChatRequest::new("m").user("x");
        let extra = bare.clone().extra("stream", json!(true));
        assert_ne!(bare.canonical_key(), extra.canonical_key());
    }

    #[test]
    fn debug_and_display_show_hex() {
        let key = sample().canonical_key();
        let hex = key.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(key.to_string(), hex);
        assert_eq!(format!("{key:?}"), format!("RequestKey({hex})"));
        let bytes: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(bytes, hex);
    }

    // ---- property tests ----

    fn arb_text() -> impl Strategy<Value = String> {
        prop_oneof![4 => "[a-zA-Z0-9 .,!?\n]{0,12}", 1 => ".{0,6}"]
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            // Short decimals: serde_json's default parser reads them back exactly.
            (-100_000i32..100_000).prop_map(|n| Value::from(f64::from(n) / 100.0)),
            "[a-z ]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-f]{1,3}", inner), 0..4)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    fn arb_role() -> impl Strategy<Value = Role> {
        prop_oneof![
            Just(Role::System),
            Just(Role::User),
            Just(Role::Assistant),
            Just(Role::Tool)
        ]
    }

    fn arb_part() -> impl Strategy<Value = ContentPart> {
        prop_oneof![
            arb_text().prop_map(ContentPart::text),
            (
                "https://[a-z]{1,5}\\.test/[a-z]{1,5}\\.png",
                prop::option::of(prop_oneof![
                    Just(ImageDetail::Auto),
                    Just(ImageDetail::Low),
                    Just(ImageDetail::High)
                ])
            )
                .prop_map(|(url, detail)| ContentPart::Image(Image {
                    source: ImageSource::Url { url },
                    detail,
                })),
            "[A-Za-z0-9+/]{0,12}".prop_map(|data| ContentPart::image_base64("image/png", data)),
            ("[a-z0-9]{1,6}", "[a-z_]{1,8}", arb_json()).prop_map(|(id, name, args)| ContentPart::ToolCall(
                ToolCall::new(id, name, args.to_string())
            )),
            (
                "[a-z0-9]{1,6}",
                prop::option::of("[a-z_]{1,8}"),
                prop::collection::vec(arb_text(), 1..3),
                any::<bool>()
            )
                .prop_map(|(id, name, texts, is_error)| ContentPart::ToolResult(ToolResult {
                    tool_call_id: id,
                    name,
                    content: texts.into_iter().map(ContentPart::text).collect(),
                    is_error,
                })),
            (
                arb_text(),
                prop::option::of("[a-zA-Z0-9]{4,8}"),
                prop::option::of("[a-zA-Z0-9]{4,8}")
            )
                .prop_map(|(text, signature, redacted)| ContentPart::Reasoning(
                    crate::types::Reasoning {
                        text,
                        signature,
                        redacted,
                    }
                )),
        ]
    }

    /// A message whose first part is text, so a test can change its text.
    fn arb_message() -> impl Strategy<Value = Message> {
        (
            arb_role(),
            arb_text(),
            prop::collection::vec(arb_part(), 0..3),
            prop::option::of("[a-z]{1,6}"),
        )
            .prop_map(|(role, text, parts, name)| {
                let mut content = vec![ContentPart::text(text)];
                content.extend(parts);
                let mut message = Message::new(role, content);
                message.name = name;
                message
            })
    }

    fn arb_tool() -> impl Strategy<Value = Tool> {
        (
            "[a-z_]{1,8}",
            prop::option::of(arb_text()),
            arb_json(),
            prop::option::of(any::<bool>()),
        )
            .prop_map(|(name, description, parameters, strict)| Tool {
                name,
                description,
                parameters,
                strict,
            })
    }

    fn arb_tool_choice() -> impl Strategy<Value = Option<ToolChoice>> {
        prop::option::of(prop_oneof![
            Just(ToolChoice::Auto),
            Just(ToolChoice::None),
            Just(ToolChoice::Required),
            "[a-z_]{1,8}".prop_map(|name| ToolChoice::Tool { name }),
        ])
    }

    fn arb_response_format() -> impl Strategy<Value = Option<ResponseFormat>> {
        prop::option::of(prop_oneof![
            Just(ResponseFormat::Text),
            Just(ResponseFormat::JsonObject),
            (
                "[a-z_]{1,8}",
                arb_json(),
                prop::option::of(any::<bool>()),
                prop::option::of(arb_text())
            )
                .prop_map(|(name, schema, strict, description)| ResponseFormat::JsonSchema {
                    name,
                    schema,
                    strict,
                    description,
                }),
        ])
    }

    fn arb_reasoning() -> impl Strategy<Value = Option<ReasoningConfig>> {
        prop::option::of(
            (
                prop::option::of(prop_oneof![
                    Just(ReasoningEffort::Minimal),
                    Just(ReasoningEffort::Low),
                    Just(ReasoningEffort::Medium),
                    Just(ReasoningEffort::High),
                ]),
                prop::option::of(any::<u32>()),
            )
                .prop_map(|(effort, budget_tokens)| ReasoningConfig {
                    effort,
                    budget_tokens,
                }),
        )
    }

    fn arb_unit_float() -> impl Strategy<Value = Option<f32>> {
        prop::option::of(0.0f32..2.0)
    }

    /// A request with at least one message, one tool and one `extra` field,
    /// and every optional setting either set or not.
    fn arb_request() -> impl Strategy<Value = ChatRequest> {
        let conversation = (
            "[a-z0-9.-]{1,12}",
            prop::collection::vec(arb_message(), 1..4),
            prop::collection::vec(arb_tool(), 1..3),
            arb_tool_choice(),
            prop::option::of(any::<bool>()),
            arb_response_format(),
            arb_reasoning(),
            prop::collection::vec(("[a-z_]{1,6}", arb_json()), 1..4),
        );
        let sampling = (
            prop::option::of(any::<u32>()),
            arb_unit_float(),
            arb_unit_float(),
            prop::option::of(any::<u32>()),
            prop::collection::vec(arb_text(), 0..3),
            prop::option::of(any::<i64>()),
            prop::option::of(-2.0f32..2.0),
            prop::option::of(-2.0f32..2.0),
        );
        (conversation, sampling).prop_map(
            |(
                (model, messages, tools, tool_choice, parallel_tool_calls, response_format, reasoning, extra),
                (max_tokens, temperature, top_p, top_k, stop, seed, frequency_penalty, presence_penalty),
            )| {
                let mut request = ChatRequest::new(model).messages(messages);
                request.tools = tools;
                request.tool_choice = tool_choice;
                request.parallel_tool_calls = parallel_tool_calls;
                request.response_format = response_format;
                request.reasoning = reasoning;
                request.extra = extra.into_iter().collect();
                request.max_tokens = max_tokens;
                request.temperature = temperature;
                request.top_p = top_p;
                request.top_k = top_k;
                request.stop = stop;
                request.seed = seed;
                request.frequency_penalty = frequency_penalty;
                request.presence_penalty = presence_penalty;
                request
            },
        )
    }

    fn other_float(value: Option<f32>) -> Option<f32> {
        Some(match value {
            Some(v) if v != 0.5 => 0.5,
            _ => 1.5,
        })
    }

    fn bump(value: Option<u32>) -> Option<u32> {
        Some(value.map_or(1, |n| n.wrapping_add(1)))
    }

    type Mutation = (&'static str, fn(&mut ChatRequest));

    /// One change per output-relevant field; each always changes the request.
    fn mutations() -> Vec<Mutation> {
        vec![
            ("model", |r| r.model.push('x')),
            ("message text", |r| {
                if let ContentPart::Text { text } = &mut r.messages[0].content[0] {
                    text.push('!');
                }
            }),
            ("message text whitespace", |r| {
                if let ContentPart::Text { text } = &mut r.messages[0].content[0] {
                    text.push(' ');
                }
            }),
            ("role", |r| {
                let role = &mut r.messages[0].role;
                *role = match role {
                    Role::System => Role::User,
                    Role::User => Role::Assistant,
                    Role::Assistant => Role::Tool,
                    _ => Role::System,
                };
            }),
            ("message name", |r| {
                let name = &mut r.messages[0].name;
                *name = match name.take() {
                    Some(mut n) => {
                        n.push('x');
                        Some(n)
                    }
                    None => Some("n".into()),
                };
            }),
            ("last part", |r| {
                let last = r.messages.last_mut().and_then(|m| m.content.last_mut());
                match last {
                    Some(ContentPart::Text { text }) => text.push('x'),
                    Some(ContentPart::Image(image)) => match &mut image.source {
                        ImageSource::Url { url } => url.push('x'),
                        ImageSource::Base64 { data, .. } => data.push('A'),
                    },
                    Some(ContentPart::ToolCall(call)) => call.arguments.push(' '),
                    Some(ContentPart::ToolResult(result)) => result.is_error = !result.is_error,
                    Some(ContentPart::Reasoning(reasoning)) => reasoning.text.push('x'),
                    None => {}
                }
            }),
            ("part added", |r| {
                r.messages[0].content.insert(0, ContentPart::text("first"))
            }),
            ("parts reordered", |r| {
                let parts = &mut r.messages[0].content;
                if parts.len() >= 2 && parts[0] != parts[1] {
                    parts.swap(0, 1);
                } else {
                    parts.push(ContentPart::text("last"));
                }
            }),
            ("message added", |r| r.messages.push(Message::user("again"))),
            ("tool schema", |r| {
                let parameters = &mut r.tools[0].parameters;
                *parameters = json!({"type": "object", "properties": {"wrapped": parameters.take()}});
            }),
            ("tool name", |r| r.tools[0].name.push('x')),
            ("tool choice", |r| {
                r.tool_choice = Some(match r.tool_choice {
                    Some(ToolChoice::Auto) => ToolChoice::Required,
                    _ => ToolChoice::Auto,
                });
            }),
            ("parallel tool calls", |r| {
                r.parallel_tool_calls = Some(!r.parallel_tool_calls.unwrap_or(true));
            }),
            ("max_tokens", |r| r.max_tokens = bump(r.max_tokens)),
            ("temperature", |r| r.temperature = other_float(r.temperature)),
            ("top_p", |r| r.top_p = other_float(r.top_p)),
            ("top_k", |r| r.top_k = bump(r.top_k)),
            ("stop", |r| r.stop.push("END".into())),
            ("seed", |r| r.seed = Some(r.seed.map_or(1, |s| s.wrapping_add(1)))),
            ("frequency_penalty", |r| {
                r.frequency_penalty = other_float(r.frequency_penalty)
            }),
            ("presence_penalty", |r| {
                r.presence_penalty = other_float(r.presence_penalty)
            }),
            ("response_format", |r| {
                r.response_format = Some(match r.response_format {
                    Some(ResponseFormat::JsonObject) => ResponseFormat::Text,
                    _ => ResponseFormat::JsonObject,
                });
            }),
            ("reasoning", |r| {
                r.reasoning = Some(match r.reasoning.take() {
                    Some(config) => ReasoningConfig {
                        budget_tokens: bump(config.budget_tokens),
                        ..config
                    },
                    None => ReasoningConfig::budget(1024),
                });
            }),
            ("extra value", |r| {
                if let Some((_, value)) = r.extra.iter_mut().next() {
                    *value = json!([value.take()]);
                }
            }),
            ("extra key", |r| {
                r.extra.insert("zz_added".into(), json!(1));
            }),
        ]
    }

    fn set_stream(request: &ChatRequest, stream: Option<bool>) -> ChatRequest {
        let mut value = serde_json::to_value(request).expect("serialises");
        let fields = value.as_object_mut().expect("a request is an object");
        match stream {
            Some(flag) => fields.insert("stream".into(), Value::Bool(flag)),
            None => fields.remove("stream"),
        };
        serde_json::from_value(value).expect("deserialises")
    }

    /// The bytes the documented encoding gives for `value`'s JSON value,
    /// without a top-level `"stream"`.
    fn value_bytes_of(value: &impl serde::Serialize) -> Vec<u8> {
        let mut value = serde_json::to_value(value).expect("serialises");
        if let Value::Object(fields) = &mut value {
            fields.remove("stream");
        }
        bytes_of(&value)
    }

    /// `value`'s JSON, as `decode` gives it back.
    fn json_of(value: &impl serde::Serialize) -> Value {
        comparable(serde_json::to_value(value).expect("serialises"))
    }

    #[test]
    fn the_direct_encoding_reads_back_as_the_json_on_awkward_values() {
        use std::collections::BTreeMap;

        #[derive(serde::Serialize)]
        enum Shape {
            Unit,
            Newtype(u8),
            Tuple(i32, String),
            Struct { b: f32, a: Option<bool> },
        }
        #[derive(serde::Serialize)]
        struct Awkward {
            z: Vec<Shape>,
            stream: bool,
            nested: BTreeMap<String, Value>,
            #[serde(with = "serde_bytes_as_slice")]
            bytes: Vec<u8>,
            c: char,
            unit: (),
            floats: [f64; 5],
            big: u128,
        }
        mod serde_bytes_as_slice {
            pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
        }
        let mut nested = BTreeMap::new();
        nested.insert(
            "y".to_owned(),
            json!({"stream": 1, "b": [1.5, -0.0, 1e300], "a": null}),
        );
        nested.insert("x".to_owned(), json!("é"));
        let awkward = Awkward {
            z: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(-1, "t".to_owned()),
                Shape::Struct {
                    b: 0.1,
                    a: Some(true),
                },
                Shape::Struct { b: f32::NAN, a: None },
            ],
            stream: true,
            nested,
            bytes: vec![0, 255],
            c: 'ß',
            unit: (),
            floats: [0.1, f64::from(0.1f32), f64::INFINITY, -0.0, 1.0],
            big: u128::from(u64::MAX),
        };
        let direct = canonical::encoding_of(&awkward).expect("covered");
        assert_eq!(decode(&direct), json_of(&awkward));
        // A struct's fields stay in their order; the JSON value's map sorts them.
        assert_ne!(direct, value_bytes_of(&awkward));
        // Maps and everything in them encode alike both ways.
        assert_eq!(
            canonical::encoding_of(&awkward.nested).expect("covered"),
            value_bytes_of(&awkward.nested)
        );

        // A repeated key keeps its last value, as a map built from the
        // entries would.
        struct Repeated;
        impl serde::Serialize for Repeated {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("b", &1)?;
                map.serialize_entry("a", &2)?;
                map.serialize_entry("b", &3)?;
                map.end()
            }
        }
        assert_eq!(
            canonical::encoding_of(&Repeated).expect("covered"),
            value_bytes_of(&Repeated)
        );

        // What it does not cover, it says so, and the key comes from the value.
        let mut numbered = BTreeMap::new();
        numbered.insert(1, "one");
        assert!(canonical::encoding_of(&numbered).is_err());
        assert!(canonical::encoding_of(&u128::MAX).is_err());
    }

    #[test]
    fn the_request_written_by_hand_is_the_request_written_by_serde_when_fields_are_unset() {
        for request in [
            ChatRequest::new(""),
            ChatRequest::new("m").user("x"),
            ChatRequest::new("m").message(Message {
                name: Some("n".into()),
                ..Message::new(Role::Tool, Vec::new())
            }),
            ChatRequest::new("m").user("x").extra("stream", json!(true)),
        ] {
            assert_eq!(
                canonical::request_encoding_of(&request).expect("covered"),
                canonical::encoding_of(&request).expect("covered"),
            );
        }
    }

    proptest! {
        #[test]
        fn the_encoding_reads_back_as_the_requests_json(request in arb_request(), stream in proptest::option::of(any::<bool>())) {
            // So two requests with one encoding have one JSON form, and are
            // the same request: the encoding loses nothing.
            let request = set_stream(&request, stream);
            let direct = canonical::encoding_of(&request).expect("a request is covered");
            prop_assert_eq!(decode(&direct), json_of(&request));
            // The request written by hand is the request written by serde.
            prop_assert_eq!(&canonical::request_encoding_of(&request).expect("covered"), &direct);
            prop_assert_eq!(decode(&value_bytes_of(&request)), json_of(&request));
        }

        #[test]
        fn equal_requests_hash_equal(request in arb_request()) {
            let key = request.canonical_key();
            prop_assert_eq!(request.clone().canonical_key(), key);

            // The same extra fields, inserted in the opposite order.
            let mut reordered = request.clone();
            reordered.extra = request.extra.iter().rev().map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(reordered.canonical_key(), key);

            // Through JSON text, as a request and as a bare value.
            let text = serde_json::to_string(&request).expect("serialises");
            let back: ChatRequest = serde_json::from_str(&text).expect("parses");
            prop_assert_eq!(back.canonical_key(), key);
            let mut value: Value = serde_json::from_str(&text).expect("parses");
            if let Value::Object(fields) = &mut value {
                fields.remove("stream");
            }
            prop_assert_eq!(RequestKey::of_value(&value), RequestKey::through_value(&request));
        }

        #[test]
        fn any_output_relevant_change_changes_the_key(request in arb_request()) {
            let key = request.canonical_key();
            for (field, mutate) in mutations() {
                let mut changed = request.clone();
                mutate(&mut changed);
                prop_assert_ne!(&changed, &request, "the {} mutation changed nothing", field);
                prop_assert_ne!(changed.canonical_key(), key, "changing {} kept the key", field);
            }
        }

        #[test]
        fn the_stream_flag_never_changes_the_key(request in arb_request()) {
            let key = request.canonical_key();
            prop_assert_eq!(set_stream(&request, Some(true)).canonical_key(), key);
            prop_assert_eq!(set_stream(&request, Some(false)).canonical_key(), key);
            prop_assert_eq!(set_stream(&request, None).canonical_key(), key);
        }

        #[test]
        fn scopes_never_meet(request in arb_request(), a in ".{0,8}", b in ".{0,8}") {
            let key = request.canonical_key();
            prop_assert_eq!(key.scoped(&a), key.scoped(&a));
            prop_assert_ne!(key.scoped(&a), key);
            if a != b {
                prop_assert_ne!(key.scoped(&a), key.scoped(&b));
            }
        }

        /// serde_json keeps an `f32` either widened to `f64` or as its shortest
        /// text (`arbitrary_precision`), read back as the nearest `f64`; both
        /// must encode alike.
        #[test]
        fn f32_values_encode_alike_in_both_number_representations(bits in any::<u32>()) {
            let value = f32::from_bits(bits);
            prop_assume!(value.is_finite());
            let widened = f64::from(value);
            let reread: f64 = value.to_string().parse().expect("a float's text parses");
            prop_assert_eq!(float_repr(widened), float_repr(reread));
            let back: f32 = float_repr(widened).parse().expect("the repr parses");
            prop_assert_eq!(back.to_bits(), value.to_bits());
        }

        /// Distinct `f64`s that are not both near one `f32` keep distinct forms.
        #[test]
        fn f64_reprs_round_trip(value in any::<f64>()) {
            prop_assume!(value.is_finite());
            let repr = float_repr(value);
            let back: f64 = repr.parse().expect("the repr parses");
            let narrow = value as f32;
            if f64::from(narrow) == value {
                prop_assert_eq!(back as f32, narrow);
            } else {
                prop_assert_eq!(back.to_bits(), value.to_bits());
            }
        }
    }
}
