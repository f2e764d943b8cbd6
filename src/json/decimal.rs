//! Decimal128 as js-bson's `Decimal128.prototype.toString` prints it.
//!
//! A step-by-step port of js-bson 6.10's algorithm, not IEEE 754-2008's to-scientific-string
//! or the bson crate's Display: the two differ on non-canonical values (a coefficient above
//! 10^34, the "11" combination forms), and the renderer must print what js-bson prints.

const EXPONENT_BIAS: i32 = 6176;

/// Writes the string js-bson's `Decimal128.toString()` gives for these 16 little-endian bytes.
pub fn write_decimal128(out: &mut Vec<u8>, bytes: &[u8; 16]) {
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let (low, midl, midh, high) = (word(0), word(4), word(8), word(12));

    let negative = high >> 31 == 1;
    let combination = (high >> 26) & 0x1f;
    let (biased_exponent, significand_msb) = if combination >> 3 == 3 {
        match combination {
            30 => {
                if negative {
                    out.push(b'-');
                }
                out.extend_from_slice(b"Infinity");
                return;
            }
            // NaN prints without its sign.
            31 => return out.extend_from_slice(b"NaN"),
            _ => ((high >> 15) & 0x3fff, 0x08 + ((high >> 14) & 0x01)),
        }
    } else {
        ((high >> 17) & 0x3fff, (high >> 14) & 0x07)
    };
    if negative {
        out.push(b'-');
    }
    let exponent = biased_exponent as i32 - EXPONENT_BIAS;

    // js-bson takes the coefficient as 114 bits whatever the combination field says, and
    // prints its decimal digits into a 36-digit array.
    let coefficient = (u128::from((high & 0x3fff) + ((significand_msb & 0xf) << 14)) << 96)
        | (u128::from(midh) << 64)
        | (u128::from(midl) << 32)
        | u128::from(low);
    let mut significand = [0u8; 36];
    let mut c = coefficient;
    for d in significand.iter_mut().rev() {
        *d = (c % 10) as u8;
        c /= 10;
    }
    let (mut index, mut significand_digits) = if coefficient == 0 {
        (35, 1)
    } else {
        let lead = significand.iter().position(|&d| d != 0).unwrap_or(35);
        (lead, 36 - lead as i32)
    };

    let scientific_exponent = significand_digits - 1 + exponent;
    if scientific_exponent >= 34 || scientific_exponent <= -7 || exponent > 0 {
        if significand_digits > 34 {
            // Too many digits: js-bson prints the value as a zero with the raw exponent.
            out.push(b'0');
            if exponent > 0 {
                out.extend_from_slice(b"E+");
                write_i32(out, exponent);
            } else if exponent < 0 {
                out.push(b'E');
                write_i32(out, exponent);
            }
            return;
        }
        out.push(b'0' + significand[index]);
        index += 1;
        significand_digits -= 1;
        if significand_digits > 0 {
            out.push(b'.');
        }
        for _ in 0..significand_digits {
            out.push(b'0' + significand[index]);
            index += 1;
        }
        out.push(b'E');
        if scientific_exponent > 0 {
            out.push(b'+');
        }
        write_i32(out, scientific_exponent);
    } else if exponent >= 0 {
        for _ in 0..significand_digits {
            out.push(b'0' + significand[index]);
            index += 1;
        }
    } else {
        // A digit count above 34 can reach here (with a negative exponent) and js-bson prints
        // all of them: so does this.
        let radix_position = significand_digits + exponent;
        if radix_position > 0 {
            for _ in 0..radix_position {
                out.push(b'0' + significand[index]);
                index += 1;
            }
        } else {
            out.push(b'0');
        }
        out.push(b'.');
        for _ in radix_position..0 {
            out.push(b'0');
        }
        for _ in 0..significand_digits - radix_position.max(0) {
            out.push(b'0' + significand[index]);
            index += 1;
        }
    }
}

fn write_i32(out: &mut Vec<u8>, v: i32) {
    super::number::write_i64(out, i64::from(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Decimal128 from its high and low 64-bit halves, as the BSON spec's test vectors give it.
    fn bits(high: u64, low: u64) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&low.to_le_bytes());
        b[8..].copy_from_slice(&high.to_le_bytes());
        b
    }

    fn show(b: [u8; 16]) -> String {
        let mut out = Vec::new();
        write_decimal128(&mut out, &b);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn prints_as_js_bson() {
        // Expected strings are js-bson 6.10's `new Decimal128(bytes).toString()`.
        let table: &[(u64, u64, &str)] = &[
            (0x3040_0000_0000_0000, 0x0000_0000_0000_0000, "0"),
            (0xb040_0000_0000_0000, 0x0000_0000_0000_0000, "-0"),
            (0x3040_0000_0000_0000, 0x0000_0000_0000_0001, "1"),
            (0x3040_0000_0000_0000, 0x0000_0000_0000_000a, "10"),
            (0x303e_0000_0000_0000, 0x0000_0000_0000_3039, "1234.5"),
            (0x3034_0000_0000_0000, 0x0000_0000_0000_0001, "0.000001"),
            (0x3032_0000_0000_0000, 0x0000_0000_0000_0001, "1E-7"),
            (0x3042_0000_0000_0000, 0x0000_0000_0000_0001, "1E+1"),
            (0x3042_0000_0000_0000, 0x0000_0000_0000_007b, "1.23E+3"),
            (0x3040_0000_0000_0000, 0xffff_ffff_ffff_ffff, "18446744073709551615"),
            (0x303a_0000_0000_0000, 0xffff_ffff_ffff_ffff, "18446744073709551.615"),
            (0x7c00_0000_0000_0000, 0x0000_0000_0000_0000, "NaN"),
            (0xfc00_0000_0000_0000, 0x0000_0000_0000_0000, "NaN"),
            (0x7e00_0000_0000_0000, 0x0000_0000_0000_0000, "NaN"),
            (0x7800_0000_0000_0000, 0x0000_0000_0000_0000, "Infinity"),
            (0xf800_0000_0000_0000, 0x0000_0000_0000_0000, "-Infinity"),
            (
                0x5ffe_314d_c644_8d93,
                0x38c1_5b09_ffff_ffff,
                "9.99999999999999999999999999999999E+6143",
            ),
            (0x0000_0000_0000_0000, 0x0000_0000_0000_0001, "1E-6176"),
            (0x2fff_ffff_ffff_ffff, 0xffff_ffff_ffff_ffff, "10.384593717069655257060992658440191"),
            (0x3001_ed09_bead_87c0, 0x378d_8e64_0000_0000, "100.00000000000000000000000000000000"),
            (0x3041_ed09_bead_87c0, 0x378d_8e64_0000_0000, "0"),
            (0x3031_ed09_bead_87c0, 0x378d_8e64_0000_0001, "100000000000000000000000000.00000001"),
            (0x6c10_0000_0000_0000, 0x0000_0000_0000_0000, "0"),
            (0x6c10_0000_0000_0000, 0x0000_0000_0000_0005, "0"),
            (0x6ffe_0000_0000_0000, 0x0000_0000_0000_0001, "0E+2012"),
            (0x3e40_0000_0000_0000, 0x0000_0000_0000_0000, "0E+1792"),
            (0x2f88_0000_0000_0000, 0x0000_0000_0000_0000, "0E-92"),
        ];
        for (high, low, want) in table {
            assert_eq!(show(bits(*high, *low)), *want, "{high:#x} {low:#x}");
        }
    }
}
