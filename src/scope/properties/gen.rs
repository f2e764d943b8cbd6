//! Generators for the property tests: BSON trees of every type whose keys and
//! strings are biased towards what the rules look at (operators, stage names,
//! the tenant field and paths into it, the tenant's own id and another's), so
//! random input reaches the interesting branches instead of failing on shape.

use bson::{
    doc, oid::ObjectId, spec::BinarySubtype, Binary, Bson, DateTime, Decimal128, Document,
    JavaScriptCodeWithScope, Regex, Timestamp,
};
use proptest::prelude::*;

/// The tenant every tested scope runs as, and the field it lives in.
pub const TENANT: &str = "acme";
pub const FIELD: &str = "tenantId";

/// Keys the rules branch on.
const KEYS: &[&str] = &[
    "$and",
    "$or",
    "$nor",
    "$not",
    "$expr",
    "$where",
    "$eq",
    "$ne",
    "$in",
    "$regex",
    "$type",
    "$elemMatch",
    "$text",
    "$literal",
    "$mergeObjects",
    "$comment",
    "$jsonSchema",
    // stages
    "$match",
    "$lookup",
    "$unionWith",
    "$graphLookup",
    "$facet",
    "$geoNear",
    "$out",
    "$merge",
    "$documents",
    "$collStats",
    "$indexStats",
    "$currentOp",
    "$replaceWith",
    "$replaceRoot",
    "$project",
    "$set",
    "$addFields",
    "$unset",
    "$group",
    "$sort",
    "$limit",
    "$search",
    // update operators
    "$setOnInsert",
    "$rename",
    "$inc",
    "$push",
    "$pull",
    "$currentDate",
    "$bit",
    "$pop",
    // stage arguments
    "from",
    "coll",
    "pipeline",
    "localField",
    "foreignField",
    "as",
    "restrictSearchWithMatch",
    "query",
    "newRoot",
    "let",
    "startWith",
    "connectFromField",
    "connectToField",
    "db",
    // collation options
    "locale",
    "strength",
    "alternate",
    "numericOrdering",
    "caseLevel",
    "caseFirst",
    "maxVariable",
    "normalization",
    "backwards",
    "version",
    // the tenant field and paths into it
    FIELD,
    "tenantId.x",
    "tenantId.$",
    "tenantId.0",
    "tenantIdx",
    "TenantId",
    "tenantId.",
    "_id",
    "a",
    "a.b",
    "",
];

/// Strings the rules compare against.
const STRINGS: &[&str] = &[
    TENANT,
    "other",
    "ACME",
    "acme\n",
    "acme\0",
    "$tenantId",
    "$$ROOT",
    "$$CURRENT",
    "tenantId",
    "tenantId.x",
    "simple",
    "en",
    "en@collation=search",
    "non-ignorable",
    "shifted",
    "punct",
    "c",
    "other.c",
    "",
];

/// A key: mostly from `KEYS`, sometimes arbitrary (no NUL: BSON keys are C strings).
pub fn key() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => "[$a-zA-Z0-9_.]{0,8}",
        1 => "[^\u{0}]{0,6}",
    ]
}

/// A string value: mostly from `STRINGS`, sometimes arbitrary (NUL allowed in values).
pub fn string() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => proptest::sample::select(STRINGS).prop_map(str::to_string),
        1 => ".{0,8}",
        1 => "\\$[a-zA-Z.]{0,6}",
    ]
}

/// A C string (regex pattern/options): anything but NUL.
fn cstring() -> impl Strategy<Value = String> + Clone {
    "[^\u{0}]{0,6}"
}

/// Every BSON type that is not a container (DBPointer has no public constructor in
/// the bson crate; walk.rs tests it from raw bytes).
pub fn leaf() -> impl Strategy<Value = Bson> + Clone {
    prop_oneof![
        any::<f64>().prop_map(Bson::Double),
        string().prop_map(Bson::String),
        any::<bool>().prop_map(Bson::Boolean),
        Just(Bson::Null),
        Just(Bson::Undefined),
        any::<i32>().prop_map(Bson::Int32),
        prop_oneof![Just(0i32), Just(1), Just(3), Just(-1)].prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        any::<i64>().prop_map(|ms| Bson::DateTime(DateTime::from_millis(ms))),
        any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(s, bytes)| {
            // Old binary (0x02) has its own inner length; the crate handles it, keep it in.
            Bson::Binary(Binary { subtype: BinarySubtype::from(s), bytes })
        }),
        (cstring(), "[imsux]{0,3}")
            .prop_map(|(pattern, options)| Bson::RegularExpression(Regex { pattern, options })),
        string().prop_map(Bson::JavaScriptCode),
        string().prop_map(Bson::Symbol),
        (any::<u32>(), any::<u32>())
            .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
        any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(Decimal128::from_bytes(b))),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
    ]
}

