//! Numbers as JSON.stringify writes the values js-bson decodes them to.

/// The widest int64 js-bson turns into a number under `promoteLongs` (its `JS_INT_MAX`, 2^53):
/// every integer up to it is exact as a double, so the number prints as the integer.
const PROMOTE_MAX: i64 = 1 << 53;

/// Writes a double as ECMAScript's Number::toString does, or `null` for NaN and ±Infinity.
pub fn write_f64(out: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        // JSON has no NaN or Infinity: JSON.stringify writes null for both.
        out.extend_from_slice(b"null");
    } else if f == f.trunc() && f.abs() < PROMOTE_MAX as f64 {
        // Integral and below 2^53: Number::toString is the plain integer (-0 prints as 0),
        // and the integer printer is cheaper than the shortest-digits search.
        write_i64(out, f as i64);
    } else {
        out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes());
    }
}

/// Writes an int64 as js-bson decodes it: a number within ±2^53, else a `Long`'s own fields.
pub fn write_int64(out: &mut Vec<u8>, v: i64) {
    if (-PROMOTE_MAX..=PROMOTE_MAX).contains(&v) {
        write_i64(out, v);
    } else {
        // `Long` has no toJSON: JSON.stringify lists its own enumerable fields, in the order
        // its constructor sets them.
        out.extend_from_slice(b"{\"low\":");
        write_i64(out, (v as i32) as i64);
        out.extend_from_slice(b",\"high\":");
        write_i64(out, v >> 32);
        out.extend_from_slice(b",\"unsigned\":false}");
    }
}

/// Writes a signed integer in decimal.
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// Writes an unsigned integer in decimal.
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn long(v: i64) -> String {
        let mut out = Vec::new();
        write_int64(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn doubles_print_as_number_to_string() {
        // Expected strings are what node prints for String(x).
        let table: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-7, "1e-7"),
            (1e-6, "0.000001"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (9007199254740992.0, "9007199254740992"),
            (-9007199254740994.0, "-9007199254740994"),
            (4.35, "4.35"),
            (1.5e300, "1.5e+300"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
            (f64::NEG_INFINITY, "null"),
        ];
        for (v, want) in table {
            assert_eq!(f(*v), *want, "{v:e}");
        }
    }

    #[test]
    fn int64_promotes_within_two_to_the_53() {
        let table: &[(i64, &str)] = &[
            (0, "0"),
            (-7, "-7"),
            (1 << 53, "9007199254740992"),
            (-(1 << 53), "-9007199254740992"),
            ((1 << 53) + 1, r#"{"low":1,"high":2097152,"unsigned":false}"#),
            (-(1 << 53) - 1, r#"{"low":-1,"high":-2097153,"unsigned":false}"#),
            (i64::MIN, r#"{"low":0,"high":-2147483648,"unsigned":false}"#),
            (i64::MAX, r#"{"low":-1,"high":2147483647,"unsigned":false}"#),
        ];
        for (v, want) in table {
            assert_eq!(long(*v), *want, "{v}");
        }
    }

    #[test]
    fn integers_print_in_decimal() {
        let mut out = Vec::new();
        write_u64(&mut out, u64::MAX);
        out.push(b' ');
        write_i64(&mut out, i64::MIN);
        assert_eq!(out, b"18446744073709551615 -9223372036854775808");
    }
}
