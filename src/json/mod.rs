//! A server batch (concatenated BSON documents) rendered as the exact bytes of
//! `Buffer.from(JSON.stringify(docs))`, where `docs` is what js-bson 6.10 decodes the batch to
//! with lib/codec.js `READ` (`promoteLongs`, `promoteValues`, no `promoteBuffers`, no
//! `useBigInt64`, no `bsonRegExp`), without building the JS objects. Pure: no napi.
//!
//! Each BSON type renders as JSON.stringify renders js-bson's value for it (see `value`); an
//! input this cannot reproduce byte for byte is an error, never other bytes, and the caller
//! falls back to the JS path. The files beside this one each do one job: `number` (doubles,
//! int64 promotion), `string` (quoting), `date` (toISOString), `decimal` (Decimal128's
//! toString), `bytes` (base64, hex, UUID), `keys` (which keys a JS object lists first),
//! `object` (a document as js-bson assigns its keys, DBRef), `regex` (whether js-bson's
//! RegExp constructor would throw).

mod bytes;
mod date;
mod decimal;
mod keys;
mod number;
mod object;
mod regex;
mod string;

use std::collections::HashMap;
use std::fmt;

use bson::spec::BinarySubtype;
use bson::{RawArray, RawBsonRef, RawDocument};

/// Why a batch was not rendered; the caller then renders it through js-bson.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Bytes the bson crate refuses: js-bson throws on them too, but for a key or regex that is
    /// not UTF-8, which js-bson decodes with replacement characters.
    Malformed(String),
    /// Bytes js-bson decodes (or may decode) to something this renderer does not reproduce.
    Unsupported(&'static str),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Malformed(why) => write!(f, "malformed BSON: {why}"),
            JsonError::Unsupported(what) => write!(f, "not rendered as JSON: {what}"),
        }
    }
}

impl std::error::Error for JsonError {}

impl From<bson::raw::Error> for JsonError {
    fn from(e: bson::raw::Error) -> Self {
        JsonError::Malformed(e.to_string())
    }
}

/// Deeper nesting is refused: the walk recurses, and MongoDB stores no document nested deeper
/// than 100 levels (a reply can add a few), so this is a bound on our stack, not on real data.
const MAX_DEPTH: usize = 256;

/// Appends the JSON array JSON.stringify gives for these concatenated documents decoded by js-bson.
pub fn render_array(docs: &[u8], out: &mut Vec<u8>) -> Result<(), JsonError> {
    let mark = out.len();
    // Output is a little larger than BSON for string-heavy documents and smaller for numeric
    // ones: one reservation covers most batches without a regrowth.
    out.reserve(docs.len() + docs.len() / 4 + 2);
    let mut r = Renderer { out, entries: Vec::new(), seen: HashMap::new() };
    let result = r.batch(docs);
    if result.is_err() {
        // No half-written array for a caller that renders the batch again another way.
        out.truncate(mark);
    }
    result
}

struct Renderer<'a, 'o> {
    out: &'o mut Vec<u8>,
    /// The fields of the documents being written, innermost last: one allocation for a batch.
    entries: Vec<object::Entry<'a>>,
    /// First positions of keys in a document with many keys, to find repeated keys.
    seen: HashMap<&'a str, usize>,
}

