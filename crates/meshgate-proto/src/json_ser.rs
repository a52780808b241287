//! A small `serde::Serializer` for the read path: JSON written into a page
//! buffer with `json.rs`'s string writer, so `#[derive(Serialize)]` on
//! [`MessageRef`](crate::MessageRef) is the one definition of a message's
//! wire form while strings cost what the hand-written encoder cost.
//!
//! It supports what the message types use (structs with named fields,
//! strings, `i64`, `bool`, `Option`, unit enum variants) and writes the
//! same bytes as `serde_json` for them; anything else is an
//! [`EncodeError`], never a panic. Field names are written as they are:
//! they are the derive's names, which need no escaping (the tests compare
//! every row with `serde_json`, which would escape them).

use serde::ser::{self, Impossible, Serialize};

use crate::json;

/// Why a value could not be encoded: it uses a shape the read path's
/// encoder does not support (the message types use none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A serde data-model type outside the supported set.
    #[error("the message encoder does not support {0}")]
    Unsupported(&'static str),
    /// A `Serialize` implementation reported an error of its own.
    #[error("{0}")]
    Custom(String),
}

impl ser::Error for EncodeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        EncodeError::Custom(msg.to_string())
    }
}

/// Where the encoder writes: a buffer, or a byte count
/// ([`MessageRef::json_len`](crate::MessageRef::json_len)).
pub(crate) trait Out {
    /// Appends bytes that need no escaping.
    fn raw(&mut self, bytes: &[u8]);
    /// Appends `s` as a quoted JSON string.
    fn string(&mut self, s: &str);
    /// Appends an object's field name with its punctuation: `{"key":` for
    /// the first field, `,"key":` for the others.
    fn key(&mut self, first: bool, key: &str);
}

/// Field names up to this long are written in one append (see
/// [`Out::key`] for `Vec<u8>`).
const KEY_FAST_MAX: usize = 28;

impl Out for Vec<u8> {
    #[inline]
    fn raw(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    #[inline]
    fn string(&mut self, s: &str) {
        json::write_str(self, s);
    }

    #[inline]
    fn key(&mut self, first: bool, key: &str) {
        // One append per field, as a hand-written `,"key":` literal is:
        // each append is a capacity check, and a page writes ~10 per row.
        let lead: &[u8; 2] = if first { b"{\"" } else { b",\"" };
        let k = key.as_bytes();
        let mut buf = [0u8; KEY_FAST_MAX + 4];
        match buf.get_mut(..k.len() + 4) {
            Some(b) => {
                b[..2].copy_from_slice(lead);
                b[2..2 + k.len()].copy_from_slice(k);
                b[2 + k.len()..].copy_from_slice(b"\":");
                self.extend_from_slice(b);
            }
            None => {
                self.extend_from_slice(lead);
                self.extend_from_slice(k);
                self.extend_from_slice(b"\":");
            }
        }
    }
}

/// Counts the bytes the encoder would write.
#[derive(Debug, Default)]
pub(crate) struct Count(pub usize);

impl Out for Count {
    #[inline]
    fn raw(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }

    #[inline]
    fn string(&mut self, s: &str) {
        self.0 += json::str_len(s);
    }

    #[inline]
    fn key(&mut self, _first: bool, key: &str) {
        self.0 += key.len() + 4;
    }
}

/// Writes `value` as JSON into `out`. On an error, `out` holds a partial
/// value: the caller cuts it off.
#[inline]
pub(crate) fn write<O: Out, T: Serialize + ?Sized>(out: &mut O, value: &T) -> Result<(), EncodeError> {
    value.serialize(&mut Encoder { out })
}

/// The serializer itself, over one output.
struct Encoder<'o, O> {
    out: &'o mut O,
}

/// An open JSON object: whether a field was written yet.
struct Object<'e, 'o, O> {
    enc: &'e mut Encoder<'o, O>,
    first: bool,
}

fn unsupported<T>(what: &'static str) -> Result<T, EncodeError> {
    Err(EncodeError::Unsupported(what))
}

