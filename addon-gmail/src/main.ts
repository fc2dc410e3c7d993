// Bundle entry (esbuild → dist/Code.js as `var AttuneAddon = …`). build.mjs appends one top-level
// `function <name>(e) { return AttuneAddon.handlers.<name>(e); }` per handler, because Apps Script
// finds trigger and action functions only as globals.

import { makeHandlers, TRIGGERS } from './handlers.ts';
import { sharedScanner } from './scanner.ts';

export const handlers = makeHandlers({ scanner: sharedScanner });
export { TRIGGERS };
