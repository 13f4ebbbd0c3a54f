// The JS layer of the `strongroom` package, shared by the browser and Node
// entry points (which initialise the wasm module first, then call
// `_ready()`). Thin: it gives the wasm classes options-object constructors,
// names the KMS methods from the module's operation list (the core's
// operation table: no list is kept here), keeps persistent stores saved (a
// persistent KMS acknowledges a call only once what it changed is saved),
// and adapts the push-style streams to WHATWG TransformStreams.
// Types: index.d.ts.
import * as raw from './wasm/strongroom_wasm.js';

export const SUITE_SIGNED = 0x0578;
export const SUITE_UNSIGNED = 0x0478;

/** Every operation by its AWS name, in the order of the core's operation
 * table (`strongroom::for_each_operation!`): read from the module by
 * `_ready()`, never written down here. */
export let OPERATIONS = Object.freeze([]);
let operationSet = new Set();

// Read lazily: this module is evaluated before the entry point has
// instantiated the wasm module.
let codes;
const codeSet = () => (codes ??= new Set(raw.errorCodes()));

export function errorCodes() {
  return [...codeSet()];
}

export function isStrongroomError(e) {
  return e instanceof Error && typeof e.code === 'string' && codeSet().has(e.code);
}

function codedError(code, message) {
  const e = new Error(message);
  e.name = e.code = code;
  return e;
}
const validation = (message) => codedError('ValidationException', message);

/** One writer per stored snapshot: two tabs saving their own copies would
 * lose each other's keys. Holds the Web Lock `name` (where the platform has
 * Web Locks) until the returned release function is called. */
function acquireLock(name) {
  const locks = globalThis.navigator?.locks;
  if (!name || !locks) return Promise.resolve(() => {});
  return new Promise((resolve, reject) => {
    locks.request(name, { ifAvailable: true }, (lock) => {
      if (!lock) {
        reject(codedError('ConflictException', 'this key store is open in another tab or window'));
        return undefined;
      }
      return new Promise((release) => resolve(release));
    }).catch(reject);
  });
}

/** Bad input is a ValidationException here too, never a bare TypeError
 * from the wasm glue. */
function bytes(v, name, optional = false) {
  if (v instanceof Uint8Array || (optional && v === undefined)) return v;
  throw validation(`${name} must be a Uint8Array`);
}
function text(v, name, optional = false) {
  if (typeof v === 'string' || (optional && v === undefined)) return v;
  throw validation(`${name} must be a string`);
}
function optionsOf(v, name) {
  if (v === undefined || v === null) return {};
  if (typeof v === 'object' && !Array.isArray(v)) return v;
  throw validation(`${name} must be an options object`);
}

export const ManualClock = raw.ManualClock;

const lowerFirst = (s) => s[0].toLowerCase() + s.slice(1);

/** The module reads only the members a request type names: a misspelt
 * one is refused here (one level, the request's own keys) rather than
 * silently ignored. Returns the request, without its `undefined` members
 * if it has any. */
function knownMembers(op, request, known) {
  if (request === null || typeof request !== 'object') return request;
  let undef = false;
  for (const k in request) {
    if (!known.has(k)) throw validation(`${op} has no request member '${k}'`);
    if (request[k] === undefined) undef = true;
  }
  // A member set to `undefined` is an absent one (as in AWS's SDK).
  if (!undef) return request;
  const out = {};
  for (const k in request) if (request[k] !== undefined) out[k] = request[k];
  return out;
}

/** A key policy may be given as an object: it crosses as its JSON text
 * (AWS's member is a string). Only the two top-level policy members are
 * looked at, never a walk of the request. */
function withPolicyText(request) {
  if (request === null || typeof request !== 'object') return request;
  const p = request.Policy;
  const d = request.PolicyDocument;
  if ((p === undefined || typeof p === 'string') && (d === undefined || typeof d === 'string')) return request;
  const out = { ...request };
  if (p !== undefined && typeof p !== 'string') out.Policy = JSON.stringify(p);
  if (d !== undefined && typeof d !== 'string') out.PolicyDocument = JSON.stringify(d);
  return out;
}

/** Saves a persistent KMS's store after each call that changed it. Saves
 * are serialised and each is of the state after its call, so every call's
 * answer waits for the saves of everything it may have seen. The first
 * failed save fails the store for good (see `failed`). */
