// The npm package as users install it: camelCase methods taking and giving
// AWS's own request and response objects (as AWS's SDK for JavaScript v3:
// PascalCase members, blobs as Uint8Array), typed errors, envelopes, streams, persistence and the WebCrypto path.
// scripts/wasm.sh (make test) packs the package, installs it into
// build/npm/consumer and runs this there, so `import 'strongroom'` resolves
// exactly as in a user's project.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as sr from 'strongroom';

const repo = process.env.STRONGROOM_REPO;
const load = (name) => JSON.parse(readFileSync(path.join(repo, 'tests/vectors', name), 'utf8'));
const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

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

test('AWS-shaped native objects, Uint8Array bytes, errors with a code', () => {
  const kms = sr.Kms.inMemory();
  const { KeyMetadata: keyMetadata } = kms.createKey({ Description: 'browser' });
  assert.equal(keyMetadata.KeyState, 'Enabled');
  assert.equal(keyMetadata.Description, 'browser');
  kms.createAlias({ AliasName: 'alias/web', TargetKeyId: keyMetadata.KeyId });
  const ctx = { tenant: 'acme', KeepThisCase: 'yes' };
  const { CiphertextBlob: ciphertextBlob, KeyId: keyId } = kms.encrypt({ KeyId: 'alias/web', Plaintext: new TextEncoder().encode('hello'), EncryptionContext: ctx });
  assert.ok(ciphertextBlob instanceof Uint8Array);
  assert.equal(keyId, keyMetadata.Arn);
  const out = kms.decrypt({ CiphertextBlob: ciphertextBlob, EncryptionContext: ctx });
  assert.equal(new TextDecoder().decode(out.Plaintext), 'hello');
  assert.throws(() => kms.decrypt({ CiphertextBlob: ciphertextBlob, EncryptionContext: { tenant: 'other' } }),
    (e) => e instanceof Error && e.code === 'InvalidCiphertextException' && !e.message.includes('hello'));
  assert.throws(() => kms.describeKey({ KeyId: 'alias/missing' }), (e) => e.code === 'NotFoundException');
  assert.throws(() => kms.call('Nope', {}), (e) => e.code === 'ValidationException');
  const dk = kms.generateDataKey({ KeyId: keyMetadata.KeyId, KeySpec: 'AES_256' });
  assert.equal(dk.Plaintext.length, 32);
  const grants = kms.createGrant({ KeyId: keyMetadata.KeyId, GranteePrincipal: 'arn:aws:iam::111122223333:role/r',
    Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { KeepThisCase: 'yes' } } });
  assert.ok(grants.GrantToken);
  const listed = kms.listGrants({ KeyId: keyMetadata.KeyId }).Grants[0];
  assert.deepEqual(listed.Constraints.EncryptionContextSubset, { KeepThisCase: 'yes' });
  assert.ok(sr.errorCodes().includes('KMSInvalidStateException'));
  // A policy may be given as an object; it is stored as its JSON text.
  const policy = { Version: '2012-10-17', Statement: [{ Sid: 'root', Effect: 'Allow',
    Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }] };
  kms.putKeyPolicy({ KeyId: keyMetadata.KeyId, Policy: policy });
  assert.deepEqual(JSON.parse(kms.getKeyPolicy({ KeyId: keyMetadata.KeyId }).Policy), policy);
  // Undefined members are simply absent from the request; absent response
  // members are absent too (AWS's wire shape leaves them out).
  assert.equal(kms.describeKey({ KeyId: keyMetadata.KeyId, GrantTokens: undefined }).KeyMetadata.DeletionDate, undefined);
});

test('envelope encryption with a KMS key', () => {
  const kms = sr.Kms.inMemory();
  const key = kms.createKey({}).KeyMetadata.Arn;
  const env = sr.Envelope.forKms(kms, [key]);
  const data = new Uint8Array(100000).map((_, i) => i * 7);
  for (const suite of [0x0578, 0x0478]) {
    const msg = env.encrypt(data, { encryptionContext: { file: 'a' }, suite, frameLength: 4096 });
    const out = env.decrypt(msg);
    assert.deepEqual(out.plaintext, data);
    assert.equal(out.keyName, key);
    assert.equal(out.encryptionContext.file, 'a');
  }
  kms.disableKey({ KeyId: key });
  assert.throws(() => env.decrypt(env.encrypt(data, { suite: 0x0478, frameLength: 4096 })), (e) => e.code === 'DisabledException');
});

