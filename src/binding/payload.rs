//! Request and reply bodies: JS sends one BSON document per call and gets one back,
//! so values keep their exact BSON types both ways and the crossing is a byte copy.

use bson::{Bson, Document, RawBsonRef, RawDocument, RawDocumentBuf};

use super::error::{arg, FenceResult};
use crate::scope::walk;

/// A decoded request document, taken apart field by field.
#[derive(Clone)]
pub struct Request(pub Document);

impl Request {
    /// Checks depth, well-formedness and repeated keys (`field` is the tenant field) on the
    /// raw bytes before any recursive parse.
    pub fn decode(bytes: &[u8], field: Option<&str>) -> FenceResult<Self> {
        walk::check_raw(bytes, walk::MAX_DEPTH, field)?;
        Ok(Request(document(bytes).map_err(|e| arg(format!("malformed request: {e}")))?))
    }

    /// Caps `options.maxTimeMS` at the tenant's quota (`scope::quota::cap_max_time`); options
    /// that are not a document are left for the method's own error.
    pub fn cap_max_time(&mut self, limits: Option<&crate::scope::quota::Limits>) {
        let Some(limits) = limits.filter(|l| l.max_time_ms.is_some()) else { return };
        match self.0.get_mut("options") {
            Some(Bson::Document(o)) => crate::scope::quota::cap_max_time(o, limits),
            None | Some(Bson::Null) => {
                let mut o = Document::new();
                crate::scope::quota::cap_max_time(&mut o, limits);
                self.0.insert("options", o);
            }
            Some(_) => {}
        }
    }

    /// A required document argument.
    pub fn doc(&mut self, key: &str, name: &str) -> FenceResult<Document> {
        match self.0.remove(key) {
            Some(Bson::Document(d)) => Ok(d),
            None | Some(Bson::Null) => Err(arg(format!("{name} must be an object"))),
            Some(_) => Err(arg(format!("{name} must be an object"))),
        }
    }

    /// An optional document argument that defaults to `{}`.
    pub fn doc_or_empty(&mut self, key: &str, name: &str) -> FenceResult<Document> {
        match self.0.remove(key) {
            None | Some(Bson::Null) => Ok(Document::new()),
            Some(Bson::Document(d)) => Ok(d),
            Some(_) => Err(arg(format!("{name} must be an object"))),
        }
    }

    /// A required array of documents.
    pub fn docs(&mut self, key: &str, name: &str) -> FenceResult<Vec<Document>> {
        match self.0.remove(key) {
            Some(Bson::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, b)| match b {
                    Bson::Document(d) => Ok(d),
                    _ => Err(arg(format!("{name}[{i}] must be an object"))),
                })
                .collect(),
            _ => Err(arg(format!("{name} must be an array"))),
        }
    }

    /// Any value, as sent.
    pub fn value(&mut self, key: &str) -> Option<Bson> {
        self.0.remove(key)
    }

    /// A required string argument.
    pub fn string(&mut self, key: &str, name: &str) -> FenceResult<String> {
        match self.0.remove(key) {
            Some(Bson::String(s)) => Ok(s),
            _ => Err(arg(format!("{name} must be a string"))),
        }
    }
}

/// A request kept as bytes: inserts pass documents on without parsing them into trees.
pub struct RawRequest<'b>(&'b RawDocument);

impl<'b> RawRequest<'b> {
    /// Checks depth, framing and repeated keys (`field` is the tenant field); nested values
    /// are read only where needed.
    pub fn decode(bytes: &'b [u8], field: Option<&str>) -> FenceResult<Self> {
        walk::check_raw(bytes, walk::MAX_DEPTH, field)?;
        let doc =
            RawDocument::from_bytes(bytes).map_err(|e| arg(format!("malformed request: {e}")))?;
        Ok(RawRequest(doc))
    }

    fn get(&self, key: &str) -> FenceResult<Option<RawBsonRef<'b>>> {
        self.0.get(key).map_err(|e| arg(format!("malformed request: {e}")))
    }

    /// The `options` argument as a document (`{}` when absent).
    pub fn options(&self) -> FenceResult<Document> {
        match self.get("options")? {
            None | Some(RawBsonRef::Null) => Ok(Document::new()),
            Some(RawBsonRef::Document(d)) => {
                Document::try_from(d).map_err(|e| arg(format!("malformed options: {e}")))
            }
            Some(_) => Err(arg("options must be an object")),
        }
    }

    /// A required document argument, as bytes.
    pub fn doc(&self, key: &str, name: &str) -> FenceResult<&'b RawDocument> {
        match self.get(key)? {
            Some(RawBsonRef::Document(d)) => Ok(d),
            _ => Err(arg(format!("{name} must be an object"))),
        }
    }

    /// A required array of documents, as bytes.
    pub fn docs(&self, key: &str, name: &str) -> FenceResult<Vec<&'b RawDocument>> {
        let Some(RawBsonRef::Array(items)) = self.get(key)? else {
            return Err(arg(format!("{name} must be an array")));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Ok(RawBsonRef::Document(d)) => Ok(d),
                Ok(_) => Err(arg(format!("{name}[{i}] must be an object"))),
                Err(e) => Err(arg(format!("malformed request: {e}"))),
            })
            .collect()
    }
}

/// A document read from BSON bytes element by element. Not through serde (`from_reader`,
/// `from_slice`): serde reads a sub-document whose keys look like extended JSON (`$oid`,
/// `$numberLong`, `$date` …) as that BSON value, dropping its other keys, so a stored field
/// `{ k: 1, $date: … }` became a Date (red-team round 22).
pub fn document(bytes: &[u8]) -> Result<Document, bson::raw::Error> {
    Document::try_from(bson::RawDocument::from_bytes(bytes)?)
}

/// Encodes `{v: value}`, the one reply shape JS unwraps.
pub fn reply(value: impl Into<Bson>) -> Vec<u8> {
    let mut d = Document::new();
    d.insert("v", value.into());
    bson::to_vec(&d).expect("a reply built from BSON values always encodes")
}

/// Encodes `{v: doc}` (or `{v: null}`) without decoding a raw server document.
pub fn reply_raw(doc: Option<RawDocumentBuf>) -> FenceResult<Vec<u8>> {
    let mut out = RawDocumentBuf::new();
    match doc {
        Some(d) => out.append("v", d),
        None => out.append("v", bson::RawBson::Null),
    }
    Ok(out.into_bytes())
}

/// The non-negative number at `k` of a server reply (`n`, `nModified`, an index), whatever its
/// number type; 0 when absent.
pub fn uint(d: &Document, k: &str) -> u64 {
    match d.get(k) {
        Some(Bson::Int32(n)) => *n as u64,
        Some(Bson::Int64(n)) => *n as u64,
        Some(Bson::Double(f)) => *f as u64,
        _ => 0,
    }
}

/// A count as the smallest BSON number that holds it (JS reads a plain number).
pub fn count(n: u64) -> Bson {
    if n <= i32::MAX as u64 {
        Bson::Int32(n as i32)
    } else {
        Bson::Double(n as f64)
    }
}