/// A document built from `(key, value)` pairs (later duplicates replace earlier ones).
fn document_of(entries: Vec<(String, Bson)>) -> Document {
    entries.into_iter().collect()
}

/// Any BSON value, nested up to about `depth` containers.
pub fn bson(depth: u32) -> impl Strategy<Value = Bson> + Clone {
    leaf().prop_recursive(depth, 96, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Bson::Array),
            proptest::collection::vec((key(), inner.clone()), 0..6)
                .prop_map(|e| Bson::Document(document_of(e))),
            (string(), proptest::collection::vec((key(), inner), 0..4)).prop_map(|(code, e)| {
                Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                    code,
                    scope: document_of(e),
                })
            }),
        ]
    })
}

/// Any document, nested up to about `depth` containers.
pub fn document(depth: u32) -> impl Strategy<Value = Document> + Clone {
    proptest::collection::vec((key(), bson(depth)), 0..6).prop_map(document_of)
}

/// Stage names, allowed and refused.
const STAGES: &[&str] = &[
    "$match",
    "$project",
    "$set",
    "$addFields",
    "$unset",
    "$group",
    "$sort",
    "$limit",
    "$count",
    "$unwind",
    "$replaceRoot",
    "$replaceWith",
    "$redact",
    "$sample",
    "$geoNear",
    "$out",
    "$merge",
    "$documents",
    "$collStats",
    "$indexStats",
    "$currentOp",
    "$changeStream",
    "$search",
    "$bogus",
];

/// A pipeline whose stages are mostly well-shaped, with `$lookup`, `$unionWith`,
/// `$graphLookup` and `$facet` nesting further pipelines, so the Ok path is exercised.
pub fn pipeline(depth: u32) -> impl Strategy<Value = Vec<Document>> + Clone {
    let simple_stage = prop_oneof![
        4 => (proptest::sample::select(STAGES), bson(2))
            .prop_map(|(name, body)| doc! { name: body }),
        1 => document(2),
    ];
    let flat = proptest::collection::vec(simple_stage.clone(), 0..4);
    flat.prop_recursive(depth, 64, 4, move |inner| {
        let sub =
            inner.clone().prop_map(|p| Bson::Array(p.into_iter().map(Bson::Document).collect()));
        let nested_stage = prop_oneof![
            (string(), sub.clone(), any::<bool>()).prop_map(|(from, p, with_pipeline)| {
                let mut spec = doc! { "from": from, "as": "out" };
                if with_pipeline {
                    spec.insert("pipeline", p);
                } else {
                    spec.insert("localField", "a");
                    spec.insert("foreignField", "b");
                }
                doc! { "$lookup": spec }
            }),
            (string(), sub.clone(), any::<bool>()).prop_map(|(coll, p, with_pipeline)| {
                if with_pipeline {
                    doc! { "$unionWith": { "coll": coll, "pipeline": p } }
                } else {
                    doc! { "$unionWith": coll }
                }
            }),
            (string(), document(2)).prop_map(|(from, restrict)| {
                doc! { "$graphLookup": {
                    "from": from, "startWith": "$a", "connectFromField": "a",
                    "connectToField": "b", "as": "g", "restrictSearchWithMatch": restrict,
                } }
            }),
            proptest::collection::vec((key(), sub.clone()), 0..3)
                .prop_map(|branches| doc! { "$facet": document_of(branches) }),
            document(2).prop_map(
                |q| doc! { "$geoNear": { "near": [0, 0], "distanceField": "d", "query": q } }
            ),
            // Any stage with a nested pipeline in an unexpected place.
            (key(), key(), sub).prop_map(|(stage, k, p)| doc! { stage: { k: p } }),
        ];
        proptest::collection::vec(prop_oneof![2 => simple_stage.clone(), 3 => nested_stage], 0..4)
    })
}