test('every suite encrypts under the commitment policy that allows it; non-framed bodies too', async () => {
  const env = sr.Envelope.rawAes({ keyNamespace: 'ns', keyName: 'k', wrappingKey: new Uint8Array(24).fill(3) });
  const data = new Uint8Array(5000).map((_, i) => i * 13);
  const legacy = [0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378];
  for (const suite of [...legacy, 0x0478, 0x0578]) {
    const isLegacy = legacy.includes(suite);
    const commitmentPolicy = isLegacy ? 'FORBID_ENCRYPT_ALLOW_DECRYPT' : 'REQUIRE_ENCRYPT_REQUIRE_DECRYPT';
    for (const frameLength of [0, 1000]) {
      const msg = env.encrypt(data, { suite, frameLength, commitmentPolicy });
      assert.equal(msg[0], isLegacy ? 1 : 2);
      const out = env.decrypt(msg, { allowLegacySuites: true });
      assert.deepEqual(out.plaintext, data);
      assert.equal(out.suite, suite);
      assert.equal(out.frameLength, frameLength);
      // encryptAsync: WebCrypto where it can, the same message format either way.
      const amsg = await env.encryptAsync(data, { suite, frameLength, commitmentPolicy });
      assert.deepEqual(env.decrypt(amsg, { allowLegacySuites: true }).plaintext, data);
      const e = env.encryptor({ suite, frameLength, commitmentPolicy });
      const parts = [e.update(data.subarray(0, 7)), e.update(data.subarray(7)), e.finish()];
      const streamed = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => { streamed.set(p, at); return at + p.length; }, 0);
      assert.deepEqual(env.decrypt(streamed, { allowLegacySuites: true }).plaintext, data);
      if (isLegacy) {
        assert.throws(() => env.encrypt(data, { suite, frameLength }), (e) => e.code === 'ValidationException');
        assert.throws(() => env.decrypt(msg), (e) => e.code === 'ValidationException');
      } else {
        assert.throws(() => env.encrypt(data, { suite, frameLength, commitmentPolicy: 'FORBID_ENCRYPT_ALLOW_DECRYPT' }),
          (e) => e.code === 'ValidationException');
      }
    }
  }
  assert.throws(() => env.encrypt(data, { commitmentPolicy: 'LAX' }), (e) => e.code === 'ValidationException');
});

test('keyrings as data (raw RSA, multi) and the hierarchical keyring', async () => {
  const { generateKeyPairSync } = await import('node:crypto');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = (k, type) => new TextEncoder().encode(k.export({ type, format: 'pem' }));
  const rsaSpec = { type: 'RawRsa', keyNamespace: 'ns', keyName: 'rsa', paddingScheme: 'OAEP_SHA256_MGF1',
    privateKey: pem(privateKey, 'pkcs8'), publicKey: pem(publicKey, 'spki') };
  const aesSpec = { type: 'RawAes', keyNamespace: 'ns', keyName: 'aes', wrappingKey: new Uint8Array(16).fill(1) };
  const data = new TextEncoder().encode('keyrings as data');
  const multi = sr.Envelope.fromKeyrings([aesSpec, rsaSpec]);
  const msg = multi.encrypt(data);
  assert.deepEqual(sr.Envelope.fromKeyrings(rsaSpec).decrypt(msg).plaintext, data);
  assert.equal(sr.Envelope.fromKeyrings(aesSpec).decrypt(msg).keyName, 'aes');
  const encryptOnly = sr.Envelope.fromKeyrings({ ...rsaSpec, privateKey: undefined });
  assert.deepEqual(multi.decrypt(encryptOnly.encrypt(data)).plaintext, data);
  assert.throws(() => sr.Envelope.fromKeyrings({ type: 'Nope' }), (e) => e.code === 'ValidationException');
  assert.throws(() => sr.Envelope.fromKeyrings([]), (e) => e.code === 'ValidationException');
  const kms = sr.Kms.inMemory();
  const key = kms.createKey({}).KeyMetadata.Arn;
  const viaKms = sr.Envelope.fromKeyrings({ type: 'AwsKms', keyIds: [key] }, { kms });
  assert.deepEqual(viaKms.decrypt(viaKms.encrypt(data)).plaintext, data);
  // Hierarchical: a branch key, rotation, a snapshot reload.
  const store = new sr.BranchKeyStore(kms, { kmsKeyId: key, logicalName: 'branch-keys' });
  const bk = store.createBranchKey('tenant-a');
  const env = sr.Envelope.hierarchical(store, { branchKeyId: bk, ttlSeconds: 60 });
  const old = env.encrypt(data, { encryptionContext: { tenant: 'a' } });
  store.versionBranchKey(bk);
  assert.equal(store.versions(bk).length, 2);
  const fresh = sr.Envelope.hierarchical(store, { branchKeyId: bk, ttlSeconds: 60 });
  const out = fresh.decrypt(old);
  assert.deepEqual(out.plaintext, data);
  assert.equal(out.providerId, 'aws-kms-hierarchy');
  const reloaded = new sr.BranchKeyStore(kms, { kmsKeyId: key, logicalName: 'branch-keys', snapshot: store.exportSnapshot() });
  assert.deepEqual(sr.Envelope.hierarchical(reloaded, { branchKeyId: bk, ttlSeconds: 60 }).decrypt(old).plaintext, data);
  assert.throws(() => sr.Envelope.hierarchical(store, { branchKeyId: 'other', ttlSeconds: 60 }).decrypt(old),
    (e) => e.code === 'InvalidCiphertextException');
  assert.throws(() => sr.Envelope.hierarchical(store, { branchKeyId: bk, ttlSeconds: 0 }), (e) => e.code === 'ValidationException');
  store.createBranchKey('tenant-b');
  const tenants = sr.Envelope.hierarchical(store, { branchKeyIdSupplier: (c) => `tenant-${c.tenant}`, ttlSeconds: 60 });
  const forB = tenants.encrypt(data, { encryptionContext: { tenant: 'b' } });
  assert.deepEqual(tenants.decrypt(forB).plaintext, data);
  assert.throws(() => sr.Envelope.hierarchical(store, { branchKeyId: 'tenant-a', ttlSeconds: 60 }).decrypt(forB),
    (e) => e.code === 'InvalidCiphertextException');
  assert.throws(() => sr.Envelope.hierarchical(store, { branchKeyIdSupplier: () => { throw new Error('x'); }, ttlSeconds: 60 }).encrypt(data),
    (e) => e.code === 'ValidationException');
  // ECDH: ephemeral sender, the recipient's private key discovers.
  const r = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const ecdh = (scheme) => sr.Envelope.fromKeyrings({ type: 'RawEcdh', curveSpec: 'ECC_NIST_P384', keyAgreementScheme: scheme });
  const sealed = ecdh({ EphemeralPrivateKeyToStaticPublicKey: { recipientPublicKey: new Uint8Array(r.publicKey.export({ type: 'spki', format: 'der' })) } })
    .encrypt(data);
  const opened = ecdh({ PublicKeyDiscovery: { recipientStaticPrivateKey: pem(r.privateKey, 'pkcs8') } }).decrypt(sealed);
  assert.deepEqual(opened.plaintext, data);
  assert.equal(opened.providerId, 'raw-ecdh');
  // The required encryption context CMM and a cache, in front of any keyring.
  const base = sr.Envelope.fromKeyrings(aesSpec);
  const req = base.withRequiredEncryptionContextKeys(['tenant']);
  const bound = req.encrypt(data, { encryptionContext: { tenant: 'acme', kind: 'doc' } });
  assert.throws(() => base.decrypt(bound));
  assert.equal(base.decrypt(bound, { encryptionContext: { tenant: 'acme' } }).encryptionContext.tenant, 'acme');
  assert.throws(() => base.decrypt(bound, { encryptionContext: { tenant: 'other' } }), (e) => e.code === 'InvalidCiphertextException');
  const cached = base.withCache({ capacity: 10, maxAgeMs: 60000 });
  for (let i = 0; i < 3; i++) base.decrypt(cached.encrypt(data, { encryptionContext: { a: 'b' } }));
  assert.equal(cached.cacheStats().hits, 2);
});

