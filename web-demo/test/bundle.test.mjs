// The package as a bundler sees it: esbuild bundles an app that imports
// 'strongroom' (installed from the packed tarball in build/npm/consumer),
// the module's .wasm is placed beside the bundle as browser.js expects, and
// headless Chromium runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(path.join(process.env.STRONGROOM_NPM_TOOLS, 'package.json'));
const { chromium } = require('playwright-core');
const esbuild = require('esbuild');
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

test('an esbuild bundle importing strongroom runs in Chromium', async () => {
  const out = path.join(repo, 'build/web-demo/bundled');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(path.join(out, 'wasm'), { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(repo, 'web-demo/test-fixtures/bundled-app.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: path.join(out, 'app.js'),
    nodePaths: [path.join(repo, 'build/npm/consumer/node_modules')],
    logLevel: 'silent',
  });
  copyFileSync(path.join(repo, 'build/npm/consumer/node_modules/strongroom/wasm/strongroom_wasm_bg.wasm'),
    path.join(out, 'wasm/strongroom_wasm_bg.wasm'));
  writeFileSync(path.join(out, 'index.html'), '<!doctype html><link rel="icon" href="data:,"><script type="module" src="app.js"></script>');
  const server = http.createServer(async (req, res) => {
    const file = path.join(out, new URL(req.url, 'http://x').pathname.replace(/\/$/, '/index.html'));
    try {
      const body = await readFile(file);
      const type = file.endsWith('.wasm') ? 'application/wasm' : file.endsWith('.js') ? 'text/javascript' : 'text/html';
      res.writeHead(200, { 'content-type': type }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const profile = mkdtempSync(path.join(os.tmpdir(), 'strongroom-bundle-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => document.body?.dataset.result, null, { timeout: 60000 })
      .catch((e) => { throw new Error(`${e.message}; page errors: ${errors.join(' | ')}`); });
    assert.equal(await page.getAttribute('body', 'data-result'), 'bundled and round-tripped / esbuild');
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
