'use strict';
// docs/tutorial.md, followed as a reader would: an empty folder, `npm init -y`, the
// packages the tutorial installs (linked from this repository instead of a registry),
// its app.js run as a separate process, then every curl request on the page, each
// answer compared with the one the page shows. The tutorial cannot drift from the code.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { ROOT, readDoc, codeBlocks } = require('../helpers/markdown');
const { dbName, uriWithDb, rawClient } = require('../helpers/fixtures');

const TUTORIAL = 'docs/tutorial.md';
const OBJECT_ID = /^[0-9a-f]{24}$/;

/** Splits one shell command into words: '…' and "…" quoting, $NAME expansion, \-newline joins. */
function shellWords(command, vars) {
  const src = command.replace(/\\\n/g, ' ').trim();
  const words = [];
  let word = null;
  const expand = (s) =>
    s.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, name) => {
      if (!(name in vars)) throw new Error(`the tutorial uses $${name} before it is set`);
      return vars[name];
    });
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === ' ' || c === '\t') {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'") {
      const end = src.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unclosed ' in: ${command}`);
      word = (word || '') + src.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      const end = src.indexOf('"', i + 1);
      if (end < 0) throw new Error(`unclosed " in: ${command}`);
      word = (word || '') + expand(src.slice(i + 1, end));
      i = end;
    } else {
      const m = /^[^\s'"]+/.exec(src.slice(i));
      word = (word || '') + expand(m[0]);
      i += m[0].length - 1;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** The fetch() call a curl command stands for. Only the flags the tutorial uses are known. */
function curlRequest(words, port) {
  if (words[0] !== 'curl') throw new Error(`not a curl command: ${words.join(' ')}`);
  let method;
  let body;
  let target;
  const headers = {};
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    if (w === '-s') continue;
    if (w === '-X') method = words[++i];
    else if (w === '-H') {
      const h = words[++i];
      const colon = h.indexOf(':');
      headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
    } else if (w === '-d') body = words[++i];
    else if (w.startsWith('-')) throw new Error(`the tutorial test does not know curl flag ${w}`);
    else target = w;
  }
  const url = new URL(`http://${target}`);
  if (url.host !== 'localhost:3000') throw new Error(`the tutorial's app listens on localhost:3000, not ${url.host}`);
  url.host = `127.0.0.1:${port}`;
  return { url: url.href, init: { method: method || (body === undefined ? 'GET' : 'POST'), headers, body } };
}

/** True when `actual` is what the page shows; an ObjectId hex on the page stands for any ObjectId hex. */
function shownAs(expected, actual) {
  if (typeof expected === 'string' && OBJECT_ID.test(expected)) return typeof actual === 'string' && OBJECT_ID.test(actual);
  if (expected === null || typeof expected !== 'object') return expected === actual;
  if (actual === null || typeof actual !== 'object' || Array.isArray(expected) !== Array.isArray(actual)) return false;
  const ek = Object.keys(expected);
  const ak = Object.keys(actual);
  // Same keys in the same order: the page shows JSON as the server writes it.
  return ek.length === ak.length && ek.every((k, i) => k === ak[i] && shownAs(expected[k], actual[k]));
}

/** The steps of the page in order: setup commands, app.js, the server's first line, request/answer pairs. */
function tutorialSteps() {
  const blocks = codeBlocks(readDoc(TUTORIAL));
  const setup = blocks.find((b) => b.lang === 'sh' && b.code.includes('npm init'));
  const app = blocks.filter((b) => b.attrs.file === 'app.js');
  const started = blocks.filter((b) => b.attrs.output);
  const requests = [];
  blocks.forEach((b, i) => {
    if (b.lang !== 'sh' || !b.code.startsWith('curl ')) return;
    const answer = blocks[i + 1];
    if (!answer || answer.lang !== 'json' || !answer.attrs.status) {
      throw new Error(`${TUTORIAL}:${b.line}: a curl block must be followed by a json block with status=`);
    }
    requests.push({ command: b.code, line: b.line, status: Number(answer.attrs.status), body: JSON.parse(answer.code) });
  });
  if (!setup || app.length !== 1 || started.length !== 1) throw new Error(`${TUTORIAL} lost its setup, app.js or output block`);
  return { setup: setup.code, app: app[0].code, started: started[0].code.trim(), requests };
}

/** Starts `node app.js` in `dir`; resolves to { child, port, firstLine } once it prints its address. */
function startApp(dir, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['app.js'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const fail = (why) => {
      child.kill('SIGKILL');
      reject(new Error(`${why}\nstdout: ${out}\nstderr: ${err}`));
    };
    const timer = setTimeout(() => fail('app.js did not print its address within 30 s'), 30_000);
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      const m = /^listening on http:\/\/localhost:(\d+)$/.exec(line);
      if (m && out.includes('\n')) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), firstLine: line });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`app.js exited with ${code}\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

describe('docs/tutorial.md, followed from an empty folder', () => {
  const steps = tutorialSteps();
  const DB = dbName('tutorial');
  let dir;
  let app;

  beforeAll(async () => {
    dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tenantfence-tutorial-')), 'notes-api');
    fs.mkdirSync(dir);
    const init = spawnSync('npm', ['init', '-y'], { cwd: dir, encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`npm init -y failed: ${init.stderr}`);
    // `npm install <packages>` without a registry: tenantfence is this repository, the rest come from its node_modules.
    const install = /^npm install (.+)$/m.exec(steps.setup);
    const packages = install[1].trim().split(/\s+/);
    fs.mkdirSync(path.join(dir, 'node_modules'));
    for (const name of packages) {
      const from = name === 'tenantfence' ? ROOT : path.join(ROOT, 'node_modules', name);
      if (!fs.existsSync(from)) throw new Error(`the tutorial installs ${name}, which this repository does not have`);
      fs.symlinkSync(from, path.join(dir, 'node_modules', name), 'dir');
    }
    fs.writeFileSync(path.join(dir, 'app.js'), steps.app);
    const env = { ...process.env, MONGODB_URI: uriWithDb(DB), PORT: '0' };
    delete env.NODE_PATH;
    delete env.NODE_OPTIONS;
    app = await startApp(dir, env);
  });

  afterAll(async () => {
    if (app) {
      const exited = new Promise((r) => app.child.once('exit', r));
      app.child.kill('SIGTERM');
      await exited;
    }
    const raw = await rawClient();
    await raw.db(DB).dropDatabase();
    await raw.close();
    if (dir) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  test('the setup starts from an empty folder with npm init and installs tenantfence and express', () => {
    expect(steps.setup).toMatch(/^mkdir notes-api && cd notes-api\nnpm init -y\nnpm install tenantfence express\n$/);
  });

  test('app.js prints the line the page shows', () => {
    expect(app.firstLine.replace(`:${app.port}`, ':3000')).toBe(steps.started);
  });

  test('every curl request gets the status and body the page shows', async () => {
    expect(steps.requests.length).toBeGreaterThanOrEqual(10);
    const vars = {};
    for (const step of steps.requests) {
      const { url, init } = curlRequest(shellWords(step.command, vars), app.port);
      const res = await fetch(url, init);
      const body = await res.json();
      const seen = { line: step.line, status: res.status, body };
      expect(seen).toEqual({ line: step.line, status: step.status, body: expect.anything() });
      if (!shownAs(step.body, body)) {
        throw new Error(`${TUTORIAL}:${step.line}: the page shows ${JSON.stringify(step.body)}, the app answered ${JSON.stringify(body)}`);
      }
      // The page asks the reader to keep the first note's _id as $ID.
      if (vars.ID === undefined && init.method === 'POST') vars.ID = body._id;
    }
  });

  test("the PATCH steps use the first note's _id, and the refused update left it with acme", async () => {
    expect(steps.requests.filter((s) => s.command.includes('$ID')).length).toBe(3);
    const raw = await rawClient();
    try {
      // By tenant: generated _ids order each tenant's own inserts, not one tenant's against another's.
      const docs = await raw.db(DB).collection('notes').find({}, { sort: { tenantId: 1 } }).toArray();
      expect(docs.map((d) => [d.tenantId, d.text])).toEqual([
        ['acme', 'Order even more anvils'],
        ['globex', 'Inspect the volcano'],
      ]);
    } finally {
      await raw.close();
    }
  });
});
