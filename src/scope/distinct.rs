//! `distinct` as an aggregation, for servers whose `distinct` takes no `hint` (before 7.1):
//! without a hint its plan could walk another tenant's index keys (`scope::bounds`), and an
//! aggregation takes one. The stages reproduce how `distinct` reads a dotted key: at each
//! step an array is opened one level, an array inside an array is not entered, and the
//! last value, if an array, gives its elements (checked against the server's own
//! `distinct` in `__tests__/isolation/bounds.test.js`).

use bson::{doc, Bson, Document};

use super::error::ScopeError;

/// The field the stages leave each value in.
pub const VALUE: &str = "v";

/// Why a key has no stages.
#[derive(Debug, PartialEq)]
pub enum NoStages {
    /// Not a field path: the server's `distinct` refuses it with its own error, which the
    /// caller should get (ask it with a query that matches nothing, `nothing`).
    NotAPath,
    /// A path the aggregation language cannot read the way `distinct` does.
    Refused(ScopeError),
}

/// A filter that matches no document and makes the server examine none: what a `distinct`
/// sent only for the server's verdict on its key carries (with the tenant added).
pub fn nothing() -> Document {
    doc! { "_id": { "$in": [] } }
}

/// The stages after the scoped `$match` that turn matching documents into one document
/// `{_id: null, v: [<distinct values>]}` (none if nothing matched).
pub fn stages(key: &str) -> Result<Vec<Document>, NoStages> {
    let segments: Vec<&str> = key.split('.').collect();
    let bad = |s: &&str| s.is_empty() || s.starts_with('$') || s.contains('\0');
    if segments.iter().any(bad) {
        return Err(NoStages::NotAPath);
    }
    // A numeric segment is both a field name and an array position to the server's distinct;
    // the aggregation language has no such path, so it is refused rather than answered wrong.
    if segments.iter().any(|s| s.bytes().all(|b| b.is_ascii_digit())) {
        return Err(NoStages::Refused(ScopeError::argument(format!(
            "distinct key '{key}' has a numeric path segment: on MongoDB before 7.1 a tenant's distinct runs as an aggregation, which cannot read array positions; use aggregate"
        ))));
    }
    let value = format!("${VALUE}");
    let open =
        || doc! { "$unwind": { "path": value.as_str(), "preserveNullAndEmptyArrays": true } };
    let mut out =
        vec![doc! { "$project": { "_id": 0, VALUE: format!("${}", segments[0]) } }, open()];
    for s in &segments[1..] {
        // An array met inside an array is not entered: its values are not the key's.
        let step = doc! { "$cond": [{ "$isArray": value.as_str() }, "$$REMOVE", format!("${VALUE}.{s}") ] };
        out.push(doc! { "$project": { VALUE: step } });
        out.push(open());
    }
    // One group per value (equal under the call's collation, as distinct compares them), in
    // sorted order so the answer does not change from run to run; a missing value is none.
    out.push(doc! { "$match": { VALUE: { "$exists": true } } });
    out.push(doc! { "$group": { "_id": value.as_str() } });
    out.push(doc! { "$sort": { "_id": 1 } });
    out.push(doc! { "$group": { "_id": Bson::Null, VALUE: { "$push": "$_id" } } });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_per_segment() {
        assert_eq!(stages("k").unwrap().len(), 6);
        assert_eq!(stages("a.b.c").unwrap().len(), 10);
    }

    #[test]
    fn refuses_what_it_cannot_answer_exactly() {
        for bad in ["", "a..b", "$x", "a.$x", "a\0b"] {
            assert_eq!(stages(bad).unwrap_err(), NoStages::NotAPath, "{bad}");
        }
        for numeric in ["a.0", "0", "a.12.b"] {
            assert!(matches!(stages(numeric), Err(NoStages::Refused(_))), "{numeric}");
        }
    }
}