test('the sealed store survives a reload through a snapshot', () => {
  const root = new Uint8Array(32).fill(9);
  const kms = sr.Kms.openSnapshot({ snapshot: undefined, rootKey: root });
  const keyId = kms.createKey({ Description: 'persisted' }).KeyMetadata.KeyId;
  kms.createAlias({ AliasName: 'alias/kept', TargetKeyId: keyId });
  const blob = kms.encrypt({ KeyId: keyId, Plaintext: new TextEncoder().encode('after reload') }).CiphertextBlob;
  const snapshot = kms.exportSnapshot();
  assert.ok(snapshot instanceof Uint8Array && snapshot.length > 100);
  assert.ok(!Buffer.from(snapshot).includes(Buffer.from('after reload')), 'no plaintext in the snapshot');
  // "Reload": a new module-level Kms from the saved bytes.
  const again = sr.Kms.openSnapshot({ snapshot: snapshot, rootKey: root });
  assert.equal(again.describeKey({ KeyId: 'alias/kept' }).KeyMetadata.Description, 'persisted');
  assert.equal(new TextDecoder().decode(again.decrypt({ CiphertextBlob: blob }).Plaintext), 'after reload');
  assert.throws(() => sr.Kms.openSnapshot({ snapshot: snapshot, rootKey: new Uint8Array(32) }), (e) => e.code === 'InvalidRootKeyException');
  assert.throws(() => sr.Kms.openSnapshot({ snapshot: snapshot.slice(0, snapshot.length - 3), rootKey: root }), (e) => e.code === 'StoreCorruptedException');
  assert.throws(() => sr.Kms.inMemory().exportSnapshot(), (e) => e.code === 'ValidationException');
  // A passphrase root key (Argon2id) works the same way.
  const p = sr.Kms.openSnapshot({ snapshot: undefined, passphrase: 'correct horse' });
  p.createKey({});
  const snap2 = p.exportSnapshot();
  assert.equal(sr.Kms.openSnapshot({ snapshot: snap2, passphrase: 'correct horse' }).listKeys({}).Keys.length, 1);
  assert.throws(() => sr.Kms.openSnapshot({ snapshot: snap2, passphrase: 'wrong' }), (e) => e.code === 'InvalidRootKeyException');
});

