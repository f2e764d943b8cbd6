//! BSON datetimes as `Date.prototype.toJSON` gives them.

/// ECMAScript's time value limit: js-bson's `new Date(ms)` is an Invalid Date beyond it.
const MAX_MS: i64 = 8_640_000_000_000_000;
const DAY_MS: i64 = 86_400_000;

/// Writes a BSON datetime as JSON.stringify writes its Date: a quoted ISO string, or `null`.
pub fn write_date(out: &mut Vec<u8>, ms: i64) {
    // js-bson builds the Date from `Long.toNumber()`, a double. Every value within the limit is
    // exact as a double, and one beyond it rounds to a double beyond it, so the i64 decides.
    if !(-MAX_MS..=MAX_MS).contains(&ms) {
        // toJSON of an Invalid Date is null.
        out.extend_from_slice(b"null");
        return;
    }
    let (year, month, day) = civil(ms.div_euclid(DAY_MS));
    let t = ms.rem_euclid(DAY_MS);
    out.push(b'"');
    // toISOString: four-digit years for 0..=9999, otherwise a sign and six digits.
    if (0..=9999).contains(&year) {
        digits(out, year as u64, 4);
    } else {
        out.push(if year < 0 { b'-' } else { b'+' });
        digits(out, year.unsigned_abs(), 6);
    }
    out.push(b'-');
    digits(out, month, 2);
    out.push(b'-');
    digits(out, day, 2);
    out.push(b'T');
    digits(out, (t / 3_600_000) as u64, 2);
    out.push(b':');
    digits(out, (t / 60_000 % 60) as u64, 2);
    out.push(b':');
    digits(out, (t / 1000 % 60) as u64, 2);
    out.push(b'.');
    digits(out, (t % 1000) as u64, 3);
    out.extend_from_slice(b"Z\"");
}

/// The proleptic Gregorian (year, month, day) of a day count from 1970-01-01.
fn civil(days: i64) -> (i64, u64, u64) {
    // Howard Hinnant's days_from_civil inverse, on 400-year eras starting in March.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn digits(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut v = v;
    let mut at = buf.len();
    while v > 0 {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = at.min(buf.len() - width);
    out.extend_from_slice(&buf[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_strings_as_to_json() {
        // Expected strings are what node prints for JSON.stringify(new Date(ms)).
        let table: &[(i64, &str)] = &[
            (0, r#""1970-01-01T00:00:00.000Z""#),
            (-1, r#""1969-12-31T23:59:59.999Z""#),
            (1_709_210_096_789, r#""2024-02-29T12:34:56.789Z""#),
            (951_782_400_000, r#""2000-02-29T00:00:00.000Z""#),
            (-62_167_219_200_000, r#""0000-01-01T00:00:00.000Z""#),
            (-62_198_755_200_000, r#""-000001-01-01T00:00:00.000Z""#),
            (253_402_300_799_999, r#""9999-12-31T23:59:59.999Z""#),
            (253_402_300_800_000, r#""+010000-01-01T00:00:00.000Z""#),
            (MAX_MS, r#""+275760-09-13T00:00:00.000Z""#),
            (-MAX_MS, r#""-271821-04-20T00:00:00.000Z""#),
            (MAX_MS + 1, "null"),
            (-MAX_MS - 1, "null"),
            (i64::MAX, "null"),
            (i64::MIN, "null"),
        ];
        for (ms, want) in table {
            let mut out = Vec::new();
            write_date(&mut out, *ms);
            assert_eq!(String::from_utf8(out).unwrap(), *want, "{ms}");
        }
    }
}
