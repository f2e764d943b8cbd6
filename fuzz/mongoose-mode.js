'use strict';
// The mongoose mode (issue 15): the field mode's world and cases, each run as the Mongoose call
// an app would make for it. The scoped side is a Mongoose on tenantfence/mongoose, connected
// with `{ fence }` to the world's fence, as tenant A; the reference side is a plain Mongoose on
// the npm driver over the reference database (A's documents only), with the same models. Both
// sides build, cast and hook the call the same way, so a difference is the driver's or the
// fence's. The oracle (fuzz/oracle.js) judges as in the field mode: same results and same
// stored state for A, nothing of a neighbour's changed, a refusal writes nothing.
//
// A case is a generator case plus `mg`: { pkg ('mongoose' 9 or 'mongoose8'), form (how the call
// is read: lean, hydrated documents, cursor, eachAsync …), populate / match }. About one case
// in eight is a `save`: a hydrated document found with a total sort, fields set (the tenant
// field among them), then doc.save().

const driver = require('../lib/mongoose');
const { generate, evaluatesJs } = require('./generator');
const { runCase, call, errorSig, fail } = require('./oracle');
const { openWorld, closeWorld, changed, hashes, reset } = require('./world');
const { Rng, caseSeed } = require('./prng');
const { clone, showArgs } = require('./clone');
const { toReference } = require('./reference');
const { TENANT, FIELD, A_IDS, OTHER_IDS } = require('./dataset');
const { filter } = require('./gen/filter');
const { sortSpec } = require('./gen/pipeline');
const { TENANTS, valueFor } = require('./gen/values');
const { runOp, toBsonOf, POPULATE } = require('./mongoose-ops');

const PKGS = ['mongoose', 'mongoose8'];
const SAVE_RATE = 0.12;
/** Paths a save case sets (the tenant field twice as often: setting it must be refused, or be a no-op as A). */
const EDIT_PATHS = ['x', 'y', 'z', 'sub.k', 'tags', 'n', FIELD, FIELD];

/**
 * The models of one side: strict: false and an `_id` of any type, so the generator's documents,
 * filters and updates pass Mongoose's casting unchanged (the dataset's _ids are numbers). A
 * document without one gets an ObjectId from Mongoose, as with a default schema (canon.js
 * neutralises generated ObjectIds).
 */
function models(m) {
  const { Schema } = m;
  const loose = () => new Schema({ _id: { type: Schema.Types.Mixed, default: () => new m.Types.ObjectId() } }, { strict: false, strictQuery: false });
  const item = loose();
  for (const [name, spec] of Object.entries(POPULATE)) item.virtual(name, spec);
  return { Item: m.model('Item', item, 'items'), Other: m.model('Other', loose(), 'other'), Plan: m.model('Plan', loose(), 'plans') };
}

/** A fresh Mongoose of `pkg`; on tenantfence's driver when `fenced`. The world makes the collections and indexes. */
function instance(pkg, fenced) {
  const { Mongoose } = require(pkg);
  const m = new Mongoose();
  if (fenced) m.setDriver(driver);
  m.set('autoCreate', false);
  m.set('autoIndex', false);
  // Mongoose 9 takes an update pipeline only when told (the generator makes them).
  if (pkg === 'mongoose') m.set('updatePipeline', true);
  return m;
}

/**
 * A plain Mongoose's connect options. Mongoose 9's driver (mongodb 7) loads `os` with a dynamic
 * import(), which Jest's CommonJS sandbox cannot run: its handshake then names no driver and the
 * server refuses it. Handing it `os` is the driver's own option for runtimes without it.
 */
function plainOptions(pkg, dbName) {
  return pkg === 'mongoose' ? { dbName, runtimeAdapters: { os: require('node:os') } } : { dbName };
}

/** The field mode's world, plus per Mongoose version a fenced instance and a reference instance. */
async function open(uri) {
  const world = await openWorld(uri, { kind: 'field' });
  world.uri = uri;
  world.mg = {};
  try {
    for (const pkg of PKGS) {
      const scoped = instance(pkg, true);
      await scoped.connect(uri, { fence: world.fence });
      const ref = instance(pkg, false);
      await ref.connect(uri, plainOptions(pkg, world.refName));
      world.mg[pkg] = { scoped, ref, scopedModels: models(scoped), refModels: models(ref), refBson: ref.mongo.BSON };
    }
  } catch (e) {
    await close(world);
    throw e;
  }
  world.runScoped = (c) => runScoped(world, c);
  world.runReference = (c, args) => {
    const side = world.mg[c.mg.pkg];
    return runOp(side.refModels, c, toBsonOf(side.refBson, args));
  };
  return world;
}

