//! Benchmark-only exports (cargo feature `bench`, never in the shipped build).
//!
//! Each function does the same work a scoped call does to its request: take a
//! document from JS, hold it as a `bson::Document`, stamp the tenant field, and hand
//! a document back. Only the way the document crosses the JS/Rust boundary differs,
//! so `bench/datapath.js` can compare the paths for speed and type-exactness.

use std::cell::RefCell;
use std::ptr;

use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Decimal128, Document};
use napi::bindgen_prelude::Buffer;
use napi::{sys, Env, JsValue, Status, Unknown};
use napi_derive::napi;
use serde_json::Value;

fn fail(e: impl std::fmt::Display) -> napi::Error {
    napi::Error::new(Status::InvalidArg, e.to_string())
}

/// The one piece of "rewriting" every path performs.
fn stamp(doc: &mut Document) {
    doc.insert("tenantId", "acme");
}

fn into_document(b: Bson) -> napi::Result<Document> {
    match b {
        Bson::Document(d) => Ok(d),
        other => Err(fail(format!("expected a document, got {:?}", other.element_type()))),
    }
}

/// (a) The shipped path: raw BSON bytes in (serialized by js-bson), raw BSON bytes out.
#[napi]
pub fn bench_roundtrip_bson(bytes: &[u8]) -> napi::Result<Buffer> {
    let mut doc = Document::from_reader(bytes).map_err(fail)?;
    stamp(&mut doc);
    Ok(bson::to_vec(&doc).map_err(fail)?.into())
}

/// (b) Canonical Extended JSON text both ways, parsed and printed by serde_json.
/// Canonical (not relaxed) so Int32/Int64/Double and Date keep their types.
#[napi]
pub fn bench_roundtrip_json(json: String) -> napi::Result<String> {
    let value: Value = serde_json::from_str(&json).map_err(fail)?;
    let mut doc = into_document(Bson::try_from(value).map_err(fail)?)?;
    stamp(&mut doc);
    serde_json::to_string(&Bson::Document(doc).into_canonical_extjson()).map_err(fail)
}

/// (c1) napi's own `serde-json` conversion: a JS value becomes a `serde_json::Value`
/// property by property, read as Extended JSON. Given a plain JS document it cannot see
/// BSON types (a Date has no enumerable keys, an ObjectId is `{buffer}`), so the reply is
/// relaxed (plain numbers) to give it its best chance; given `EJSON.serialize(doc)` from
/// JS, canonical both ways is exact. The JS side measures both.
#[napi]
pub fn bench_roundtrip_value(value: Value, canonical: bool) -> napi::Result<Value> {
    let mut doc = into_document(Bson::try_from(value).map_err(fail)?)?;
    stamp(&mut doc);
    let out = Bson::Document(doc);
    Ok(if canonical { out.into_canonical_extjson() } else { out.into_relaxed_extjson() })
}

/// Not a data path: copies the bytes back untouched, so the JS side can split
/// `bson-bytes` into boundary-crossing cost and parse/stamp/encode cost.
#[napi]
pub fn bench_echo_bytes(bytes: &[u8]) -> Buffer {
    bytes.to_vec().into()
}

// (c2) A hand-written walk over napi values that recognises js-bson classes by
// `_bsontype` and rebuilds them with their constructors on the way back: the best a
// direct object conversion can do. Raw `napi_*` calls keep its overhead minimal.

/// js-bson constructors, held by reference on the JS thread (set once by `benchSetClasses`).
struct Classes {
    object_id: sys::napi_ref,
    long: sys::napi_ref,
    decimal128: sys::napi_ref,
    binary: sys::napi_ref,
}

thread_local! {
    static CLASSES: RefCell<Option<Classes>> = const { RefCell::new(None) };
}

/// Nesting limit for the walk, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 100;

fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(Status::from(status), format!("napi call failed: {what}")))
    }
}

/// Keeps `{ ObjectId, Long, Decimal128, Binary }` from the `bson` package for the walk back.
#[napi]
pub fn bench_set_classes(env: &Env, classes: Unknown) -> napi::Result<()> {
    let e = env.raw();
    let obj = classes.raw();
    let get_ref = |name: &str| -> napi::Result<sys::napi_ref> {
        let ctor = named(e, obj, name)?;
        let mut r = ptr::null_mut();
        // Never released: these live for the process, like the module.
        check(unsafe { sys::napi_create_reference(e, ctor, 1, &mut r) }, "create_reference")?;
        Ok(r)
    };
    let c = Classes {
        object_id: get_ref("ObjectId")?,
        long: get_ref("Long")?,
        decimal128: get_ref("Decimal128")?,
        binary: get_ref("Binary")?,
    };
    CLASSES.with(|cell| *cell.borrow_mut() = Some(c));
    Ok(())
}

