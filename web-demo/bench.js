// In-page benchmark: the strongroom package against WebCrypto AES-GCM in
// the same page. Results also go to `window.benchResults` (read by
// web-demo/bench-run.mjs, `make bench-web`). Speed targets are reported
// here as ratios, never asserted by tests.
import { Kms, Envelope, SUITE_UNSIGNED } from 'strongroom';

const params = new URLSearchParams(location.search);
const ROUNDS = Number(params.get('rounds') ?? 5);
const ROUND_MS = Number(params.get('ms') ?? 300);
const subtle = crypto.subtle;

/** Median ops/s of `f` (sync or async, one op per call). */
async function rate(f) {
  const rates = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ROUND_MS) {
      for (let i = 0; i < 8; i++) await f();
      n += 8;
      t = performance.now();
    }
    rates.push((n * 1000) / (t - t0));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}

/** The same for a synchronous `f`, without awaiting between calls. */
async function rateSync(f) {
  return rate(() => { for (let i = 0; i < 16; i++) f(); }).then((r) => r * 16);
}

const rows = [];
function report(group, op, perSec, bytes, base) {
  const mbs = bytes ? (perSec * bytes) / 1e6 : null;
  const ratio = base ? perSec / base : null;
  rows.push({ group, op, perSec, mbs, ratio });
  const tr = document.createElement('tr');
  for (const v of [group, op, perSec.toFixed(0), mbs === null ? '' : mbs.toFixed(1), ratio === null ? '—' : `${ratio.toFixed(2)}×`]) {
    const td = document.createElement('td');
    td.textContent = v;
    tr.append(td);
  }
  document.querySelector('#results tbody').append(tr);
}

async function main() {
  const rawKey = crypto.getRandomValues(new Uint8Array(32));
  const wc = await subtle.importKey('raw', rawKey, 'AES-GCM', false, ['encrypt', 'decrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const kms = Kms.inMemory();
  const keyId = kms.createKey({}).KeyMetadata.KeyId;
  const env = Envelope.rawAes({ keyNamespace: 'bench', keyName: 'k', wrappingKey: rawKey });

  // 64 bytes: WebCrypto calls vs KMS Encrypt/Decrypt calls.
  const small = crypto.getRandomValues(new Uint8Array(64));
  const wcSmall = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, wc, small));
  const wcEnc64 = await rate(() => subtle.encrypt({ name: 'AES-GCM', iv }, wc, small));
  report('64 B', 'WebCrypto AES-GCM encrypt', wcEnc64, 64);
  const wcDec64 = await rate(() => subtle.decrypt({ name: 'AES-GCM', iv }, wc, wcSmall));
  report('64 B', 'WebCrypto AES-GCM decrypt', wcDec64, 64);
  const blob = kms.encrypt({ KeyId: keyId, Plaintext: small }).CiphertextBlob;
  report('64 B', 'strongroom kms.encrypt', await rateSync(() => kms.encrypt({ KeyId: keyId, Plaintext: small })), 64, wcEnc64);
  report('64 B', 'strongroom kms.decrypt', await rateSync(() => kms.decrypt({ CiphertextBlob: blob })), 64, wcDec64);
  const msg64 = env.encrypt(small, { suite: SUITE_UNSIGNED });
  report('64 B', 'strongroom envelope encrypt (0x0478)', await rateSync(() => env.encrypt(small, { suite: SUITE_UNSIGNED })), 64, wcEnc64);
  report('64 B', 'strongroom envelope decrypt (0x0478)', await rateSync(() => env.decrypt(msg64)), 64, wcDec64);

  // 1 MiB: bulk throughput.
  const big = new Uint8Array(1 << 20);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  const wcBig = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, wc, big));
  const wcEncBulk = await rate(() => subtle.encrypt({ name: 'AES-GCM', iv }, wc, big));
  report('1 MiB', 'WebCrypto AES-GCM encrypt', wcEncBulk, big.length);
  const wcDecBulk = await rate(() => subtle.decrypt({ name: 'AES-GCM', iv }, wc, wcBig));
  report('1 MiB', 'WebCrypto AES-GCM decrypt', wcDecBulk, big.length);
  const u = { suite: SUITE_UNSIGNED };
  const asyncMsg = await env.encryptAsync(big, u);
  report('1 MiB', 'strongroom envelope encryptAsync (WebCrypto frames)', await rate(() => env.encryptAsync(big, u)), big.length, wcEncBulk);
  report('1 MiB', 'strongroom envelope decryptAsync (WebCrypto frames)', await rate(() => env.decryptAsync(asyncMsg)), big.length, wcDecBulk);
  const signedMsg = await env.encryptAsync(big);
  report('1 MiB', 'strongroom envelope encryptAsync, signed 0x0578', await rate(() => env.encryptAsync(big)), big.length, wcEncBulk);
  report('1 MiB', 'strongroom envelope decryptAsync, signed 0x0578', await rate(() => env.decryptAsync(signedMsg)), big.length, wcDecBulk);
  const syncMsg = env.encrypt(big, { suite: SUITE_UNSIGNED, frameLength: 65536 });
  report('1 MiB', 'strongroom envelope encrypt (wasm AES)', await rate(() => env.encrypt(big, { suite: SUITE_UNSIGNED, frameLength: 65536 })), big.length, wcEncBulk);
  report('1 MiB', 'strongroom envelope decrypt (wasm AES)', await rate(() => env.decrypt(syncMsg)), big.length, wcDecBulk);

  // Correctness of what was measured.
  const back = await env.decryptAsync(asyncMsg);
  if (back.plaintext.length !== big.length || back.plaintext.some((b, i) => b !== big[i])) throw new Error('round trip failed');
  if (env.decrypt(asyncMsg).plaintext.length !== big.length) throw new Error('sync read of an async message failed');
  if (env.decrypt(signedMsg).suite !== 0x0578) throw new Error('sync read of a signed async message failed');

  window.benchResults = { rounds: ROUNDS, roundMs: ROUND_MS, userAgent: navigator.userAgent, rows };
  document.getElementById('status').textContent = `Done (${ROUNDS} rounds of ${ROUND_MS} ms each).`;
}

main().catch((e) => {
  document.getElementById('status').textContent = `Failed: ${e.code ?? ''} ${e.message}`;
  window.benchResults = { error: String(e) };
});
