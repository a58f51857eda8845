//! The request key's canonical encoding written straight from `Serialize`.
//!
//! [`RequestKey`](super::RequestKey) documents an encoding of a request's
//! serde JSON value. Building that value first copies every text of the
//! request and allocates a map per object; this serializer writes the same
//! bytes without it, into one buffer reused per thread. Objects are written
//! as their fields come and put in key order when they end: each entry is
//! recorded as a span of the buffer and, unless the entries already came
//! sorted, the object's bytes are moved once into sorted order.
//!
//! It gives up (an error) on what it does not reproduce exactly as
//! serde_json's value serializer does: map keys that are not strings,
//! integers past 64 bits, and serde_json's private number and raw-value
//! tokens. The caller then takes the path through `serde_json::Value`, so
//! the key never depends on which path computed it; the tests hold the two
//! to the same bytes.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::ops::Range;

use serde::ser::{self, Serialize};

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
pub(super) fn with_encoding<T: Serialize + ?Sized, R>(
    value: &T,
    finish: impl FnOnce(&[u8]) -> R,
) -> Result<R, Unsupported> {
    ENCODER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut encoder) => {
            let result = encoder.encode(value).map(|()| finish(&encoder.buf));
            encoder.reset();
            result
        }
        // Only if a `Serialize` impl computed a key of its own while being
        // encoded: give that one a buffer of its own.
        Err(_) => {
            let mut encoder = Encoder::default();
            encoder.encode(value).map(|()| finish(&encoder.buf))
        }
    })
}

#[derive(Default)]
struct Encoder {
    buf: Vec<u8>,
    /// The entries of the objects being written, innermost last.
    entries: Vec<Entry>,
    /// Where an object's bytes go while they are put in order.
    scratch: Vec<u8>,
    /// Objects and arrays open around the value being written.
    depth: usize,
}

/// One object entry: its bytes are `buf[start..end]`, starting with the
/// key's length and bytes.
#[derive(Clone, Copy)]
struct Entry {
    start: usize,
    end: usize,
    key_len: usize,
}

impl Encoder {
    fn encode<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        value.serialize(&mut *self)
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
        self.buf.extend_from_slice(&(len as u64).to_be_bytes());
    }

    fn put_bytes(&mut self, tag: u8, bytes: &[u8]) {
        self.buf.push(tag);
        self.put_len(bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    fn put_int(&mut self, value: i128) {
        self.buf.push(b'i');
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    fn put_float(&mut self, value: f64) {
        if !value.is_finite() {
            // serde_json's value for a non-finite float is `null`.
            self.buf.push(b'n');
            return;
        }
        self.buf.push(b'd');
        let at = self.buf.len();
        self.put_len(0);
        let narrow = value as f32;
        let mut text = Appender(&mut self.buf);
        // Writing into a Vec cannot fail.
        let _ = if f64::from(narrow) == value {
            write!(text, "{narrow:e}")
        } else {
            write!(text, "{value:e}")
        };
        let len = (self.buf.len() - at - 8) as u64;
        self.buf[at..at + 8].copy_from_slice(&len.to_be_bytes());
    }

    /// Opens an array or an object: the tag and a count patched when it ends.
    fn open(&mut self, tag: u8) -> Open {
        self.buf.push(tag);
        let count_at = self.buf.len();
        self.put_len(0);
        self.depth += 1;
        Open {
            count_at,
            base: self.entries.len(),
            items: 0,
        }
    }

    fn close_array(&mut self, open: &Open) {
        self.depth -= 1;
        self.patch(open.count_at, open.items);
    }

    fn patch(&mut self, at: usize, count: usize) {
        self.buf[at..at + 8].copy_from_slice(&(count as u64).to_be_bytes());
    }

    /// Starts an entry: writes the key, and returns where the entry began.
    fn key(&mut self, key: &str) -> usize {
        let start = self.buf.len();
        self.put_len(key.len());
        self.buf.extend_from_slice(key.as_bytes());
        start
    }

    /// Ends the entry begun at `start`, after its value was written.
    fn entry_done(&mut self, start: usize) {
        let key_len = u64::from_be_bytes(self.buf[start..start + 8].try_into().expect("8 bytes")) as usize;
        // The reply mode is not part of the key: a top-level "stream" entry
        // is left out.
        if self.depth == 1 && &self.buf[start + 8..start + 8 + key_len] == b"stream" {
            self.buf.truncate(start);
            return;
        }
        self.entries.push(Entry {
            start,
            end: self.buf.len(),
            key_len,
        });
    }

    /// Ends an object: its entries in key order, a repeated key keeping
    /// its last value (as a map built from them would), and the count.
    fn close_object(&mut self, open: &Open) {
        self.depth -= 1;
        let entries = &mut self.entries[open.base..];
        let buf = &self.buf;
        let sorted = entries
            .windows(2)
            .all(|pair| buf[pair[0].key()] < buf[pair[1].key()]);
        let count = if sorted {
            entries.len()
        } else {
            // Stable, so of entries with one key the last written stays last.
            entries.sort_by(|a, b| buf[a.key()].cmp(&buf[b.key()]));
            // The entries fill the buffer from just after the count.
            let first = open.count_at + 8;
            self.scratch.clear();
            self.scratch.extend_from_slice(&self.buf[first..]);
            self.buf.truncate(first);
            let mut count = 0;
            for (at, entry) in entries.iter().enumerate() {
                let next_same = entries.get(at + 1).is_some_and(|next| {
                    self.scratch[shift(next.key(), first)] == self.scratch[shift(entry.key(), first)]
                });
                if next_same {
                    continue;
                }
                self.buf
                    .extend_from_slice(&self.scratch[entry.start - first..entry.end - first]);
                count += 1;
            }
            count
        };
        self.entries.truncate(open.base);
        self.patch(open.count_at, count);
    }
}

impl Entry {
    /// Where the key's bytes are in the buffer.
    fn key(&self) -> Range<usize> {
        self.start + 8..self.start + 8 + self.key_len
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

/// An open array or object.
struct Open {
    count_at: usize,
    /// The object's first entry in `Encoder::entries`.
    base: usize,
    /// Items written so far (arrays).
    items: usize,
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
        self.put_len(v.len());
        for &byte in v {
            self.put_int(byte.into());
        }
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
        let open = self.open(b'o');
        let start = self.key(variant);
        value.serialize(&mut *self)?;
        self.entry_done(start);
        self.close_object(&open);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Unsupported> {
        let open = self.open(b'a');
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
        let outer = self.open(b'o');
        let start = self.key(variant);
        let open = self.open(b'a');
        Ok(Compound {
            encoder: self,
            open,
            variant: Some((outer, start)),
            pending: 0,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Unsupported> {
        let open = self.open(b'o');
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
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Unsupported> {
        let outer = self.open(b'o');
        let start = self.key(variant);
        let open = self.open(b'o');
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
        value.serialize(&mut *self.encoder)?;
        self.open.items += 1;
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Unsupported> {
        let start = self.encoder.key(key);
        value.serialize(&mut *self.encoder)?;
        self.encoder.entry_done(start);
        Ok(())
    }

    fn end_array(self) -> Result<(), Unsupported> {
        self.encoder.close_array(&self.open);
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
            encoder.entry_done(start);
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
        self.encoder.entry_done(self.pending);
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
