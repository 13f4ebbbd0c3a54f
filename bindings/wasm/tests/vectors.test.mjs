// Replays the language-neutral vectors (tests/vectors/README.md) through the
// package's JS layer, as the Rust, Python and Kotlin suites do. They need the
// core's seeded RNG, which the npm package does not contain: this file runs on
// the TEST-ONLY module `strongroom-testing` (scripts/wasm.sh build_testing:
// the same crate with the feature dangerous-test-rng, and the package's
// lib.js), installed beside the package in build/npm/consumer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as sr from 'strongroom-testing';

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
    regions.set(r, sr.deterministicKms({ account: '111122223333', region: r, seed: s, clock }));
  });
  const kms = regions.size ? [...regions.values()][0] : sr.deterministicKms({ account: '111122223333', region: 'us-east-1', seed, clock });
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

test('the test-only module refuses a bad deterministic setup with a ValidationException', () => {
  assert.throws(() => sr.deterministicKms({ account: 'a', region: 'r', seed: new Uint8Array(32), clock: {} }),
    (e) => e.code === 'ValidationException');
  assert.throws(() => sr.deterministicKms({ account: 'a', region: 'r', seed: new Uint8Array(31), clock: new sr.ManualClock(0) }),
    (e) => e.code === 'ValidationException');
});
