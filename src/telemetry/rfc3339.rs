//! RFC 3339 UTC timestamps from `SystemTime`, so the crate needs no date library.

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ`; a time before 1970 (a clock set wrong) prints as the epoch.
pub fn format(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil(secs / 86_400);
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// which needs no table of month lengths and is exact for every day a u64 of seconds reaches).
fn civil(days: u64) -> (u64, u64, u64) {
    // Shifted so eras (400 years) start on 0000-03-01 and the leap day ends each year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_print_as_rfc3339_utc_with_milliseconds() {
        let cases: &[(u64, u32, &str)] = &[
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (0, 999_999, "1970-01-01T00:00:00.000Z"),
            (59, 1_000_000, "1970-01-01T00:00:59.001Z"),
            (951_782_400, 0, "2000-02-29T00:00:00.000Z"),
            (946_684_799, 999_000_000, "1999-12-31T23:59:59.999Z"),
            (1_709_164_800, 0, "2024-02-29T00:00:00.000Z"),
            (1_796_589_663, 123_456_789, "2026-12-06T20:41:03.123Z"),
            (4_107_542_400, 0, "2100-03-01T00:00:00.000Z"),
            (253_402_300_799, 0, "9999-12-31T23:59:59.000Z"),
        ];
        for &(secs, nanos, want) in cases {
            let t = UNIX_EPOCH + Duration::new(secs, nanos);
            assert_eq!(format(t), want, "{secs}.{nanos}");
        }
    }

    #[test]
    fn a_time_before_the_epoch_prints_as_the_epoch() {
        let t = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(format(t), "1970-01-01T00:00:00.000Z");
    }
}
