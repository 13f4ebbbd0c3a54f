// Entry point for browsers and bundlers: fetches and instantiates the wasm
// module beside this file (bundlers follow `new URL(…, import.meta.url)`).
import { _ready } from './lib.js';
import init from './wasm/strongroom_wasm.js';

await init({ module_or_path: new URL('./wasm/strongroom_wasm_bg.wasm', import.meta.url) });
_ready();

export * from './lib.js';
