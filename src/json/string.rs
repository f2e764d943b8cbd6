//! Strings as JSON.stringify quotes them (ECMAScript QuoteJSONString).

/// What each byte becomes: 0 copies it, `u` writes `\u00xx`, anything else is the letter after `\`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `s` quoted, escaped exactly as JSON.stringify escapes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_unquoted(out, s);
    out.push(b'"');
}

/// Writes the escaped body of `s` without its quotes.
pub fn write_unquoted(out: &mut Vec<u8>, s: &str) {
    // A `&str` holds no lone surrogate, the one other thing QuoteJSONString escapes; every
    // other code point, U+2028/9 and DEL included, passes through as its UTF-8 bytes, which is
    // what Buffer.from(string) encodes it back to.
    let bytes = s.as_bytes();
    let mut copied = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let e = ESCAPE[b as usize];
        if e == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[copied..i]);
        copied = i + 1;
        if e == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', e]);
        }
    }
    out.extend_from_slice(&bytes[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_json_stringify() {
        // Expected strings are what node prints for JSON.stringify(s).
        let table: &[(&str, &str)] = &[
            ("", r#""""#),
            ("plain", r#""plain""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\u{8}\u{c}\n\r\t", r#""\b\f\n\r\t""#),
            ("\u{0}\u{1}\u{b}\u{1f}", r#""\u0000\u0001\u000b\u001f""#),
            ("\u{7f} /<>", "\"\u{7f} /<>\""),
            ("\u{2028}\u{2029}", "\"\u{2028}\u{2029}\""),
            ("ü🚀\u{feff}", "\"ü🚀\u{feff}\""),
            ("x\u{1a}y", r#""x\u001ay""#),
        ];
        for (s, want) in table {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(String::from_utf8(out).unwrap(), *want, "{s:?}");
        }
    }
}
