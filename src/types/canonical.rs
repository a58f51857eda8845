//! The request key's canonical encoding written straight from `Serialize`.
//!
//! [`RequestKey`](super::RequestKey) documents the encoding. This serializer
//! writes it without building a `serde_json::Value` (which would copy every
//! text of the request and allocate a map per object), into one buffer
//! reused per thread. A struct's fields are written in the order serde
//! gives them, which the type fixes, so they need no sorting; a map's
//! entries are recorded as spans of the buffer and, unless they came in key
//! order already, moved once into key order when the map ends.
//!
//! It gives up (an error) on what serde_json's own value would treat apart:
//! map keys that are not strings, integers past 64 bits, and serde_json's
//! private number and raw-value tokens (its `arbitrary_precision` and
//! `raw_value` features). The caller then keys the request through its
//! `serde_json::Value`, under a tag of its own, so which path keys a
//! request depends only on the request.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::ops::Range;

use serde::ser::{self, Serialize};

use super::message::{ContentPart, Message, Role};
use super::request::ChatRequest;

/// Why the direct encoding gave up.
#[derive(Debug)]
pub(super) struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value the direct encoding does not cover")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unsupported
    }
}

/// A buffer this large or larger is not kept for the next key.
const KEEP_AT_MOST: usize = 1 << 20;

thread_local! {
    static ENCODER: RefCell<Encoder> = RefCell::new(Encoder::default());
}

/// Encodes `value` (without a top-level `"stream"` entry) and hands the
/// bytes to `finish`.
#[cfg(test)]
pub(super) fn with_encoding<T: Serialize + ?Sized, R>(
    value: &T,
    finish: impl FnOnce(&[u8]) -> R,
) -> Result<R, Unsupported> {
    with_encoder(|encoder| encoder.encode(value), finish)
}

/// Encodes `chat` and hands the bytes to `finish`: the same bytes as
/// [`with_encoding`] gives, written by hand for the request and its
/// messages (the bulk of most requests), so that only the rarer parts go
/// through serde's generic machinery.
pub(super) fn with_request_encoding<R>(
    chat: &ChatRequest,
    finish: impl FnOnce(&[u8]) -> R,
) -> Result<R, Unsupported> {
    with_encoder(|encoder| encoder.request(chat), finish)
}

/// Runs `write` on this thread's encoder and hands its bytes to `finish`.
fn with_encoder<R>(
    write: impl FnOnce(&mut Encoder) -> Result<(), Unsupported>,
    finish: impl FnOnce(&[u8]) -> R,
) -> Result<R, Unsupported> {
    ENCODER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut encoder) => {
            let result = write(&mut encoder).map(|()| finish(&encoder.buf));
            encoder.reset();
            result
        }
        // Only if a `Serialize` impl computed a key of its own while being
        // encoded: give that one a buffer of its own.
        Err(_) => {
            let mut encoder = Encoder::default();
            write(&mut encoder).map(|()| finish(&encoder.buf))
        }
    })
}

#[derive(Default)]
struct Encoder {
    buf: Vec<u8>,
    /// The entries of the maps being written, innermost last.
    entries: Vec<Entry>,
    /// Where a map's bytes go while they are put in key order.
    scratch: Vec<u8>,
    /// Arrays and objects open around the value being written.
    depth: usize,
}

/// One map entry: its bytes are `buf[start..end]`, starting with the key
/// (`s`, its length, its bytes) whose bytes are `buf[key]`.
#[derive(Clone)]
struct Entry {
    start: usize,
    end: usize,
    key: Range<usize>,
}

/// `value` as an unsigned LEB128 integer: the bytes and how many are used.
pub(super) fn leb128(mut value: u64) -> ([u8; 10], usize) {
    let mut bytes = [0u8; 10];
    let mut len = 0;
    while value >= 0x80 {
        bytes[len] = (value as u8) | 0x80;
        value >>= 7;
        len += 1;
    }
    bytes[len] = value as u8;
    (bytes, len + 1)
}