class Saver {
  constructor(storage) {
    this.storage = storage;
    this.saved = -1;
    this.chain = Promise.resolve();
    this.failure = undefined;
  }
  /** Queue a save if the store changed since the last one; the returned
   * promise resolves once every change so far is saved, and rejects with
   * the storage's error if any of those saves failed. */
  after(kmsRaw) {
    if (!this.failure && kmsRaw.storeWrites !== this.saved) {
      try {
        const snapshot = kmsRaw.exportSnapshot();
        // Read after the export, which writes any pending audit events first.
        this.saved = kmsRaw.storeWrites;
        this.chain = this.chain.then(async () => {
          if (this.failure) return;
          try {
            await this.storage.save(snapshot);
          } catch (e) {
            this.failure = { error: e };
          }
        });
      } catch (e) {
        this.failure = { error: e };
      }
    }
    return this.chain.then(() => {
      if (this.failure) throw this.failure.error;
    });
  }
  /** After a failed save the in-memory store is ahead of storage: it is
   * never used again (every later call rejects; reopen the store to go on
   * from what was saved). */
  failed() {
    if (!this.failure) return undefined;
    const e = codedError('StoreIOException',
      'an earlier save of this key store failed; nothing after it was acknowledged: reopen the store');
    e.cause = this.failure.error;
    return e;
  }
  flush() {
    return this.chain.then(() => {
      if (this.failure) throw this.failure.error;
    });
  }
}

function openRaw(snapshot, o) {
  if ((o.rootKey === undefined) === (o.passphrase === undefined)) {
    throw validation('give either rootKey (32 bytes) or passphrase');
  }
  return raw.Kms.openSnapshot(bytes(snapshot, 'snapshot', true), bytes(o.rootKey, 'rootKey', true),
    text(o.passphrase, 'passphrase', true), text(o.account, 'account', true), text(o.region, 'region', true));
}

/** Run `f` on the KMSs `kmss`. Without a persistent one among them, at
 * once. Otherwise a Promise that settles only once everything `f` changed
 * (whether or not it threw: a failed call may still have written) is
 * saved: with `f`'s result, `f`'s error, or the failed save's error. */
function saving(kmss, f) {
  const savers = kmss.map((k) => k._saver).filter(Boolean);
  if (!savers.length) return f();
  for (const s of savers) {
    const e = s.failed();
    if (e) return Promise.reject(e);
  }
  let result;
  let error;
  let threw = false;
  try {
    result = f();
  } catch (e) {
    threw = true;
    error = e;
  }
  return Promise.all(kmss.filter((k) => k._saver).map((k) => k._saver.after(k._raw))).then(() => {
    if (threw) throw error;
    return result;
  });
}

export class Kms {
  /** @internal use the static constructors. */
  constructor(inner, saver) {
    this._raw = inner;
    this._saver = saver;
  }

  static inMemory(opts) {
    const o = optionsOf(opts, 'the options');
    return new Kms(raw.Kms.inMemory(text(o.account, 'account', true), text(o.region, 'region', true)));
  }

  static openSnapshot(opts) {
    const o = optionsOf(opts, 'the options');
    return new Kms(openRaw(o.snapshot, o));
  }

  /** A PersistentKms: every call returns a Promise that resolves once what
   * the call changed is saved. */
  static async openPersistent(opts) {
    const o = optionsOf(opts, 'the options');
    const storage = o.storage ?? indexedDbStorage();
    const release = await acquireLock(storage.lockName);
    try {
      const snapshot = await storage.load();
      const inner = openRaw(snapshot, o);
      const saver = new Saver(storage);
      if (snapshot !== undefined) saver.saved = inner.storeWrites;
      const kms = new PersistentKms(inner, saver);
      kms._release = release;
      await saver.after(inner);
      return kms;
    } catch (e) {
      release();
      throw e;
    }
  }

  get region() {
    return this._raw.region;
  }

  /** Any operation by its AWS name, AWS's request shape in and out. */
  call(operation, request) {
    if (!operationSet.has(operation)) throw validation(`unknown operation '${operation}'`);
    return this[lowerFirst(operation)](request);
  }

  callJson(operation, json) {
    return saving([this], () => this._raw.callJson(operation, json));
  }

  asCaller(caller) {
    return new this.constructor(this._raw.asCaller(optionsOf(caller, 'the caller')), this._saver);
  }

  replicateKey(request, replica) {
    const r = withPolicyText(request);
    return saving([this, replica], () => this._raw.replicateKey(r, replica._raw));
  }

