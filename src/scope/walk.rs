//! Depth-limited traversal. Documents arrive from JavaScript as raw BSON; the
//! bson crate parses them recursively, so a hostile 10,000-deep document would
//! overflow the stack (an abort, not an error). `check_raw_depth` walks the raw
//! bytes with an explicit stack first and refuses anything too deep or malformed.

use bson::Document;

use super::error::{ScopeError, ScopeResult};

/// Deepest nesting (documents, arrays, code-with-scope scopes) any input may have.
pub const MAX_DEPTH: usize = 160;

/// Error for a recursive helper that went past `MAX_DEPTH`.
pub fn too_deep() -> ScopeError {
    ScopeError::argument(format!("document nesting exceeds {MAX_DEPTH} levels"))
}

fn malformed(what: impl std::fmt::Display) -> ScopeError {
    ScopeError::argument(format!("malformed BSON: {what}"))
}

/// Reads a little-endian i32 at `pos` that must lie before `limit`; negatives are malformed.
fn read_len(bytes: &[u8], pos: usize, limit: usize, what: &str) -> ScopeResult<usize> {
    let end = pos
        .checked_add(4)
        .filter(|&e| e <= limit)
        .ok_or_else(|| malformed(format!("{what} truncated")))?;
    let n = i32::from_le_bytes(bytes[pos..end].try_into().expect("4 bytes"));
    usize::try_from(n).map_err(|_| malformed(format!("negative {what}")))
}

/// Skips a NUL-terminated string starting at `pos`; the NUL must be before `limit`.
fn skip_cstring(bytes: &[u8], pos: usize, limit: usize, what: &str) -> ScopeResult<usize> {
    let slice = bytes.get(pos..limit).unwrap_or(&[]);
    match slice.iter().position(|&b| b == 0) {
        Some(i) => Ok(pos + i + 1),
        None => Err(malformed(format!("unterminated {what}"))),
    }
}

/// Skips a length-prefixed string (int32 length including the NUL, bytes, NUL).
fn skip_string(bytes: &[u8], pos: usize, limit: usize) -> ScopeResult<usize> {
    let len = read_len(bytes, pos, limit, "string length")?;
    if len == 0 {
        return Err(malformed("string length 0"));
    }
    let end = (pos + 4)
        .checked_add(len)
        .filter(|&e| e <= limit)
        .ok_or_else(|| malformed("string overruns its document"))?;
    if bytes[end - 1] != 0 {
        return Err(malformed("string not NUL-terminated"));
    }
    Ok(end)
}

/// Skips `n` fixed bytes.
fn skip_fixed(pos: usize, n: usize, limit: usize) -> ScopeResult<usize> {
    pos.checked_add(n)
        .filter(|&e| e <= limit)
        .ok_or_else(|| malformed("value overruns its document"))
}

/// Reads the length of an embedded document at `pos` and returns its end; it must fit before `limit`.
fn embedded_doc_end(bytes: &[u8], pos: usize, limit: usize) -> ScopeResult<usize> {
    let len = read_len(bytes, pos, limit, "document length")?;
    if len < 5 {
        return Err(malformed(format!("document length {len} is below 5")));
    }
    pos.checked_add(len)
        .filter(|&e| e <= limit)
        .ok_or_else(|| malformed("embedded document overruns its parent"))
}

/// Validates raw BSON structure and nesting without recursion; errors are `argument`.
pub fn check_raw_depth(bytes: &[u8], max: usize) -> ScopeResult<()> {
    check_raw(bytes, max, None)
}

/// Keys a document holds, to find one named twice (a list while short, then a set).
#[derive(Default)]
struct Keys<'b> {
    list: Vec<&'b [u8]>,
    set: std::collections::HashSet<&'b [u8]>,
}