/// (c2) JS object → `bson::Document` → JS object, with no serialization step.
#[napi]
pub fn bench_roundtrip_object<'e>(env: &'e Env, doc: Unknown<'e>) -> napi::Result<Unknown<'e>> {
    let e = env.raw();
    let mut d = into_document(to_bson(e, doc.raw(), 0)?)?;
    stamp(&mut d);
    CLASSES.with(|cell| {
        let classes = cell.borrow();
        let classes = classes.as_ref().ok_or_else(|| fail("call benchSetClasses first"))?;
        let out = from_document(e, classes, &d)?;
        Ok(unsafe { Unknown::from_raw_unchecked(e, out) })
    })
}

fn named(e: sys::napi_env, obj: sys::napi_value, name: &str) -> napi::Result<sys::napi_value> {
    let key = string_value(e, name)?;
    let mut out = ptr::null_mut();
    check(unsafe { sys::napi_get_property(e, obj, key, &mut out) }, "get_property")?;
    Ok(out)
}

fn type_of(e: sys::napi_env, v: sys::napi_value) -> napi::Result<sys::napi_valuetype> {
    let mut t = 0;
    check(unsafe { sys::napi_typeof(e, v, &mut t) }, "typeof")?;
    Ok(t)
}

fn read_string(e: sys::napi_env, v: sys::napi_value) -> napi::Result<String> {
    let mut len = 0usize;
    check(
        unsafe { sys::napi_get_value_string_utf8(e, v, ptr::null_mut(), 0, &mut len) },
        "string length",
    )?;
    let mut buf = vec![0u8; len + 1];
    check(
        unsafe {
            sys::napi_get_value_string_utf8(e, v, buf.as_mut_ptr().cast(), len + 1, &mut len)
        },
        "string",
    )?;
    buf.truncate(len);
    String::from_utf8(buf).map_err(fail)
}

fn read_f64(e: sys::napi_env, v: sys::napi_value) -> napi::Result<f64> {
    let mut n = 0f64;
    check(unsafe { sys::napi_get_value_double(e, v, &mut n) }, "number")?;
    Ok(n)
}

/// The bytes of a Uint8Array (or Buffer), copied.
fn read_bytes(e: sys::napi_env, v: sys::napi_value) -> napi::Result<Vec<u8>> {
    let (mut ty, mut len, mut data, mut offset) = (0, 0usize, ptr::null_mut(), 0usize);
    let mut ab = ptr::null_mut();
    check(
        unsafe {
            sys::napi_get_typedarray_info(e, v, &mut ty, &mut len, &mut data, &mut ab, &mut offset)
        },
        "typedarray_info",
    )?;
    if ty != sys::TypedarrayType::uint8_array {
        return Err(fail("only Uint8Array is accepted as binary data"));
    }
    if len == 0 {
        return Ok(Vec::new());
    }
    // `data` already points at the first element (byte_offset applied by Node).
    Ok(unsafe { std::slice::from_raw_parts(data as *const u8, len) }.to_vec())
}

fn is(
    e: sys::napi_env,
    v: sys::napi_value,
    f: unsafe extern "C" fn(sys::napi_env, sys::napi_value, *mut bool) -> sys::napi_status,
) -> napi::Result<bool> {
    let mut b = false;
    check(unsafe { f(e, v, &mut b) }, "type check")?;
    Ok(b)
}

/// One JS value as BSON, following js-bson's serializer rules for plain values.
fn to_bson(e: sys::napi_env, v: sys::napi_value, depth: usize) -> napi::Result<Bson> {
    use sys::ValueType as T;
    match type_of(e, v)? {
        // js-bson with ignoreUndefined: false writes undefined as null.
        T::napi_undefined | T::napi_null => Ok(Bson::Null),
        T::napi_boolean => {
            let mut b = false;
            check(unsafe { sys::napi_get_value_bool(e, v, &mut b) }, "bool")?;
            Ok(Bson::Boolean(b))
        }
        T::napi_number => {
            // Same rule as js-bson: an integral number in int32 range is Int32, else Double.
            let n = read_f64(e, v)?;
            let int32 = n.fract() == 0.0
                && n >= i32::MIN as f64
                && n <= i32::MAX as f64
                && !(n == 0.0 && n.is_sign_negative());
            Ok(if int32 { Bson::Int32(n as i32) } else { Bson::Double(n) })
        }
        T::napi_string => Ok(Bson::String(read_string(e, v)?)),
        T::napi_bigint => {
            let (mut n, mut lossless) = (0i64, false);
            check(
                unsafe { sys::napi_get_value_bigint_int64(e, v, &mut n, &mut lossless) },
                "bigint",
            )?;
            if !lossless {
                return Err(fail("bigint out of int64 range"));
            }
            Ok(Bson::Int64(n))
        }
        T::napi_object => {
            if depth >= MAX_DEPTH {
                return Err(fail("document nested too deeply"));
            }
            object_to_bson(e, v, depth + 1)
        }
        _ => Err(fail("functions, symbols and externals cannot be stored")),
    }
}