  replicateKeyJson(json, replica) {
    return saving([this, replica], () => this._raw.replicateKeyJson(json, replica._raw));
  }

  updatePrimaryRegion(keyId, newPrimary) {
    return saving([this, newPrimary], () => {
      this._raw.updatePrimaryRegion(keyId, newPrimary._raw);
    });
  }

  exportSnapshot() {
    const e = this._saver?.failed();
    if (e) throw e;
    return this._raw.exportSnapshot();
  }

  flush() {
    return this._saver ? this._saver.flush() : Promise.resolve();
  }

  /** Save what is pending, let another tab open the store, free. */
  async close() {
    try {
      await this.flush();
    } finally {
      this._release?.();
      this._release = undefined;
      this._raw.free();
    }
  }

  free() {
    this._release?.();
    this._raw.free();
  }
}

/** A KMS whose store is kept in a `SnapshotStorage` (`Kms.openPersistent`):
 * durable before acknowledged. Every operation returns a Promise that
 * resolves only after the save of everything the call changed (and of
 * every change it may have seen) committed, and rejects with the storage's
 * error if that save failed; after a failed save every call rejects with
 * StoreIOException until the store is reopened. */
export class PersistentKms extends Kms {}

/** @internal Called by the entry points once the wasm module is
 * instantiated: one camelCase method per operation of the module's list
 * (`kms.encrypt(r)` is the module's `Encrypt(r)`), AWS's request object in,
 * AWS's response object out, both native values (blobs as Uint8Array). An
 * in-memory KMS calls straight through; a persistent one answers once what
 * the call changed is saved. */
export function _ready() {
  if (operationSet.size) return;
  OPERATIONS = Object.freeze(raw.operations());
  operationSet = new Set(OPERATIONS);
  const members = raw.requestMembers();
  for (const op of OPERATIONS) {
    const method = raw.Kms.prototype[op];
    if (typeof method !== 'function') throw new Error(`the wasm module has no method ${op}`);
    const known = new Set(members[op]);
    Object.defineProperty(Kms.prototype, lowerFirst(op), {
      value: function (request) {
        const r = withPolicyText(knownMembers(op, request, known));
        if (!this._saver) return method.call(this._raw, r);
        return saving([this], () => method.call(this._raw, r));
      },
      writable: true,
      configurable: true,
    });
  }
}

/** Frame length of `encryptAsync` messages: large frames mean few
 * WebCrypto calls (each is a round trip to another thread). */
export const ASYNC_FRAME_LENGTH = 256 * 1024;

const subtle = () => globalThis.crypto?.subtle;

/** Import a per-message content key into WebCrypto (non-extractable) and
 * wipe the bytes. */
async function importContentKey(bytes, usage) {
  try {
    return await subtle().importKey('raw', bytes, 'AES-GCM', false, [usage]);
  } finally {
    bytes.fill(0);
  }
}

/** Import a signed message's ECDSA P-384 key (PKCS#8) into WebCrypto,
 * non-extractable, and wipe the bytes. */
async function importSigningKey(pkcs8) {
  try {
    return await subtle().importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign']);
  } finally {
    pkcs8.fill(0);
  }
}

const gcm = (f) => ({ name: 'AES-GCM', iv: f.iv, additionalData: f.aad, tagLength: 128 });

export const EncryptStream = raw.EncryptStream;
export const DecryptStream = raw.DecryptStream;

/** A TransformStream over a push stream from `open()`: each chunk through
 * `update`, then `finish(stream, emit)` for the rest. */
function pushTransform(open, finish) {
  let s;
  const emit = (c) => (out) => {
    if (out.length) c.enqueue(out);
  };
  return new TransformStream({
    start: () => {
      s = open();
    },
    transform: (chunk, c) => emit(c)(s.update(bytes(chunk, 'each chunk'))),
    flush: (c) => {
      try {
        finish(s, emit(c));
      } finally {
        s.free();
      }
    },
  });
}

/** Branch keys for `Envelope.hierarchical`, wrapped by a KMS key of `kms`,
 * kept in memory; `exportSnapshot()` and `snapshot` carry them across loads. */
