//! The table in the Prometheus text exposition format 0.0.4: every family's HELP and TYPE
//! once, series sorted by tenant then operation so successive scrapes diff cleanly.

use std::fmt::Write;

use super::histogram::BOUNDS_NS;
use super::seconds;
use super::stats::{sorted_codes, Series, Stats};
use super::table::View;
use super::{NOBODY_TENANT, OTHER_TENANT, SYSTEM_TENANT};

/// A counter family whose value is read straight off one (tenant, operation).
struct Counter {
    name: &'static str,
    help: &'static str,
    value: fn(&Stats, &mut String),
}

fn count(out: &mut String, n: u64) {
    let _ = write!(out, "{n}");
}

const COUNTERS: &[Counter] = &[
    Counter {
        name: "tenantfence_calls_total",
        help: "Calls made, by tenant and operation.",
        value: |s, out| count(out, s.calls),
    },
    Counter {
        name: "tenantfence_documents_read_total",
        help: "Documents read from the server.",
        value: |s, out| count(out, s.documents_read),
    },
    Counter {
        name: "tenantfence_documents_written_total",
        help: "Documents inserted, updated, replaced or deleted.",
        value: |s, out| count(out, s.documents_written),
    },
    Counter {
        name: "tenantfence_bytes_in_total",
        help: "Request bytes handed in by the caller.",
        value: |s, out| count(out, s.bytes_in),
    },
    Counter {
        name: "tenantfence_bytes_out_total",
        help: "Reply bytes handed back to the caller.",
        value: |s, out| count(out, s.bytes_out),
    },
    Counter {
        name: "tenantfence_server_seconds_total",
        help: "Seconds spent awaiting the driver.",
        value: |s, out| seconds::write(out, s.server_ns),
    },
    Counter {
        name: "tenantfence_queue_seconds_total",
        help: "Seconds waited for a quota before being sent.",
        value: |s, out| seconds::write(out, s.queued_ns),
    },
];

/// The whole table as exposition text.
pub fn render(v: &View) -> String {
    let rows = rows(v);
    let mut out = String::with_capacity(256 + rows.len() * 2048);
    for c in COUNTERS {
        header(&mut out, c.name, c.help, "counter");
        for &(tenant, op, stats) in &rows {
            out.push_str(c.name);
            labels(&mut out, tenant, op);
            out.push_str("} ");
            (c.value)(stats, &mut out);
            out.push('\n');
        }
    }

    let name = "tenantfence_errors_total";
    header(&mut out, name, "Calls that failed, by the error's stable code.", "counter");
    for &(tenant, op, stats) in &rows {
        for (code, n) in sorted_codes(stats) {
            out.push_str(name);
            labels(&mut out, tenant, op);
            out.push_str(",code=\"");
            escape(&mut out, code);
            let _ = writeln!(out, "\"}} {n}");
        }
    }

    let name = "tenantfence_call_duration_seconds";
    header(&mut out, name, "Whole-call latency.", "histogram");
    for &(tenant, op, stats) in &rows {
        let h = &stats.latency;
        for (i, n) in h.cumulative().into_iter().enumerate() {
            let _ = write!(out, "{name}_bucket");
            labels(&mut out, tenant, op);
            out.push_str(",le=\"");
            match BOUNDS_NS.get(i) {
                Some(&b) => seconds::write(&mut out, u128::from(b)),
                None => out.push_str("+Inf"),
            }
            let _ = writeln!(out, "\"}} {n}");
        }
        let _ = write!(out, "{name}_sum");
        labels(&mut out, tenant, op);
        out.push_str("} ");
        seconds::write(&mut out, h.sum_ns);
        let _ = write!(out, "\n{name}_count");
        labels(&mut out, tenant, op);
        let _ = writeln!(out, "}} {}", h.count());
    }

    let name = "tenantfence_tenants_folded_total";
    header(
        &mut out,
        name,
        "Tenants whose series were folded into $other to bound cardinality.",
        "counter",
    );
    let _ = writeln!(out, "{name} {}", v.folded);
    out
}

