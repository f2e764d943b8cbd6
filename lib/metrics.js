'use strict';
// fence.metrics(): the per-tenant figures Rust keeps (src/telemetry), as an object, as
// Prometheus text, or as prom-client metrics (registerMetrics) so an app's /metrics serves them.

const { invalidArg } = require('./errors');

// Each counter of a series' stats, as prom-client and the text format name it.
const COUNTERS = [
  ['tenantfence_calls_total', 'calls', 'Calls by tenant and operation.'],
  ['tenantfence_documents_read_total', 'documentsRead', 'Documents handed back to the caller.'],
  ['tenantfence_documents_written_total', 'documentsWritten', 'Documents inserted, modified, upserted or deleted.'],
  ['tenantfence_bytes_in_total', 'bytesIn', 'Request bytes the caller handed in.'],
  ['tenantfence_bytes_out_total', 'bytesOut', 'Reply bytes handed back.'],
  ['tenantfence_server_seconds_total', 'serverSeconds', 'Time spent awaiting MongoDB, past the quota gate.'],
  ['tenantfence_queue_seconds_total', 'queueSeconds', 'Time calls waited at their tenant quota gate.'],
];
const PSEUDO = { other: '$other', system: '$system', none: '$none' };

/** Checks `fence.metrics(options)`; returns the format. */
function formatOf(options) {
  if (options === undefined) return 'object';
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalidArg('metrics(options): options must be an object');
  for (const k of Object.keys(options)) if (k !== 'format') throw invalidArg(`metrics(options): option '${k}' is not known; the option is format`);
  const { format } = options;
  if (format === undefined || format === 'json' || format === 'object') return 'object';
  if (format === 'prometheus') return 'prometheus';
  throw invalidArg("metrics(options): format must be 'prometheus' or 'json'");
}

/** The snapshot JSON Rust wrote, as the object `fence.metrics()` returns. */
function fromJson(text) {
  const s = JSON.parse(text);
  s.since = new Date(s.since);
  return s;
}

/** Every (tenant label, operation, stats) of a snapshot. */
function* rows(s) {
  for (const [tenant, ops] of Object.entries(s.tenants)) for (const [op, st] of Object.entries(ops)) yield [tenant, op, st];
  for (const [key, label] of Object.entries(PSEUDO)) for (const [op, st] of Object.entries(s[key] || {})) yield [label, op, st];
}

/**
 * prom-client metrics over `read()` (a snapshot, or null when metrics are off): one per
 * family, each read when the registry is scraped.
 */
function promMetrics(read) {
  const metric = (name, help, type, values) => ({
    name,
    help,
    type,
    aggregator: 'sum',
    async get() {
      const s = read();
      return { name, help, type, aggregator: 'sum', values: s ? values(s) : [] };
    },
    reset() {},
  });
  const out = COUNTERS.map(([name, key, help]) =>
    metric(name, help, 'counter', (s) => [...rows(s)].map(([tenant, operation, st]) => ({ labels: { tenant, operation }, value: st[key] }))),
  );
  out.push(
    metric('tenantfence_errors_total', 'Failed calls by tenant, operation and error code (refusals included).', 'counter', (s) => {
      const v = [];
      for (const [tenant, operation, st] of rows(s)) for (const [code, n] of Object.entries(st.errors)) v.push({ labels: { tenant, operation, code }, value: n });
      return v;
    }),
    metric('tenantfence_call_duration_seconds', 'Call latency, from the call to its answer.', 'histogram', (s) => {
      const v = [];
      for (const [tenant, operation, st] of rows(s)) {
        const { bounds, counts, sum, count } = st.latency;
        let acc = 0;
        counts.forEach((n, i) => {
          acc += n;
          const le = i < bounds.length ? bounds[i] : '+Inf';
          v.push({ metricName: 'tenantfence_call_duration_seconds_bucket', labels: { tenant, operation, le }, value: acc });
        });
        v.push({ metricName: 'tenantfence_call_duration_seconds_sum', labels: { tenant, operation }, value: sum });
        v.push({ metricName: 'tenantfence_call_duration_seconds_count', labels: { tenant, operation }, value: count });
      }
      return v;
    }),
    metric('tenantfence_tenants_folded_total', 'Tenants whose series were folded into $other to bound cardinality.', 'counter', (s) => [{ labels: {}, value: s.folded }]),
  );
  return out;
}

module.exports = { formatOf, fromJson, promMetrics };