export class BranchKeyStore {
  constructor(kms, opts) {
    if (!(kms instanceof Kms)) throw validation('kms must be a Kms');
    const { kmsKeyId, logicalName, snapshot } = optionsOf(opts, 'the options');
    this._raw = raw.BranchKeyStore.open(kms._raw, text(kmsKeyId, 'kmsKeyId'), text(logicalName, 'logicalName'),
      snapshot === undefined ? undefined : bytes(snapshot, 'snapshot'));
  }
  createBranchKey(branchKeyId) { return this._raw.createBranchKey(branchKeyId); }
  versionBranchKey(branchKeyId) { return this._raw.versionBranchKey(text(branchKeyId, 'branchKeyId')); }
  versions(branchKeyId) { return this._raw.versions(text(branchKeyId, 'branchKeyId')); }
  exportSnapshot() { return this._raw.exportSnapshot(); }
}

export class Envelope {
  /** @internal use the static constructors. */
  constructor(inner) {
    this._raw = inner;
  }

  static forKms(kms, keyIds, opts) {
    if (!(kms instanceof Kms)) throw validation('kms must be a Kms');
    if (!Array.isArray(keyIds) || !keyIds.every((k) => typeof k === 'string')) {
      throw validation('keyIds must be an array of key ids, ARNs or aliases');
    }
    return new Envelope(raw.Envelope.forKms(kms._raw, keyIds, optionsOf(opts, 'the options')));
  }

  /** Keyrings described as data (the core's KeyringSpec table): one spec
   * or an array (a multi-keyring; the first generates). */
  static fromKeyrings(specs, opts) {
    const list = Array.isArray(specs) ? specs : [specs];
    const { kms } = optionsOf(opts, 'the options');
    if (kms !== undefined) {
      if (!(kms instanceof Kms)) throw validation('kms must be a Kms');
      return new Envelope(raw.Envelope.fromKeyringsWithKms(list, kms._raw));
    }
    return new Envelope(raw.Envelope.fromKeyrings(list));
  }

  /** The hierarchical keyring (aws-kms-hierarchy EDKs) over a BranchKeyStore. */
  static hierarchical(store, opts) {
    if (!(store instanceof BranchKeyStore)) throw validation('store must be a BranchKeyStore');
    const { branchKeyId, branchKeyIdSupplier, ttlSeconds } = optionsOf(opts, 'the options');
    if (typeof ttlSeconds !== 'number') throw validation('ttlSeconds must be a number');
    if (branchKeyIdSupplier !== undefined && typeof branchKeyIdSupplier !== 'function') {
      throw validation('branchKeyIdSupplier must be a function');
    }
    return new Envelope(raw.Envelope.hierarchical(store._raw,
      branchKeyId === undefined ? undefined : text(branchKeyId, 'branchKeyId'), ttlSeconds * 1000, branchKeyIdSupplier));
  }

  static rawAes(opts) {
    const { keyNamespace, keyName, wrappingKey } = optionsOf(opts, 'the options');
    return new Envelope(raw.Envelope.rawAes(text(keyNamespace, 'keyNamespace'), text(keyName, 'keyName'),
      bytes(wrappingKey, 'wrappingKey')));
  }

  encrypt(plaintext, opts) {
    const o = optionsOf(opts, 'the options');
    return this._raw.encrypt(bytes(plaintext, 'plaintext'), o.encryptionContext, o.suite, o.frameLength,
      o.commitmentPolicy);
  }

  decrypt(message, opts) {
    const o = optionsOf(opts, 'the options');
    return this._raw.decrypt(bytes(message, 'message'), o.allowLegacySuites, o.encryptionContext);
  }

  /** The required encryption context CMM in front of this envelope. */
  withRequiredEncryptionContextKeys(keys) {
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw validation('keys must be an array of strings');
    return new Envelope(this._raw.withRequiredEncryptionContextKeys(keys));
  }

  /** A data key cache in front of this envelope's keyrings. */
  withCache(cache) {
    return new Envelope(this._raw.withCache(optionsOf(cache, 'the cache options')));
  }

  async encryptAsync(plaintext, opts) {
    bytes(plaintext, 'plaintext');
    return this._encryptAsync(plaintext, optionsOf(opts, 'the options'));
  }

  async decryptAsync(message, opts) {
    bytes(message, 'message');
    return this._decryptAsync(message, optionsOf(opts, 'the options'));
  }

