//! How many documents a call read and wrote, from its reply (`{ v: … }`, as the binding
//! hands it to JS), so counting costs a walk of the reply's top level and nothing more.

use bson::{RawBsonRef, RawDocument};

/// The counts of a write result the server reports; their sum is what the call wrote.
const WRITTEN: [&str; 4] = ["insertedCount", "modifiedCount", "deletedCount", "upsertedCount"];

/// `(documents read, documents written)` by a call of `operation` that replied `reply`. Decided by
/// the operation, never by the reply's shape: a document a tenant reads may look like a result.
pub fn documents(operation: &str, reply: &[u8]) -> (u64, u64) {
    let Ok(doc) = RawDocument::from_bytes(reply) else { return (0, 0) };
    let Ok(Some(v)) = doc.get("v") else { return (0, 0) };
    let found = u64::from(matches!(v, RawBsonRef::Document(_)));
    let written = |keys: &[&str]| match v {
        RawBsonRef::Document(d) => {
            keys.iter().filter_map(|k| count(d, k)).fold(0u64, u64::saturating_add)
        }
        _ => 0,
    };
    match operation {
        "findOne" => (found, 0),
        // The document before or after; a write happened when there is one (an upsert that
        // returns the document before it counts none).
        "findOneAndUpdate" | "findOneAndReplace" | "findOneAndDelete" => (found, found),
        "insertOne" => (0, found),
        "insertMany" => (0, written(&["insertedCount"])),
        "updateOne" | "updateMany" | "replaceOne" => {
            (0, written(&["modifiedCount", "upsertedCount"]))
        }
        "deleteOne" | "deleteMany" => (0, written(&["deletedCount"])),
        "bulkWrite" => (0, written(&WRITTEN)),
        // Listings (indexes, collections) hand back documents; counts and distinct values do not.
        "listIndexes" | "listCollections" | "indexes" => match v {
            RawBsonRef::Array(a) => (a.into_iter().count() as u64, 0),
            _ => (0, 0),
        },
        _ => (0, 0),
    }
}

fn count(d: &RawDocument, key: &str) -> Option<u64> {
    match d.get(key).ok()?? {
        RawBsonRef::Int32(n) => Some(n.max(0) as u64),
        RawBsonRef::Int64(n) => Some(n.max(0) as u64),
        RawBsonRef::Double(n) if n >= 0.0 => Some(n as u64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, Bson};

    fn reply(v: impl Into<Bson>) -> Vec<u8> {
        bson::to_vec(&doc! { "v": v.into() }).unwrap()
    }

    #[test]
    fn reads_and_writes_by_reply() {
        let one = doc! { "_id": 1, "a": 2 };
        for (op, v, want) in [
            ("findOne", Bson::Document(one.clone()), (1, 0)),
            ("findOne", Bson::Null, (0, 0)),
            ("insertOne", Bson::Document(doc! { "acknowledged": true, "insertedId": 1 }), (0, 1)),
            ("insertMany", Bson::Document(doc! { "insertedCount": 3, "insertedIds": {} }), (0, 3)),
            (
                "updateMany",
                Bson::Document(doc! { "matchedCount": 5, "modifiedCount": 4, "upsertedCount": 0 }),
                (0, 4),
            ),
            (
                "updateOne",
                Bson::Document(doc! { "matchedCount": 0, "modifiedCount": 0, "upsertedCount": 1 }),
                (0, 1),
            ),
            ("deleteMany", Bson::Document(doc! { "deletedCount": 7_i64 }), (0, 7)),
            (
                "bulkWrite",
                Bson::Document(
                    doc! { "insertedCount": 1, "modifiedCount": 2, "deletedCount": 3, "upsertedCount": 4 },
                ),
                (0, 10),
            ),
            ("findOneAndUpdate", Bson::Document(one.clone()), (1, 1)),
            ("findOneAndDelete", Bson::Null, (0, 0)),
            ("distinct", Bson::Array(vec![1.into(), 2.into()]), (0, 0)),
            ("countDocuments", Bson::Int64(9), (0, 0)),
            (
                "listIndexes",
                Bson::Array(vec![Bson::Document(one.clone()), Bson::Document(one)]),
                (2, 0),
            ),
        ] {
            assert_eq!(documents(op, &reply(v.clone())), want, "{op} {v}");
        }
    }

    #[test]
    fn a_reply_it_cannot_read_counts_nothing() {
        assert_eq!(documents("findOne", b"not bson"), (0, 0));
        assert_eq!(documents("findOne", &bson::to_vec(&doc! { "x": 1 }).unwrap()), (0, 0));
        assert_eq!(documents("deleteOne", &reply(doc! { "deletedCount": -1 })), (0, 0));
    }
}
