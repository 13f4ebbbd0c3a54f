// Runs bench.html in headless Chromium (playwright-core, /usr/bin/chromium)
// and prints its figures and the ratios against WebCrypto; writes
// build/web-demo/bench.json. `make bench-web` (scripts/wasm.sh bench).
// With --quick (make test) it only checks that the page runs end to end.
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from './serve.mjs';

const require = createRequire(path.join(process.env.STRONGROOM_NPM_TOOLS, 'package.json'));
const { chromium } = require('playwright-core');
const quick = process.argv.includes('--quick');
const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../build/web-demo');
mkdirSync(out, { recursive: true });

const server = await start(0);
const profile = mkdtempSync(path.join(os.tmpdir(), 'strongroom-bench-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const q = quick ? '?rounds=1&ms=20' : '?rounds=7&ms=400';
  await page.goto(`http://127.0.0.1:${server.address().port}/bench.html${q}`);
  await page.waitForFunction(() => window.benchResults, null, { timeout: 300000 });
  const r = await page.evaluate(() => window.benchResults);
  if (r.error) throw new Error(r.error);
  writeFileSync(path.join(out, quick ? 'bench-quick.json' : 'bench.json'), JSON.stringify(r, null, 2));
  for (const row of r.rows) {
    if (!(row.perSec > 0)) throw new Error(`no figure for ${row.op}`);
    const mbs = row.mbs === null ? '' : `${row.mbs.toFixed(1).padStart(8)} MB/s`;
    const ratio = row.ratio === null ? '' : `  ${row.ratio.toFixed(2)}× WebCrypto`;
    console.log(`${row.group.padEnd(6)} ${row.op.padEnd(54)} ${row.perSec.toFixed(0).padStart(9)}/s ${mbs}${ratio}`);
  }
  if (!quick) {
    const get = (op) => r.rows.find((x) => x.op === op).ratio;
    console.log(`targets: 64 B kms.encrypt ≥ 0.5× WebCrypto calls/s: ${get('strongroom kms.encrypt').toFixed(2)}× (decrypt ${get('strongroom kms.decrypt').toFixed(2)}×);`
      + ` bulk ≥ 0.5× WebCrypto: encryptAsync ${get('strongroom envelope encryptAsync (WebCrypto frames)').toFixed(2)}×,`
      + ` decryptAsync ${get('strongroom envelope decryptAsync (WebCrypto frames)').toFixed(2)}×`
      + ` (signed 0x0578: ${get('strongroom envelope encryptAsync, signed 0x0578').toFixed(2)}×,`
      + ` ${get('strongroom envelope decryptAsync, signed 0x0578').toFixed(2)}×)`);
  }
} finally {
  await ctx.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
