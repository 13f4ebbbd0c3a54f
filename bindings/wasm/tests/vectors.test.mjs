// Replays the language-neutral vectors (tests/vectors/README.md) through the
// npm package, as the Rust, Python and Kotlin suites do, and checks the
// camelCase object API and typed errors. scripts/wasm.sh (make test) packs
// the package, installs it into build/npm/consumer and runs this there, so
// `import 'strongroom'` resolves exactly as in a user's project.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as sr from 'strongroom';

const repo = process.env.STRONGROOM_REPO;
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
    regions.set(r, sr.Kms.deterministic({ account: '111122223333', region: r, seed: s, clock }));
  });
  const kms = regions.size ? [...regions.values()][0] : sr.Kms.deterministic({ account: '111122223333', region: 'us-east-1', seed, clock });
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

test('official AWS Encryption SDK messages decrypt', async () => {
  const doc = load('esdk/official-python-sdk.json');
  const env = sr.Envelope.rawAes({ keyNamespace: doc.key_namespace, keyName: doc.key_name, wrappingKey: hex(doc.key) });
  for (const c of doc.cases) {
    const msg = hex(c.message);
    if (!['0478', '0578'].includes(c.suite)) {
      assert.throws(() => env.decrypt(msg), (e) => e.code === 'ValidationException');
    }
    const out = env.decrypt(msg, { allowLegacySuites: true });
    assert.deepEqual(out.plaintext, hex(doc.plaintext));
    assert.equal(out.suite, parseInt(c.suite, 16));
    // The WebCrypto path reads the official SDK's messages too (signatures
    // verified by WebCrypto for the signed suites).
    const viaWebCrypto = await env.decryptAsync(msg, { allowLegacySuites: true });
    assert.deepEqual(viaWebCrypto.plaintext, hex(doc.plaintext), c.suite);
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
  // A policy may be given as an object; it is stored as its JSON text.
  const policy = { Version: '2012-10-17', Statement: [{ Sid: 'root', Effect: 'Allow',
    Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }] };
  kms.putKeyPolicy({ keyId: keyMetadata.keyId, policy });
  assert.deepEqual(JSON.parse(kms.getKeyPolicy({ keyId: keyMetadata.keyId }).policy), policy);
  // Nulls stay nulls; undefined fields are simply absent from the request.
  assert.equal(kms.describeKey({ keyId: keyMetadata.keyId, grantTokens: undefined }).keyMetadata.deletionDateMs, null);
});

test('envelope encryption with a KMS key', () => {
  const kms = sr.Kms.inMemory();
  const key = kms.createKey({}).keyMetadata.arn;
  const env = sr.Envelope.forKms(kms, [key]);
  const data = new Uint8Array(100000).map((_, i) => i * 7);
  for (const suite of [0x0578, 0x0478]) {
    const msg = env.encrypt(data, { encryptionContext: { file: 'a' }, suite, frameLength: 4096 });
    const out = env.decrypt(msg);
    assert.deepEqual(out.plaintext, data);
    assert.equal(out.keyName, key);
    assert.equal(out.encryptionContext.file, 'a');
  }
  kms.disableKey({ keyId: key });
  assert.throws(() => env.decrypt(env.encrypt(data, { suite: 0x0478, frameLength: 4096 })), (e) => e.code === 'DisabledException');
});

test('the sealed store survives a reload through a snapshot', () => {
  const root = new Uint8Array(32).fill(9);
  const kms = sr.Kms.openSnapshot({ snapshot: undefined, rootKey: root });
  const keyId = kms.createKey({ description: 'persisted' }).keyMetadata.keyId;
  kms.createAlias({ aliasName: 'alias/kept', targetKeyId: keyId });
  const blob = kms.encrypt({ keyId, plaintext: new TextEncoder().encode('after reload') }).ciphertextBlob;
  const snapshot = kms.exportSnapshot();
  assert.ok(snapshot instanceof Uint8Array && snapshot.length > 100);
  assert.ok(!Buffer.from(snapshot).includes(Buffer.from('after reload')), 'no plaintext in the snapshot');
  // "Reload": a new module-level Kms from the saved bytes.
  const again = sr.Kms.openSnapshot({ snapshot: snapshot, rootKey: root });
  assert.equal(again.describeKey({ keyId: 'alias/kept' }).keyMetadata.description, 'persisted');
  assert.equal(new TextDecoder().decode(again.decrypt({ ciphertextBlob: blob }).plaintext), 'after reload');
  assert.throws(() => sr.Kms.openSnapshot({ snapshot: snapshot, rootKey: new Uint8Array(32) }), (e) => e.code === 'InvalidRootKeyException');
  assert.throws(() => sr.Kms.openSnapshot({ snapshot: snapshot.slice(0, snapshot.length - 3), rootKey: root }), (e) => e.code === 'StoreCorruptedException');
  assert.throws(() => sr.Kms.inMemory().exportSnapshot(), (e) => e.code === 'ValidationException');
  // A passphrase root key (Argon2id) works the same way.
  const p = sr.Kms.openSnapshot({ snapshot: undefined, passphrase: 'correct horse' });
  p.createKey({});
  const snap2 = p.exportSnapshot();
  assert.equal(sr.Kms.openSnapshot({ snapshot: snap2, passphrase: 'correct horse' }).listKeys({}).keys.length, 1);
  assert.throws(() => sr.Kms.openSnapshot({ snapshot: snap2, passphrase: 'wrong' }), (e) => e.code === 'InvalidRootKeyException');
});

test('the declarations and the module agree on operations and error codes', () => {
  const dts = readFileSync(new URL(import.meta.resolve('strongroom')).pathname.replace(/node\.js$/, 'index.d.ts'), 'utf8');
  const declaredOps = [...dts.slice(dts.indexOf('export interface Operations {')).matchAll(/^ {2}(\w+): \[/gm)].map((m) => m[1]);
  assert.deepEqual(declaredOps, [...sr.OPERATIONS]);
  const union = dts.slice(dts.indexOf('export type ErrorCode ='), dts.indexOf(';', dts.indexOf('export type ErrorCode =')));
  assert.deepEqual([...union.matchAll(/'(\w+)'/g)].map((m) => m[1]).sort(), sr.errorCodes().sort());
  const kms = sr.Kms.inMemory();
  for (const op of sr.OPERATIONS) {
    const m = op[0].toLowerCase() + op.slice(1);
    assert.equal(typeof kms[m], 'function', m);
  }
  // A key record has exactly the declared KeyMetadata fields.
  const meta = kms.createKey({}).keyMetadata;
  const block = dts.slice(dts.indexOf('export interface KeyMetadata {'));
  const fields = [...block.slice(0, block.indexOf('}')).matchAll(/^ {2}(\w+):/gm)].map((x) => x[1]);
  assert.deepEqual(Object.keys(meta).sort(), fields.sort());
});

test('every error is a StrongroomError with its code as name', async () => {
  const kms = sr.Kms.inMemory();
  try {
    kms.describeKey({ keyId: 'alias/none' });
    assert.fail('no error');
  } catch (e) {
    assert.ok(sr.isStrongroomError(e));
    assert.equal(e.name, 'NotFoundException');
  }
  assert.throws(() => kms.encrypt({ keyId: 'x', plaintext: new Uint8Array(1), bogusField: 1 }), (e) => e.code === 'ValidationException');
  assert.throws(() => sr.Envelope.rawAes({ keyNamespace: 'n', keyName: 'k', wrappingKey: new Uint8Array(31) }), (e) => e.code === 'ValidationException');
  assert.ok(!sr.isStrongroomError(new Error('other')));
  // Bad input anywhere in the API is a ValidationException, never a TypeError.
  const env = sr.Envelope.forKms(kms, [kms.createKey({}).keyMetadata.keyId]);
  const invalid = (e) => sr.isStrongroomError(e) && e.code === 'ValidationException';
  for (const f of [
    () => env.encrypt('text'),
    () => env.decrypt([1, 2, 3]),
    () => env.encrypt(new Uint8Array(1), 'ctx'),
    () => env.encrypt(new Uint8Array(1), { encryptionContext: { a: 1 } }),
    () => sr.Envelope.forKms(kms, 'alias/x'),
    () => sr.Envelope.forKms({}, []),
    () => sr.Envelope.forKms(kms, [], { cache: { capacty: 3 } }),
    () => sr.Envelope.rawAes({ keyNamespace: 'n', keyName: 'k' }),
    () => sr.Kms.openSnapshot({}),
    () => sr.Kms.openSnapshot({ rootKey: new Uint8Array(32), passphrase: 'x' }),
    () => sr.Kms.openSnapshot({ rootKey: 'not bytes' }),
    () => sr.Kms.inMemory({ region: 5 }),
    () => sr.Kms.deterministic({ account: 'a', region: 'r', seed: new Uint8Array(32), clock: {} }),
    () => kms.encrypt({ keyId: 'x', plaintext: 'not bytes' }),
  ]) assert.throws(f, invalid, f.toString());
  await assert.rejects(env.encryptAsync('text'), invalid);
  await assert.rejects(env.decryptAsync(undefined), invalid);
  await assert.rejects(sr.Kms.openPersistent({ storage: { load: async () => undefined, save: async () => {} } }), invalid);
});

const concat = (parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};

test('streaming over chunks matches whole-buffer encryption', async () => {
  const kms = sr.Kms.inMemory();
  const key = kms.createKey({}).keyMetadata.arn;
  const env = sr.Envelope.forKms(kms, [key]);
  const data = new Uint8Array(300001).map((_, i) => (i * 31) & 255);
  for (const suite of [sr.SUITE_SIGNED, sr.SUITE_UNSIGNED]) {
    const e = env.encryptor({ encryptionContext: { f: 'x' }, suite, frameLength: 4096 });
    const parts = [];
    for (let i = 0; i < data.length; i += 7777) parts.push(e.update(data.subarray(i, i + 7777)));
    parts.push(e.finish());
    const msg = concat(parts);
    assert.deepEqual(env.decrypt(msg).plaintext, data);
    const d = env.decryptor();
    const outs = [];
    for (let i = 0; i < msg.length; i += 1000) outs.push(d.update(msg.subarray(i, i + 1000)));
    const last = d.finish();
    outs.push(last.plaintext);
    assert.deepEqual(concat(outs), data);
    assert.equal(last.encryptionContext.f, 'x');
    // Cut short: finish refuses; the stream is then closed.
    const cut = env.decryptor();
    cut.update(msg.subarray(0, msg.length - 10));
    assert.throws(() => cut.finish(), (x) => sr.isStrongroomError(x));
    assert.throws(() => cut.finish(), (x) => x.code === 'ValidationException');
  }
});

test('TransformStream helpers pipe files through', async () => {
  const kms = sr.Kms.inMemory();
  const env = sr.Envelope.forKms(kms, [kms.createKey({}).keyMetadata.keyId]);
  const data = new Uint8Array(200000).map((_, i) => i & 255);
  const source = () => new ReadableStream({
    start(c) { for (let i = 0; i < data.length; i += 65536) c.enqueue(data.slice(i, i + 65536)); c.close(); },
  });
  const collect = async (rs) => { const parts = []; for await (const p of rs) parts.push(p); return concat(parts); };
  const msg = await collect(source().pipeThrough(env.encryptStream({ encryptionContext: { name: 'f.bin' }, frameLength: 8192 })));
  let info;
  const back = await collect(new ReadableStream({ start(c) { c.enqueue(msg); c.close(); } })
    .pipeThrough(env.decryptStream({ onComplete: (m) => { info = m; } })));
  assert.deepEqual(back, data);
  assert.equal(info.encryptionContext.name, 'f.bin');
  const bad = msg.slice();
  bad[bad.length - 200] ^= 1;
  await assert.rejects(collect(new ReadableStream({ start(c) { c.enqueue(bad); c.close(); } }).pipeThrough(env.decryptStream())),
    (e) => sr.isStrongroomError(e));
});

test('data key cache: hits, and invalidation when the key changes', () => {
  const kms = sr.Kms.inMemory();
  const key = kms.createKey({}).keyMetadata.keyId;
  const env = sr.Envelope.forKms(kms, [key], { cache: { capacity: 10, maxAgeMs: 60000, maxMessagesEncrypted: 100 } });
  const msgs = [];
  for (let i = 0; i < 5; i++) msgs.push(env.encrypt(new Uint8Array([i]), { encryptionContext: { t: 'a' } }));
  let s = env.cacheStats();
  assert.equal(s.misses, 1);
  assert.equal(s.hits, 4);
  for (const m of msgs) env.decrypt(m);
  kms.disableKey({ keyId: key });
  s = env.cacheStats();
  assert.ok(s.invalidations >= 1);
  assert.equal(s.entries, 0);
  assert.throws(() => env.decrypt(msgs[0]), (e) => e.code === 'DisabledException');
  assert.equal(sr.Envelope.forKms(kms, [key]).cacheStats(), undefined);
});

test('openPersistent saves after each change and reopens', async () => {
  const saved = [];
  let stored;
  const storage = {
    async load() { return stored; },
    async save(b) { stored = b.slice(); saved.push(b.length); },
  };
  const rootKey = new Uint8Array(32).fill(3);
  const kms = await sr.Kms.openPersistent({ rootKey, storage });
  const n0 = saved.length;
  const keyId = kms.createKey({ description: 'kept' }).keyMetadata.keyId;
  kms.createAlias({ aliasName: 'alias/p', targetKeyId: keyId });
  kms.describeKey({ keyId });
  await kms.flush();
  assert.equal(saved.length, n0 + 2, 'one save per change, none for reads');
  const again = await sr.Kms.openPersistent({ rootKey, storage });
  assert.equal(again.describeKey({ keyId: 'alias/p' }).keyMetadata.description, 'kept');
  again.scheduleKeyDeletion({ keyId, pendingWindowInDays: 7 });
  await again.flush();
  const third = await sr.Kms.openPersistent({ rootKey, storage });
  assert.equal(third.describeKey({ keyId }).keyMetadata.keyState, 'PendingDeletion');
  third.enableKeyRotation({ keyId: third.createKey({}).keyMetadata.keyId });
  await third.close(); // saves what is pending
  assert.equal((await sr.Kms.openPersistent({ rootKey, storage })).listKeys().keys.length, 2);
  await assert.rejects(sr.Kms.openPersistent({ rootKey: new Uint8Array(32), storage }), (e) => e.code === 'InvalidRootKeyException');
  // A failing storage surfaces on flush().
  const failing = await sr.Kms.openPersistent({ rootKey, storage: { load: async () => undefined, save: async () => { throw new Error('quota'); } } })
    .catch((e) => e);
  assert.equal(failing.message, 'quota');
  assert.throws(() => sr.indexedDbStorage(), (e) => e.code === 'ValidationException');
});

test('encryptAsync/decryptAsync hand bulk AES-GCM to WebCrypto, same message format', async () => {
  assert.ok(globalThis.crypto?.subtle, 'Node has WebCrypto');
  const kms = sr.Kms.inMemory();
  const env = sr.Envelope.forKms(kms, [kms.createKey({}).keyMetadata.keyId]);
  for (const len of [0, 1, 65536, 1048576 + 3]) {
    const data = new Uint8Array(len).map((_, i) => (i * 5) & 255);
    for (const [frameLength, suite] of [[undefined, undefined], [4096, sr.SUITE_UNSIGNED], [undefined, sr.SUITE_UNSIGNED], [1000, sr.SUITE_SIGNED]]) {
      const msg = await env.encryptAsync(data, { encryptionContext: { n: String(len) }, frameLength, suite });
      const sync = env.decrypt(msg);
      assert.deepEqual(sync.plaintext, data);
      assert.equal(sync.suite, suite ?? sr.SUITE_SIGNED, 'the default suite is the signed one, as for encrypt');
      assert.equal(sync.frameLength, frameLength ?? sr.ASYNC_FRAME_LENGTH);
      const back = await env.decryptAsync(msg);
      assert.deepEqual(back.plaintext, data);
      assert.equal(back.encryptionContext.n, String(len));
      // Messages from the synchronous path open asynchronously too.
      const other = env.encrypt(data, { suite: sr.SUITE_UNSIGNED, frameLength: 1000 });
      assert.deepEqual((await env.decryptAsync(other)).plaintext, data);
    }
  }
  const msg = await env.encryptAsync(new Uint8Array(300000), { frameLength: 65536, suite: sr.SUITE_UNSIGNED });
  for (const i of [msg.length - 1, msg.length - 100000, 200]) {
    const bad = msg.slice();
    bad[i] ^= 1;
    await assert.rejects(env.decryptAsync(bad), (e) => e.code === 'InvalidCiphertextException');
  }
  await assert.rejects(env.decryptAsync(msg.subarray(0, msg.length - 1)), (e) => e.code === 'InvalidCiphertextException');
  // Signed messages: WebCrypto signs (encryptAsync) and verifies
  // (decryptAsync) the ECDSA P-384 signature.
  const data = new Uint8Array(700000).map((_, i) => i & 255);
  const signed = await env.encryptAsync(data, { suite: sr.SUITE_SIGNED, frameLength: 65536 });
  const opened = await env.decryptAsync(signed);
  assert.equal(opened.suite, sr.SUITE_SIGNED);
  assert.deepEqual(opened.plaintext, data);
  assert.ok(opened.encryptionContext['aws-crypto-public-key']);
  for (const i of [signed.length - 1, signed.length - 60, signed.length - 110, 500]) {
    const bad = signed.slice();
    bad[i] ^= 1;
    await assert.rejects(env.decryptAsync(bad), (e) => e.code === 'InvalidCiphertextException', `byte ${i}`);
  }
  await assert.rejects(env.decryptAsync(signed.subarray(0, signed.length - 1)), (e) => e.code === 'InvalidCiphertextException');
});
