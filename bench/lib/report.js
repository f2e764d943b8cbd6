'use strict';
// Shared helpers for the benchmarks: machine description and writing one section of
// bench/RESULTS.md (each script owns a section between markers and replaces only it).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const RESULTS = path.join(__dirname, '..', 'RESULTS.md');
const HEADER =
  '# Benchmark results\n\n' +
  'Written by the scripts in `bench/` (see `bench/README.md`); each run replaces its own section.\n';

function machine() {
  const cpu = os.cpus()[0];
  return (
    `${os.cpus().length} cores (\`nproc\`), ${cpu ? cpu.model.trim() : 'unknown CPU'}, ` +
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ` +
    `${os.platform()}-${os.arch()}, ${new Date().toISOString()}`
  );
}

/** Replaces (or appends) the section `name` of RESULTS.md with `markdown`. */
function writeSection(name, markdown) {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  let text = fs.existsSync(RESULTS) ? fs.readFileSync(RESULTS, 'utf8') : HEADER;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a >= 0 && b > a) text = text.slice(0, a) + block + text.slice(b + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(RESULTS, text.endsWith('\n') ? text : `${text}\n`);
  return RESULTS;
}

/** A GitHub-flavoured markdown table. */
function table(head, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);

module.exports = { machine, writeSection, table, median, fmt, mib, RESULTS };
