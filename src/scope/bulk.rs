//! `bulkWrite`: each operation checked and rewritten into a statement of its write command
//! before anything is sent, so one refusal writes nothing, ordered or not.

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};

use super::error::{ScopeError, ScopeResult};
use super::{collation, insert, update, write, Scope};

/// The write command a statement belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Insert,
    Update,
    Delete,
}

/// One checked operation, as a statement of its write command.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Its position in the caller's list (write errors are reported by it).
    pub index: usize,
    pub kind: Kind,
    /// The statement as the command carries it (`{q, u, multi, ...}`, `{q, limit}`, or the
    /// stamped document).
    pub body: Document,
    /// The caller's filter of an update or delete, for `scope::bounds`.
    pub filter: Option<Document>,
    /// The caller gave this operation a collation (not the fence's simple pin).
    pub collated: bool,
}

/// The options each operation type may carry; anything else is refused by name.
const UPDATE_OPTIONS: &[&str] = &["upsert", "collation", "hint", "arrayFilters"];
const REPLACE_OPTIONS: &[&str] = &["upsert", "collation", "hint"];
const DELETE_OPTIONS: &[&str] = &["collation", "hint"];

fn arg(message: String) -> ScopeError {
    ScopeError::argument(message)
}

/// Checks and rewrites operation `index` of a batch (`pin_simple`: the call's collation
/// handling pins the simple collation; `fresh`: the `_id` an upsert would insert).
pub fn statement(
    base: &Scope,
    index: usize,
    op: Document,
    pin_simple: bool,
    fresh: ObjectId,
) -> ScopeResult<Statement> {
    let what = format!("operations[{index}]");
    if op.len() != 1 {
        return Err(arg(format!("{what} must have exactly one key such as insertOne")));
    }
    let (name, body) = op.into_iter().next().expect("one key");
    let Bson::Document(mut body) = body else {
        return Err(arg(format!("{what}.{name} must be an object")));
    };
    let what = format!("{what}.{name}");
    // `collation: null` (or undefined) means none, as in the driver; kept as null it skipped
    // the simple-collation pin below and let a collection default collation widen the match.
    match body.get("collation") {
        None | Some(Bson::Document(_)) => {}
        Some(Bson::Null | Bson::Undefined) => {
            body.remove("collation");
        }
        Some(_) => return Err(arg(format!("{what}.collation must be an object"))),
    }
    let collated = body.contains_key("collation");
    let scope = scope_for(base, &body);
    let (kind, mut s, filter) = match name.as_str() {
        "insertOne" => {
            let mut d = field(&mut body, "document", &what)?;
            insert::stamp(&scope, &mut d)?;
            copy_opts(&mut body, &mut Document::new(), &[], &what)?;
            (Kind::Insert, d, None)
        }
        "updateOne" | "updateMany" | "replaceOne" => {
            let upsert = match body.get("upsert") {
                None | Some(Bson::Null) => false,
                Some(Bson::Boolean(b)) => *b,
                Some(_) => return Err(arg(format!("{what}.upsert must be a boolean"))),
            };
            let user = field(&mut body, "filter", &what)?;
            let u = if name == "replaceOne" {
                let r = field(&mut body, "replacement", &what)?;
                Bson::Document(insert::stamp_replacement(&scope, r)?)
            } else {
                let raw = body
                    .remove("update")
                    .ok_or_else(|| arg(format!("{what}.update is required")))?;
                match write::scoped_update(&scope, Some(raw), &user, upsert, fresh)? {
                    update::Update::Modifiers(d) => Bson::Document(d),
                    update::Update::Pipeline(p) => {
                        Bson::Array(p.into_iter().map(Bson::Document).collect())
                    }
                }
            };
            let q = write::write_filter(&scope, user.clone(), upsert)?;
            let mut s = doc! { "q": q, "u": u, "multi": name == "updateMany" };
            let allowed = if name == "replaceOne" { REPLACE_OPTIONS } else { UPDATE_OPTIONS };
            copy_opts(&mut body, &mut s, allowed, &what)?;
            (Kind::Update, s, Some(user))
        }
        "deleteOne" | "deleteMany" => {
            let user = field(&mut body, "filter", &what)?;
            let q = write::write_filter(&scope, user.clone(), false)?;
            let mut s = doc! { "q": q, "limit": if name == "deleteOne" { 1 } else { 0 } };
            copy_opts(&mut body, &mut s, DELETE_OPTIONS, &what)?;
            (Kind::Delete, s, Some(user))
        }
        other => return Err(arg(format!("operations[{index}] has unknown type {other}"))),
    };
    // Same pinning as single writes: no collection default collation can widen the match.
    if pin_simple && kind != Kind::Insert && !collated {
        s.insert("collation", collation::simple());
    }
    Ok(Statement { index, kind, body: s, filter, collated })
}

/// A required document of one bulk operation. A missing filter is an error, as in the Node
/// driver: read as `{}`, `{ deleteMany: {} }` would delete every document of the tenant.
fn field(op: &mut Document, key: &str, what: &str) -> ScopeResult<Document> {
    match op.remove(key) {
        Some(Bson::Document(d)) => Ok(d),
        _ => Err(arg(format!("{what}.{key} must be an object"))),
    }
}

