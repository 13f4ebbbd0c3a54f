// Replays the language-neutral vectors (tests/vectors/README.md) through the
// wasm module, as the Rust, Python and Kotlin suites do, and checks the
// camelCase object API and typed errors. Run by scripts/wasm.sh (make test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
const sr = require(path.join(process.env.STRONGROOM_WASM_PKG, 'strongroom_wasm.js'));
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const load = (name) => JSON.parse(readFileSync(path.join(repo, 'tests/vectors', name), 'utf8'));
const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

function substitute(v, vars) {
  if (typeof v === 'string') return Object.entries(vars).reduce((s, [k, x]) => s.split('${' + k + '}').join(x), v);
  if (Array.isArray(v)) return v.map((x) => substitute(x, vars));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, vars)]));
  return v;
}

function partialMatch(expected, actual, at) {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length === expected.length, `${at}: ${JSON.stringify(expected)} vs ${JSON.stringify(actual)}`);
    expected.forEach((e, i) => partialMatch(e, actual[i], `${at}[${i}]`));
  } else if (expected && typeof expected === 'object') {
    assert.ok(actual && typeof actual === 'object', `${at}: expected an object, got ${JSON.stringify(actual)}`);
    for (const [k, e] of Object.entries(expected)) partialMatch(e, actual[k] ?? null, `${at}.${k}`);
  } else {
    assert.deepEqual(actual, expected, at);
  }
}

const getPath = (v, p) => p.split('.').reduce((acc, part) => acc[/^\d+$/.test(part) ? Number(part) : part], v);

function runScenario(scn) {
  const clock = new sr.ManualClock(scn.start_time_ms ?? 1767225600000);
  const seed = hex(scn.rng_seed);
  const regions = new Map();
  (scn.regions ?? []).forEach((r, i) => {
    const s = seed.slice();
    s[31] ^= i;
    regions.set(r, sr.Kms.deterministic('111122223333', r, s, clock));
  });
  const kms = regions.size ? [...regions.values()][0] : sr.Kms.deterministic('111122223333', 'us-east-1', seed, clock);
  const vars = {};
  let n = 0;
  scn.steps.forEach((step, i) => {
    if ('advance_ms' in step) { clock.advanceMs(step.advance_ms); return; }
    const req = substitute(step.request ?? {}, vars);
    for (const f of ['Policy', 'PolicyDocument']) if (req[f] && typeof req[f] === 'object') req[f] = JSON.stringify(req[f]);
    let actor = step.Region ? regions.get(step.Region) : kms;
    if (step.As) actor = actor.asCaller(substitute(step.As, vars));
    const where = `${scn.name} step ${i} (${step.op})`;
    let out, error;
    try {
      if (step.op === 'ReplicateKey') out = actor.replicateKeyJson(JSON.stringify(req), regions.get(req.ReplicaRegion));
      else if (step.op === 'UpdatePrimaryRegion') { actor.updatePrimaryRegion(req.KeyId, regions.get(req.PrimaryRegion)); out = '{}'; }
      else out = actor.callJson(step.op, JSON.stringify(req));
    } catch (e) { error = e; }
    if (step.error) {
      assert.ok(error, `${where}: expected ${step.error}, got ${out}`);
      assert.ok(error instanceof Error, where);
      assert.equal(error.code, step.error, `${where}: ${error.message}`);
    } else {
      assert.ok(!error, `${where}: unexpected ${error?.code}: ${error?.message}`);
      const v = JSON.parse(out);
      if (step.expect) partialMatch(substitute(step.expect, vars), v, where);
      for (const [k, p] of Object.entries(step.save ?? {})) {
        const x = getPath(v, p);
        vars[k] = typeof x === 'string' ? x : JSON.stringify(x);
      }
    }
    n++;
  });
  return n;
}

for (const [file, minimum] of [['core/scenarios.json', 50], ['core/kat-seeded.json', 10], ['core/authorization.json', 200], ['core/asymmetric.json', 20], ['core/regions-and-import.json', 20]]) {
  test(`vectors ${file}`, () => {
    const doc = load(file);
    assert.equal(doc.format, 'strongroom-scenarios/1');
    const steps = doc.scenarios.reduce((acc, s) => acc + runScenario(s), 0);
    assert.ok(steps >= minimum, `only ${steps} steps`);
  });
}

test('official AWS Encryption SDK messages decrypt', () => {
  const doc = load('esdk/official-python-sdk.json');
  const env = sr.Envelope.rawAes(doc.key_namespace, doc.key_name, hex(doc.key));
  for (const c of doc.cases) {
    const msg = hex(c.message);
    if (!['0478', '0578'].includes(c.suite)) {
      assert.throws(() => env.decrypt(msg, false), (e) => e.code === 'ValidationException');
    }
    const out = env.decrypt(msg, true);
    assert.deepEqual(out.plaintext, hex(doc.plaintext));
    assert.equal(out.suite, parseInt(c.suite, 16));
  }
});

