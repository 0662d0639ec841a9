/**
 * The shared cache: entries and blobs in Redis, through keyv and @keyv/redis.
 *
 * Layout (all under the keyv namespace `uet-v<CACHE_FORMAT_VERSION>`, so a format change
 * never reads old data):
 *   entry:<key>        the CacheEntry (JSON), written LAST, after every blob it names
 *   blob:<sha256>      { size, chunks } of one blob, written after its chunks
 *   chunk:<sha256>:<i> the i-th CHUNK_SIZE slice of the blob
 * Blobs move one chunk at a time between a file and Redis, so a large output is never held
 * whole in memory (let alone twice). Every downloaded blob is re-hashed before it is used.
 *
 * Every request is bounded by `timeout`. Failures are values (RemoteFailure), never throws:
 * the caller decides that a broken shared cache means a warning and a local build.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Keyv } from 'keyv';
import type KeyvRedis from '@keyv/redis';
import { err, ok, type Result } from '../util/result.js';
import { CACHE_FORMAT_VERSION, type CacheEntry } from './types.js';
import { parseEntry } from './store.js';
import { importModule } from '../util/import-module.js';
import { deserializeKeyvJson, serializeKeyvJson } from './keyv-json.js';

/** 1 MiB: small enough to bound memory, large enough that round trips do not dominate */
export const CHUNK_SIZE = 1024 * 1024;

export type RemoteFailure =
  /** cannot connect, connection lost, or a request timed out: the shared cache is unusable this run */
  | { readonly reason: 'unreachable'; readonly detail: string }
  /** the server answered, but with something that is not what uet stored (or bytes that fail their hash) */
  | { readonly reason: 'garbage'; readonly detail: string };

export interface RemoteStore {
  readonly url: string;
  getEntry(key: string): Promise<Result<CacheEntry | undefined, RemoteFailure>>;
  putEntry(entry: CacheEntry): Promise<Result<void, RemoteFailure>>;
  deleteEntry(key: string): Promise<Result<void, RemoteFailure>>;
  hasBlob(hash: string): Promise<Result<boolean, RemoteFailure>>;
  /**
   * Writes the blob to `dest` (created, must not exist), checking its sha256 and its size
   * (`undefined`: the size the server recorded). On failure `dest` may be partial.
   */
  downloadBlob(hash: string, size: number | undefined, dest: string): Promise<Result<void, RemoteFailure>>;
  /** stores a blob read from `source` (already verified by its reader) chunk by chunk */
  uploadBlob(hash: string, size: number, source: AsyncIterable<Buffer>): Promise<Result<void, RemoteFailure>>;
  /** drops the connection at once (never waits for a server that does not answer) */
  close(): Promise<void>;
}

export interface RemoteOptions {
  readonly url: string;
  /** ms per request (and for connecting) */
  readonly timeout: number;
}

/** Opens nothing yet: the connection is made by the first request, so an unused remote costs nothing. */
export function openRemoteStore(opts: RemoteOptions): RemoteStore {
  return new RedisRemoteStore(opts);
}

class RequestTimeout extends Error {}

/** the adapter and the Keyv over it, made by the first request */
interface Connection {
  readonly adapter: KeyvRedis<unknown>;
  readonly kv: Keyv<unknown>;
}

class RedisRemoteStore implements RemoteStore {
  readonly url: string;
  private connection: Promise<Connection> | undefined;

  constructor(private readonly opts: RemoteOptions) {
    this.url = opts.url;
  }

  /**
   * keyv and @keyv/redis are loaded here, with import(): as ES modules, whatever the format of
   * the code asking (the CLI's bundle is CommonJS, where @keyv/redis's class is not its default
   * export), and only by a build that uses its remote.
   */
  private connect(): Promise<Connection> {
    return (this.connection ??= (async () => {
      const [{ Keyv }, { default: Redis }] = await Promise.all([importModule<typeof import('keyv')>('keyv'), importModule<typeof import('@keyv/redis')>('@keyv/redis')]);
      // No reconnects: a server that went away fails the next request at once. No adapter
      // `connectionTimeout`: its timer is never cleared and would hold the process open that
      // long after the build; `request` bounds connecting with a timer of its own instead.
      const adapter = new Redis<unknown>({ url: this.opts.url, socket: { connectTimeout: this.opts.timeout, reconnectStrategy: false } }, { throwOnConnectError: true, throwOnErrors: true });
      const kv = new Keyv<unknown>({ store: adapter, namespace: `uet-v${CACHE_FORMAT_VERSION}`, throwOnErrors: true, serialize: serializeKeyvJson, deserialize: deserializeKeyvJson });
      // errors reach callers as rejected requests; the emitters must not crash the process with them
      const ignore = (): void => undefined;
      kv.on('error', ignore);
      adapter.on('error', ignore);
      adapter.client.on('error', ignore);
      return { adapter, kv };
    })());
  }

  async getEntry(key: string): Promise<Result<CacheEntry | undefined, RemoteFailure>> {
    const got = await this.request((kv) => kv.get(`entry:${key}`));
    if (!got.ok) return got;
    if (got.value === undefined || got.value === null) return ok(undefined);
    const entry = parseEntry(got.value);
    if (entry === 'other-version') return ok(undefined);
    if (entry === undefined || entry.key !== key) return err({ reason: 'garbage', detail: `the entry for ${key.slice(0, 12)} is not a uet cache entry` });
    return ok(entry);
  }

  async putEntry(entry: CacheEntry): Promise<Result<void, RemoteFailure>> {
    const put = await this.request((kv) => kv.set(`entry:${entry.key}`, entry));
    return put.ok ? ok(undefined) : put;
  }