/// An operation with a non-simple collation of its own gets the collation-proof tenant match.
fn scope_for(base: &Scope, op: &Document) -> Scope {
    let mut s = base.clone();
    if let Ok(c) = op.get_document("collation") {
        s.collation_guard = s.collation_guard || !collation::is_simple(c);
    }
    s
}

fn copy_opts(from: &mut Document, to: &mut Document, keys: &[&str], what: &str) -> ScopeResult<()> {
    for k in keys {
        if let Some(v) = from.remove(*k) {
            to.insert(*k, v);
        }
    }
    if let Some((k, _)) = from.iter().next() {
        return Err(arg(format!("{what}.{k} is not supported")));
    }
    Ok(())
}

/// The command-level options of the write commands, in their wire names (the rest of the
/// call's options are read by the binding: `ordered`).
pub fn command_options(raw: &Document) -> Document {
    const PASSED: &[&str] =
        &["bypassDocumentValidation", "comment", "let", "writeConcern", "maxTimeMS"];
    raw.iter()
        .filter(|(k, _)| PASSED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{ErrorKind, Principal, Strategy};

    fn tenant() -> Scope {
        Scope::for_test(Principal::Tenant("a".into()), Strategy::Field)
    }

    fn plan(op: Document, pin: bool) -> ScopeResult<Statement> {
        statement(&tenant(), 3, op, pin, ObjectId::new())
    }

    #[test]
    fn each_operation_type_is_scoped() {
        let ins = plan(doc! { "insertOne": { "document": { "x": 1 } } }, true).unwrap();
        assert_eq!((ins.kind, ins.index), (Kind::Insert, 3));
        assert_eq!(ins.body.get_str("tenantId"), Ok("a"));
        assert!(!ins.body.contains_key("collation"), "inserts take no collation");
        let del = plan(doc! { "deleteMany": { "filter": { "x": 1 } } }, true).unwrap();
        assert_eq!(del.kind, Kind::Delete);
        assert_eq!(del.body.get_i32("limit"), Ok(0));
        assert!(del.body.get_document("q").unwrap().to_string().contains("\"a\""));
        assert_eq!(del.body.get_document("collation"), Ok(&collation::simple()));
        assert_eq!(del.filter, Some(doc! { "x": 1 }));
        let upd = plan(
            doc! { "updateOne": { "filter": {}, "update": { "$set": { "tenantId": "b" } } } },
            false,
        );
        assert_eq!(upd.unwrap_err().kind, ErrorKind::TenantViolation);
        let rep = plan(doc! { "replaceOne": { "filter": {}, "replacement": { "y": 1 } } }, false);
        assert_eq!(rep.unwrap().body.get_document("u").unwrap().get_str("tenantId"), Ok("a"));
    }

    #[test]
    fn collations_pin_or_twin() {
        let ci = doc! { "locale": "en", "strength": 2 };
        let own =
            plan(doc! { "deleteOne": { "filter": {}, "collation": ci.clone() } }, true).unwrap();
        assert!(own.collated);
        assert_eq!(own.body.get_document("collation"), Ok(&ci));
        assert!(own.body.get_document("q").unwrap().to_string().contains("$regex"), "twin");
        let null =
            plan(doc! { "deleteOne": { "filter": {}, "collation": Bson::Null } }, true).unwrap();
        assert!(!null.collated);
        assert_eq!(null.body.get_document("collation"), Ok(&collation::simple()));
        let unpinned = plan(doc! { "deleteOne": { "filter": {} } }, false).unwrap();
        assert!(!unpinned.body.contains_key("collation"));
    }

    #[test]
    fn malformed_operations_are_argument_errors() {
        let cases = [
            doc! {},
            doc! { "insertOne": { "document": {} }, "deleteOne": { "filter": {} } },
            doc! { "insertOne": 1 },
            doc! { "deleteOne": {} },
            doc! { "deleteOne": { "filter": {}, "upsert": true } },
            doc! { "replaceOne": { "filter": {}, "replacement": {}, "arrayFilters": [] } },
            doc! { "updateOne": { "filter": {}, "update": {}, "upsert": 1 } },
            doc! { "updateOne": { "filter": {} } },
            doc! { "insertOne": { "document": {}, "collation": "en" } },
            doc! { "dropCollection": {} },
        ];
        for op in cases {
            let e = plan(op.clone(), true).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{op}");
        }
    }

    #[test]
    fn only_write_command_options_pass() {
        let o = doc! { "ordered": false, "comment": "c", "let": { "v": 1 }, "writeConcern": { "w": 1 }, "bypassDocumentValidation": true, "maxTimeMS": 5, "other": 1 };
        let c = command_options(&o);
        assert_eq!(
            c.keys().collect::<Vec<_>>(),
            ["comment", "let", "writeConcern", "bypassDocumentValidation", "maxTimeMS"]
        );
    }
}