test('the declarations and the module agree on operations and error codes', () => {
  const dts = readFileSync(new URL(import.meta.resolve('strongroom')).pathname.replace(/node\.js$/, 'operations.d.ts'), 'utf8');
  const declaredOps = [...dts.slice(dts.indexOf('export interface Operations {')).matchAll(/^ {2}(\w+): \[/gm)].map((m) => m[1]);
  assert.deepEqual(declaredOps, [...sr.OPERATIONS]);
  const union = dts.slice(dts.indexOf('export type ErrorCode ='), dts.indexOf(';', dts.indexOf('export type ErrorCode =')));
  assert.deepEqual([...union.matchAll(/'(\w+)'/g)].map((m) => m[1]).sort(), sr.errorCodes().sort());
  const kms = sr.Kms.inMemory();
  for (const op of sr.OPERATIONS) {
    const m = op[0].toLowerCase() + op.slice(1);
    assert.equal(typeof kms[m], 'function', m);
  }
  // A key record has only declared KeyMetadata members (AWS's), and every
  // member AWS requires.
  const meta = kms.createKey({}).KeyMetadata;
  const block = dts.slice(dts.indexOf('export interface KeyMetadata {'));
  const decl = block.slice(0, block.indexOf('}'));
  const fields = [...decl.matchAll(/^ {2}(\w+)\??:/gm)].map((x) => x[1]);
  const required = [...decl.matchAll(/^ {2}(\w+):/gm)].map((x) => x[1]);
  assert.deepEqual(Object.keys(meta).filter((k) => !fields.includes(k)), [], 'undeclared members');
  assert.deepEqual(required.filter((k) => !(k in meta)), [], 'missing required members');
  assert.ok(fields.includes('KeyId') && fields.length > 10);
});

test('every error is a StrongroomError with its code as name', async () => {
  const kms = sr.Kms.inMemory();
  try {
    kms.describeKey({ KeyId: 'alias/none' });
    assert.fail('no error');
  } catch (e) {
    assert.ok(sr.isStrongroomError(e));
    assert.equal(e.name, 'NotFoundException');
  }
  assert.throws(() => kms.encrypt({ KeyId: 'x', Plaintext: new Uint8Array(1), bogusField: 1 }), (e) => e.code === 'ValidationException' && e.message.includes('bogusField'));
  assert.throws(() => kms.describeKey({ keyID: 'x' }), (e) => e.code === 'ValidationException' && e.message.includes('keyID'));
  assert.throws(() => sr.Envelope.rawAes({ keyNamespace: 'n', keyName: 'k', wrappingKey: new Uint8Array(31) }), (e) => e.code === 'ValidationException');
  assert.ok(!sr.isStrongroomError(new Error('other')));
  // Bad input anywhere in the API is a ValidationException, never a TypeError.
  const env = sr.Envelope.forKms(kms, [kms.createKey({}).KeyMetadata.KeyId]);
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
    () => kms.encrypt({ KeyId: 'x', Plaintext: 'not bytes' }),
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
  const key = kms.createKey({}).KeyMetadata.Arn;
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
  const env = sr.Envelope.forKms(kms, [kms.createKey({}).KeyMetadata.KeyId]);
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
  const key = kms.createKey({}).KeyMetadata.KeyId;
  const env = sr.Envelope.forKms(kms, [key], { cache: { capacity: 10, maxAgeMs: 60000, maxMessagesEncrypted: 100 } });
  const msgs = [];
  for (let i = 0; i < 5; i++) msgs.push(env.encrypt(new Uint8Array([i]), { encryptionContext: { t: 'a' } }));
  let s = env.cacheStats();
  assert.equal(s.misses, 1);
  assert.equal(s.hits, 4);
  for (const m of msgs) env.decrypt(m);
  kms.disableKey({ KeyId: key });
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
  assert.ok(kms instanceof sr.PersistentKms && kms instanceof sr.Kms);
  const n0 = saved.length;
  const keyId = (await kms.createKey({ Description: 'kept' })).KeyMetadata.KeyId;
  await kms.createAlias({ AliasName: 'alias/p', TargetKeyId: keyId });
  await kms.describeKey({ KeyId: keyId });
  assert.equal(saved.length, n0 + 2, 'one save per change, none for reads');
  const again = await sr.Kms.openPersistent({ rootKey, storage });
  assert.equal((await again.describeKey({ KeyId: 'alias/p' })).KeyMetadata.Description, 'kept');
  await again.scheduleKeyDeletion({ KeyId: keyId, PendingWindowInDays: 7 });
  const third = await sr.Kms.openPersistent({ rootKey, storage });
  assert.equal((await third.describeKey({ KeyId: keyId })).KeyMetadata.KeyState, 'PendingDeletion');
  const other = await third.createKey({});
  await third.enableKeyRotation({ KeyId: other.KeyMetadata.KeyId });
  await third.close();
  assert.equal((await (await sr.Kms.openPersistent({ rootKey, storage })).listKeys()).Keys.length, 2);
  await assert.rejects(sr.Kms.openPersistent({ rootKey: new Uint8Array(32), storage }), (e) => e.code === 'InvalidRootKeyException');
  // A storage that cannot save a new store fails the open itself.
  await assert.rejects(sr.Kms.openPersistent({ rootKey, storage: { load: async () => undefined, save: async () => { throw new Error('quota'); } } }),
    (e) => e.message === 'quota');
  assert.throws(() => sr.indexedDbStorage(), (e) => e.code === 'ValidationException');
});

/** A storage whose saves wait until the test commits or fails them (or,
 * with `auto`, commit at once). */
function gatedStorage() {
  const st = {
    stored: undefined,
    pending: [],
    auto: false,
    async load() { return st.stored; },
    save(b) {
      const copy = b.slice();
      if (st.auto) {
        st.stored = copy;
        return Promise.resolve();
      }
      return new Promise((resolve, reject) => {
        st.pending.push({ commit: () => { st.stored = copy; resolve(); }, fail: reject });
      });
    },
    async next() {
      for (let i = 0; i < 200 && !st.pending.length; i++) await new Promise((r) => setTimeout(r, 5));
      assert.ok(st.pending.length, 'a save was started');
      return st.pending.shift();
    },
  };
  return st;
}
/** Whether `p` settles within a few event-loop turns. */
async function settles(p) {
  let done = false;
  Promise.resolve(p).then(() => { done = true; }, () => { done = true; });
  await new Promise((r) => setTimeout(r, 30));
  return done;
}
const keyCount = async (storage, rootKey) => {
  const k = sr.Kms.openSnapshot({ snapshot: storage.stored, rootKey });
  const ids = k.listKeys().Keys.map((x) => x.KeyId);
  k.free();
  return ids;
};

test('a persistent KMS is durable before it acknowledges: calls resolve only after the save committed', async () => {
  const storage = gatedStorage();
  const rootKey = new Uint8Array(32).fill(5);
  const opening = sr.Kms.openPersistent({ rootKey, storage });
  (await storage.next()).commit(); // the new, empty store
  const kms = await opening;

  const creating = kms.createKey({ Description: 'acknowledged' });
  assert.ok(creating instanceof Promise, 'a mutating call returns a Promise');
  const save = await storage.next();
  assert.equal(await settles(creating), false, 'not acknowledged while the save is pending');
  // A call made meanwhile may see the unsaved key: it waits for that save too.
  const listing = kms.listKeys();
  assert.equal(await settles(listing), false, 'a read behind a pending save waits for it');
  save.commit();
  const keyId = (await creating).KeyMetadata.KeyId;
  assert.deepEqual((await listing).Keys.map((k) => k.KeyId), [keyId]);
  assert.deepEqual(await keyCount(storage, rootKey), [keyId], 'acknowledged means it is in storage');

  // Encrypt under the acknowledged key, then drop the KMS without flush or
  // close (a tab closed at that moment): nothing acknowledged is lost.
  storage.auto = true;
  const blob = (await kms.encrypt({ KeyId: keyId, Plaintext: new Uint8Array([1, 2, 3]) })).CiphertextBlob;
  kms.free();
  const reopened = sr.Kms.openSnapshot({ snapshot: storage.stored, rootKey });
  assert.deepEqual(reopened.decrypt({ CiphertextBlob: blob }).Plaintext, new Uint8Array([1, 2, 3]));
  reopened.free();
});

test('a failed save rejects the call that caused it; the store is not used past it', async () => {
  const storage = gatedStorage();
  const rootKey = new Uint8Array(32).fill(6);
  const opening = sr.Kms.openPersistent({ rootKey, storage });
  (await storage.next()).commit();
  const kms = await opening;
  const kept = kms.createKey({ Description: 'kept' });
  (await storage.next()).commit();
  const keptId = (await kept).KeyMetadata.KeyId;

  const lost = kms.createKey({ Description: 'lost' });
  const save = await storage.next();
  const seenMeanwhile = kms.listKeys(); // saw the unsaved key
  const outcomes = Promise.allSettled([lost, seenMeanwhile]);
  save.fail(new Error('quota'));
  const [l, m] = await outcomes;
  assert.equal(l.status, 'rejected');
  assert.equal(l.reason.message, 'quota', 'the call whose change was not saved rejects with the storage error');
  assert.equal(m.status, 'rejected');
  assert.equal(m.reason.message, 'quota', 'so does one that saw the unsaved change');
  // From then on the in-memory store (ahead of storage) is never used.
  await assert.rejects(kms.describeKey({ KeyId: keptId }),
    (e) => sr.isStrongroomError(e) && e.code === 'StoreIOException' && e.cause?.message === 'quota');
  assert.throws(() => kms.exportSnapshot(), (e) => e.code === 'StoreIOException');
  await assert.rejects(kms.flush(), (e) => e.message === 'quota');
  assert.equal(storage.pending.length, 0, 'nothing more was saved');
  await assert.rejects(kms.close(), (e) => e.message === 'quota');
  // Reopened: exactly the acknowledged changes.
  storage.auto = true;
  const again = sr.Kms.openPersistent({ rootKey, storage });
  const back = await again;
  assert.deepEqual((await back.listKeys()).Keys.map((k) => k.KeyId), [keptId]);
  // A call that fails by itself rejects with its own error (after waiting
  // for anything it wrote).
  await assert.rejects(back.describeKey({ KeyId: 'alias/none' }), (e) => e.code === 'NotFoundException');
  await back.close();
});

test('encryptAsync/decryptAsync hand bulk AES-GCM to WebCrypto, same message format', async () => {
  assert.ok(globalThis.crypto?.subtle, 'Node has WebCrypto');
  const kms = sr.Kms.inMemory();
  const env = sr.Envelope.forKms(kms, [kms.createKey({}).KeyMetadata.KeyId]);
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

const pkgDir = path.dirname(new URL(import.meta.resolve('strongroom')).pathname);

test('the npm package has no deterministic (seeded) RNG: not in the module, the JS layer or the types', async () => {
  assert.equal(sr.Kms.deterministic, undefined);
  assert.ok(!Object.keys(sr).some((k) => /determin/i.test(k)), Object.keys(sr).join());
  // The wasm module's own exports (what the glue could ever call).
  const wasmBytes = readFileSync(path.join(pkgDir, 'wasm/strongroom_wasm_bg.wasm'));
  const exported = WebAssembly.Module.exports(new WebAssembly.Module(wasmBytes)).map((e) => e.name);
  assert.ok(exported.some((n) => n.startsWith('kms_')), 'the module exports the Kms methods');
  assert.deepEqual(exported.filter((n) => /determin|seed/i.test(n)), []);
  // The generated glue, the JS layer and the declarations.
  for (const f of ['wasm/strongroom_wasm.js', 'lib.js', 'node.js', 'browser.js', 'index.d.ts', 'operations.d.ts']) {
    assert.doesNotMatch(readFileSync(path.join(pkgDir, f), 'utf8'), /deterministic|DangerousSeeded/i, f);
  }
  const glue = await import(new URL('wasm/strongroom_wasm.js', import.meta.resolve('strongroom')));
  assert.equal(glue.Kms.deterministic, undefined);
  // The test-only entry point is not shipped.
  const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  assert.ok(!pkg.files.includes('testing.js'));
  assert.throws(() => readFileSync(path.join(pkgDir, 'testing.js')), (e) => e.code === 'ENOENT');
});

test('secret-bearing methods take and give bytes, with the same results as the JSON path', () => {
  const kms = sr.Kms.inMemory();
  const keyId = kms.createKey({}).KeyMetadata.KeyId;
  const ctx = { purpose: 'typed' };
  const plain = new TextEncoder().encode('typed bytes');
  const before = plain.slice();
  const enc = kms.encrypt({ KeyId: keyId, Plaintext: plain, EncryptionContext: ctx });
  assert.deepEqual(plain, before, "the caller's plaintext is left as it was");
  const viaJson = JSON.parse(kms.callJson('Decrypt', JSON.stringify({
    CiphertextBlob: Buffer.from(enc.CiphertextBlob).toString('base64'), EncryptionContext: ctx })));
  const dec = kms.decrypt({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx });
  assert.deepEqual(Object.keys(dec).sort(), Object.keys(viaJson).sort());
  assert.ok(dec.Plaintext instanceof Uint8Array);
  assert.equal(Buffer.from(dec.Plaintext).toString('base64'), viaJson.Plaintext);
  assert.equal(dec.KeyId, viaJson.KeyId);
  assert.deepEqual(kms.call('Decrypt', { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx }).Plaintext, plain);

  const dk = kms.generateDataKey({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: ctx });
  assert.deepEqual(Object.keys(dk).sort(), ['CiphertextBlob', 'KeyId', 'KeyMaterialId', 'Plaintext']);
  assert.ok(dk.Plaintext instanceof Uint8Array && dk.CiphertextBlob instanceof Uint8Array);
  assert.equal(dk.Plaintext.length, 32);
  assert.deepEqual(kms.decrypt({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ctx }).Plaintext, dk.Plaintext);
  assert.equal(kms.generateDataKey({ KeyId: keyId, NumberOfBytes: 17 }).Plaintext.length, 17);

  const r = kms.generateRandom({ NumberOfBytes: 48 });
  assert.deepEqual(Object.keys(r), ['Plaintext']);
  assert.ok(r.Plaintext instanceof Uint8Array && r.Plaintext.length === 48);
  assert.throws(() => kms.generateRandom({ NumberOfBytes: 0 }), (e) => e.code === 'ValidationException');

  const pair = kms.generateDataKeyPair({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256', EncryptionContext: ctx });
  assert.deepEqual(Object.keys(pair).sort(),
    ['KeyId', 'KeyMaterialId', 'KeyPairSpec', 'PrivateKeyCiphertextBlob', 'PrivateKeyPlaintext', 'PublicKey']);
  for (const f of ['PrivateKeyCiphertextBlob', 'PrivateKeyPlaintext', 'PublicKey']) assert.ok(pair[f] instanceof Uint8Array, f);
  assert.equal(pair.KeyPairSpec, 'ECC_NIST_P256');
  assert.deepEqual(kms.decrypt({ CiphertextBlob: pair.PrivateKeyCiphertextBlob, EncryptionContext: ctx }).Plaintext, pair.PrivateKeyPlaintext);

  const agree = kms.createKey({ KeyUsage: 'KEY_AGREEMENT', KeySpec: 'ECC_NIST_P256' }).KeyMetadata.KeyId;
  const peer = kms.createKey({ KeyUsage: 'KEY_AGREEMENT', KeySpec: 'ECC_NIST_P256' }).KeyMetadata.KeyId;
  const req = { KeyId: agree, KeyAgreementAlgorithm: 'ECDH', PublicKey: kms.getPublicKey({ KeyId: peer }).PublicKey };
  const shared = kms.deriveSharedSecret(req);
  assert.deepEqual(Object.keys(shared).sort(), ['KeyAgreementAlgorithm', 'KeyId', 'KeyOrigin', 'SharedSecret']);
  assert.ok(shared.SharedSecret instanceof Uint8Array && shared.SharedSecret.length === 32);
  const back = kms.deriveSharedSecret({ KeyId: peer, KeyAgreementAlgorithm: 'ECDH', PublicKey: kms.getPublicKey({ KeyId: agree }).PublicKey });
  assert.deepEqual(back.SharedSecret, shared.SharedSecret);
  const sharedJson = JSON.parse(kms.callJson('DeriveSharedSecret', JSON.stringify({ KeyId: agree, KeyAgreementAlgorithm: 'ECDH',
    PublicKey: Buffer.from(req.PublicKey).toString('base64') })));
  assert.equal(Buffer.from(shared.SharedSecret).toString('base64'), sharedJson.SharedSecret);
  assert.equal(shared.KeyOrigin, sharedJson.KeyOrigin);
});

/** The module's linear memory (the instance node.js initialised). */
async function wasmMemory() {
  const glue = await import(new URL('wasm/strongroom_wasm.js', import.meta.resolve('strongroom')));
  const exports = glue.initSync({ module: readFileSync(path.join(pkgDir, 'wasm/strongroom_wasm_bg.wasm')) });
  assert.ok(exports.memory instanceof WebAssembly.Memory);
  return exports.memory;
}

test('plaintexts and key bytes leave no copies in wasm memory (wiped buffers, no hex or base64 text)', async () => {
  const memory = await wasmMemory();
  const secret = () => crypto.getRandomValues(new Uint8Array(40));
  const leftIn = (s) => {
    const mem = Buffer.from(memory.buffer);
    const seen = (enc) => mem.includes(Buffer.from(Buffer.from(s).toString(enc), 'latin1'));
    return mem.includes(Buffer.from(s)) || seen('hex') || seen('base64');
  };
  const kms = sr.Kms.inMemory();
  const keyId = kms.createKey({}).KeyMetadata.KeyId;
  const checks = [];
  const check = (what, s) => checks.push([what, leftIn(s)]);

  const p1 = secret();
  const blob = kms.encrypt({ KeyId: keyId, Plaintext: p1 }).CiphertextBlob;
  check('Encrypt plaintext', p1);
  check('Decrypt plaintext', kms.decrypt({ CiphertextBlob: blob }).Plaintext);
  check('GenerateDataKey data key', kms.generateDataKey({ KeyId: keyId, KeySpec: 'AES_256' }).Plaintext);
  check('GenerateRandom bytes', kms.generateRandom({ NumberOfBytes: 40 }).Plaintext);
  check('GenerateDataKeyPair private key', kms.generateDataKeyPair({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256' }).PrivateKeyPlaintext);

  const env = sr.Envelope.forKms(kms, [keyId]);
  const p2 = secret();
  const msg = env.encrypt(p2, { suite: sr.SUITE_UNSIGNED });
  check('Envelope.encrypt plaintext', p2);
  check('Envelope.decrypt plaintext', env.decrypt(msg).plaintext);

  const p3 = new Uint8Array(10000);
  for (let i = 0; i < p3.length; i += 40) p3.set(secret(), i);
  const e = env.encryptor({ suite: sr.SUITE_UNSIGNED, frameLength: 1024 });
  const parts = [e.update(p3.subarray(0, 5000)), e.update(p3.subarray(5000)), e.finish()];
  e.free();
  check('EncryptStream chunk', p3.subarray(2000, 2040));
  const m3 = Buffer.concat(parts);
  const d = env.decryptor();
  const outs = [];
  for (let i = 0; i < m3.length; i += 700) outs.push(d.update(m3.subarray(i, i + 700)));
  outs.push(d.finish().plaintext);
  d.free();
  assert.deepEqual(new Uint8Array(Buffer.concat(outs)), p3);
  check('DecryptStream plaintext', p3.subarray(6000, 6040));
  check('DecryptStream last frame', p3.subarray(9960, 10000));

  // A raw AES wrapping key: only the keyring's own copy while it is alive
  // (none left on the stack), none once it is freed.
  const wrappingKey = secret().subarray(0, 32);
  const rawAes = sr.Envelope.rawAes({ keyNamespace: 'ns', keyName: 'k', wrappingKey });
  const copies = (() => {
    const mem = Buffer.from(memory.buffer);
    let n = 0;
    for (let i = mem.indexOf(Buffer.from(wrappingKey)); i !== -1; i = mem.indexOf(Buffer.from(wrappingKey), i + 1)) n++;
    return n;
  })();
  checks.push([`Envelope.rawAes wrapping key: ${copies} copies while alive`, copies > 1]);
  rawAes.decrypt(rawAes.encrypt(secret(), { suite: sr.SUITE_UNSIGNED }));
  rawAes.free();
  check('Envelope.rawAes wrapping key after free', wrappingKey);

  const rootKey = crypto.getRandomValues(new Uint8Array(32));
  const store = sr.Kms.openSnapshot({ rootKey });
  store.createKey({});
  const snapshot = store.exportSnapshot();
  store.free();
  sr.Kms.openSnapshot({ snapshot, rootKey }).free();
  check('openSnapshot root key', rootKey);

  assert.deepEqual(checks.filter(([, left]) => left).map(([what]) => what), [], 'secrets found in wasm memory');
});

test('several imported materials: NEW_KEY_MATERIAL, PENDING_ROTATION, RotateKeyOnDemand, per-material deletion', async () => {
  const { publicEncrypt, createPublicKey, constants } = await import('node:crypto');
  const kms = sr.Kms.inMemory();
  const key = kms.createKey({ Origin: 'EXTERNAL' }).KeyMetadata.KeyId;
  // Material wrapped by Node's OpenSSL, as a user would wrap it.
  const imp = (byte, extra = {}) => {
    const p = kms.getParametersForImport({ KeyId: key, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' });
    const pub = createPublicKey({ key: Buffer.from(p.PublicKey), format: 'der', type: 'spki' });
    const wrapped = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.alloc(32, byte));
    return kms.importKeyMaterial({
      KeyId: key,
      ImportToken: p.ImportToken,
      EncryptedKeyMaterial: new Uint8Array(wrapped),
      ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      ...extra,
    }).KeyMaterialId;
  };
  const first = imp(1, { KeyMaterialDescription: 'first' });
  const old = kms.encrypt({ KeyId: key, Plaintext: new TextEncoder().encode('old') }).CiphertextBlob;
  const second = imp(2, { ImportType: 'NEW_KEY_MATERIAL' });
  const listed = kms.listKeyRotations({ KeyId: key, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }).Rotations;
  assert.deepEqual(
    listed.map((r) => [r.KeyMaterialId, r.KeyMaterialState, r.ImportState, r.KeyMaterialDescription]),
    [[first, 'CURRENT', 'IMPORTED', 'first'], [second, 'PENDING_ROTATION', 'IMPORTED', undefined]],
  );
  kms.rotateKeyOnDemand({ KeyId: key });
  assert.equal(kms.describeKey({ KeyId: key }).KeyMetadata.CurrentKeyMaterialId, second);
  assert.equal(kms.encrypt({ KeyId: key, Plaintext: new Uint8Array([1]) }).KeyMaterialId, second);
  assert.deepEqual(kms.decrypt({ CiphertextBlob: old }).Plaintext, new TextEncoder().encode('old'));
  assert.equal(kms.deleteImportedKeyMaterial({ KeyId: key, KeyMaterialId: first }).KeyMaterialId, first);
  assert.equal(kms.describeKey({ KeyId: key }).KeyMetadata.KeyState, 'PendingImport');
  assert.throws(() => imp(3), (e) => e.code === 'IncorrectKeyMaterialException');
  assert.equal(imp(1), first);
  assert.equal(kms.describeKey({ KeyId: key }).KeyMetadata.KeyState, 'Enabled');
});
