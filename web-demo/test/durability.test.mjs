// The persistent KMS over real IndexedDB in headless Chromium: durable
// before acknowledged. A call on a persistent KMS resolves only once its
// save committed (here each save is slowed down, so the order is plain to
// see), and closing the tab right after an acknowledged call, without
// flush() or close(), loses nothing. Run by scripts/wasm.sh demo-test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { start } from '../serve.mjs';

const require = createRequire(path.join(process.env.STRONGROOM_NPM_TOOLS, 'package.json'));
const { chromium } = require('playwright-core');

test('IndexedDB: acknowledged after the commit; a tab closed right after loses nothing', async () => {
  const server = await start(0);
  const url = `http://127.0.0.1:${server.address().port}/`;
  const profile = mkdtempSync(path.join(os.tmpdir(), 'strongroom-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await ctx.newPage();
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]');
    const first = await page.evaluate(async () => {
      const sr = await import('/strongroom/browser.js');
      const idb = sr.indexedDbStorage('durability-test');
      const log = [];
      const storage = {
        lockName: idb.lockName,
        load: () => idb.load(),
        async save(b) {
          await new Promise((r) => setTimeout(r, 300));
          await idb.save(b);
          log.push('committed');
        },
      };
      const kms = await sr.Kms.openPersistent({ rootKey: new Uint8Array(32).fill(1), storage });
      log.length = 0;
      const pending = kms.createKey({ Description: 'durable' });
      const isPromise = pending instanceof Promise;
      const r = await pending;
      log.push('acknowledged');
      const blob = (await kms.encrypt({ KeyId: r.KeyMetadata.KeyId, Plaintext: new Uint8Array([7, 7, 7]) })).CiphertextBlob;
      // No flush(), no close(): the tab goes away now.
      return { isPromise, log, keyId: r.KeyMetadata.KeyId, blob: Array.from(blob) };
    });
    await page.close();

    const page2 = await ctx.newPage();
    await page2.goto(url);
    await page2.waitForSelector('body[data-ready="true"]');
    const second = await page2.evaluate(async (blob) => {
      const sr = await import('/strongroom/browser.js');
      let kms;
      for (let i = 0; !kms; i++) {
        try {
          kms = await sr.Kms.openPersistent({ rootKey: new Uint8Array(32).fill(1), storage: sr.indexedDbStorage('durability-test') });
        } catch (e) {
          if (e.code !== 'ConflictException' || i > 50) throw e; // the closed tab's lock is being released
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const keys = (await Promise.resolve(kms.listKeys())).Keys.map((k) => k.KeyId);
      const plain = await (async () => kms.decrypt({ CiphertextBlob: new Uint8Array(blob) }))()
        .then((r) => Array.from(r.Plaintext), (e) => e.code);
      await kms.close();
      return { keys, plain };
    }, first.blob);
    assert.deepEqual(second.keys, [first.keyId], 'the acknowledged key survived the closed tab');
    assert.deepEqual(second.plain, [7, 7, 7], 'data encrypted under it decrypts');
    assert.deepEqual(first.log, ['committed', 'acknowledged'], 'the save committed before createKey resolved');
    assert.equal(first.isPromise, true, 'createKey on a persistent KMS is a Promise');
  } finally {
    await ctx.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
