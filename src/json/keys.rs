//! Which keys a JS object lists first.

/// The numeric value of `key` if JS treats it as an array index, which an object lists first.
pub fn array_index(key: &str) -> Option<u32> {
    // An array index is the canonical decimal form of an integer below 2^32 - 1: "0", or digits
    // without a leading zero. "01", "-1", "1.0" and "4294967295" are ordinary string keys.
    let b = key.as_bytes();
    if b.is_empty() || b.len() > 10 || (b[0] == b'0' && b.len() > 1) {
        return None;
    }
    let mut n: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    if n < u64::from(u32::MAX) {
        Some(n as u32)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_indices_are_canonical_below_two_to_the_32_minus_one() {
        let table: &[(&str, Option<u32>)] = &[
            ("0", Some(0)),
            ("7", Some(7)),
            ("10", Some(10)),
            ("4294967294", Some(4_294_967_294)),
            ("4294967295", None),
            ("9999999999", None),
            ("42949672950", None),
            ("", None),
            ("01", None),
            ("00", None),
            ("-1", None),
            ("+1", None),
            ("1.5", None),
            ("1e3", None),
            (" 1", None),
            ("1 ", None),
            ("٣", None),
            ("a", None),
        ];
        for (key, want) in table {
            assert_eq!(array_index(key), *want, "{key:?}");
        }
    }
}
