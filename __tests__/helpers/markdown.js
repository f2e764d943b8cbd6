'use strict';
// Reads the docs the way the doc tests need them: fenced code blocks with their info
// strings, and headings. Keeps the tests of docs/*.md short and alike.

const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

/** The text of a file under the repository root. */
function readDoc(rel) {
  return fs.readFileSync(path.join(ROOT, rel), 'utf8');
}

/**
 * Fenced code blocks in order: { lang, attrs, code, line }. The info string
 * "json status=201" gives lang 'json' and attrs { status: '201' }; a bare word is true.
 */
function codeBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)(.*)$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]);
    if (i >= lines.length) throw new Error(`code block opened on line ${start + 1} is never closed`);
    const attrs = {};
    for (const word of open[2].trim().split(/\s+/).filter(Boolean)) {
      const eq = word.indexOf('=');
      if (eq < 0) attrs[word] = true;
      else attrs[word.slice(0, eq)] = word.slice(eq + 1);
    }
    blocks.push({ lang: open[1], attrs, code: body.join('\n') + '\n', line: start + 1 });
  }
  return blocks;
}

/** The lines of a markdown text, with those inside code blocks blanked (a `# comment` is no heading). */
function proseLines(markdown) {
  let inCode = false;
  return markdown.split('\n').map((l) => {
    if (l.startsWith('```')) {
      inCode = !inCode;
      return '';
    }
    return inCode ? '' : l;
  });
}

/** Headings of a given level ('##' or '###'), as their text with surrounding backticks removed. */
function headings(markdown, level) {
  const out = [];
  for (const l of proseLines(markdown)) {
    if (l.startsWith(`${level} `)) out.push(l.slice(level.length + 1).trim().replace(/^`(.*)`$/, '$1'));
  }
  return out;
}

/** The text from a heading line up to the next heading of the same or a higher level. */
function section(markdown, heading) {
  const level = heading.match(/^#+/)[0].length;
  const prose = proseLines(markdown);
  const at = prose.findIndex((l) => l === heading);
  if (at < 0) throw new Error(`no heading "${heading}"`);
  const lines = markdown.split('\n');
  const out = [];
  for (let i = at + 1; i < lines.length; i++) {
    const h = /^(#+) /.exec(prose[i]);
    if (h && h[1].length <= level) break;
    out.push(lines[i]);
  }
  return out.join('\n');
}

module.exports = { ROOT, readDoc, codeBlocks, headings, section, proseLines };