  async _encryptAsync(plaintext, options) {
    // Non-framed bodies and P-256 signatures (suite 0x0214) stay in wasm.
    if (!subtle() || options.frameLength === 0 || options.suite === 0x0214) return this.encrypt(plaintext, options);
    const plan = this._raw.delegateEncrypt(options.encryptionContext, options.suite,
      options.frameLength ?? ASYNC_FRAME_LENGTH, plaintext.length, options.commitmentPolicy);
    const key = await importContentKey(plan.contentKey, 'encrypt');
    const signer = plan.signingKey ? importSigningKey(plan.signingKey) : undefined;
    const sealed = await Promise.all(plan.frames.map((f) =>
      subtle().encrypt(gcm(f), key, plaintext.subarray(f.offset, f.offset + f.length))));
    let size = plan.header.length;
    plan.frames.forEach((f, i) => { size += f.prefix.length + sealed[i].byteLength; });
    const body = new Uint8Array(size);
    body.set(plan.header);
    let at = plan.header.length;
    plan.frames.forEach((f, i) => {
      body.set(f.prefix, at);
      at += f.prefix.length;
      body.set(new Uint8Array(sealed[i]), at);
      at += sealed[i].byteLength;
    });
    if (!signer) return body;
    const signature = await subtle().sign({ name: 'ECDSA', hash: 'SHA-384' }, await signer, body);
    const footer = raw.signatureFooter(new Uint8Array(signature));
    const out = new Uint8Array(body.length + footer.length);
    out.set(body);
    out.set(footer, body.length);
    return out;
  }

  async _decryptAsync(message, options) {
    // A caller-supplied context (required-context messages) is checked in wasm.
    if (!subtle() || options.encryptionContext !== undefined) return this.decrypt(message, options);
    let plan;
    try {
      plan = this._raw.delegateDecrypt(message, options.allowLegacySuites);
    } catch (e) {
      if (e?.code === 'UnsupportedOperationException') return this.decrypt(message, options);
      throw e;
    }
    const key = await importContentKey(plan.contentKey, 'decrypt');
    const sig = plan.signature;
    const verified = sig
      ? subtle().importKey('raw', sig.publicKey, { name: 'ECDSA', namedCurve: sig.curve }, false, ['verify'])
        .then((pk) => subtle().verify({ name: 'ECDSA', hash: sig.hash }, pk, sig.signature,
          message.subarray(0, sig.signedLength)))
      : Promise.resolve(true);
    let opened;
    try {
      const [ok, frames] = await Promise.all([verified, Promise.all(plan.frames.map((f) =>
        subtle().decrypt(gcm(f), key, message.subarray(f.offset, f.offset + f.length + 16))))]);
      if (!ok) throw new Error('signature');
      opened = frames;
    } catch {
      throw raw.invalidCiphertextError();
    }
    const plaintext = new Uint8Array(opened.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of opened) {
      const frame = new Uint8Array(p);
      plaintext.set(frame, at);
      at += p.byteLength;
      frame.fill(0); // WebCrypto's copy is ours: wipe it once assembled
    }
    return { ...plan.info, plaintext };
  }

  encryptor(options = {}) {
    return this._raw.encryptor(options.encryptionContext, options.suite, options.frameLength, options.plaintextLength,
      options.commitmentPolicy);
  }

  decryptor(options = {}) {
    return this._raw.decryptor(options.allowLegacySuites);
  }

  encryptStream(options = {}) {
    return pushTransform(() => this.encryptor(options), (s, emit) => emit(s.finish()));
  }

  decryptStream(options = {}) {
    return pushTransform(() => this.decryptor(options), (s, emit) => {
      const m = s.finish();
      emit(m.plaintext);
      options.onComplete?.(m);
    });
  }

  cacheStats() {
    return this._raw.cacheStats();
  }

  free() {
    this._raw.free();
  }
}

/** IndexedDB storage for `Kms.openPersistent` (browsers). */
export function indexedDbStorage(name = 'strongroom', key = 'store') {
  if (typeof indexedDB === 'undefined') {
    throw validation('IndexedDB is not available here; pass `storage` to Kms.openPersistent');
  }
  const STORE = 'snapshots';
  const open = () =>
    new Promise((resolve, reject) => {
      const r = indexedDB.open(name, 1);
      r.onupgradeneeded = () => r.result.createObjectStore(STORE);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  const run = async (mode, f) => {
    const db = await open();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode, { durability: 'strict' });
        const req = f(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(req.result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  };
  return {
    lockName: `strongroom:${name}/${key}`,
    async load() {
      const v = await run('readonly', (s) => s.get(key));
      return v === undefined ? undefined : new Uint8Array(v);
    },
    async save(snapshot) {
      await run('readwrite', (s) => s.put(snapshot, key));
    },
  };
}
