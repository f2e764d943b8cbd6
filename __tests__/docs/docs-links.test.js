'use strict';
// Every relative link in docs/*.md, ARCHITECTURE.md, CONTRIBUTING.md, __tests__/README.md and the
// README points at a file that exists and, when it has one, at a heading that exists there:
// renaming a heading or a page cannot silently break the docs. The README's Documentation section
// links every page.

const fs = require('node:fs');
const path = require('node:path');
const { ROOT, readDoc, section, proseLines } = require('../helpers/markdown');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading) {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a markdown file's headings. */
function anchors(rel) {
  return new Set(
    proseLines(readDoc(rel))
      .filter((l) => /^#{1,6} /.test(l))
      .map((l) => slug(l.replace(/^#+ /, ''))),
  );
}

/** Relative links of a markdown text (outside code blocks): [{ target, anchor }]. */
function links(markdown) {
  const prose = proseLines(markdown).join('\n').replace(/`[^`\n]*`/g, '');
  const out = [];
  for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
    const href = m[1];
    if (/^[a-z]+:/i.test(href)) continue; // http:, https:, mailto:
    const [file, anchor] = href.split('#');
    out.push({ href, file, anchor });
  }
  return out;
}

const DOCS = fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
// The pages for people working on tenantfence itself, beside the README.
const TOP = ['ARCHITECTURE.md', 'CONTRIBUTING.md'];
const PAGES = [...DOCS, ...TOP];
const SOURCES = [...[...PAGES, '__tests__/README.md'].map((rel) => [rel, readDoc(rel)]), ['README.md', readDoc('README.md')]];

describe('links in the docs', () => {
  test('the README\'s Documentation section links every page of docs/ and the top-level pages, once', () => {
    const linked = links(section(readDoc('README.md'), '## Documentation')).map((l) => l.file).sort();
    expect(linked).toEqual([...PAGES].sort());
  });

  test.each(SOURCES)('%s: every relative link resolves', (rel, text) => {
    const broken = [];
    for (const { href, file, anchor } of links(text)) {
      const target = file ? path.posix.normalize(path.posix.join(path.posix.dirname(rel), file)) : rel;
      if (!fs.existsSync(path.join(ROOT, target))) broken.push(`${href}: no file ${target}`);
      else if (anchor && target.endsWith('.md') && !anchors(target).has(anchor)) broken.push(`${href}: no heading #${anchor} in ${target}`);
    }
    expect(broken).toEqual([]);
  });
});