impl<'a> Renderer<'a, '_> {
    fn batch(&mut self, docs: &'a [u8]) -> Result<(), JsonError> {
        self.out.push(b'[');
        let mut at = 0;
        while at < docs.len() {
            let len = docs
                .get(at..at + 4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| JsonError::Malformed("the batch ends inside a length".into()))?;
            if len < 5 || len as usize > docs.len() - at {
                return Err(JsonError::Malformed(format!(
                    "a document length of {len} at byte {at}"
                )));
            }
            let doc = RawDocument::from_bytes(&docs[at..at + len as usize])?;
            if at > 0 {
                self.out.push(b',');
            }
            self.document(doc, 0)?;
            at += len as usize;
        }
        self.out.push(b']');
        Ok(())
    }

    /// Writes one value as JSON.stringify writes what js-bson decodes it to.
    fn value(&mut self, v: RawBsonRef<'a>, depth: usize) -> Result<(), JsonError> {
        let out = &mut *self.out;
        match v {
            RawBsonRef::Double(f) => number::write_f64(out, f),
            RawBsonRef::Int32(i) => number::write_i64(out, i64::from(i)),
            RawBsonRef::Int64(i) => number::write_int64(out, i),
            // promoteValues turns a symbol into a plain string.
            RawBsonRef::String(s) | RawBsonRef::Symbol(s) => string::write_str(out, s),
            RawBsonRef::Boolean(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            // Undefined reaches here only as an array element: an object leaves its key out.
            RawBsonRef::Null | RawBsonRef::Undefined => out.extend_from_slice(b"null"),
            RawBsonRef::ObjectId(id) => {
                out.push(b'"');
                bytes::write_hex(out, &id.bytes());
                out.push(b'"');
            }
            RawBsonRef::DateTime(d) => date::write_date(out, d.timestamp_millis()),
            RawBsonRef::Binary(b) => {
                out.push(b'"');
                // A 16-byte subtype 4 becomes a UUID (dashed hex); any other Binary is base64
                // of its bytes (subtype 2's without their inner length, as the bson crate
                // gives them).
                match (b.subtype, <&[u8; 16]>::try_from(b.bytes)) {
                    (BinarySubtype::Uuid, Ok(id)) => bytes::write_uuid(out, id),
                    _ => bytes::write_base64(out, b.bytes),
                }
                out.push(b'"');
            }
            RawBsonRef::Decimal128(d) => {
                out.extend_from_slice(b"{\"$numberDecimal\":\"");
                decimal::write_decimal128(out, &d.bytes());
                out.extend_from_slice(b"\"}");
            }
            RawBsonRef::Timestamp(t) => {
                // `{ $timestamp: toString() }` of the unsigned 64-bit value, time high.
                out.extend_from_slice(b"{\"$timestamp\":\"");
                number::write_u64(out, u64::from(t.time) << 32 | u64::from(t.increment));
                out.extend_from_slice(b"\"}");
            }
            // A JS RegExp, a MinKey and a MaxKey have no enumerable own properties.
            RawBsonRef::RegularExpression(re) => {
                regex::check(re.pattern, re.options).map_err(JsonError::Unsupported)?;
                out.extend_from_slice(b"{}");
            }
            RawBsonRef::MinKey | RawBsonRef::MaxKey => out.extend_from_slice(b"{}"),
            RawBsonRef::JavaScriptCode(code) => {
                out.extend_from_slice(b"{\"code\":");
                string::write_str(out, code);
                out.push(b'}');
            }
            RawBsonRef::JavaScriptCodeWithScope(c) => {
                out.extend_from_slice(b"{\"code\":");
                string::write_str(out, c.code);
                out.extend_from_slice(b",\"scope\":");
                self.document(c.scope, depth)?;
                self.out.push(b'}');
            }
            RawBsonRef::DbPointer(p) => {
                let (namespace, id) = db_pointer(p)?;
                self.db_pointer(&namespace, &id);
            }
            RawBsonRef::Document(d) => self.document(d, depth)?,
            RawBsonRef::Array(a) => self.array(a, depth)?,
        }
        Ok(())
    }

    fn array(&mut self, a: &'a RawArray, depth: usize) -> Result<(), JsonError> {
        if depth >= MAX_DEPTH {
            return Err(JsonError::Unsupported("documents nested more than 256 levels deep"));
        }
        // js-bson appends an array's elements in order and never reads their keys: no holes,
        // no reordering, whatever the keys say.
        self.out.push(b'[');
        for (i, v) in a.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.value(v?, depth + 1)?;
        }
        self.out.push(b']');
        Ok(())
    }
}

/// A DBPointer's namespace and id (hex). The bson crate keeps both private, so this goes
/// through its extended JSON: a deprecated type, rare enough not to need a faster way.
fn db_pointer(p: bson::RawDbPointerRef<'_>) -> Result<(String, String), JsonError> {
    let bson = bson::Bson::try_from(RawBsonRef::DbPointer(p).to_raw_bson())?;
    let json = bson.into_relaxed_extjson();
    let parts = &json["$dbPointer"];
    match (parts["$ref"].as_str(), parts["$id"]["$oid"].as_str()) {
        (Some(ns), Some(id)) => Ok((ns.to_owned(), id.to_owned())),
        _ => Err(JsonError::Unsupported("a DBPointer the bson crate did not give back")),
    }
}

#[cfg(test)]
mod tests;