test('camelCase object API, Uint8Array bytes, errors with a code', () => {
  const kms = sr.Kms.inMemory();
  const { keyMetadata } = kms.createKey({ description: 'browser' });
  assert.equal(keyMetadata.keyState, 'Enabled');
  assert.equal(keyMetadata.description, 'browser');
  kms.createAlias({ aliasName: 'alias/web', targetKeyId: keyMetadata.keyId });
  const ctx = { tenant: 'acme', KeepThisCase: 'yes' };
  const { ciphertextBlob, keyId } = kms.encrypt({ keyId: 'alias/web', plaintext: new TextEncoder().encode('hello'), encryptionContext: ctx });
  assert.ok(ciphertextBlob instanceof Uint8Array);
  assert.equal(keyId, keyMetadata.arn);
  const out = kms.decrypt({ ciphertextBlob, encryptionContext: ctx });
  assert.equal(new TextDecoder().decode(out.plaintext), 'hello');
  assert.throws(() => kms.decrypt({ ciphertextBlob, encryptionContext: { tenant: 'other' } }),
    (e) => e instanceof Error && e.code === 'InvalidCiphertextException' && !e.message.includes('hello'));
  assert.throws(() => kms.describeKey({ keyId: 'alias/missing' }), (e) => e.code === 'NotFoundException');
  assert.throws(() => kms.call('Nope', {}), (e) => e.code === 'ValidationException');
  const dk = kms.generateDataKey({ keyId: keyMetadata.keyId, keySpec: 'AES_256' });
  assert.equal(dk.plaintext.length, 32);
  const grants = kms.createGrant({ keyId: keyMetadata.keyId, granteePrincipal: 'arn:aws:iam::111122223333:role/r',
    operations: ['Decrypt'], constraints: { encryptionContextSubset: { KeepThisCase: 'yes' } } });
  assert.ok(grants.grantToken);
  const listed = kms.listGrants({ keyId: keyMetadata.keyId }).grants[0];
  assert.deepEqual(listed.constraints.encryptionContextSubset, { KeepThisCase: 'yes' });
  assert.ok(sr.errorCodes().includes('KMSInvalidStateException'));
});

test('envelope encryption with a KMS key', () => {
  const kms = sr.Kms.inMemory();
  const key = kms.createKey({}).keyMetadata.arn;
  const env = sr.Envelope.forKms(kms, [key]);
  const data = new Uint8Array(100000).map((_, i) => i * 7);
  for (const suite of [0x0578, 0x0478]) {
    const msg = env.encrypt(data, { file: 'a' }, suite, 4096);
    const out = env.decrypt(msg);
    assert.deepEqual(out.plaintext, data);
    assert.equal(out.keyName, key);
    assert.equal(out.encryptionContext.file, 'a');
  }
  kms.disableKey({ keyId: key });
  assert.throws(() => env.decrypt(env.encrypt(data, {}, 0x0478, 4096)), (e) => e.code === 'DisabledException');
});

test('the sealed store survives a reload through a snapshot', () => {
  const root = new Uint8Array(32).fill(9);
  const kms = sr.Kms.openSnapshot(undefined, root, undefined);
  const keyId = kms.createKey({ description: 'persisted' }).keyMetadata.keyId;
  kms.createAlias({ aliasName: 'alias/kept', targetKeyId: keyId });
  const blob = kms.encrypt({ keyId, plaintext: new TextEncoder().encode('after reload') }).ciphertextBlob;
  const snapshot = kms.exportSnapshot();
  assert.ok(snapshot instanceof Uint8Array && snapshot.length > 100);
  assert.ok(!Buffer.from(snapshot).includes(Buffer.from('after reload')), 'no plaintext in the snapshot');
  // "Reload": a new module-level Kms from the saved bytes.
  const again = sr.Kms.openSnapshot(snapshot, root, undefined);
  assert.equal(again.describeKey({ keyId: 'alias/kept' }).keyMetadata.description, 'persisted');
  assert.equal(new TextDecoder().decode(again.decrypt({ ciphertextBlob: blob }).plaintext), 'after reload');
  assert.throws(() => sr.Kms.openSnapshot(snapshot, new Uint8Array(32), undefined), (e) => e.code === 'InvalidRootKeyException');
  assert.throws(() => sr.Kms.openSnapshot(snapshot.slice(0, snapshot.length - 3), root, undefined), (e) => e.code === 'StoreCorruptedException');
  assert.throws(() => sr.Kms.inMemory().exportSnapshot(), (e) => e.code === 'ValidationException');
  // A passphrase root key (Argon2id) works the same way.
  const p = sr.Kms.openSnapshot(undefined, undefined, 'correct horse');
  p.createKey({});
  const snap2 = p.exportSnapshot();
  assert.equal(sr.Kms.openSnapshot(snap2, undefined, 'correct horse').listKeys({}).keys.length, 1);
  assert.throws(() => sr.Kms.openSnapshot(snap2, undefined, 'wrong'), (e) => e.code === 'InvalidRootKeyException');
});