fn object_to_bson(e: sys::napi_env, v: sys::napi_value, depth: usize) -> napi::Result<Bson> {
    if is(e, v, sys::napi_is_array)? {
        let mut len = 0u32;
        check(unsafe { sys::napi_get_array_length(e, v, &mut len) }, "array length")?;
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..len {
            let mut item = ptr::null_mut();
            check(unsafe { sys::napi_get_element(e, v, i, &mut item) }, "element")?;
            out.push(to_bson(e, item, depth)?);
        }
        return Ok(Bson::Array(out));
    }
    if is(e, v, sys::napi_is_date)? {
        let mut ms = 0f64;
        check(unsafe { sys::napi_get_date_value(e, v, &mut ms) }, "date")?;
        return Ok(Bson::DateTime(DateTime::from_millis(ms as i64)));
    }
    if is(e, v, sys::napi_is_typedarray)? {
        return Ok(Bson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes: read_bytes(e, v)?,
        }));
    }
    // js-bson classes announce themselves with a `_bsontype` getter on the prototype.
    let tag = named(e, v, "_bsontype")?;
    if type_of(e, tag)? == sys::ValueType::napi_string {
        return bson_class(e, v, &read_string(e, tag)?);
    }
    Ok(Bson::Document(document(e, v, depth)?))
}

/// The js-bson classes this benchmark's documents use; others are refused, not guessed.
fn bson_class(e: sys::napi_env, v: sys::napi_value, tag: &str) -> napi::Result<Bson> {
    let int32 = |name: &str| -> napi::Result<i32> {
        let mut n = 0i32;
        check(unsafe { sys::napi_get_value_int32(e, named(e, v, name)?, &mut n) }, name)?;
        Ok(n)
    };
    match tag {
        "ObjectId" => {
            let bytes: [u8; 12] = read_bytes(e, named(e, v, "id")?)?
                .try_into()
                .map_err(|_| fail("ObjectId is not 12 bytes"))?;
            Ok(Bson::ObjectId(ObjectId::from_bytes(bytes)))
        }
        "Decimal128" => {
            let bytes: [u8; 16] = read_bytes(e, named(e, v, "bytes")?)?
                .try_into()
                .map_err(|_| fail("Decimal128 is not 16 bytes"))?;
            Ok(Bson::Decimal128(Decimal128::from_bytes(bytes)))
        }
        "Long" => {
            let (low, high) = (int32("low")?, int32("high")?);
            Ok(Bson::Int64(((high as i64) << 32) | (low as u32 as i64)))
        }
        "Binary" => {
            // js-bson may over-allocate `buffer`; `position` is the data length.
            let mut bytes = read_bytes(e, named(e, v, "buffer")?)?;
            bytes.truncate(int32("position")?.max(0) as usize);
            let subtype = BinarySubtype::from(int32("sub_type")? as u8);
            Ok(Bson::Binary(Binary { subtype, bytes }))
        }
        other => Err(fail(format!("_bsontype {other} is not handled by this benchmark"))),
    }
}

/// A plain object's own enumerable string keys, in order, as a document.
fn document(e: sys::napi_env, v: sys::napi_value, depth: usize) -> napi::Result<Document> {
    let mut keys = ptr::null_mut();
    check(
        unsafe {
            sys::napi_get_all_property_names(
                e,
                v,
                sys::KeyCollectionMode::own_only,
                sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
                sys::KeyConversion::numbers_to_strings,
                &mut keys,
            )
        },
        "property names",
    )?;
    let mut len = 0u32;
    check(unsafe { sys::napi_get_array_length(e, keys, &mut len) }, "keys length")?;
    let mut doc = Document::new();
    for i in 0..len {
        let (mut key, mut value) = (ptr::null_mut(), ptr::null_mut());
        check(unsafe { sys::napi_get_element(e, keys, i, &mut key) }, "key")?;
        check(unsafe { sys::napi_get_property(e, v, key, &mut value) }, "property")?;
        doc.insert(read_string(e, key)?, to_bson(e, value, depth)?);
    }
    Ok(doc)
}

