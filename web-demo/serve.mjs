// Serves the web demo on 127.0.0.1: web-demo/ at /, the built npm package
// (build/npm/strongroom) at /strongroom/. `node web-demo/serve.mjs [port]`
// (make demo) or `start(port)` from the Playwright test.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const roots = [
  ['/strongroom/', path.resolve(here, '../build/npm/strongroom')],
  ['/', here],
];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

export function start(port = 0) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    let p = decodeURIComponent(url.pathname);
    if (p.endsWith('/')) p += 'index.html';
    const [prefix, root] = roots.find(([pre]) => p.startsWith(pre));
    const file = path.resolve(root, '.' + p.slice(prefix.length - 1));
    if (!file.startsWith(root + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
      });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await start(Number(process.argv[2] ?? 8080));
  const { port } = server.address();
  console.log(`Strongroom web demo: http://127.0.0.1:${port}/  (benchmark: http://127.0.0.1:${port}/bench.html; Ctrl-C to stop)`);
}
