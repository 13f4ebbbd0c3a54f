// Entry point for Node: instantiates the wasm module beside this file
// synchronously from disk.
import { _ready } from './lib.js';
import { readFileSync } from 'node:fs';
import { initSync } from './wasm/strongroom_wasm.js';

initSync({ module: readFileSync(new URL('./wasm/strongroom_wasm_bg.wasm', import.meta.url)) });
_ready();

export * from './lib.js';