fn string_value(e: sys::napi_env, s: &str) -> napi::Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    check(
        unsafe { sys::napi_create_string_utf8(e, s.as_ptr().cast(), s.len() as isize, &mut out) },
        "create string",
    )?;
    Ok(out)
}

fn buffer_copy(e: sys::napi_env, bytes: &[u8]) -> napi::Result<sys::napi_value> {
    let (mut out, mut data) = (ptr::null_mut(), ptr::null_mut());
    check(
        unsafe {
            sys::napi_create_buffer_copy(e, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut out)
        },
        "buffer",
    )?;
    Ok(out)
}

/// `new Class(...args)` for a remembered js-bson constructor.
fn construct(
    e: sys::napi_env,
    class: sys::napi_ref,
    args: &[sys::napi_value],
) -> napi::Result<sys::napi_value> {
    let (mut ctor, mut out) = (ptr::null_mut(), ptr::null_mut());
    check(unsafe { sys::napi_get_reference_value(e, class, &mut ctor) }, "constructor")?;
    check(
        unsafe { sys::napi_new_instance(e, ctor, args.len(), args.as_ptr(), &mut out) },
        "new instance",
    )?;
    Ok(out)
}

fn from_document(e: sys::napi_env, c: &Classes, d: &Document) -> napi::Result<sys::napi_value> {
    let mut obj = ptr::null_mut();
    check(unsafe { sys::napi_create_object(e, &mut obj) }, "create object")?;
    for (k, v) in d {
        let value = from_bson(e, c, v)?;
        check(
            unsafe { sys::napi_set_property(e, obj, string_value(e, k)?, value) },
            "set property",
        )?;
    }
    Ok(obj)
}

/// One BSON value as JS, matching what `BSON.deserialize(…, {promoteLongs:false})` returns.
fn from_bson(e: sys::napi_env, c: &Classes, v: &Bson) -> napi::Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    match v {
        Bson::Null => check(unsafe { sys::napi_get_null(e, &mut out) }, "null")?,
        Bson::Boolean(b) => check(unsafe { sys::napi_get_boolean(e, *b, &mut out) }, "bool")?,
        Bson::Int32(n) => check(unsafe { sys::napi_create_int32(e, *n, &mut out) }, "int32")?,
        Bson::Double(n) => check(unsafe { sys::napi_create_double(e, *n, &mut out) }, "double")?,
        Bson::String(s) => out = string_value(e, s)?,
        Bson::DateTime(t) => check(
            unsafe { sys::napi_create_date(e, t.timestamp_millis() as f64, &mut out) },
            "date",
        )?,
        Bson::Int64(n) => {
            let (mut low, mut high, mut unsigned) =
                (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
            check(unsafe { sys::napi_create_int32(e, *n as i32, &mut low) }, "int32")?;
            check(unsafe { sys::napi_create_int32(e, (*n >> 32) as i32, &mut high) }, "int32")?;
            check(unsafe { sys::napi_get_boolean(e, false, &mut unsigned) }, "bool")?;
            out = construct(e, c.long, &[low, high, unsigned])?;
        }
        Bson::ObjectId(id) => out = construct(e, c.object_id, &[buffer_copy(e, &id.bytes())?])?,
        Bson::Decimal128(d) => out = construct(e, c.decimal128, &[buffer_copy(e, &d.bytes())?])?,
        Bson::Binary(b) => {
            let mut sub = ptr::null_mut();
            check(
                unsafe { sys::napi_create_int32(e, u8::from(b.subtype) as i32, &mut sub) },
                "int32",
            )?;
            out = construct(e, c.binary, &[buffer_copy(e, &b.bytes)?, sub])?;
        }
        Bson::Array(items) => {
            check(
                unsafe { sys::napi_create_array_with_length(e, items.len(), &mut out) },
                "array",
            )?;
            for (i, item) in items.iter().enumerate() {
                let value = from_bson(e, c, item)?;
                check(unsafe { sys::napi_set_element(e, out, i as u32, value) }, "set element")?;
            }
        }
        Bson::Document(d) => out = from_document(e, c, d)?,
        other => {
            return Err(fail(format!(
                "{:?} is not handled by this benchmark",
                other.element_type()
            )))
        }
    }
    Ok(out)
}
