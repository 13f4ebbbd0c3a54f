// Drives the web demo in headless Chromium (playwright-core + Debian's
// /usr/bin/chromium) through every flow a person would use, including a
// reload that must find the keys again in IndexedDB. Saves a screenshot
// to build/web-demo/demo.png. Run by scripts/web-demo.sh test (make test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from '../serve.mjs';

const require = createRequire(path.join(process.env.STRONGROOM_NPM_TOOLS, 'package.json'));
const { chromium } = require('playwright-core');
const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '../../build/web-demo');

test('the web demo: keys, text, data keys, files, signatures, deletion, reload', async () => {
  mkdirSync(out, { recursive: true });
  const server = await start(0);
  const url = `http://127.0.0.1:${server.address().port}/`;
  const profile = mkdtempSync(path.join(os.tmpdir(), 'strongroom-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    acceptDownloads: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]');

    // Open a new store with a passphrase.
    await page.fill('#passphrase', 'correct horse battery');
    await page.click('#unlock');
    await page.waitForSelector('#app:not([hidden])');
    assert.match(await page.textContent('#store-status'), /0 keys/);

    // Create keys with aliases and see them listed.
    const create = async (alias, type) => {
      await page.fill('#alias', alias);
      await page.fill('#description', `${alias} key`);
      await page.selectOption('#key-type', type);
      await page.click('#create-key');
      await page.waitForSelector(`#keys td.alias:text-is("alias/${alias}")`);
    };
    await create('notes', 'SYMMETRIC_DEFAULT');
    await create('signing', 'ECC_NIST_P256');
    assert.equal(await page.locator('#keys tbody tr').count(), 2);

    // Encrypt text with a context; decrypt; change the context and fail.
    await page.selectOption('#enc-key', { label: 'alias/notes' });
    await page.fill('#enc-plaintext', 'the launch code is 0000');
    await page.fill('#enc-context', 'purpose=demo\nuser=ana');
    await page.click('#encrypt');
    await page.waitForFunction(() => document.getElementById('ciphertext').value.length > 40);
    await page.fill('#dec-context', 'user=ana\npurpose=demo');
    await page.click('#decrypt');
    await page.waitForSelector('#dec-result.ok');
    assert.equal(await page.textContent('#dec-result'), 'the launch code is 0000');
    await page.fill('#dec-context', 'purpose=demo\nuser=bob');
    await page.click('#decrypt');
    await page.waitForSelector('#dec-result.err');
    assert.match(await page.textContent('#dec-result'), /^InvalidCiphertextException/);
    assert.doesNotMatch(await page.textContent('#dec-result'), /launch code/);

    // A data key.
    await page.click('#data-key');
    await page.waitForSelector('#data-key-result.ok');
    assert.match(await page.textContent('#data-key-result'), /^256-bit key/);

    // Envelope-encrypt a file, download it, decrypt it, download that.
    const content = Buffer.alloc(300_000);
    for (let i = 0; i < content.length; i++) content[i] = (i * 7) & 255;
    await page.selectOption('#file-key', { label: 'alias/notes' });
    await page.setInputFiles('#file-in', { name: 'photo.raw', mimeType: 'application/octet-stream', buffer: content });
    await page.waitForSelector('#file-enc-download:not([hidden])');
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#file-enc-download')]);
    assert.equal(dl.suggestedFilename(), 'photo.raw.strongroom');
    const encPath = path.join(out, 'photo.raw.strongroom');
    await dl.saveAs(encPath);
    const encrypted = readFileSync(encPath);
    assert.ok(encrypted.length > content.length && !encrypted.includes(content.subarray(0, 64)));
    await page.setInputFiles('#file-dec-in', encPath);
    await page.waitForSelector('#file-dec-download:not([hidden])');
    assert.match(await page.textContent('#file-dec-result'), /photo\.raw, 300000 bytes/);
    const [dl2] = await Promise.all([page.waitForEvent('download'), page.click('#file-dec-download')]);
    assert.equal(dl2.suggestedFilename(), 'photo.raw');
    const decPath = path.join(out, 'photo.raw');
    await dl2.saveAs(decPath);
    assert.ok(readFileSync(decPath).equals(content), 'the decrypted file is the original');
    // A damaged file is refused.
    const bad = Buffer.from(encrypted);
    bad[bad.length - 100] ^= 1;
    await page.setInputFiles('#file-dec-in', { name: 'bad.strongroom', mimeType: 'application/octet-stream', buffer: bad });
    await page.waitForSelector('#file-dec-result.err');
    // Encrypting again reuses the cached data key.
    await page.setInputFiles('#file-in', { name: 'second.txt', mimeType: 'text/plain', buffer: Buffer.from('again') });
    await page.waitForFunction(() => /second\.txt/.test(document.getElementById('file-enc-result').textContent));
    assert.match(await page.textContent('#cache-stats'), /^[1-9]\d* hits/);

    // Sign and verify; a changed message does not verify.
    await page.selectOption('#sign-key', { label: 'alias/signing' });
    await page.click('#sign');
    await page.waitForFunction(() => document.getElementById('signature').value.length > 40);
    await page.click('#verify');
    await page.waitForSelector('#verify-result.ok');
    assert.equal(await page.textContent('#verify-result'), 'valid signature');
    await page.fill('#sign-message', 'I owe you 1000 €.');
    await page.click('#verify');
    await page.waitForSelector('#verify-result.err');
    assert.match(await page.textContent('#verify-result'), /KMSInvalidSignatureException|INVALID/);

    // Schedule deletion: the key becomes unusable at once.
    const notesRow = page.locator('#keys tbody tr', { has: page.locator('td.alias:text-is("alias/notes")') });
    await notesRow.locator('button:text-is("Schedule deletion")').click();
    await page.waitForSelector('#keys td.state.state-PendingDeletion');
    await page.selectOption('#enc-key', { label: 'alias/notes (PendingDeletion)' });
    await page.click('#encrypt');
    await page.waitForSelector('#dec-result.err');
    assert.match(await page.textContent('#dec-result'), /^KMSInvalidStateException/);
    await page.screenshot({ path: path.join(out, 'demo.png'), fullPage: true });

    // Reload: the keys, their aliases and states come back from IndexedDB.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await page.fill('#passphrase', 'wrong passphrase');
    await page.click('#unlock');
    await page.waitForSelector('#store-status.err');
    assert.match(await page.textContent('#store-status'), /^InvalidRootKeyException/);
    await page.fill('#passphrase', 'correct horse battery');
    await page.click('#unlock');
    await page.waitForSelector('#app:not([hidden])');
    assert.match(await page.textContent('#store-status'), /2 keys/);
    assert.equal(await page.locator('#keys td.alias:text-is("alias/notes")').count(), 1);
    assert.match(await notesRow.locator('td.state').textContent(), /^PendingDeletion/);
    // One writer per store: a second tab is refused while this one has it open.
    const tab2 = await ctx.newPage();
    await tab2.goto(url);
    await tab2.waitForSelector('body[data-ready="true"]');
    await tab2.fill('#passphrase', 'correct horse battery');
    await tab2.click('#unlock');
    await tab2.waitForSelector('#store-status.err');
    assert.match(await tab2.textContent('#store-status'), /^ConflictException/);
    await tab2.close();
    // The old ciphertext file still decrypts? No: its key is pending deletion.
    await page.setInputFiles('#file-dec-in', encPath);
    await page.waitForSelector('#file-dec-result.err');
    assert.match(await page.textContent('#file-dec-result'), /KMSInvalidStateException/);
    // Cancel the deletion (after the reload) and the file opens again.
    await page.locator('#keys tbody tr', { has: page.locator('td.alias:text-is("alias/notes")') })
      .locator('button:text-is("Cancel deletion")').click();
    await page.waitForSelector('#keys td.state.state-Disabled');
    await page.locator('#keys tbody tr', { has: page.locator('td.alias:text-is("alias/notes")') })
      .locator('button:text-is("Enable")').click();
    await page.waitForFunction(() => [...document.querySelectorAll('#keys td.state')].every((td) => td.textContent === 'Enabled'));
    await page.setInputFiles('#file-dec-in', { name: 'again.strongroom', mimeType: 'application/octet-stream', buffer: encrypted });
    await page.waitForSelector('#file-dec-result.ok');
    await page.screenshot({ path: path.join(out, 'demo-after-reload.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
  writeFileSync(path.join(out, 'README.txt'), 'Screenshots and files from the last web demo test run (web-demo/test/demo.test.mjs).\n');
});
