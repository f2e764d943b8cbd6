//! Whole documents through `render_array`. Expected strings are node's
//! `JSON.stringify(BSON.deserialize(bytes, READ))` for the same bytes (the Jest suite
//! `__tests__/native/json-render.test.js` checks every type against js-bson itself).

use super::*;

/// Hand-built BSON, so repeated keys, undefined and odd lengths can be written.
struct Doc(Vec<u8>);

impl Doc {
    fn new() -> Self {
        Doc(vec![0; 4])
    }
    fn field(mut self, kind: u8, key: &str, payload: &[u8]) -> Self {
        self.0.push(kind);
        self.0.extend_from_slice(key.as_bytes());
        self.0.push(0);
        self.0.extend_from_slice(payload);
        self
    }
    fn int(self, key: &str, v: i32) -> Self {
        self.field(0x10, key, &v.to_le_bytes())
    }
    fn str(self, key: &str, v: &str) -> Self {
        self.field(0x02, key, &lenstr(v.as_bytes()))
    }
    fn doc(self, key: &str, d: Vec<u8>) -> Self {
        self.field(0x03, key, &d)
    }
    fn arr(self, key: &str, d: Vec<u8>) -> Self {
        self.field(0x04, key, &d)
    }
    fn end(mut self) -> Vec<u8> {
        self.0.push(0);
        let len = (self.0.len() as i32).to_le_bytes();
        self.0[..4].copy_from_slice(&len);
        self.0
    }
}

fn lenstr(s: &[u8]) -> Vec<u8> {
    let mut v = ((s.len() + 1) as i32).to_le_bytes().to_vec();
    v.extend_from_slice(s);
    v.push(0);
    v
}

fn render(docs: &[u8]) -> Result<String, JsonError> {
    let mut out = Vec::new();
    render_array(docs, &mut out).map(|()| String::from_utf8(out).unwrap())
}

fn one(doc: Vec<u8>) -> String {
    let s = render(&doc).unwrap_or_else(|e| panic!("{e}"));
    s[1..s.len() - 1].to_owned()
}

const OID: [u8; 12] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67];

