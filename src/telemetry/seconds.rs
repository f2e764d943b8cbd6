//! Nanoseconds as decimal seconds, exactly: no float is involved, so `0.0005` prints as
//! `0.0005` and a large sum keeps every digit. Both Prometheus and JSON parse the text.

use std::fmt::Write;

const NANOS: u128 = 1_000_000_000;

/// Appends `ns` nanoseconds as seconds: `0`, `1`, `2.5`, `0.000000001` (never an exponent).
pub fn write(out: &mut String, ns: u128) {
    let (whole, frac) = (ns / NANOS, ns % NANOS);
    let _ = write!(out, "{whole}");
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ns: u128) -> String {
        let mut out = String::new();
        write(&mut out, ns);
        out
    }

    #[test]
    fn nanoseconds_print_as_exact_decimal_seconds() {
        let cases: &[(u128, &str)] = &[
            (0, "0"),
            (1, "0.000000001"),
            (500_000, "0.0005"),
            (2_500_000, "0.0025"),
            (100_000_000, "0.1"),
            (1_000_000_000, "1"),
            (2_500_000_000, "2.5"),
            (10_000_000_000, "10"),
            (1_234_567_891, "1.234567891"),
            (u128::from(u64::MAX), "18446744073.709551615"),
        ];
        for &(ns, want) in cases {
            assert_eq!(text(ns), want);
            // Whatever reads it gets the nearest double to the exact value.
            assert_eq!(want.parse::<f64>().unwrap(), ns as f64 / 1e9, "{want}");
        }
    }
}