/// Every (tenant, operation) sorted; `$other` and `$system` are tenant label values like any.
fn rows(v: &View) -> Vec<(&str, &str, &Stats)> {
    let series = v.tenants.iter().map(|(id, s)| (id.as_str(), s)).chain([
        (OTHER_TENANT, &v.other),
        (SYSTEM_TENANT, &v.system),
        (NOBODY_TENANT, &v.none),
    ]);
    let mut rows: Vec<(&str, &str, &Stats)> = Vec::new();
    for (tenant, s) in series {
        rows.extend(Series::sorted(s).into_iter().map(|(op, st)| (tenant, op, st)));
    }
    rows.sort_unstable_by_key(|&(t, op, _)| (t, op));
    rows
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Opens a label set with tenant and operation; the caller adds any more and the `}`.
fn labels(out: &mut String, tenant: &str, op: &str) {
    out.push_str("{tenant=\"");
    escape(out, tenant);
    out.push_str("\",operation=\"");
    escape(out, op);
    out.push('"');
}

/// A label value as the format requires: backslash, double quote and line feed escaped.
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::histogram::BUCKETS;
    use crate::telemetry::{Metrics, Sample, Who};
    use std::collections::HashMap;
    use std::time::Duration;

    /// Samples as (series, value) and, per family, how many HELP and TYPE lines it had.
    type Parsed = (Vec<(String, String)>, HashMap<String, (usize, usize)>);

    /// Reads exposition text back, checking each line's shape: the parser a scrape would
    /// run, small enough to trust.
    fn parse(text: &str) -> Parsed {
        let mut samples = Vec::new();
        let mut headers: HashMap<String, (usize, usize)> = HashMap::new();
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                headers.entry(rest.split(' ').next().unwrap().to_string()).or_default().0 += 1;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                headers.entry(rest.split(' ').next().unwrap().to_string()).or_default().1 += 1;
            } else {
                let (series, value) = line.rsplit_once(' ').expect(line);
                value.parse::<f64>().expect(line);
                assert!(!series.contains('\n'));
                samples.push((series.to_string(), value.to_string()));
            }
        }
        (samples, headers)
    }

    fn value<'a>(samples: &'a [(String, String)], series: &str) -> &'a str {
        let found = samples.iter().find(|(s, _)| s == series);
        &found.unwrap_or_else(|| panic!("no {series}")).1
    }

    #[test]
    fn one_call_renders_as_this_exact_text() {
        let m = Metrics::new(10);
        let s = Sample {
            error: Some("11000"),
            documents_written: 1,
            bytes_in: 64,
            bytes_out: 32,
            server: Duration::from_micros(1500),
            queued: Duration::from_nanos(500),
            latency: Duration::from_millis(2),
            ..Sample::new(Who::Tenant("acme"), "insertOne")
        };
        m.record(&s);
        let want = r#"# HELP tenantfence_calls_total Calls made, by tenant and operation.
# TYPE tenantfence_calls_total counter
tenantfence_calls_total{tenant="acme",operation="insertOne"} 1
# HELP tenantfence_documents_read_total Documents read from the server.
# TYPE tenantfence_documents_read_total counter
tenantfence_documents_read_total{tenant="acme",operation="insertOne"} 0
# HELP tenantfence_documents_written_total Documents inserted, updated, replaced or deleted.
# TYPE tenantfence_documents_written_total counter
tenantfence_documents_written_total{tenant="acme",operation="insertOne"} 1
# HELP tenantfence_bytes_in_total Request bytes handed in by the caller.
# TYPE tenantfence_bytes_in_total counter
tenantfence_bytes_in_total{tenant="acme",operation="insertOne"} 64
# HELP tenantfence_bytes_out_total Reply bytes handed back to the caller.
# TYPE tenantfence_bytes_out_total counter
tenantfence_bytes_out_total{tenant="acme",operation="insertOne"} 32
# HELP tenantfence_server_seconds_total Seconds spent awaiting the driver.
# TYPE tenantfence_server_seconds_total counter
tenantfence_server_seconds_total{tenant="acme",operation="insertOne"} 0.0015
# HELP tenantfence_queue_seconds_total Seconds waited for a quota before being sent.
# TYPE tenantfence_queue_seconds_total counter
tenantfence_queue_seconds_total{tenant="acme",operation="insertOne"} 0.0000005
# HELP tenantfence_errors_total Calls that failed, by the error's stable code.
# TYPE tenantfence_errors_total counter
tenantfence_errors_total{tenant="acme",operation="insertOne",code="11000"} 1
# HELP tenantfence_call_duration_seconds Whole-call latency.
# TYPE tenantfence_call_duration_seconds histogram
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="0.0005"} 0
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="0.001"} 0
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="0.0025"} 1
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="0.005"} 1
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="0.01"} 1
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="0.025"} 1
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="0.05"} 1
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="0.1"} 1
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="0.25"} 1
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="0.5"} 1
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="1"} 1
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="2.5"} 1
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="5"} 1
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="10"} 1
tenantfence_call_duration_seconds_bucket{tenant="acme",operation="insertOne",le="+Inf"} 1
tenantfence_call_duration_seconds_sum{tenant="acme",operation="insertOne"} 0.002
tenantfence_call_duration_seconds_count{tenant="acme",operation="insertOne"} 1
# HELP tenantfence_tenants_folded_total Tenants whose series were folded into $other to bound cardinality.
# TYPE tenantfence_tenants_folded_total counter
tenantfence_tenants_folded_total 0
"#;
        assert_eq!(m.prometheus(), want);
    }

    #[test]
    fn label_values_are_escaped() {
        // (value, as written inside the quotes)
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("a\\b", "a\\\\b"),
            ("say \"hi\"", "say \\\"hi\\\""),
            ("two\nlines", "two\\nlines"),
            ("\\\"\n", "\\\\\\\"\\n"),
            ("tab\tand ünïcode", "tab\tand ünïcode"),
        ];
        for &(raw, want) in cases {
            let m = Metrics::new(4);
            m.record(&Sample { error: Some(raw), ..Sample::new(Who::System, raw) });
            let text = m.prometheus();
            let line = format!(
                "tenantfence_errors_total{{tenant=\"$system\",operation=\"{want}\",code=\"{want}\"}} 1\n"
            );
            assert!(text.contains(&line), "{raw:?}:\n{text}");
            parse(&text);
        }
    }

    #[test]
    fn histograms_are_cumulative_and_end_at_the_count() {
        let m = Metrics::new(4);
        let ms: &[u64] = &[0, 1, 3, 3, 30, 700, 4000, 20_000];
        for &n in ms {
            m.record(&Sample {
                latency: Duration::from_millis(n),
                ..Sample::new(Who::Tenant("a"), "find")
            });
        }
        let (samples, _) = parse(&m.prometheus());
        let series = |le: &str| {
            format!("tenantfence_call_duration_seconds_bucket{{tenant=\"a\",operation=\"find\",le=\"{le}\"}}")
        };
        let cases: &[(&str, &str)] = &[
            ("0.0005", "1"),
            ("0.001", "2"),
            ("0.0025", "2"),
            ("0.005", "4"),
            ("0.025", "4"),
            ("0.05", "5"),
            ("0.5", "5"),
            ("1", "6"),
            ("5", "7"),
            ("10", "7"),
            ("+Inf", "8"),
        ];
        for &(le, want) in cases {
            assert_eq!(value(&samples, &series(le)), want, "le={le}");
        }
        let buckets: Vec<f64> = samples
            .iter()
            .filter(|(s, _)| s.starts_with("tenantfence_call_duration_seconds_bucket"))
            .map(|(_, v)| v.parse().unwrap())
            .collect();
        assert_eq!(buckets.len(), BUCKETS);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
        let labels = "{tenant=\"a\",operation=\"find\"}";
        assert_eq!(
            value(&samples, &format!("tenantfence_call_duration_seconds_count{labels}")),
            "8"
        );
        assert_eq!(
            value(&samples, &format!("tenantfence_call_duration_seconds_sum{labels}")),
            "24.737"
        );
    }

    #[test]
    fn families_are_declared_once_and_series_sorted() {
        let m = Metrics::new(2);
        let calls: &[(Who, &str)] = &[
            (Who::Tenant("zeta"), "find"),
            (Who::System, "listIndexes"),
            (Who::Tenant("acme"), "update"),
            (Who::Tenant("acme"), "aggregate"),
            (Who::Tenant("acme"), "update"),
            (Who::Tenant("beta"), "find"),
        ];
        for &(who, op) in calls {
            m.record(&Sample { error: Some("E"), ..Sample::new(who, op) });
        }
        let (samples, headers) = parse(&m.prometheus());
        assert_eq!(headers.len(), COUNTERS.len() + 3);
        assert!(headers.values().all(|&n| n == (1, 1)), "{headers:?}");
        let calls: Vec<&str> = samples
            .iter()
            .filter(|(s, _)| s.starts_with("tenantfence_calls_total"))
            .map(|(s, _)| s.strip_prefix("tenantfence_calls_total").unwrap())
            .collect();
        assert_eq!(
            calls,
            [
                "{tenant=\"$other\",operation=\"find\"}",
                "{tenant=\"$system\",operation=\"listIndexes\"}",
                "{tenant=\"acme\",operation=\"aggregate\"}",
                "{tenant=\"acme\",operation=\"update\"}",
                "{tenant=\"beta\",operation=\"find\"}",
            ]
        );
        assert_eq!(value(&samples, "tenantfence_tenants_folded_total"), "1");
        assert_eq!(m.prometheus(), m.prometheus());
    }
}