impl<'b> Keys<'b> {
    /// Adds `k`; false when the document already named it.
    fn add(&mut self, k: &'b [u8]) -> bool {
        if self.set.is_empty() {
            if self.list.contains(&k) {
                return false;
            }
            self.list.push(k);
            if self.list.len() > 16 {
                self.set.extend(self.list.drain(..));
            }
            return true;
        }
        self.set.insert(k)
    }
}

/// `check_raw_depth`, and no document may name a key twice: a JS `Map` can, and then mongod
/// and the owner check read the first copy while a parsed tree keeps the last, so readers
/// would disagree on which value is meant. A repeated `field` (the tenant field) is a
/// `TENANT_VIOLATION`, any other repeated key an argument error.
pub fn check_raw(bytes: &[u8], max: usize, field: Option<&str>) -> ScopeResult<()> {
    if bytes.len() < 5 {
        return Err(malformed(format!("{} bytes is too short for a document", bytes.len())));
    }
    let total = read_len(bytes, 0, bytes.len(), "document length")?;
    if total != bytes.len() {
        return Err(malformed(format!(
            "declared length {total} but the buffer holds {} bytes",
            bytes.len()
        )));
    }
    let deeper = |depth: usize| -> ScopeResult<()> {
        if depth > max {
            Err(ScopeError::argument(format!("document nesting exceeds {max} levels")))
        } else {
            Ok(())
        }
    };
    deeper(1)?;
    // Each entry is the end (exclusive) of an open document; its last byte is the terminator.
    let mut stack: Vec<usize> = vec![total];
    // Beside each open document, its keys so far (`None` for arrays, whose keys are indexes).
    let mut keys: Vec<Option<Keys>> = vec![Some(Keys::default())];
    let mut pos = 4;
    while let Some(&end) = stack.last() {
        let term = end - 1;
        if pos == term {
            if bytes[pos] != 0 {
                return Err(malformed("document not NUL-terminated"));
            }
            stack.pop();
            keys.pop();
            pos = end;
            continue;
        }
        if pos > term {
            return Err(malformed("element overruns its document"));
        }
        let kind = bytes[pos];
        if kind == 0 {
            return Err(malformed("document ends before its declared length"));
        }
        let key_start = pos + 1;
        pos = skip_cstring(bytes, key_start, term, "field name")?;
        if let Some(Some(seen)) = keys.last_mut() {
            let key = &bytes[key_start..pos - 1];
            if !seen.add(key) {
                let name = String::from_utf8_lossy(key);
                return Err(if field.is_some_and(|f| f.as_bytes() == key) {
                    ScopeError::violation(format!(
                        "a document names the tenant field '{name}' more than once"
                    ))
                } else {
                    ScopeError::argument(format!(
                        "a document names the field '{name}' more than once"
                    ))
                });
            }
        }
        // A value must end at or before the enclosing document's terminator.
        pos = match kind {
            0x01 | 0x09 | 0x11 | 0x12 => skip_fixed(pos, 8, term)?, // double, date, timestamp, int64
            0x10 => skip_fixed(pos, 4, term)?,                      // int32
            0x08 => skip_fixed(pos, 1, term)?,                      // bool
            0x07 => skip_fixed(pos, 12, term)?,                     // ObjectId
            0x13 => skip_fixed(pos, 16, term)?,                     // decimal128
            0x06 | 0x0A | 0x7F | 0xFF => pos, // undefined, null, maxKey, minKey
            0x02 | 0x0D | 0x0E => skip_string(bytes, pos, term)?, // string, code, symbol
            0x0B => {
                // regex: pattern and options, both cstrings
                let p = skip_cstring(bytes, pos, term, "regex pattern")?;
                skip_cstring(bytes, p, term, "regex options")?
            }
            0x0C => {
                // DBPointer: namespace string + ObjectId
                let p = skip_string(bytes, pos, term)?;
                skip_fixed(p, 12, term)?
            }
            0x05 => {
                // binary: int32 length, subtype byte, bytes
                let len = read_len(bytes, pos, term, "binary length")?;
                skip_fixed(
                    pos + 4,
                    len.checked_add(1).ok_or_else(|| malformed("binary length"))?,
                    term,
                )?
            }
            0x03 | 0x04 => {
                let child_end = embedded_doc_end(bytes, pos, term)?;
                deeper(stack.len() + 1)?;
                stack.push(child_end);
                keys.push((kind == 0x03).then(Keys::default));
                pos + 4
            }
            0x0F => {
                // code with scope: int32 total, string, document; the parts must fill the total exactly
                let cws_len = read_len(bytes, pos, term, "code_w_scope length")?;
                let cws_end = pos
                    .checked_add(cws_len)
                    .filter(|&e| e <= term)
                    .ok_or_else(|| malformed("code_w_scope overruns its document"))?;
                let scope_start = skip_string(bytes, pos + 4, cws_end)?;
                let scope_end = embedded_doc_end(bytes, scope_start, cws_end)?;
                if scope_end != cws_end {
                    return Err(malformed("code_w_scope length does not match its parts"));
                }
                deeper(stack.len() + 1)?;
                stack.push(scope_end);
                keys.push(Some(Keys::default()));
                scope_start + 4
            }
            other => return Err(malformed(format!("unknown element type 0x{other:02X}"))),
        };
    }
    Ok(())
}