async function runScoped(world, c) {
  const side = world.mg[c.mg.pkg];
  if (world.broken) {
    // Tests of the oracle only: a stand-in for a driver that forgot the fence, i.e. a plain
    // Mongoose on the scoped database, unscoped. The oracle must fail such cases.
    if (!side.unscoped) {
      side.unscoped = instance(c.mg.pkg, false);
      await side.unscoped.connect(world.uri, plainOptions(c.mg.pkg, world.scopedName));
      side.unscopedModels = models(side.unscoped);
    }
    return runOp(side.unscopedModels, c, toBsonOf(side.ref.mongo.BSON, toReference(c, world)));
  }
  const out = await world.fence.runAs(TENANT, () => runOp(side.scopedModels, c, clone(c.args)));
  return driverRefusal(out);
}

/**
 * The oracle passes any TENANT_VIOLATION that wrote nothing. The driver's own refusal of a
 * collection method it does not offer is no tenant rule, though: every call here is one Mongoose
 * makes for an ordinary app, so it must work. Made an ordinary error, so the oracle fails it
 * where the reference answers.
 */
function driverRefusal(out) {
  const e = out.error;
  if (!e || e.name !== 'TenantError' || !/is not available through tenantfence/.test(String(e.message))) return out;
  return { error: Object.assign(new Error(`the driver refused a call Mongoose made: ${e.message}`), { name: 'DriverRefusal' }) };
}

async function close(world) {
  for (const side of Object.values(world.mg || {})) {
    for (const m of [side.scoped, side.ref, side.unscoped]) if (m) await m.disconnect().catch(() => {});
  }
  await closeWorld(world);
}

/**
 * Cases Mongoose cannot carry as the generator means them: a document naming a key twice is a
 * Map with a String-object key, which Mongoose's casting folds into one key (the case would no
 * longer test what it names).
 */
function translatable(c) {
  return !c.mustFail && !holdsMap(c.args);
}

function holdsMap(v, depth = 0) {
  if (v instanceof Map) return true;
  if (!v || typeof v !== 'object' || v._bsontype || v instanceof Date || depth > 60) return false;
  return Object.values(v).some((x) => holdsMap(x, depth + 1));
}

/** A save case: the first of A's documents matching a filter in a total order, fields set, saved. */
function saveCase(r) {
  const edits = Array.from({ length: r.int(1, 2) }, () => {
    const path = r.pick(EDIT_PATHS);
    // undefined: Mongoose unsets the path.
    return [path, path === FIELD ? r.pick(TENANTS) : r.chance(0.15) ? undefined : valueFor(r, path)];
  });
  const f = r.chance(0.5) ? broad(r) : filter(r, 0, {});
  const c = { method: 'save', args: [f, { sort: sortSpec(r, true) }, edits], write: true };
  if (evaluatesJs(c)) c.tenantRefuse = 'js';
  return c;
}

/**
 * A find with a populate. The generator's filters rarely match much, so most populate cases
 * read a broad filter instead (a populate of nothing proves nothing), and drop the hint (its
 * refusal is the find mode's business).
 */
function populateCase(r, c, mg) {
  mg.form = r.pick(['lean', 'docs']);
  mg.populate = r.pick(Object.keys(POPULATE));
  if (r.chance(0.3)) mg.match = filter(r, 1, { noTop: true, paths: ['k', 'v', 'w', 'x', 'y', 'parent', '_id', FIELD] });
  // (Not a shape's or a refused case's filter: its flags describe that filter.)
  const plain = !c.shape && !c.tenantRefuse && !c.mustRefuse;
  if (r.chance(0.6) && plain) c.args[0] = broad(r);
  if (c.args[1] && plain) delete c.args[1].hint;
}

/** Filters that match several of A's documents (and the neighbours' too, were the fence to let them). */
function broad(r) {
  return r.pick([() => ({}), () => ({ x: { $gte: r.int(0, 4) } }), () => ({ _id: { $in: [...A_IDS.slice(0, 5), ...OTHER_IDS] } }), () => ({ tags: 'red' }), () => ({ parent: { $ne: null } })]);
}

/** How the call is made and read: the Mongoose version and the method's form. */
function mgFor(r, c) {
  const mg = { pkg: r.chance(0.35) ? 'mongoose8' : 'mongoose' };
  switch (c.method) {
    case 'find':
      mg.form = r.pick(['lean', 'lean', 'docs', 'cursor', 'eachAsync']);
      if (c.coll !== 'plans' && r.chance(0.35)) populateCase(r, c, mg);
      break;
    case 'findOne':
    case 'findOneAndUpdate':
    case 'findOneAndReplace':
    case 'findOneAndDelete':
      mg.form = r.pick(['lean', 'doc']);
      break;
    case 'aggregate':
      mg.form = r.pick(['exec', 'exec', 'cursor', 'eachAsync']);
      break;
    case 'insertOne':
      mg.form = r.pick(['create', 'save', 'insertOne']);
      break;
    case 'insertMany':
      mg.form = r.pick(['docs', 'lean']);
      break;
    default:
  }
  return mg;
}

/** Case `index` of `seed`: the generator's case (re-drawn while untranslatable) or a save case, with its Mongoose form. */
function generateCase(seed, index) {
  let c = generate(seed, index);
  for (let k = 1; !translatable(c); k++) c = { ...generate((seed + Math.imul(k, 0x2545f491)) >>> 0, index), seed, index };
  const r = new Rng(caseSeed((seed ^ 0x6f05e) >>> 0, index));
  if (r.chance(SAVE_RATE)) c = { seed, index, ...saveCase(r) };
  c.mg = mgFor(r, c);
  return c;
}

