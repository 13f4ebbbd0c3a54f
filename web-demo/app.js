// The Strongroom web demo: everything below runs on the `strongroom` npm
// package in this page. The sealed store lives in IndexedDB (database
// "strongroom-demo"); the passphrase is stretched with Argon2id inside the
// module and never stored. The KMS is persistent, so every call is awaited:
// it resolves only once what it changed is committed to IndexedDB, and the
// page shows a change only after that (durable before acknowledged).
import { Kms, Envelope, indexedDbStorage, isStrongroomError, SUITE_UNSIGNED } from 'strongroom';

const DB = 'strongroom-demo';
const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();
const dec = new TextDecoder();
const b64 = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(''));
const unb64 = (s) => Uint8Array.from(atob(s.trim()), (c) => c.charCodeAt(0));

let kms;
const envelopes = new Map(); // key id -> Envelope with a data key cache
let decryptEnvelope;

function log(text, cls) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  if (cls) li.className = cls;
  $('log').prepend(li);
}

function describe(e) {
  return isStrongroomError(e) ? `${e.code}: ${e.message}` : String(e);
}

/** Show `text` in an <output>, as a success or an error. */
function show(id, text, ok = true) {
  const o = $(id);
  o.textContent = text;
  o.className = ok ? 'ok' : 'err';
}

/** Run a UI action; Strongroom errors are shown with their stable code. */
function action(outputId, f) {
  return async (ev) => {
    ev?.preventDefault();
    try {
      await f();
    } catch (e) {
      if (outputId) show(outputId, describe(e), false);
      log(describe(e), 'err');
    }
  };
}

