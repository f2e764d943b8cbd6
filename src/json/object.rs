//! A BSON document as the JS object js-bson builds from it, and that object's JSON.
//!
//! js-bson assigns each field in BSON order (`object[name] = value`; `__proto__` by
//! defineProperty, so it stays an ordinary own key). So a repeated key keeps its first place
//! and takes its last value, and V8 lists array-index keys first in ascending order, the rest
//! in insertion order. A field whose value is `undefined` is left out by JSON.stringify. A
//! document whose `$`-keys are all `$ref`/`$id`/`$db` and that passes `isDBRefLike` becomes a
//! DBRef, written by its `toJSON`.

use bson::{RawBsonRef, RawDocument};

use super::{keys, string, JsonError, Renderer, MAX_DEPTH};

/// `index` of a key that is no array index (every array index is below it).
const NOT_INDEX: u32 = u32::MAX;

/// Repeated keys are found by comparing every pair up to this many fields, by a map above.
const PAIRWISE_MAX: usize = 24;

/// One field of a document being written.
#[derive(Clone, Copy)]
pub(super) struct Entry<'a> {
    key: &'a str,
    value: RawBsonRef<'a>,
    /// The key as an array index, or NOT_INDEX.
    index: u32,
    /// False for a repeat of an earlier key, whose value the first place took.
    live: bool,
}

/// js-bson's `isPossibleDBRef`, read key by key.
#[derive(Clone, Copy, PartialEq)]
enum DollarKeys {
    None,
    OnlyDbRef,
    Other,
}

/// The parts of a DBRef as its constructor settles them.
struct DbRef<'a> {
    collection: &'a str,
    id: RawBsonRef<'a>,
    db: Option<&'a str>,
}

impl<'a> Renderer<'a, '_> {
    /// Writes a document as JSON.stringify writes js-bson's object (or DBRef) for it.
    pub(super) fn document(&mut self, doc: &'a RawDocument, depth: usize) -> Result<(), JsonError> {
        if depth >= MAX_DEPTH {
            return Err(JsonError::Unsupported("documents nested more than 256 levels deep"));
        }
        let start = self.entries.len();
        let mut dollar = DollarKeys::None;
        let mut any_index = false;
        for elem in doc.iter_elements() {
            let elem = elem?;
            let key = elem.key();
            // Every `$` key counts, repeats included, and one other than the three settles it.
            if dollar != DollarKeys::Other && key.starts_with('$') {
                dollar = if matches!(key, "$ref" | "$id" | "$db") {
                    DollarKeys::OnlyDbRef
                } else {
                    DollarKeys::Other
                };
            }
            let index = keys::array_index(key).unwrap_or(NOT_INDEX);
            any_index |= index != NOT_INDEX;
            self.entries.push(Entry { key, value: elem.value()?, index, live: true });
        }
        self.merge_repeats(start);
        if any_index {
            // Stable: the non-index keys (all NOT_INDEX) keep their order, after the indices.
            self.entries[start..].sort_by_key(|e| e.index);
        }
        let dbref =
            if dollar == DollarKeys::OnlyDbRef { dbref(&self.entries[start..]) } else { None };
        let result = match dbref {
            Some(r) => self.dbref(start, r, depth),
            None => self.object(start, depth),
        };
        self.entries.truncate(start);
        result
    }

    /// Gives a repeated key's last value to its first place and retires the repeats, each now
    /// holding a value it overwrote (still to be checked: js-bson decoded it).
    fn merge_repeats(&mut self, start: usize) {
        let fields = &mut self.entries[start..];
        let n = fields.len();
        if n <= PAIRWISE_MAX {
            for j in 1..n {
                if let Some(i) = (0..j).find(|&i| fields[i].live && fields[i].key == fields[j].key)
                {
                    take_over(fields, i, j);
                }
            }
            return;
        }
        self.seen.clear();
        for j in 0..n {
            match self.seen.entry(fields[j].key) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    take_over(fields, *first.get(), j)
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(j);
                }
            }
        }
    }

    fn object(&mut self, start: usize, depth: usize) -> Result<(), JsonError> {
        let end = self.entries.len();
        self.out.push(b'{');
        let mut first = true;
        for i in start..end {
            let e = self.entries[i];
            if e.live {
                self.field(&mut first, e.key, e.value, depth)?;
            } else {
                self.discard(e.value, depth)?;
            }
        }
        self.out.push(b'}');
        Ok(())
    }

    /// `DBRef.prototype.toJSON`: `Object.assign({ $ref, $id }, fields)`, then `$db` if set.
    fn dbref(&mut self, start: usize, r: DbRef<'a>, depth: usize) -> Result<(), JsonError> {
        let end = self.entries.len();
        self.out.push(b'{');
        let mut first = true;
        // The fields' array-index keys, which the assigned-to object lists before `$ref`.
        for i in start..end {
            let e = self.entries[i];
            if e.live && e.index != NOT_INDEX {
                self.field(&mut first, e.key, e.value, depth)?;
            }
        }
        self.field(&mut first, "$ref", RawBsonRef::String(r.collection), depth)?;
        self.field(&mut first, "$id", r.id, depth)?;
        for i in start..end {
            let e = self.entries[i];
            // `__proto__` is lost on the way: js-bson copies the fields with Object.assign,
            // whose assignment of `__proto__` sets the copy's prototype instead of a key.
            if !e.live || e.key == "__proto__" {
                self.discard(e.value, depth)?;
            } else if e.index == NOT_INDEX && !matches!(e.key, "$ref" | "$id" | "$db") {
                self.field(&mut first, e.key, e.value, depth)?;
            }
        }
        if let Some(db) = r.db {
            self.field(&mut first, "$db", RawBsonRef::String(db), depth)?;
        }
        self.out.push(b'}');
        Ok(())
    }

    /// A DBPointer, which js-bson decodes to `new DBRef(namespace, oid)`.
    pub(super) fn db_pointer(&mut self, namespace: &str, id_hex: &str) {
        let (collection, db) = split_namespace(namespace, None);
        self.out.extend_from_slice(b"{\"$ref\":");
        string::write_str(self.out, collection);
        self.out.extend_from_slice(b",\"$id\":\"");
        self.out.extend_from_slice(id_hex.as_bytes());
        self.out.push(b'"');
        if let Some(db) = db {
            self.out.extend_from_slice(b",\"$db\":");
            string::write_str(self.out, db);
        }
        self.out.push(b'}');
    }

    /// Renders a value js-bson decodes but JSON.stringify never reaches (a repeated key's
    /// earlier value, a DBRef's `__proto__`) and drops the bytes: a RegExp js-bson cannot build
    /// there, or a string that is not UTF-8, still makes it throw, so it must fail here too.
    fn discard(&mut self, value: RawBsonRef<'a>, depth: usize) -> Result<(), JsonError> {
        let mark = self.out.len();
        let result = self.value(value, depth + 1);
        self.out.truncate(mark);
        result
    }

    /// Writes `"key":value` after a comma if needed; nothing for an `undefined` value.
    fn field(
        &mut self,
        first: &mut bool,
        key: &str,
        value: RawBsonRef<'a>,
        depth: usize,
    ) -> Result<(), JsonError> {
        if matches!(value, RawBsonRef::Undefined) {
            return Ok(());
        }
        if !*first {
            self.out.push(b',');
        }
        *first = false;
        string::write_str(self.out, key);
        self.out.push(b':');
        self.value(value, depth + 1)
    }
}