/// Checks raw bytes with `check_raw_depth(.., MAX_DEPTH)`, then parses them.
pub fn read_document(bytes: &[u8]) -> ScopeResult<Document> {
    check_raw_depth(bytes, MAX_DEPTH)?;
    Document::from_reader(bytes).map_err(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ErrorKind;
    use bson::{doc, spec::BinarySubtype, Binary, Bson, JavaScriptCodeWithScope, Regex, Timestamp};

    /// `{a: {a: ... {} }}` with `levels` documents in all, built without recursion.
    fn nested(levels: usize, kind: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(levels * 8);
        for i in 0..levels - 1 {
            let size = 5 + 8 * (levels - 1 - i);
            out.extend_from_slice(&(size as i32).to_le_bytes());
            out.extend_from_slice(&[kind, b'a', 0]);
        }
        out.extend_from_slice(&[5, 0, 0, 0, 0]);
        out.extend(std::iter::repeat_n(0u8, levels - 1));
        out
    }

    /// Appends a raw element (type, name, value bytes) to a serialized document.
    fn append_raw(doc_bytes: &mut Vec<u8>, kind: u8, name: &str, value: &[u8]) {
        doc_bytes.pop();
        doc_bytes.push(kind);
        doc_bytes.extend_from_slice(name.as_bytes());
        doc_bytes.push(0);
        doc_bytes.extend_from_slice(value);
        doc_bytes.push(0);
        let len = doc_bytes.len() as i32;
        doc_bytes[..4].copy_from_slice(&len.to_le_bytes());
    }

    fn every_type() -> Vec<u8> {
        let d = doc! {
            "double": 1.5,
            "string": "héllo",
            "doc": { "x": [1, { "y": null }] },
            "array": [1, "two", [3]],
            "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "uuid": Binary { subtype: BinarySubtype::Uuid, bytes: vec![7; 16] },
            "undef": Bson::Undefined,
            "oid": bson::oid::ObjectId::new(),
            "bool": true,
            "date": bson::DateTime::from_millis(0),
            "null": Bson::Null,
            "regex": Regex { pattern: "^a.*".into(), options: "i".into() },
            "code": Bson::JavaScriptCode("function(){}".into()),
            "symbol": Bson::Symbol("sym".into()),
            "cws": JavaScriptCodeWithScope { code: "x".into(), scope: doc! { "x": { "y": 1 } } },
            "int": 7i32,
            "ts": Timestamp { time: 1, increment: 2 },
            "long": 9i64,
            "dec": Bson::Decimal128(bson::Decimal128::from_bytes([3; 16])),
            "min": Bson::MinKey,
            "max": Bson::MaxKey,
        };
        let mut bytes = bson::to_vec(&d).unwrap();
        // DBPointer cannot be built through the crate's API: splice it in by hand.
        let mut ptr = Vec::new();
        ptr.extend_from_slice(&5i32.to_le_bytes());
        ptr.extend_from_slice(b"db.c\0");
        ptr.extend_from_slice(&[9; 12]);
        append_raw(&mut bytes, 0x0C, "ptr", &ptr);
        bytes
    }

    #[test]
    fn accepts_every_element_type() {
        let bytes = every_type();
        check_raw_depth(&bytes, MAX_DEPTH).unwrap();
        let d = read_document(&bytes).unwrap();
        assert_eq!(d.len(), 22);
    }

    #[test]
    fn ten_thousand_deep_is_refused_without_overflow() {
        for kind in [0x03, 0x04] {
            let bytes = nested(10_000, kind);
            let err = check_raw_depth(&bytes, MAX_DEPTH).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument);
            assert_eq!(err.message, "document nesting exceeds 160 levels");
            assert!(read_document(&bytes).is_err());
        }
    }

    #[test]
    fn depth_limit_is_exact() {
        check_raw_depth(&nested(160, 0x03), 160).unwrap();
        assert!(check_raw_depth(&nested(161, 0x03), 160).is_err());
        // A document at the limit parses.
        read_document(&nested(160, 0x04)).unwrap();
        check_raw_depth(&nested(1, 0x03), 1).unwrap();
        assert!(check_raw_depth(&nested(1, 0x03), 0).is_err());
    }

    #[test]
    fn deep_code_with_scope_counts_levels() {
        // Build cws scopes nested 200 deep: { c: cws("", { c: cws("", ... {} ) }) }
        let levels = 200;
        let mut inner = vec![5u8, 0, 0, 0, 0];
        for _ in 0..levels {
            let mut cws = Vec::new();
            let code = [1u8, 0, 0, 0, 0]; // empty code string
            let total = 4 + code.len() + inner.len();
            cws.extend_from_slice(&(total as i32).to_le_bytes());
            cws.extend_from_slice(&code);
            cws.extend_from_slice(&inner);
            let mut outer = vec![5u8, 0, 0, 0, 0];
            append_raw(&mut outer, 0x0F, "c", &cws);
            inner = outer;
        }
        let err = check_raw_depth(&inner, MAX_DEPTH).unwrap_err();
        assert!(err.message.contains("nesting"), "{}", err.message);
        check_raw_depth(&inner, 1000).unwrap();
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = every_type();
        for n in 0..bytes.len() {
            let mut cut = bytes[..n].to_vec();
            assert!(check_raw_depth(&cut, MAX_DEPTH).is_err(), "prefix {n}");
            // Also with the header rewritten to match the cut length.
            if cut.len() >= 5 {
                let len = cut.len() as i32;
                cut[..4].copy_from_slice(&len.to_le_bytes());
                if let Err(e) = check_raw_depth(&cut, MAX_DEPTH) {
                    assert_eq!(e.kind, ErrorKind::InvalidArgument);
                }
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let base = every_type();
        // Deterministic xorshift so failures reproduce.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut b = base.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            if check_raw_depth(&b, MAX_DEPTH).is_ok() {
                // Whatever passed the scan must parse or fail cleanly, never overflow.
                let _ = Document::from_reader(&b[..]);
            }
        }
        for _ in 0..5_000 {
            let len = (next() % 64) as usize;
            let b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = check_raw_depth(&b, MAX_DEPTH);
        }
    }

    #[test]
    fn hostile_headers() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "too short"),
            (vec![5, 0, 0, 0], "too short"),
            (vec![5, 0, 0, 0, 1], "terminated"),
            (vec![6, 0, 0, 0, 0, 0], "ends before"),
            (vec![0xFF, 0xFF, 0xFF, 0xFF, 0], "negative"),
            (vec![9, 0, 0, 0, 0, 0, 0, 0, 0], "ends before"),
            (vec![5, 0, 0, 0, 0, 0], "declared length"),
            // unknown type 0x20
            (vec![8, 0, 0, 0, 0x20, b'a', 0, 0], "unknown element type"),
            // field name runs into the terminator
            (vec![7, 0, 0, 0, 0x0A, b'a', 0], "unterminated field name"),
            // string claims a huge length
            (vec![12, 0, 0, 0, 0x02, b'a', 0, 0xFF, 0xFF, 0xFF, 0x7F, 0], "overruns"),
            // string of length 0
            (vec![12, 0, 0, 0, 0x02, b'a', 0, 0, 0, 0, 0, 0], "length 0"),
            // embedded document shorter than 5
            (vec![12, 0, 0, 0, 0x03, b'a', 0, 4, 0, 0, 0, 0], "below 5"),
            // embedded document longer than its parent
            (vec![13, 0, 0, 0, 0x03, b'a', 0, 6, 0, 0, 0, 0, 0], "overruns"),
            // negative binary length
            (vec![13, 0, 0, 0, 0x05, b'a', 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0], "negative"),
        ];
        for (bytes, needle) in cases {
            let err = check_raw_depth(&bytes, MAX_DEPTH).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{bytes:?}");
            assert!(err.message.contains(needle), "{bytes:?}: {}", err.message);
        }
    }

    #[test]
    fn code_with_scope_parts_must_fill_total() {
        let mut cws = Vec::new();
        cws.extend_from_slice(&(4 + 5 + 5 + 1i32).to_le_bytes()); // one byte too many
        cws.extend_from_slice(&[1, 0, 0, 0, 0]);
        cws.extend_from_slice(&[5, 0, 0, 0, 0]);
        cws.push(0);
        let mut d = vec![5u8, 0, 0, 0, 0];
        append_raw(&mut d, 0x0F, "c", &cws);
        let err = check_raw_depth(&d, MAX_DEPTH).unwrap_err();
        assert!(err.message.contains("code_w_scope"), "{}", err.message);
    }

    #[test]
    fn a_key_named_twice_is_refused_at_any_depth() {
        let mut inner = bson::RawDocumentBuf::new();
        inner.append("tenantId", "b");
        inner.append("x", 1);
        inner.append("tenantId", "a");
        let mut outer = bson::RawDocumentBuf::new();
        outer.append("document", inner.clone());
        let e = check_raw(outer.as_bytes(), MAX_DEPTH, Some("tenantId")).unwrap_err();
        assert_eq!(e.kind, crate::scope::ErrorKind::TenantViolation);
        let e = check_raw(outer.as_bytes(), MAX_DEPTH, Some("org")).unwrap_err();
        assert_eq!(e.kind, crate::scope::ErrorKind::InvalidArgument);
        assert!(e.message.contains("'tenantId' more than once"));
        // Past the list's length the set takes over.
        let mut many = bson::RawDocumentBuf::new();
        for i in 0..40 {
            many.append(format!("k{i}"), i);
        }
        assert!(check_raw(many.as_bytes(), MAX_DEPTH, None).is_ok());
        many.append("k33", 1);
        assert!(check_raw(many.as_bytes(), MAX_DEPTH, None).is_err());
        // The same key in sibling documents, and array indexes, are fine.
        let mut a = bson::RawDocumentBuf::new();
        a.append("x", inner.clone().into_bytes().len() as i32);
        let mut two = bson::RawDocumentBuf::new();
        two.append("a", a.clone());
        two.append("b", a);
        assert!(check_raw(two.as_bytes(), MAX_DEPTH, Some("x")).is_ok());
        let arr = bson::to_vec(&bson::doc! { "v": [1, 2, { "x": 1 }, { "x": 2 }] }).unwrap();
        assert!(check_raw(&arr, MAX_DEPTH, Some("x")).is_ok());
    }
}
