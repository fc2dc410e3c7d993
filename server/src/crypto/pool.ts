import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

// Archive encryption on a worker thread. Every secure send encrypts its content to the practice's
// archive key (OpenPGP: an X25519 ephemeral key, ECDH, AES key wrap, AES-256 + MDC), about a
// millisecond of CPU that would otherwise sit on the event loop beside the scan, the database and
// the HTTP work. On a 2-core machine one worker takes it to the other core.
//
// Only the archive public key (armored) and the plaintext cross to the worker, in process memory;
// the worker uses the same OpenPGP settings (PGP_CONFIG, passed in) as pgp.ts. Size: cores - 1
// (none on one core, where a thread would only add overhead); ATTUNE_CRYPTO_THREADS overrides
// (0 = encrypt inline).

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// TypeScript modules of ours (sync-webcrypto.ts, the gates) through tsx's CommonJS hook.
let tsx = false;
function requireTs(path) {
  if (!tsx) {
    require(workerData.tsx).register();
    tsx = true;
  }
  return require(path);
}
// X25519, AES-KW and Ed25519 without thread-pool round trips, as on the main thread (pgp.ts).
const syncWebCrypto = requireTs(workerData.syncWebCrypto);
if (syncWebCrypto.syncWebCryptoEnabled()) syncWebCrypto.installSyncWebCrypto();
const openpgp = require(workerData.openpgp);
const config = workerData.config;
const keys = new Map();
function key(armored) {
  let k = keys.get(armored);
  if (!k) {
    if (keys.size >= 16) keys.delete(keys.keys().next().value);
    k = openpgp.readKey({ armoredKey: armored, config });
    keys.set(armored, k);
    k.catch(() => keys.delete(armored));
  }
  return k;
}
// A gate (encryptAfterGate): a synchronous function of the caller's, from a TypeScript module that
// tsx's CommonJS hook compiles here on first use, run before the encryption; it may cancel it.
// The module is looked up once: require() resolves its path again on every call, even when cached.
const gates = new Map();
function gate(g) {
  const key = g.module + '#' + g.name;
  let fn = gates.get(key);
  if (fn === undefined) {
    fn = requireTs(g.module)[g.name];
    gates.set(key, fn);
  }
  return fn(...g.args);
}
parentPort.on('message', async (m) => {
  try {
    const checked = m.gate ? gate(m.gate) : undefined;
    if (checked && checked.encrypt === false) {
      parentPort.postMessage({ id: m.id, gate: checked });
      return;
    }
    const encryptionKeys = await key(m.key);
    const message = await openpgp.createMessage({ binary: m.data });
    const out = await openpgp.encrypt({ message, encryptionKeys, format: 'binary', config });
    parentPort.postMessage({ id: m.id, data: out, gate: checked }, [out.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) });
  }
});
`;

/**
 * A synchronous check to run just before an encryption, on the encryption thread when there is
 * one: `module` (a file path) exports `name`, which takes `args` (structured-cloneable) and returns
 * a structured-cloneable object; `encrypt: false` in it cancels the encryption. `fn` is the same
 * function, for when encryption runs inline.
 */
export interface EncryptGate<G extends { encrypt: boolean }> {
  module: string;
  name: string;
  args: unknown[];
  fn: (...args: never[]) => G;
}

export interface GatedResult<G> {
  gate: G;
  /** Null when the gate cancelled the encryption. */
  data: Uint8Array | null;
}

type Pending = { resolve: (v: GatedResult<unknown>) => void; reject: (e: Error) => void };

class EncryptThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  dead = false;

  constructor(config: object) {
    const openpgp = createRequire(import.meta.url).resolve('openpgp');
    const tsx = fileURLToPath(import.meta.resolve('tsx/cjs/api'));
    const syncWebCrypto = fileURLToPath(new URL('./sync-webcrypto.ts', import.meta.url));
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { openpgp, config, tsx, syncWebCrypto },
    });
    this.worker.unref(); // idle, it must not keep the process alive
    this.worker.on('message', (m: { id: number; data?: Uint8Array; gate?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker.unref();
      if (m.error === undefined) p.resolve({ gate: m.gate, data: m.data ?? null });
      else p.reject(new Error(`archive encryption failed: ${m.error}`));
    });
    const fail = (err: Error) => {
      this.dead = true;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', (err) => fail(err instanceof Error ? err : new Error(String(err))));
    this.worker.on('exit', (code) => fail(new Error(`encryption thread exited (${code})`)));
  }

  get load(): number {
    return this.pending.size;
  }

  encrypt(
    data: Uint8Array,
    armoredKey: string,
    gate?: { module: string; name: string; args: unknown[] },
  ): Promise<GatedResult<unknown>> {
    const id = this.nextId++;
    return new Promise<GatedResult<unknown>>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref(); // in flight, the process must wait for it
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({
        id,
        data,
        key: armoredKey,
        ...(gate ? { gate: { module: gate.module, name: gate.name, args: gate.args } } : {}),
      });
    });
  }
}

export interface EncryptPool {
  encrypt(
    data: Uint8Array,
    armoredKey: string,
    gate?: { module: string; name: string; args: unknown[] },
  ): Promise<GatedResult<unknown>>;
}

let pool: EncryptPool | null | undefined;

/** The process's archive-encryption pool, or null when encryption should stay inline. */
export function archiveEncryptPool(config: object): EncryptPool | null {
  if (pool !== undefined) return pool;
  const env = process.env['ATTUNE_CRYPTO_THREADS'];
  const size = env !== undefined && /^\d+$/.test(env) ? Number(env) : Math.max(0, availableParallelism() - 1);
  if (size === 0) {
    pool = null;
    return pool;
  }
  const threads: EncryptThread[] = [];
  pool = {
    encrypt(data, armoredKey, gate) {
      // Replace a crashed thread; then pick the least busy one.
      for (let i = 0; i < size; i++)
        if (!threads[i] || threads[i]!.dead) threads[i] = new EncryptThread(config);
      let best = threads[0]!;
      for (const t of threads) if (t.load < best.load) best = t;
      return best.encrypt(data, armoredKey, gate);
    },
  };
  return pool;
}
