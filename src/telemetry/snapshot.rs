//! The table as JSON for `snapshot_json`. Written by hand, keys in the documented order and
//! seconds as exact decimals; strings escaped per RFC 8259 (tests parse it back with serde_json).

use std::fmt::Write;
use std::time::SystemTime;

use super::histogram::BOUNDS_NS;
use super::stats::{sorted_codes, Series, Stats};
use super::table::View;
use super::{rfc3339, seconds};

/// The whole table as one JSON object.
pub fn render(since: SystemTime, v: &View) -> String {
    let mut out = String::with_capacity(512 + v.tenants.len() * 1024);
    out.push_str("{\"since\":");
    string(&mut out, &rfc3339::format(since));
    let _ = write!(out, ",\"limit\":{},\"folded\":{},\"tenants\":{{", v.limit, v.folded);
    for (i, (id, s)) in v.tenants.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(&mut out, id);
        out.push(':');
        series(&mut out, s);
    }
    out.push_str("},\"other\":");
    series(&mut out, &v.other);
    out.push_str(",\"system\":");
    series(&mut out, &v.system);
    out.push_str(",\"none\":");
    series(&mut out, &v.none);
    out.push('}');
    out
}

fn series(out: &mut String, s: &Series) {
    out.push('{');
    for (i, (op, st)) in s.sorted().into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, op);
        out.push(':');
        stats(out, st);
    }
    out.push('}');
}

fn stats(out: &mut String, s: &Stats) {
    let _ = write!(out, "{{\"calls\":{},\"errors\":{{", s.calls);
    for (i, (code, n)) in sorted_codes(s).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, code);
        let _ = write!(out, ":{n}");
    }
    let _ = write!(
        out,
        "}},\"documentsRead\":{},\"documentsWritten\":{},\"bytesIn\":{},\"bytesOut\":{},\"serverSeconds\":",
        s.documents_read, s.documents_written, s.bytes_in, s.bytes_out
    );
    seconds::write(out, s.server_ns);
    out.push_str(",\"queueSeconds\":");
    seconds::write(out, s.queued_ns);
    out.push_str(",\"latency\":{\"bounds\":[");
    for (i, &b) in BOUNDS_NS.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        seconds::write(out, u128::from(b));
    }
    out.push_str("],\"counts\":[");
    for (i, n) in s.latency.counts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{n}");
    }
    out.push_str("],\"sum\":");
    seconds::write(out, s.latency.sum_ns);
    let _ = write!(out, ",\"count\":{}}}}}", s.latency.count());
}

/// A JSON string: quote, backslash and control characters escaped, the rest as is (UTF-8).
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{Metrics, Sample, Who};
    use serde_json::{json, Value};
    use std::time::Duration;

    fn parsed(m: &Metrics) -> Value {
        serde_json::from_str(&m.snapshot_json()).expect("snapshot is JSON")
    }

    #[test]
    fn strings_are_escaped_so_they_parse_back_unchanged() {
        let cases: &[&str] = &[
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "nl\nl",
            "\r\t",
            "\u{0}\u{1f}\u{7f}",
            "ünï ✓ \u{2028}",
        ];
        for &raw in cases {
            let mut out = String::new();
            string(&mut out, raw);
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), raw, "{out}");
        }
    }

    #[test]
    fn a_snapshot_has_the_documented_shape_and_values() {
        let m = Metrics::new(100);
        let calls: &[(Who, &str, Option<&str>, u64)] = &[
            (Who::Tenant("acme"), "find", None, 1),
            (Who::Tenant("acme"), "find", Some("MongoNetworkError"), 3000),
            (Who::Tenant("acme"), "insertOne", Some("11000"), 2),
            (Who::System, "listCollections", None, 700),
        ];
        for &(who, op, error, micros) in calls {
            m.record(&Sample {
                error,
                documents_read: 5,
                documents_written: 1,
                bytes_in: 10,
                bytes_out: 1000,
                server: Duration::from_micros(micros / 2),
                queued: Duration::from_micros(micros / 4),
                latency: Duration::from_micros(micros),
                ..Sample::new(who, op)
            });
        }
        let text = m.snapshot_json();
        let v = parsed(&m);
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["folded", "limit", "none", "other", "since", "system", "tenants"]);
        // The documented order, which serde_json's map would not keep.
        let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
        let order = ["since", "limit", "folded", "tenants", "other", "system", "none"].map(at);
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        let since = v["since"].as_str().unwrap();
        assert_eq!((since.len(), &since[10..11], &since[23..]), (24, "T", "Z"), "{since}");
        assert_eq!((v["limit"].as_u64(), v["folded"].as_u64()), (Some(100), Some(0)));
        assert_eq!(v["other"], json!({}));

        let bounds =
            json!([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
        let find = &v["tenants"]["acme"]["find"];
        assert_eq!(
            *find,
            json!({
                "calls": 2,
                "errors": { "MongoNetworkError": 1 },
                "documentsRead": 10, "documentsWritten": 2, "bytesIn": 20, "bytesOut": 2000,
                "serverSeconds": 0.0015, "queueSeconds": 0.00075,
                "latency": {
                    "bounds": bounds,
                    "counts": [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    "sum": 0.003001,
                    "count": 2
                }
            })
        );
        assert_eq!(v["tenants"]["acme"]["insertOne"]["errors"], json!({ "11000": 1 }));
        let system = &v["system"]["listCollections"];
        assert_eq!(
            (system["calls"].as_u64(), system["latency"]["count"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(
            system["latency"]["counts"],
            json!([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        );
    }
}
