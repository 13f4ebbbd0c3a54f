// TEST-ONLY entry point, never in the npm package: scripts/wasm.sh builds
// it into build/npm/strongroom-testing with a module compiled with the
// `dangerous-test-rng` feature (the core's seeded RNG: every key and nonce
// predictable), to replay the language-neutral vectors from Node. The
// production package has no `deterministic` anywhere (tested).
import { readFileSync } from 'node:fs';
import { initSync, Kms as RawKms } from './wasm/strongroom_wasm.js';
import { Kms, ManualClock, _ready } from './lib.js';

initSync({ module: readFileSync(new URL('./wasm/strongroom_wasm_bg.wasm', import.meta.url)) });
_ready();

export * from './lib.js';

/** An in-memory KMS whose every key follows from `seed` (32 bytes), on the
 * given ManualClock. For test vectors only. */
export function deterministicKms({ account, region, seed, clock } = {}) {
  const bad = (m) => Object.assign(new Error(m), { name: 'ValidationException', code: 'ValidationException' });
  if (!(clock instanceof ManualClock)) throw bad('clock must be a ManualClock');
  if (!(seed instanceof Uint8Array)) throw bad('seed must be a Uint8Array');
  if (typeof account !== 'string' || typeof region !== 'string') throw bad('account and region must be strings');
  return new Kms(RawKms.deterministic(account, region, seed, clock));
}