function parseContext(text) {
  const ctx = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf('=');
    if (i < 1) throw new Error(`"${line}" is not key=value`);
    ctx[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return ctx;
}

// ------------------------------------------------------------- the store

async function unlock() {
  show('store-status', 'Opening…');
  const passphrase = $('passphrase').value;
  kms = await Kms.openPersistent({ passphrase, storage: indexedDbStorage(DB) });
  decryptEnvelope = Envelope.forKms(kms, [], { cache: { capacity: 20, maxAgeMs: 300000 } });
  $('app').hidden = false;
  $('unlock-form').hidden = true;
  await refresh();
  const n = (await kms.listKeys()).Keys.length;
  show('store-status', `Store open: ${n} key${n === 1 ? '' : 's'} in IndexedDB.`);
  log(`opened the store (${n} keys)`);
}

$('unlock-form').addEventListener('submit', action('store-status', unlock));
$('forget').addEventListener('click', action('store-status', async () => {
  await new Promise((resolve, reject) => {
    const r = indexedDB.deleteDatabase(DB);
    r.onsuccess = resolve;
    r.onerror = () => reject(r.error);
  });
  show('store-status', 'Stored keys erased.');
}));

// ------------------------------------------------------------- keys

const TYPES = {
  SYMMETRIC_DEFAULT: { keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', label: 'AES-256-GCM' },
  ECC_NIST_P256: { keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY', label: 'ECDSA P-256' },
  HMAC_256: { keySpec: 'HMAC_256', keyUsage: 'GENERATE_VERIFY_MAC', label: 'HMAC-SHA-256' },
};

async function refresh() {
  const aliases = new Map();
  for (const a of (await kms.listAliases()).Aliases) aliases.set(a.TargetKeyId, a.AliasName);
  const rows = [];
  for (const k of (await kms.listKeys()).Keys) rows.push((await kms.describeKey({ KeyId: k.KeyId })).KeyMetadata);
  rows.sort((a, b) => a.CreationDate - b.CreationDate);
  const body = $('keys').querySelector('tbody');
  body.replaceChildren();
  for (const m of rows) {
    const tr = document.createElement('tr');
    tr.dataset.keyId = m.KeyId;
    const alias = aliases.get(m.KeyId) ?? '';
    const type = Object.values(TYPES).find((t) => t.keySpec === m.KeySpec)?.label ?? m.KeySpec;
    let state = m.KeyState;
    if (m.DeletionDate) state += ` (deleted ${new Date(m.DeletionDate * 1000).toLocaleDateString()})`;
    tr.innerHTML = '<td class="alias"></td><td><code></code></td><td></td><td class="state"></td><td></td>';
    tr.children[0].textContent = alias;
    tr.children[1].firstChild.textContent = m.KeyId;
    tr.children[2].textContent = type;
    tr.children[3].textContent = state;
    tr.children[3].classList.add(`state-${m.KeyState}`);
    const buttons = tr.children[4];
    const button = (label, f) => {
      const b = document.createElement('button');
      b.className = 'small secondary';
      b.textContent = label;
      b.addEventListener('click', action(null, async () => { await f(); await refresh(); }));
      buttons.append(b);
    };
    if (m.KeyState === 'Enabled') {
      button('Disable', async () => { await kms.disableKey({ KeyId: m.KeyId }); log(`disabled ${alias || m.KeyId}`); });
    } else if (m.KeyState === 'Disabled') {
      button('Enable', async () => { await kms.enableKey({ KeyId: m.KeyId }); log(`enabled ${alias || m.KeyId}`); });
    }
    if (m.KeyState === 'PendingDeletion') {
      button('Cancel deletion', async () => { await kms.cancelKeyDeletion({ KeyId: m.KeyId }); log(`cancelled deletion of ${alias || m.KeyId}`); });
    } else {
      button('Schedule deletion', async () => {
        const r = await kms.scheduleKeyDeletion({ KeyId: m.KeyId, PendingWindowInDays: 7 });
        log(`${alias || m.KeyId} will be deleted on ${new Date((r.DeletionDate ?? 0) * 1000).toLocaleDateString()}; unusable now`);
      });
    }
    body.append(tr);
  }
  for (const select of document.querySelectorAll('.key-select')) {
    const keep = select.value;
    select.replaceChildren();
    for (const m of rows.filter((r) => r.KeyUsage === select.dataset.usage)) {
      const o = document.createElement('option');
      o.value = m.KeyId;
      o.textContent = `${aliases.get(m.KeyId) ?? m.KeyId}${m.KeyState === 'Enabled' ? '' : ` (${m.KeyState})`}`;
      select.append(o);
    }
    if ([...select.options].some((o) => o.value === keep)) select.value = keep;
  }
}

$('create-form').addEventListener('submit', action(null, async () => {
  const t = TYPES[$('key-type').value];
  // Each await resolves once the change is in IndexedDB.
  const { KeyMetadata: keyMetadata } = await kms.createKey({ Description: $('description').value, KeySpec: t.keySpec, KeyUsage: t.keyUsage });
  const alias = $('alias').value.trim();
  if (alias) await kms.createAlias({ AliasName: alias.startsWith('alias/') ? alias : `alias/${alias}`, TargetKeyId: keyMetadata.KeyId });
  log(`created ${t.label} key ${alias || keyMetadata.KeyId}`, 'ok');
  $('alias').value = '';
  $('description').value = '';
  await refresh();
}));

// ------------------------------------------------------------- text

$('encrypt').addEventListener('click', action('dec-result', async () => {
  const r = await kms.encrypt({
    KeyId: $('enc-key').value,
    Plaintext: enc.encode($('enc-plaintext').value),
    EncryptionContext: parseContext($('enc-context').value),
  });
  $('ciphertext').value = b64(r.CiphertextBlob);
  show('dec-result', '');
  log(`encrypted ${r.CiphertextBlob.length}-byte blob under ${r.KeyId}`, 'ok');
}));

$('decrypt').addEventListener('click', action('dec-result', async () => {
  const r = await kms.decrypt({ CiphertextBlob: unb64($('ciphertext').value), EncryptionContext: parseContext($('dec-context').value) });
  show('dec-result', dec.decode(r.Plaintext));
  log('decrypted', 'ok');
}));

$('data-key').addEventListener('click', action('data-key-result', async () => {
  const r = await kms.generateDataKey({ KeyId: $('enc-key').value, KeySpec: 'AES_256', EncryptionContext: parseContext($('enc-context').value) });
  show('data-key-result', `${r.Plaintext.length * 8}-bit key ${b64(r.Plaintext).slice(0, 8)}… (shown in part), wrapped: ${r.CiphertextBlob.length} bytes`);
  r.Plaintext.fill(0);
  log('generated a data key', 'ok');
}));

// ------------------------------------------------------------- files

function envelopeFor(keyId) {
  if (!envelopes.has(keyId)) {
    envelopes.set(keyId, Envelope.forKms(kms, [keyId], { cache: { capacity: 10, maxAgeMs: 300000, maxMessagesEncrypted: 1000 } }));
  }
  return envelopes.get(keyId);
}

async function collect(stream) {
  const parts = [];
  for await (const p of stream) parts.push(p);
  return new Blob(parts);
}

function offer(linkId, blob, name) {
  const a = $(linkId);
  if (a.href) URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.textContent = `Download ${name}`;
  a.hidden = false;
}

function showCache() {
  const total = { hits: 0, misses: 0, invalidations: 0 };
  for (const e of [...envelopes.values(), decryptEnvelope]) {
    const s = e.cacheStats();
    if (!s) continue;
    total.hits += s.hits;
    total.misses += s.misses;
    total.invalidations += s.invalidations;
  }
  $('cache-stats').textContent = `${total.hits} hits, ${total.misses} misses, ${total.invalidations} invalidations`;
}

$('file-in').addEventListener('change', action('file-enc-result', async () => {
  const file = $('file-in').files[0];
  if (!file) return;
  const env = envelopeFor($('file-key').value);
  const out = await collect(file.stream().pipeThrough(env.encryptStream({
    encryptionContext: { file: file.name },
    suite: SUITE_UNSIGNED,
    plaintextLength: file.size,
  })));
  show('file-enc-result', `${file.name}: ${file.size} bytes → ${out.size} bytes encrypted.`);
  offer('file-enc-download', out, `${file.name}.strongroom`);
  showCache();
  log(`envelope-encrypted ${file.name}`, 'ok');
}));

$('file-dec-in').addEventListener('change', action('file-dec-result', async () => {
  const file = $('file-dec-in').files[0];
  if (!file) return;
  let info;
  const out = await collect(file.stream().pipeThrough(decryptEnvelope.decryptStream({ onComplete: (m) => { info = m; } })));
  const name = info.encryptionContext.file ?? file.name.replace(/\.strongroom$/, '');
  show('file-dec-result', `${file.name} → ${name}, ${out.size} bytes, opened with ${info.keyName}.`);
  offer('file-dec-download', out, name);
  showCache();
  log(`decrypted ${file.name}`, 'ok');
}));

// ------------------------------------------------------------- signing

$('sign').addEventListener('click', action('verify-result', async () => {
  const r = await kms.sign({ KeyId: $('sign-key').value, Message: enc.encode($('sign-message').value), SigningAlgorithm: 'ECDSA_SHA_256' });
  $('signature').value = b64(r.Signature);
  show('verify-result', '');
  log('signed', 'ok');
}));

$('verify').addEventListener('click', action('verify-result', async () => {
  const r = await kms.verify({
    KeyId: $('sign-key').value,
    Message: enc.encode($('sign-message').value),
    Signature: unb64($('signature').value),
    SigningAlgorithm: 'ECDSA_SHA_256',
  });
  show('verify-result', r.SignatureValid ? 'valid signature' : 'INVALID signature', r.SignatureValid);
}));

show('store-status', 'Enter a passphrase to open (or create) the key store kept in this browser.');
document.body.dataset.ready = 'true';