/// Writes `value` as an unsigned LEB128 integer.
fn put_varint(buf: &mut Vec<u8>, value: u64) {
    let (bytes, len) = leb128(value);
    buf.extend_from_slice(&bytes[..len]);
}

impl Encoder {
    #[cfg(test)]
    fn encode<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        value.serialize(&mut *self)
    }

    /// `chat` as its `Serialize` impl would write it. Every field is named
    /// below (a field added to the type does not compile until it is
    /// written here), in the order the type declares them, skipped when
    /// serde skips it; the tests hold this to the serde path's bytes.
    fn request(&mut self, chat: &ChatRequest) -> Result<(), Unsupported> {
        let ChatRequest {
            model,
            messages,
            tools,
            tool_choice,
            parallel_tool_calls,
            max_tokens,
            temperature,
            top_p,
            top_k,
            stop,
            seed,
            frequency_penalty,
            presence_penalty,
            response_format,
            reasoning,
            extra,
        } = chat;
        let open = self.open(Kind::Struct);
        self.key("model");
        self.put_bytes(b's', model.as_bytes());
        self.key("messages");
        self.buf.push(b'a');
        for message in messages {
            self.message(message)?;
        }
        self.buf.push(b']');
        if !tools.is_empty() {
            self.struct_field("tools", tools)?;
        }
        self.optional_field("tool_choice", tool_choice)?;
        self.optional_field("parallel_tool_calls", parallel_tool_calls)?;
        self.optional_field("max_tokens", max_tokens)?;
        self.optional_field("temperature", temperature)?;
        self.optional_field("top_p", top_p)?;
        self.optional_field("top_k", top_k)?;
        if !stop.is_empty() {
            self.struct_field("stop", stop)?;
        }
        self.optional_field("seed", seed)?;
        self.optional_field("frequency_penalty", frequency_penalty)?;
        self.optional_field("presence_penalty", presence_penalty)?;
        self.optional_field("response_format", response_format)?;
        self.optional_field("reasoning", reasoning)?;
        if !extra.is_empty() {
            self.struct_field("extra", extra)?;
        }
        self.close_object(&open);
        Ok(())
    }

    /// A message: its role and text parts by hand, other parts through serde.
    fn message(&mut self, message: &Message) -> Result<(), Unsupported> {
        let Message { role, content, name } = message;
        let role = match role {
            Role::System => &b"\x06system"[..],
            Role::User => b"\x04user",
            Role::Assistant => b"\x09assistant",
            Role::Tool => b"\x04tool",
        };
        self.buf.extend_from_slice(b"os\x04roles");
        self.buf.extend_from_slice(role);
        self.buf.extend_from_slice(b"s\x07contenta");
        for part in content {
            match part {
                ContentPart::Text { text } => {
                    self.buf.extend_from_slice(b"os\x04types\x04texts\x04text");
                    self.put_bytes(b's', text.as_bytes());
                    self.buf.push(b'}');
                }
                other => other.serialize(&mut *self)?,
            }
        }
        self.buf.push(b']');
        if let Some(name) = name {
            self.key("name");
            self.put_bytes(b's', name.as_bytes());
        }
        self.buf.push(b'}');
        Ok(())
    }

    /// A field of a struct being written by hand, through serde.
    fn struct_field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), Unsupported> {
        self.key(name);
        value.serialize(&mut *self)
    }

    /// An optional field, left out when it is `None` (as serde skips it).
    fn optional_field<T: Serialize>(&mut self, name: &str, value: &Option<T>) -> Result<(), Unsupported> {
        match value {
            Some(value) => self.struct_field(name, value),
            None => Ok(()),
        }
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.entries.clear();
        self.scratch.clear();
        self.depth = 0;
        if self.buf.capacity() > KEEP_AT_MOST {
            self.buf = Vec::new();
        }
        if self.scratch.capacity() > KEEP_AT_MOST {
            self.scratch = Vec::new();
        }
    }

    fn put_len(&mut self, len: usize) {
        // usize is at most 64 bits on every supported target.
        put_varint(&mut self.buf, len as u64);
    }

    fn put_bytes(&mut self, tag: u8, bytes: &[u8]) {
        self.buf.push(tag);
        self.put_len(bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    fn put_int(&mut self, value: i128) {
        if let Ok(value) = u64::try_from(value) {
            self.buf.push(b'i');
            put_varint(&mut self.buf, value);
        } else {
            // Negative and within i64 (the callers checked): -1 - value,
            // which is `!value`, fits a u64.
            self.buf.push(b'j');
            put_varint(&mut self.buf, !(value as i64) as u64);
        }
    }

    fn put_float(&mut self, value: f64) {
        if !value.is_finite() {
            // serde_json's value for a non-finite float is `null`.
            self.buf.push(b'n');
            return;
        }
        self.buf.push(b'd');
        let at = self.buf.len();
        self.buf.push(0);
        let narrow = value as f32;
        let mut text = Appender(&mut self.buf);
        // Writing into a Vec cannot fail.
        let _ = if f64::from(narrow) == value {
            write!(text, "{narrow:e}")
        } else {
            write!(text, "{value:e}")
        };
        // The `{:e}` form of a finite f64 is at most 24 bytes, so its length
        // is one LEB128 byte.
        let len = self.buf.len() - at - 1;
        debug_assert!(len < 0x80);
        self.buf[at] = len as u8;
    }

    /// Opens an array or an object.
    fn open(&mut self, kind: Kind) -> Open {
        self.buf.push(match kind {
            Kind::Array => b'a',
            Kind::Map | Kind::Struct => b'o',
        });
        self.depth += 1;
        Open {
            kind,
            base: self.entries.len(),
        }
    }

    fn close_array(&mut self) {
        self.depth -= 1;
        self.buf.push(b']');
    }

    /// Starts an entry: writes the key, and returns where the entry began.
    fn key(&mut self, key: &str) -> usize {
        let start = self.buf.len();
        self.put_bytes(b's', key.as_bytes());
        start
    }

    /// Ends the entry begun at `start`, after its value was written; the
    /// entries of a map are kept to be put in key order.
    fn entry_done(&mut self, start: usize, kind: Kind) {
        // The reply mode is not part of the key: a top-level "stream" entry
        // is left out.
        if self.depth == 1 && self.buf[start + 1..].starts_with(b"\x06stream") {
            self.buf.truncate(start);
            return;
        }
        if kind == Kind::Map {
            let key_len = self.buf[start + 1..]
                .iter()
                .position(|byte| byte & 0x80 == 0)
                .map_or(0, |last| last + 1);
            let mut len = 0u64;
            for (shift, byte) in self.buf[start + 1..start + 1 + key_len].iter().enumerate() {
                len |= u64::from(byte & 0x7f) << (7 * shift);
            }
            let key_start = start + 1 + key_len;
            self.entries.push(Entry {
                start,
                end: self.buf.len(),
                key: key_start..key_start + len as usize,
            });
        }
    }

    /// Ends an object. A map's entries are put in key order, a repeated
    /// key keeping its last value (as a map built from them would); a
    /// struct's fields stay in the order serde wrote them.
    fn close_object(&mut self, open: &Open) {
        self.depth -= 1;
        if open.kind == Kind::Map {
            self.sort_entries(open.base);
            self.entries.truncate(open.base);
        }
        self.buf.push(b'}');
    }

    fn sort_entries(&mut self, base: usize) {
        let entries = &mut self.entries[base..];
        let buf = &self.buf;
        let sorted = entries
            .windows(2)
            .all(|pair| buf[pair[0].key.clone()] < buf[pair[1].key.clone()]);
        if sorted || entries.is_empty() {
            return;
        }
        // Stable, so of entries with one key the last written stays last.
        entries.sort_by(|a, b| buf[a.key.clone()].cmp(&buf[b.key.clone()]));
        // The entries fill the buffer from where the first one began.
        let first = entries.iter().map(|entry| entry.start).min().unwrap_or(buf.len());
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.buf[first..]);
        self.buf.truncate(first);
        for (at, entry) in entries.iter().enumerate() {
            let next_same = entries.get(at + 1).is_some_and(|next| {
                self.scratch[shift(next.key.clone(), first)] == self.scratch[shift(entry.key.clone(), first)]
            });
            if !next_same {
                self.buf
                    .extend_from_slice(&self.scratch[entry.start - first..entry.end - first]);
            }
        }
    }
}

