'use strict';
// What `npm publish` would ship, read from `npm pack --dry-run --json` (scripts skipped, so
// nothing is built): the JS face, its types, the generated loader, the sources for an explicit
// source build, and nothing of the repo's build output, tests, benchmarks or mongod cache.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const pkg = require('../../package.json');

/** Every file under `dir` (relative to the repo root, '/' separated). */
function walk(dir) {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    return e.isDirectory() ? walk(rel) : [rel];
  });
}

let packed;

beforeAll(() => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  [packed] = JSON.parse(out);
  packed.paths = packed.files.map((f) => f.path);
});

test('ships the entries, the types, the generated loader, LICENSE and README', () => {
  for (const file of ['package.json', 'index.js', 'index.mjs', 'index.d.ts', 'binding.js', 'LICENSE', 'README.md']) {
    expect(packed.paths).toContain(file);
  }
  // Every file the JS face can require at run time.
  expect(packed.paths).toEqual(expect.arrayContaining(walk('lib')));
});

test('ships what `npm run build:source` needs, and nothing of a build', () => {
  expect(packed.paths).toEqual(
    expect.arrayContaining(['scripts/build.js', 'Cargo.toml', 'Cargo.lock', 'build.rs', ...walk('src')]),
  );
  const excluded = /^(target|\.mongod|__tests__|bench|examples|fuzz|types|npm|\.ci|node_modules|\.git)\//;
  expect(packed.paths.filter((p) => excluded.test(p))).toEqual([]);
  // The binary comes from the platform package; a stray local build must not ride along.
  expect(packed.paths.filter((p) => p.endsWith('.node') || p.endsWith('.log') || p === 'binding.d.ts')).toEqual([]);
  // A ceiling that catches a build or a data file riding along (a target/ is hundreds of MB);
  // the Rust sources themselves are most of it and grow with the product.
  expect(packed.unpackedSize).toBeLessThan(1.5 * 1024 * 1024);
});

test('installing runs no script; the binary is an optional per-platform dependency', () => {
  for (const hook of ['preinstall', 'install', 'postinstall']) expect(pkg.scripts[hook]).toBeUndefined();
  expect(pkg.scripts.prepublishOnly).toBe('napi pre-publish -t npm');
  expect(pkg.dependencies['@napi-rs/cli']).toBeUndefined();
  expect(pkg.devDependencies['@napi-rs/cli']).toBeDefined();
});

test('each napi target has its platform package, named as binding.js requires it', () => {
  const loader = fs.readFileSync(path.join(root, 'binding.js'), 'utf8');
  const dirs = fs.readdirSync(path.join(root, 'npm')).sort();
  expect(dirs).toHaveLength(pkg.napi.targets.length);
  for (const dir of dirs) {
    const sub = JSON.parse(fs.readFileSync(path.join(root, 'npm', dir, 'package.json'), 'utf8'));
    const binary = `${pkg.napi.binaryName}.${dir}.node`;
    expect(sub).toMatchObject({ name: `${pkg.name}-${dir}`, version: pkg.version, main: binary, files: [binary] });
    expect(sub.os).toHaveLength(1);
    expect(sub.cpu).toHaveLength(1);
    expect(loader).toContain(`require('${sub.name}')`);
  }
});
