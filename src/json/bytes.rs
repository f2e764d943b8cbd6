//! Binary values as their `toJSON` strings: base64 for a Binary, dashed hex for a UUID.

const HEX: &[u8; 16] = b"0123456789abcdef";
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Writes `bytes` in lowercase hex, as `Buffer.toString('hex')` does.
pub fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}

/// Writes 16 bytes as js-bson's `UUID.toHexString()`: 8-4-4-4-12 lowercase hex digits.
pub fn write_uuid(out: &mut Vec<u8>, bytes: &[u8; 16]) {
    write_hex(out, &bytes[..4]);
    for part in [&bytes[4..6], &bytes[6..8], &bytes[8..10], &bytes[10..]] {
        out.push(b'-');
        write_hex(out, part);
    }
}

/// Writes `bytes` in padded standard base64, as `Buffer.toString('base64')` does.
pub fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len().div_ceil(3) * 4);
    let mut chunks = bytes.chunks_exact(3);
    for c in &mut chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend_from_slice(&[
            BASE64[(n >> 18) as usize & 63],
            BASE64[(n >> 12) as usize & 63],
            BASE64[(n >> 6) as usize & 63],
            BASE64[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                BASE64[(n >> 18) as usize & 63],
                BASE64[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[
                BASE64[(n >> 18) as usize & 63],
                BASE64[(n >> 12) as usize & 63],
                BASE64[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn base64_as_buffer_to_string() {
        let table: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"hello", "aGVsbG8="),
            (&[0xff], "/w=="),
            (&[0xfb, 0xff, 0xbf], "+/+/"),
            (&[0, 1, 2, 254, 255], "AAEC/v8="),
        ];
        for (bytes, want) in table {
            assert_eq!(run(|o| write_base64(o, bytes)), *want, "{bytes:?}");
        }
    }

    #[test]
    fn hex_and_uuid() {
        let id: [u8; 16] = *b"\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef";
        assert_eq!(run(|o| write_uuid(o, &id)), "01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!(run(|o| write_hex(o, &[0, 0x0f, 0xf0, 0xff])), "000ff0ff");
    }
}