fn shift(range: Range<usize>, by: usize) -> Range<usize> {
    range.start - by..range.end - by
}

struct Appender<'a>(&'a mut Vec<u8>);

impl fmt::Write for Appender<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// What a compound value is written as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Items in order.
    Array,
    /// Entries put in key order: a map's iteration order is not canonical.
    Map,
    /// Fields in the order serde writes them, which a type fixes.
    Struct,
}

/// An open array or object.
struct Open {
    kind: Kind,
    /// A map's first entry in `Encoder::entries`.
    base: usize,
}

/// serde_json's private tokens, which its value serializer treats apart.
fn is_private_token(name: &str) -> bool {
    name.starts_with("$serde_json::private::")
}

impl<'a> ser::Serializer for &'a mut Encoder {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
        self.buf.push(if v { b't' } else { b'f' });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Unsupported> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Unsupported> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Unsupported> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Unsupported> {
        self.put_int(v.into());
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Unsupported> {
        if i64::try_from(v).is_ok() || u64::try_from(v).is_ok() {
            self.put_int(v);
            Ok(())
        } else {
            Err(Unsupported)
        }
    }
    fn serialize_u8(self, v: u8) -> Result<(), Unsupported> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Unsupported> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Unsupported> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Unsupported> {
        self.put_int(v.into());
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Unsupported> {
        match u64::try_from(v) {
            Ok(v) => self.serialize_u64(v),
            Err(_) => Err(Unsupported),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<(), Unsupported> {
        self.put_float(v.into());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Unsupported> {
        self.put_float(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Unsupported> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        self.put_bytes(b's', v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Unsupported> {
        // serde_json's value of bytes is an array of numbers.
        self.buf.push(b'a');
        for &byte in v {
            self.put_int(byte.into());
        }
        self.buf.push(b']');
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Unsupported> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.buf.push(b'n');
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Unsupported> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        if is_private_token(name) {
            return Err(Unsupported);
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        // `{variant: value}`.
        let open = self.open(Kind::Struct);
        let start = self.key(variant);
        value.serialize(&mut *self)?;
        self.entry_done(start, Kind::Struct);
        self.close_object(&open);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Unsupported> {
        let open = self.open(Kind::Array);
        Ok(Compound {
            encoder: self,
            open,
            variant: None,
            pending: 0,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Unsupported> {
        let outer = self.open(Kind::Struct);
        let start = self.key(variant);
        let open = self.open(Kind::Array);
        Ok(Compound {
            encoder: self,
            open,
            variant: Some((outer, start)),
            pending: 0,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Unsupported> {
        let open = self.open(Kind::Map);
        Ok(Compound {
            encoder: self,
            open,
            variant: None,
            pending: 0,
        })
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Compound<'a>, Unsupported> {
        if is_private_token(name) {
            return Err(Unsupported);
        }
        let open = self.open(Kind::Struct);
        Ok(Compound {
            encoder: self,
            open,
            variant: None,
            pending: 0,
        })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Unsupported> {
        let outer = self.open(Kind::Struct);
        let start = self.key(variant);
        let open = self.open(Kind::Struct);
        Ok(Compound {
            encoder: self,
            open,
            variant: Some((outer, start)),
            pending: 0,
        })
    }
}

/// An array or object being written; for a tuple or struct variant, also
/// the one-entry object around it.
pub(super) struct Compound<'a> {
    encoder: &'a mut Encoder,
    open: Open,
    variant: Option<(Open, usize)>,
    /// Where the entry whose key was written last began (maps).
    pending: usize,
}

impl Compound<'_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        value.serialize(&mut *self.encoder)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Unsupported> {
        let start = self.encoder.key(key);
        value.serialize(&mut *self.encoder)?;
        self.encoder.entry_done(start, Kind::Struct);
        Ok(())
    }

    fn end_array(self) -> Result<(), Unsupported> {
        self.encoder.close_array();
        Self::end_variant(self.encoder, self.variant);
        Ok(())
    }

    fn end_object(self) -> Result<(), Unsupported> {
        self.encoder.close_object(&self.open);
        Self::end_variant(self.encoder, self.variant);
        Ok(())
    }

    fn end_variant(encoder: &mut Encoder, variant: Option<(Open, usize)>) {
        if let Some((outer, start)) = variant {
            encoder.entry_done(start, Kind::Struct);
            encoder.close_object(&outer);
        }
    }
}

/// The array-like `Serialize*` traits: each element is an item.
macro_rules! array_like {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Unsupported;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
                self.item(value)
            }
            fn end(self) -> Result<(), Unsupported> {
                self.end_array()
            }
        }
    )*};
}

array_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        // The value follows; `serialize_value` ends the entry.
        self.pending = key.serialize(KeyWriter(&mut *self.encoder))?;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        value.serialize(&mut *self.encoder)?;
        self.encoder.entry_done(self.pending, Kind::Map);
        Ok(())
    }
    fn end(self) -> Result<(), Unsupported> {
        self.end_object()
    }
}

/// The struct-like `Serialize*` traits: each field is an entry.
macro_rules! struct_like {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Unsupported;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Unsupported> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), Unsupported> {
                self.end_object()
            }
        }
    )*};
}

struct_like!(SerializeStruct, SerializeStructVariant);

/// Writes a map key that is a string (or a unit variant, or a newtype
/// around either, which serde_json also writes as a string), returning
/// where its entry began; anything else is left to serde_json.
struct KeyWriter<'a>(&'a mut Encoder);

macro_rules! unsupported_keys {
    ($($method:ident($($ty:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $ty),*) -> Result<usize, Unsupported> {
            Err(Unsupported)
        })*
    };
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = usize;
    type Error = Unsupported;
    type SerializeSeq = ser::Impossible<usize, Unsupported>;
    type SerializeTuple = ser::Impossible<usize, Unsupported>;
    type SerializeTupleStruct = ser::Impossible<usize, Unsupported>;
    type SerializeTupleVariant = ser::Impossible<usize, Unsupported>;
    type SerializeMap = ser::Impossible<usize, Unsupported>;
    type SerializeStruct = ser::Impossible<usize, Unsupported>;
    type SerializeStructVariant = ser::Impossible<usize, Unsupported>;

    fn serialize_str(self, v: &str) -> Result<usize, Unsupported> {
        Ok(self.0.key(v))
    }
    fn serialize_char(self, v: char) -> Result<usize, Unsupported> {
        Ok(self.0.key(v.encode_utf8(&mut [0; 4])))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<usize, Unsupported> {
        Ok(self.0.key(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<usize, Unsupported> {
        if is_private_token(name) {
            return Err(Unsupported);
        }
        value.serialize(self)
    }
    unsupported_keys! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32), serialize_i64(i64),
        serialize_u8(u8), serialize_u16(u16), serialize_u32(u32), serialize_u64(u64),
        serialize_f32(f32), serialize_f64(f64), serialize_bytes(&[u8]), serialize_none(), serialize_unit(),
        serialize_unit_struct(&'static str),
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<usize, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<usize, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported)
    }
}

#[cfg(test)]
pub(super) fn encoding_of<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Unsupported> {
    with_encoding(value, <[u8]>::to_vec)
}

#[cfg(test)]
pub(super) fn request_encoding_of(chat: &ChatRequest) -> Result<Vec<u8>, Unsupported> {
    with_request_encoding(chat, <[u8]>::to_vec)
}