/// An update: operator documents, pipelines, or anything else.
pub fn update() -> impl Strategy<Value = Bson> + Clone {
    const OPS: &[&str] = &[
        "$set",
        "$setOnInsert",
        "$unset",
        "$inc",
        "$mul",
        "$min",
        "$max",
        "$rename",
        "$currentDate",
        "$push",
        "$addToSet",
        "$pop",
        "$pull",
        "$pullAll",
        "$bit",
        "$bogus",
    ];
    const UPDATE_STAGES: &[&str] =
        &["$set", "$addFields", "$project", "$unset", "$replaceRoot", "$replaceWith", "$match"];
    // Paths and values are often the tenant field, so `$rename: {a: "tenantId"}` and
    // `$set: {tenantId: "other"}` come up often, not once in thousands of cases.
    let tenant_path =
        proptest::sample::select(&[FIELD, "tenantId.x", "tenantId.$"][..]).prop_map(str::to_string);
    let path = prop_oneof![
        1 => tenant_path.clone(),
        3 => proptest::sample::select(&["a", "a.b", "b"][..]).prop_map(str::to_string),
        1 => key(),
    ];
    let value = prop_oneof![1 => tenant_path.prop_map(Bson::String), 3 => bson(2)];
    let path_values = proptest::collection::vec((path, value), 0..4).prop_map(document_of);
    prop_oneof![
        2 => proptest::collection::vec((proptest::sample::select(OPS), path_values.clone()), 1..3)
            .prop_map(|ops| Bson::Document(
                ops.into_iter().map(|(op, spec)| (op.to_string(), Bson::Document(spec))).collect()
            )),
        2 => proptest::collection::vec(
            (proptest::sample::select(UPDATE_STAGES), prop_oneof![
                path_values.prop_map(Bson::Document),
                bson(3),
            ]).prop_map(|(name, body)| Bson::Document(doc! { name: body })),
            0..4,
        ).prop_map(Bson::Array),
        1 => bson(3),
    ]
}

/// A collation-like document: known option names with right and wrong values.
pub fn collation() -> impl Strategy<Value = Document> + Clone {
    const OPTS: &[&str] = &[
        "locale",
        "strength",
        "alternate",
        "numericOrdering",
        "caseLevel",
        "caseFirst",
        "maxVariable",
        "normalization",
        "backwards",
        "version",
        "bogus",
    ];
    let value = prop_oneof![
        leaf(),
        (1i32..=6).prop_map(Bson::Int32),
        (1i64..=6).prop_map(Bson::Int64),
        proptest::sample::select(
            &[
                "simple",
                "en",
                "fr@colStrength=primary",
                "",
                "upper",
                "lower",
                "off",
                "punct",
                "space",
                "non-ignorable",
                "shifted",
                "57.1"
            ][..]
        )
        .prop_map(|s| Bson::String(s.to_string())),
    ];
    proptest::collection::vec(
        (proptest::sample::select(OPTS).prop_map(str::to_string), value),
        0..5,
    )
    .prop_map(document_of)
}

/// Raw BSON bytes `levels` containers deep, built without recursion: each level is an
/// embedded document (0x03), array (0x04) or code-with-scope (0x0F) chosen by `kinds`.
pub fn nested_bytes(levels: usize, kinds: &[u8], key: &str) -> Vec<u8> {
    // Built inside out: `inner` is always a complete document.
    let mut inner = vec![5u8, 0, 0, 0, 0];
    for i in 0..levels.saturating_sub(1) {
        let kind = kinds[i % kinds.len()];
        let value = if kind == 0x0F {
            let mut cws = Vec::with_capacity(inner.len() + 9);
            cws.extend_from_slice(&((4 + 5 + inner.len()) as i32).to_le_bytes());
            cws.extend_from_slice(&[1, 0, 0, 0, 0]);
            cws.extend_from_slice(&inner);
            cws
        } else {
            inner
        };
        // Elements of an array are named "0", "1", ...: `outer` is one when the next level is.
        let next_is_array = i + 2 < levels && kinds[(i + 1) % kinds.len()] == 0x04;
        let name = if next_is_array { "0" } else { key };
        let mut outer = Vec::with_capacity(value.len() + name.len() + 7);
        outer.extend_from_slice(&[0; 4]);
        outer.push(kind);
        outer.extend_from_slice(name.as_bytes());
        outer.push(0);
        outer.extend_from_slice(&value);
        outer.push(0);
        let len = outer.len() as i32;
        outer[..4].copy_from_slice(&len.to_le_bytes());
        inner = outer;
    }
    inner
}