#[test]
fn every_type_as_json_stringify() {
    let mut bin = 3i32.to_le_bytes().to_vec();
    bin.push(0);
    bin.extend_from_slice(b"abc");
    let mut old = 7i32.to_le_bytes().to_vec();
    old.push(2);
    old.extend_from_slice(&3i32.to_le_bytes());
    old.extend_from_slice(b"abc");
    let mut uuid = 16i32.to_le_bytes().to_vec();
    uuid.push(4);
    uuid.extend_from_slice(&[0x11; 16]);
    let mut short_uuid = 2i32.to_le_bytes().to_vec();
    short_uuid.extend_from_slice(&[4, 0xff, 0xfe]);
    let mut ts = 7u32.to_le_bytes().to_vec();
    ts.extend_from_slice(&1_700_000_000u32.to_le_bytes());
    let mut dec = 1u64.to_le_bytes().to_vec();
    dec.extend_from_slice(&0x3040_0000_0000_0000u64.to_le_bytes());
    let scope = Doc::new().int("x", 1).end();
    let mut cws = Vec::new();
    let code = lenstr(b"f()");
    cws.extend_from_slice(&((4 + code.len() + scope.len()) as i32).to_le_bytes());
    cws.extend_from_slice(&code);
    cws.extend_from_slice(&scope);
    let mut ptr = lenstr(b"db.coll");
    ptr.extend_from_slice(&OID);

    let table: Vec<(Vec<u8>, &str)> = vec![
        (Doc::new().field(0x01, "d", &2.5f64.to_le_bytes()).end(), r#"{"d":2.5}"#),
        (Doc::new().field(0x01, "d", &f64::NAN.to_le_bytes()).end(), r#"{"d":null}"#),
        (Doc::new().field(0x01, "d", &(-0.0f64).to_le_bytes()).end(), r#"{"d":0}"#),
        (Doc::new().str("s", "a\"\n\u{1}é").end(), r#"{"s":"a\"\n\u0001é"}"#),
        (Doc::new().doc("o", Doc::new().int("a", 1).end()).end(), r#"{"o":{"a":1}}"#),
        (Doc::new().arr("a", Doc::new().int("0", 1).str("1", "x").end()).end(), r#"{"a":[1,"x"]}"#),
        (Doc::new().field(0x05, "b", &bin).end(), r#"{"b":"YWJj"}"#),
        (Doc::new().field(0x05, "b", &old).end(), r#"{"b":"YWJj"}"#),
        (
            Doc::new().field(0x05, "u", &uuid).end(),
            r#"{"u":"11111111-1111-1111-1111-111111111111"}"#,
        ),
        (Doc::new().field(0x05, "u", &short_uuid).end(), r#"{"u":"//4="}"#),
        (Doc::new().field(0x06, "u", &[]).int("v", 1).end(), r#"{"v":1}"#),
        (Doc::new().field(0x07, "id", &OID).end(), r#"{"id":"0123456789abcdef01234567"}"#),
        (Doc::new().field(0x08, "t", &[1]).field(0x08, "f", &[0]).end(), r#"{"t":true,"f":false}"#),
        (
            Doc::new().field(0x09, "at", &0i64.to_le_bytes()).end(),
            r#"{"at":"1970-01-01T00:00:00.000Z"}"#,
        ),
        (Doc::new().field(0x0a, "n", &[]).end(), r#"{"n":null}"#),
        (Doc::new().field(0x0b, "r", b"a+b\0ims\0").end(), r#"{"r":{}}"#),
        (
            Doc::new().field(0x0c, "p", &ptr).end(),
            r#"{"p":{"$ref":"coll","$id":"0123456789abcdef01234567","$db":"db"}}"#,
        ),
        (Doc::new().field(0x0d, "c", &lenstr(b"x=1")).end(), r#"{"c":{"code":"x=1"}}"#),
        (Doc::new().field(0x0e, "y", &lenstr(b"sym")).end(), r#"{"y":"sym"}"#),
        (Doc::new().field(0x0f, "c", &cws).end(), r#"{"c":{"code":"f()","scope":{"x":1}}}"#),
        (Doc::new().int("i", -5).end(), r#"{"i":-5}"#),
        (Doc::new().field(0x11, "ts", &ts).end(), r#"{"ts":{"$timestamp":"7301444403200000007"}}"#),
        (
            Doc::new().field(0x12, "l", &(1i64 << 53).to_le_bytes()).end(),
            r#"{"l":9007199254740992}"#,
        ),
        (
            Doc::new().field(0x12, "l", &((1i64 << 53) + 1).to_le_bytes()).end(),
            r#"{"l":{"low":1,"high":2097152,"unsigned":false}}"#,
        ),
        (Doc::new().field(0x13, "m", &dec).end(), r#"{"m":{"$numberDecimal":"1"}}"#),
        (Doc::new().field(0xff, "lo", &[]).field(0x7f, "hi", &[]).end(), r#"{"lo":{},"hi":{}}"#),
    ];
    for (doc, want) in table {
        assert_eq!(one(doc), want);
    }
}

#[test]
fn keys_in_js_object_order() {
    let table: Vec<(Vec<u8>, &str)> = vec![
        // A repeat keeps its first place and takes the last value.
        (Doc::new().int("a", 1).int("b", 2).int("a", 3).end(), r#"{"a":3,"b":2}"#),
        // Array indices first, ascending; "01", "-1" and 2^32-1 are ordinary keys.
        (
            Doc::new()
                .int("b", 1)
                .int("10", 2)
                .int("01", 3)
                .int("2", 4)
                .int("4294967295", 5)
                .int("-1", 6)
                .int("0", 7)
                .end(),
            r#"{"0":7,"2":4,"10":2,"b":1,"01":3,"4294967295":5,"-1":6}"#,
        ),
        (Doc::new().int("5", 1).int("x", 2).int("5", 3).end(), r#"{"5":3,"x":2}"#),
        // undefined: a key left out, even when it overwrites an earlier value.
        (Doc::new().int("a", 1).field(0x06, "a", &[]).int("b", 2).end(), r#"{"b":2}"#),
        (Doc::new().field(0x06, "a", &[]).int("b", 2).int("a", 1).end(), r#"{"a":1,"b":2}"#),
        // `__proto__` is an ordinary key.
        (Doc::new().int("x", 1).int("__proto__", 2).end(), r#"{"x":1,"__proto__":2}"#),
        // An array's keys are never read: order and names are the BSON order.
        (
            Doc::new()
                .arr(
                    "a",
                    Doc::new().int("5", 1).field(0x06, "x", &[]).int("0", 3).int("0", 4).end(),
                )
                .end(),
            r#"{"a":[1,null,3,4]}"#,
        ),
    ];
    for (doc, want) in table {
        assert_eq!(one(doc), want);
    }
}

#[test]
fn many_keys_with_repeats() {
    let mut d = Doc::new();
    for i in 0..40 {
        d = d.int(&format!("k{}", i % 30), i);
    }
    let want: Vec<String> =
        (0..30).map(|i| format!("\"k{i}\":{}", if i < 10 { i + 30 } else { i })).collect();
    assert_eq!(one(d.end()), format!("{{{}}}", want.join(",")));
}

#[test]
fn dbrefs_as_their_to_json() {
    let table: Vec<(Vec<u8>, &str)> = vec![
        (
            Doc::new().str("$ref", "c").field(0x07, "$id", &OID).end(),
            r#"{"$ref":"c","$id":"0123456789abcdef01234567"}"#,
        ),
        // toJSON's order: $ref, $id, the other fields, $db; array-index fields before all.
        (
            Doc::new().str("$db", "d").int("x", 1).int("3", 2).int("$id", 5).str("$ref", "c").end(),
            r#"{"3":2,"$ref":"c","$id":5,"x":1,"$db":"d"}"#,
        ),
        // One dot: the part before it is the db, over $db.
        (
            Doc::new().str("$ref", "a.b").int("$id", 1).str("$db", "z").end(),
            r#"{"$ref":"b","$id":1,"$db":"a"}"#,
        ),
        (Doc::new().str("$ref", "a.b.c").int("$id", 1).end(), r#"{"$ref":"a.b.c","$id":1}"#),
        // `__proto__` does not survive js-bson's copy of the fields.
        (
            Doc::new().str("$ref", "c").int("$id", 1).int("__proto__", 2).int("y", 3).end(),
            r#"{"$ref":"c","$id":1,"y":3}"#,
        ),
        // Not DBRefs: another $ key, a null $id, a $ref that is no string, a $db that is none.
        (
            Doc::new().str("$ref", "c").int("$id", 1).int("$x", 2).end(),
            r#"{"$ref":"c","$id":1,"$x":2}"#,
        ),
        (Doc::new().str("$ref", "c").field(0x0a, "$id", &[]).end(), r#"{"$ref":"c","$id":null}"#),
        (Doc::new().int("$ref", 1).int("$id", 1).end(), r#"{"$ref":1,"$id":1}"#),
        (
            Doc::new().str("$ref", "c").int("$id", 1).field(0x06, "$db", &[]).end(),
            r#"{"$ref":"c","$id":1}"#,
        ),
        (
            Doc::new().str("$ref", "c").int("$id", 1).int("$db", 1).end(),
            r#"{"$ref":"c","$id":1,"$db":1}"#,
        ),
    ];
    for (doc, want) in table {
        assert_eq!(one(doc), want);
    }
}

#[test]
fn batches() {
    assert_eq!(render(&[]).unwrap(), "[]");
    let mut two = Doc::new().int("a", 1).end();
    two.extend(Doc::new().str("b", "x").end());
    assert_eq!(render(&two).unwrap(), r#"[{"a":1},{"b":"x"}]"#);
    assert_eq!(render(&Doc::new().end()).unwrap(), "[{}]");
}

#[test]
fn refusals_leave_the_output_as_it_was() {
    let bad_utf8 = Doc::new().field(0x02, "s", &lenstr(b"\xff")).end();
    let deep = (0..300).fold(Doc::new().end(), |inner, _| Doc::new().doc("d", inner).end());
    let table: Vec<(Vec<u8>, &str)> = vec![
        (bad_utf8, "malformed"),
        (Doc::new().field(0x08, "b", &[2]).end(), "malformed"),
        (Doc::new().field(0x0b, "r", b"(\0\0").end(), "regular expression"),
        (Doc::new().field(0x0b, "r", b"a\0ii\0").end(), "repeat a flag"),
        // Values JSON.stringify never reaches still make js-bson throw as it decodes them.
        (Doc::new().field(0x0b, "r", b"a\0ii\0").int("r", 1).end(), "repeat a flag"),
        (
            Doc::new().doc("r", Doc::new().field(0x0b, "x", b"(\0\0").end()).int("r", 1).end(),
            "regular expression",
        ),
        (
            Doc::new().str("$ref", "c").int("$id", 1).field(0x0b, "__proto__", b"a\0mm\0").end(),
            "repeat a flag",
        ),
        (
            (1..30)
                .fold(Doc::new().field(0x0b, "k0", b"a\0ss\0"), |d, i| d.int(&format!("k{i}"), i))
                .int("k0", 0)
                .end(),
            "repeat a flag",
        ),
        (Doc::new().field(0x14, "x", &[]).end(), "malformed"),
        (deep, "256 levels"),
        (vec![5, 0, 0], "malformed"),
        (vec![6, 0, 0, 0, 0], "malformed"),
        ([Doc::new().end(), vec![9, 0, 0, 0, 0]].concat(), "malformed"),
    ];
    for (bytes, why) in table {
        let mut out = b"kept".to_vec();
        let err = render_array(&bytes, &mut out).expect_err(why);
        assert!(err.to_string().contains(why), "{err} lacks {why}");
        assert_eq!(out, b"kept");
    }
}