  async deleteEntry(key: string): Promise<Result<void, RemoteFailure>> {
    const del = await this.request((kv) => kv.delete(`entry:${key}`));
    return del.ok ? ok(undefined) : del;
  }

  async hasBlob(hash: string): Promise<Result<boolean, RemoteFailure>> {
    const meta = await this.blobMeta(hash);
    return meta.ok ? ok(meta.value !== undefined) : meta;
  }

  async downloadBlob(hash: string, expectedSize: number | undefined, dest: string): Promise<Result<void, RemoteFailure>> {
    const meta = await this.blobMeta(hash);
    if (!meta.ok) return meta;
    if (meta.value === undefined) return err({ reason: 'garbage', detail: `blob ${hash.slice(0, 12)} is missing` });
    const size = expectedSize ?? meta.value.size;
    if (meta.value.size !== size || meta.value.chunks !== chunkCount(size)) return err({ reason: 'garbage', detail: `blob ${hash.slice(0, 12)} has the wrong size` });
    const out = createWriteStream(dest, { flags: 'wx', mode: 0o600 });
    const failed = once(out, 'error').then(([e]) => e as Error);
    const digest = createHash('sha256');
    let received = 0;
    try {
      for (let i = 0; i < meta.value.chunks; i++) {
        const chunk = await this.request((kv) => kv.get(`chunk:${hash}:${i}`));
        if (!chunk.ok) return chunk;
        if (!Buffer.isBuffer(chunk.value)) return err({ reason: 'garbage', detail: `chunk ${i} of blob ${hash.slice(0, 12)} is missing or not bytes` });
        received += chunk.value.length;
        if (received > size) return err({ reason: 'garbage', detail: `blob ${hash.slice(0, 12)} is longer than recorded` });
        digest.update(chunk.value);
        await writeOrFail(out, chunk.value, failed);
      }
    } finally {
      out.end();
      await Promise.race([once(out, 'close'), failed]).catch(() => undefined);
    }
    if (received !== size || digest.digest('hex') !== hash) return err({ reason: 'garbage', detail: `blob ${hash.slice(0, 12)} does not match its hash` });
    return ok(undefined);
  }

  async uploadBlob(hash: string, size: number, source: AsyncIterable<Buffer>): Promise<Result<void, RemoteFailure>> {
    let pending: Buffer[] = [];
    let pendingLength = 0;
    let index = 0;
    const flush = async (all: boolean): Promise<Result<void, RemoteFailure>> => {
      while (pendingLength >= CHUNK_SIZE || (all && pendingLength > 0)) {
        const joined = Buffer.concat(pending, pendingLength);
        const chunk = joined.subarray(0, Math.min(CHUNK_SIZE, joined.length));
        const rest = joined.subarray(chunk.length);
        pending = rest.length > 0 ? [rest] : [];
        pendingLength = rest.length;
        const i = index++;
        const put = await this.request((kv) => kv.set(`chunk:${hash}:${i}`, chunk));
        if (!put.ok) return put;
      }
      return ok(undefined);
    };
    for await (const data of source) {
      pending.push(data);
      pendingLength += data.length;
      const flushed = await flush(false);
      if (!flushed.ok) return flushed;
    }
    const flushed = await flush(true);
    if (!flushed.ok) return flushed;
    if (index !== chunkCount(size)) return err({ reason: 'garbage', detail: `blob ${hash.slice(0, 12)}: read ${index} chunks, expected ${chunkCount(size)}` });
    const meta = await this.request((kv) => kv.set(`blob:${hash}`, { size, chunks: index }));
    return meta.ok ? ok(undefined) : meta;
  }

  async close(): Promise<void> {
    if (this.connection === undefined) return;
    try {
      await (await this.connection).adapter.disconnect(true);
    } catch {
      // already closed or never connected
    }
  }

  private async blobMeta(hash: string): Promise<Result<{ size: number; chunks: number } | undefined, RemoteFailure>> {
    const got = await this.request((kv) => kv.get(`blob:${hash}`));
    if (!got.ok) return got;
    if (got.value === undefined || got.value === null) return ok(undefined);
    const m = got.value as { size?: unknown; chunks?: unknown };
    if (typeof m !== 'object' || typeof m.size !== 'number' || typeof m.chunks !== 'number') return err({ reason: 'garbage', detail: `blob ${hash.slice(0, 12)} has a malformed record` });
    return ok({ size: m.size, chunks: m.chunks });
  }

  /** one request, bounded by the timeout; a throw becomes 'unreachable', a parse error 'garbage' */
  private connecting: Promise<unknown> | undefined;

  private async request<T>(fn: (kv: Keyv<unknown>) => Promise<T>): Promise<Result<T, RemoteFailure>> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RequestTimeout(`no answer within ${this.opts.timeout} ms`)), this.opts.timeout);
    });
    try {
      // one connection for all requests (many start at once when a build's stores begin)
      this.connecting ??= this.connect().then(({ adapter }) => adapter.getClient());
      await Promise.race([this.connecting, timeout]);
      const { kv } = await this.connect();
      return ok(await Promise.race([fn(kv), timeout]));
    } catch (e) {
      if (e instanceof SyntaxError) return err({ reason: 'garbage', detail: `unreadable answer: ${e.message}` });
      return err({ reason: 'unreachable', detail: e instanceof Error ? e.message : String(e) });
    } finally {
      clearTimeout(timer);
    }
  }
}

function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK_SIZE);
}

async function writeOrFail(out: WriteStream, data: Buffer, failed: Promise<Error>): Promise<void> {
  if (out.write(data)) return;
  const e = await Promise.race([once(out, 'drain').then(() => undefined), failed]);
  if (e) throw e;
}