/// Field `j` repeats field `i`'s key: `i` takes `j`'s value, `j` keeps the one it overwrote.
fn take_over(fields: &mut [Entry<'_>], i: usize, j: usize) {
    let last = fields[j].value;
    fields[j].value = fields[i].value;
    fields[i].value = last;
    fields[j].live = false;
}

/// The DBRef js-bson makes of these fields, if `isDBRefLike` holds for them.
fn dbref<'a>(fields: &[Entry<'a>]) -> Option<DbRef<'a>> {
    let get = |k: &str| fields.iter().find(|e| e.live && e.key == k).map(|e| e.value);
    // `$id` present and not null or undefined; `$ref` a string; `$db` absent or a string
    // (present as undefined counts as present). A symbol is a string after promoteValues.
    let id = get("$id").filter(|v| !matches!(v, RawBsonRef::Null | RawBsonRef::Undefined))?;
    let reference = match get("$ref")? {
        RawBsonRef::String(s) | RawBsonRef::Symbol(s) => s,
        _ => return None,
    };
    let db = match get("$db") {
        None => None,
        Some(RawBsonRef::String(s) | RawBsonRef::Symbol(s)) => Some(s),
        Some(_) => return None,
    };
    let (collection, db) = split_namespace(reference, db);
    Some(DbRef { collection, id, db })
}

/// DBRef's constructor: a collection name of exactly two dot-separated parts is `db.collection`,
/// and that db wins over the one given.
fn split_namespace<'a>(collection: &'a str, db: Option<&'a str>) -> (&'a str, Option<&'a str>) {
    match collection.split_once('.') {
        Some((d, c)) if !c.contains('.') => (c, Some(d)),
        _ => (collection, db),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_split_on_exactly_one_dot() {
        type Parts<'a> = (&'a str, Option<&'a str>);
        let table: &[(&str, Option<&str>, Parts)] = &[
            ("coll", None, ("coll", None)),
            ("coll", Some("d"), ("coll", Some("d"))),
            ("db.coll", None, ("coll", Some("db"))),
            ("db.coll", Some("other"), ("coll", Some("db"))),
            ("a.b.c", Some("d"), ("a.b.c", Some("d"))),
            (".coll", None, ("coll", Some(""))),
            ("db.", None, ("", Some("db"))),
            ("", None, ("", None)),
        ];
        for (collection, db, want) in table {
            assert_eq!(split_namespace(collection, *db), *want, "{collection:?}");
        }
    }
}