const MODEL = { plans: 'Plan' };

/** The case as a line of Mongoose code (for the reproduction). */
function code(c) {
  const M = MODEL[c.coll] || 'Item';
  const a = c.args.map(showArgs);
  const opts = (o) => {
    if (!o) return '';
    const { sort, skip, limit, projection: _p, ...rest } = JSON.parse(showArgs(o));
    return `${sort ? `.sort(${JSON.stringify(sort)})` : ''}${skip !== undefined ? `.skip(${skip})` : ''}${limit !== undefined ? `.limit(${limit})` : ''}${Object.keys(rest).length ? `.setOptions(${JSON.stringify(rest)})` : ''}`;
  };
  const proj = (o) => (o && o.projection ? `, ${showArgs(o.projection)}` : '');
  const form = { lean: '.lean()', docs: '', doc: '', cursor: '.cursor() (for await)', eachAsync: '.cursor().eachAsync(fn)' }[c.mg.form] ?? '';
  let call;
  switch (c.method) {
    case 'find':
      call = `${M}.find(${a[0]}${proj(c.args[1])})${opts(c.args[1])}${c.mg.populate ? `.populate(${JSON.stringify({ path: c.mg.populate, options: { sort: { _id: 1 } } })}${c.mg.match ? ` + match ${showArgs(c.mg.match)}` : ''})` : ''}${form}`;
      break;
    case 'findOne':
      call = `${M}.findOne(${a[0]}${proj(c.args[1])})${opts(c.args[1])}${form}`;
      break;
    case 'countDocuments':
      call = `${M}.countDocuments(${a[0]})${opts(c.args[1])}`;
      break;
    case 'distinct':
      call = `${M}.distinct(${a[0]}, ${a[1]})${opts(c.args[2])}`;
      break;
    case 'aggregate':
      call = `${M}.aggregate(${a[0]}).option(${a[1] ?? '{}'})${c.mg.form === 'exec' ? '' : form}`;
      break;
    case 'save':
      call = `(await ${M}.findOne(${a[0]}).sort({...${showArgs(c.args[1].sort)}, _id: 1})) → doc.set(…) for ${showArgs(c.args[2])} → doc.save()`;
      break;
    case 'insertOne':
      call = c.mg.form === 'save' ? `new ${M}(${a[0]}).save()` : `${M}.${c.mg.form}(${a[0]})`;
      break;
    case 'insertMany':
      call = `${M}.insertMany(${a[0]}, ${c.mg.form === 'lean' ? `{ ...${a[1] ?? '{}'}, lean: true }` : a[1] ?? '{}'})`;
      break;
    default:
      call = `${M}.${c.method}(${a.join(', ')})${['findOneAndUpdate', 'findOneAndReplace', 'findOneAndDelete'].includes(c.method) ? form : ''}`;
  }
  return `[${c.mg.pkg === 'mongoose8' ? 'Mongoose 8' : 'Mongoose 9'}] await fence.runAs('A', async () => await ${call})`;
}

/**
 * Judges a case as the field mode does, then explains each refusal: the oracle passes any
 * TENANT_VIOLATION that wrote nothing, but a Mongoose call must be refused only where the fence
 * refuses the call it stands for. So the same arguments go through the fence's own collection
 * (as the field mode calls it), which must refuse too; a save is explained by an edit that moves
 * the document to another tenant or removes the field.
 */
async function judgeCase(world, c) {
  const v = await runCase(world, c);
  if (v.outcome !== 'refused' || world.broken) return v;
  const why = await refusalExplained(world, c);
  return why === true ? v : fail('unexplained refusal', [`the Mongoose call was refused (${v.refusal}), but ${why}`]);
}

async function refusalExplained(world, c) {
  if (c.method === 'save') {
    const moves = c.args[2].some(([path, value]) => (path === FIELD && value !== TENANT) || path.startsWith(`${FIELD}.`));
    return moves || Boolean(c.tenantRefuse) || 'no edit of the save moves the document out of tenant A';
  }
  const out = await world.fence.runAs(TENANT, () => call(world.fence.collection(c.coll ?? 'items'), c.method, clone(c.args)));
  // What the plain call wrote (it must write nothing: the fence refuses it) is put back.
  const dirty = changed(world, await hashes(world));
  if (dirty.length) await reset(world, dirty);
  const refused = out.error && errorSig(out.error).kind === 'tenant' && out.error.code === 'TENANT_VIOLATION';
  return refused || `the fence's own ${c.method} with the same arguments ${out.error ? `failed otherwise: ${out.error.name} ${out.error.code ?? ''} ${out.error.message}` : 'was answered'}`;
}

const MODE = { name: 'mongoose', open, close, generate: generateCase, runCase: judgeCase, shrinkable: true, code };

module.exports = { MODE, open, close, generate: generateCase, runCase: judgeCase, models, instance };