impl<'e, 'o, O: Out> ser::Serializer for &'e mut Encoder<'o, O> {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Impossible<(), EncodeError>;
    type SerializeTuple = Impossible<(), EncodeError>;
    type SerializeTupleStruct = Impossible<(), EncodeError>;
    type SerializeTupleVariant = Impossible<(), EncodeError>;
    type SerializeMap = Impossible<(), EncodeError>;
    type SerializeStruct = Object<'e, 'o, O>;
    type SerializeStructVariant = Impossible<(), EncodeError>;

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), EncodeError> {
        self.out.raw(if v { b"true" } else { b"false" });
        Ok(())
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), EncodeError> {
        self.out.raw(itoa::Buffer::new().format(v).as_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), EncodeError> {
        self.out.string(v);
        Ok(())
    }

    #[inline]
    fn serialize_none(self) -> Result<(), EncodeError> {
        self.out.raw(b"null");
        Ok(())
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), EncodeError> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), EncodeError> {
        self.out.string(variant);
        Ok(())
    }

    #[inline]
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Object<'e, 'o, O>, EncodeError> {
        // The `{` goes out with the first field name (or with `}`).
        Ok(Object { enc: self, first: true })
    }

    fn serialize_i8(self, _: i8) -> Result<(), EncodeError> {
        unsupported("i8")
    }
    fn serialize_i16(self, _: i16) -> Result<(), EncodeError> {
        unsupported("i16")
    }
    fn serialize_i32(self, _: i32) -> Result<(), EncodeError> {
        unsupported("i32")
    }
    fn serialize_u8(self, _: u8) -> Result<(), EncodeError> {
        unsupported("u8")
    }
    fn serialize_u16(self, _: u16) -> Result<(), EncodeError> {
        unsupported("u16")
    }
    fn serialize_u32(self, _: u32) -> Result<(), EncodeError> {
        unsupported("u32")
    }
    fn serialize_u64(self, _: u64) -> Result<(), EncodeError> {
        unsupported("u64")
    }
    fn serialize_f32(self, _: f32) -> Result<(), EncodeError> {
        unsupported("f32")
    }
    fn serialize_f64(self, _: f64) -> Result<(), EncodeError> {
        unsupported("f64")
    }
    fn serialize_char(self, _: char) -> Result<(), EncodeError> {
        unsupported("char")
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), EncodeError> {
        unsupported("bytes")
    }
    fn serialize_unit(self) -> Result<(), EncodeError> {
        unsupported("unit")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), EncodeError> {
        unsupported("unit struct")
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, _: &T) -> Result<(), EncodeError> {
        unsupported("newtype struct")
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), EncodeError> {
        unsupported("newtype variant")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, EncodeError> {
        unsupported("sequence")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, EncodeError> {
        unsupported("tuple")
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, EncodeError> {
        unsupported("tuple struct")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, EncodeError> {
        unsupported("tuple variant")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, EncodeError> {
        unsupported("map")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, EncodeError> {
        unsupported("struct variant")
    }
}

impl<O: Out> ser::SerializeStruct for Object<'_, '_, O> {
    type Ok = ();
    type Error = EncodeError;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), EncodeError> {
        self.enc.out.key(self.first, key);
        self.first = false;
        value.serialize(&mut *self.enc)
    }

    #[inline]
    fn end(self) -> Result<(), EncodeError> {
        self.enc.out.raw(if self.first { b"{}" } else { b"}" });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded<T: Serialize>(v: &T) -> Result<String, EncodeError> {
        let mut out = Vec::new();
        write(&mut out, v)?;
        let mut count = Count::default();
        write(&mut count, v)?;
        assert_eq!(count.0, out.len(), "the count is the length written");
        Ok(String::from_utf8(out).expect("JSON is UTF-8"))
    }

    #[derive(serde::Serialize)]
    struct Nested<'a> {
        a: Option<&'a str>,
        #[serde(rename = "b-b")]
        b: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        c: Option<i64>,
        d: Inner,
    }

    #[derive(serde::Serialize)]
    struct Inner {
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        x: bool,
        #[serde(rename = "a_field_name_longer_than_the_fast_path_takes")]
        long: Option<bool>,
    }

    #[test]
    fn supported_shapes_encode_like_serde_json() {
        for v in [
            Nested { a: Some("q\"\u{1}é"), b: true, c: Some(i64::MIN), d: Inner { x: true, long: Some(true) } },
            Nested { a: None, b: false, c: None, d: Inner { x: false, long: None } },
        ] {
            assert_eq!(encoded(&v).unwrap(), serde_json::to_string(&v).unwrap());
        }
    }

    #[derive(serde::Serialize)]
    struct Quiet {
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        x: bool,
    }

    #[test]
    fn an_object_with_every_field_left_out_is_empty() {
        assert_eq!(encoded(&Quiet { x: false }).unwrap(), "{}");
        assert_eq!(encoded(&Quiet { x: true }).unwrap(), serde_json::to_string(&Quiet { x: true }).unwrap());
    }

    #[test]
    fn other_shapes_are_errors_not_panics() {
        assert_eq!(encoded(&1.5f64), Err(EncodeError::Unsupported("f64")));
        assert_eq!(encoded(&vec![1i64]), Err(EncodeError::Unsupported("sequence")));
        assert_eq!(encoded(&7u64), Err(EncodeError::Unsupported("u64")));
        assert_eq!(encoded(&std::collections::BTreeMap::<String, i64>::new()), Err(EncodeError::Unsupported("map")));
        assert_eq!(encoded(&()), Err(EncodeError::Unsupported("unit")));
        assert_eq!(encoded(&'x'), Err(EncodeError::Unsupported("char")));
        assert_eq!(encoded(&(1i64, 2i64)), Err(EncodeError::Unsupported("tuple")));
    }
}
