/**
 * Ingest: the sources of `POST /ingest/<name>`, one per name, made on the
 * first POST to it (at most {@link MAX_INGEST_NAMES}): with a spool
 * directory, a {@link Spool} followed like any file under the source name
 * `ingest:<name>`; without one, an {@link IngestRing} in memory. The names
 * spooled by an earlier run are followed again at start, their spool files
 * known for resumes.
 *
 * It answers each POST: accepted once the lines are durable (spool) or held
 * (ring); a retry with an `Idempotency-Key` it remembers is answered as the
 * first POST was, without appending; busy when the spool holds as much not
 * yet read as it may (the pipeline is behind). Owns the spools and closes
 * them; the rings end with the signal.
 *
 * Every spool file is known whole (see known.ts): a subscriber that resumes
 * after a restart is replayed every line after its position, the lines the
 * earlier run acknowledged but did not publish included.
 */
import { join } from "node:path";
import { ConfigError, describeError } from "../errors.ts";
import {
  type Chunk,
  isMark,
  type Mark,
  SOURCE_NAME,
  type StartAt,
  UNSTORED,
} from "../types.ts";
import { IdempotencyKeys, type KeyRecord } from "./keys.ts";
import { IngestRing, RingClosed } from "./ring.ts";
import { Spool, SPOOL_FILE, SpoolUnavailable } from "./spool.ts";
import type { SavedFile } from "./state.ts";
import type { Tail } from "./tail.ts";

/** Names one tailcast takes posts for, at most. */
export const MAX_INGEST_NAMES = 64;
/** Seconds a client is asked to wait before it posts again when the spool is full. */
export const RETRY_AFTER_SECONDS = 2;

/** Where posted lines are kept, and how much. */
export interface IngestOptions {
  /** Where each name's spool is kept (`DIR/<name>/`); null keeps lines in memory. */
  spool: string | null;
  /** A spool file is rotated before it passes this size. */
  segmentBytes: number;
  /** Bytes one name's spool keeps, and holds unread at most. */
  maxBytes: number;
  /** Without a spool: bytes one name holds in memory. */
  memoryBytes: number;
  /** Where the spools of an earlier run are read from at start (a new one is read from its first byte). */
  startAt: StartAt;
  /** Stopping: no more posts are taken; the rings end. */
  signal: AbortSignal;
}

/** The key a POST came with, and a digest of its body. */
export interface PostKey {
  /** The `Idempotency-Key` header. */
  readonly key: string;
  /** A digest of the body. */
  readonly digest: string;
}

/** How a POST was taken. */
export type AppendResult =
  /** Written (durable with a spool); or, `duplicate`, a retry of a POST taken before. */
  | {
    readonly kind: "accepted";
    readonly lines: number;
    readonly duplicate: boolean;
  }
  /** Not now: the spool holds as much unread as it may (429). */
  | {
    readonly kind: "busy";
    readonly message: string;
    readonly retryAfter: number;
  }
  /** The key was used before with another body (422). */
  | { readonly kind: "conflict"; readonly message: string }
  /** A new name beyond the limit (403). */
  | { readonly kind: "refused"; readonly message: string }
  /** Stopping, or the spool cannot be written (503). */
  | { readonly kind: "unavailable"; readonly message: string };

/** One name's store and the POSTs with keys under way. */
interface Store {
  readonly source: string;
  readonly spool: Spool | null;
  readonly ring: IngestRing | null;
  readonly keys: IdempotencyKeys;
  readonly pending: Map<string, Promise<AppendResult>>;
}

const encoder = new TextEncoder();

/** The ingest sources of one service, by name. */
export class Ingest {
  readonly #options: IngestOptions;
  readonly #stores = new Map<string, Store>();
  /** Stores being made (the first POSTs to a name at once wait for one). */
  readonly #making = new Map<string, Promise<Store>>();
  #tail: Tail | null = null;
  #closed = false;

  private constructor(options: IngestOptions) {
    this.#options = options;
  }

  /**
   * Checks that the spool directory can be written (a ConfigError naming
   * --spool otherwise) and opens the spools an earlier run left there.
   */
  static async open(options: IngestOptions): Promise<Ingest> {
    const ingest = new Ingest(options);
    const dir = options.spool;
    if (dir === null) return ingest;
    try {
      await Deno.mkdir(dir, { recursive: true });
      const probe = join(dir, `.tailcast-probe-${Deno.pid}`);
      await Deno.writeFile(probe, new Uint8Array(0));
      await Deno.remove(probe);
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.isDirectory || !SOURCE_NAME.test(entry.name)) continue;
        try {
          await Deno.stat(join(dir, entry.name, SPOOL_FILE));
        } catch {
          continue;
        }
        ingest.#stores.set(entry.name, await ingest.#spooled(entry.name));
      }
    } catch (error) {
      await ingest.close();
      throw new ConfigError(
        "--spool",
        `Cannot keep posted lines in --spool "${dir}": ${
          describeError(error, {
            denied: `run with --allow-read=${dir} --allow-write=${dir}`,
            os: "give this user write access to it, or pick another directory",
          })
        } (leave --spool out to keep them in memory, not durably)`,
      );
    }
    return ingest;
  }

  /**
   * Starts following: the spools of an earlier run from `startAt`, with
   * every spool file they keep known for resumes, oldest first; `saved`
   * gives the cursors the previous run saved (`--state`), so retention
   * keeps what they have not delivered.
   */
  attach(
    tail: Tail,
    saved?: (source: string) => readonly SavedFile[],
  ): void {
    this.#tail = tail;
    for (const store of this.#stores.values()) {
      const spool = store.spool!;
      for (const c of saved?.(store.source) ?? []) {
        spool.resumesAt(c.file, c.offset);
      }
      tail.known.follows(store.source, spool.path);
      tail.known.whole(store.source);
      for (const s of spool.segments) {
        tail.known.add(store.source, s.file, 0);
        tail.known.head(store.source, s.file, s.head);
      }
      tail.follow(spool.path, store.source, this.#options.startAt);
    }
  }

  /** Whether `name` has a store (it was posted to, or spooled by an earlier run). */
  has(name: string): boolean {
    return this.#stores.has(name);
  }

  /**
   * Takes the lines of one POST to `name`, whole lines without their
   * newlines, as one write. A retry with a remembered `key` is answered
   * as the first POST was.
   */
  async append(
    name: string,
    lines: readonly string[],
    key: PostKey | null,
  ): Promise<AppendResult> {
    if (this.#closed || this.#options.signal.aborted) {
      return { kind: "unavailable", message: "tailcast is shutting down" };
    }
    if (!SOURCE_NAME.test(name)) {
      return {
        kind: "refused",
        message: `Cannot take posts for the name ${
          JSON.stringify(name.slice(0, 80))
        }: use letters, digits, '.', '_' and '-'`,
      };
    }
    let store: Store;
    try {
      const found = await this.#store(name);
      if (found === null) {
        return {
          kind: "refused",
          message:
            `Cannot take posts for a new name "${name}": tailcast takes at most ${MAX_INGEST_NAMES} ingest names`,
        };
      }
      store = found;
    } catch (error) {
      return { kind: "unavailable", message: problem(error) };
    }
    if (key === null) return await this.#write(store, lines, null);
    for (;;) {
      const known = store.keys.get(key.key);
      if (known) return answered(known, key);
      const pending = store.pending.get(key.key);
      if (!pending) break;
      // The same key is being written now: answer as it will be.
      const first = await pending;
      if (first.kind === "accepted") {
        return answered(
          store.keys.get(key.key) ?? {
            key: key.key,
            digest: key.digest,
            lines: first.lines,
          },
          key,
        );
      }
    }
    const writing = this.#write(store, lines, key);
    store.pending.set(key.key, writing);
    try {
      return await writing;
    } finally {
      store.pending.delete(key.key);
    }
  }

  /**
   * A pass-through for the pipeline's chunks that tells each spool how far
   * it has been read (what it may delete, and what is not read yet).
   */
  reading(): TransformStream<Chunk | Mark, Chunk | Mark> {
    return new TransformStream({
      transform: (item, controller) => {
        if (!isMark(item) && item.file !== UNSTORED) {
          const name = nameOf(item.source);
          const spool = name === null ? null : this.#stores.get(name)?.spool;
          spool?.consumed(item.file, item.offset + item.bytes.length);
        }
        controller.enqueue(item);
      },
    });
  }

  /** Stops taking posts, waits for the writes under way, closes the spools. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(this.#making.values());
    for (const store of this.#stores.values()) {
      if (store.spool) await store.spool.close();
      else store.keys.close();
    }
  }

  async #write(
    store: Store,
    lines: readonly string[],
    key: PostKey | null,
  ): Promise<AppendResult> {
    const bytes = encoder.encode(
      lines.length === 0 ? "" : lines.join("\n") + "\n",
    );
    const records: KeyRecord[] = key === null
      ? []
      : [{ key: key.key, digest: key.digest, lines: lines.length }];
    const accepted: AppendResult = {
      kind: "accepted",
      lines: lines.length,
      duplicate: false,
    };
    if (store.ring) {
      try {
        if (bytes.length > 0) store.ring.append(bytes);
      } catch (error) {
        if (error instanceof RingClosed) {
          return { kind: "unavailable", message: error.message };
        }
        throw error;
      }
      await store.keys.add(records);
      return accepted;
    }
    const spool = store.spool!;
    const unread = spool.unread();
    if (unread + bytes.length > this.#options.maxBytes) {
      return {
        kind: "busy",
        retryAfter: RETRY_AFTER_SECONDS,
        message:
          `The spool of ${store.source} is full: ${unread} bytes posted are not read yet and it holds at most ${this.#options.maxBytes} (--spool-max-bytes); the pipeline is behind, post again later`,
      };
    }
    try {
      await spool.append(bytes, records);
    } catch (error) {
      return { kind: "unavailable", message: problem(error) };
    }
    return accepted;
  }

  /** The store of `name`, made on first use; null beyond the limit of names. */
  async #store(name: string): Promise<Store | null> {
    const have = this.#stores.get(name);
    if (have) return have;
    const making = this.#making.get(name);
    if (making) return await making;
    if (this.#stores.size + this.#making.size >= MAX_INGEST_NAMES) return null;
    const make = this.#options.spool === null
      ? this.#ringed(name)
      : this.#spooled(name).then((store) => {
        // Posted after start: read from its first byte.
        this.#tail?.known.whole(store.source);
        this.#tail?.follow(store.spool!.path, store.source, { kind: "start" });
        return store;
      });
    this.#making.set(name, make);
    try {
      const store = await make;
      if (this.#closed) {
        await (store.spool?.close() ?? store.keys.close());
        throw new SpoolUnavailable("tailcast is shutting down");
      }
      this.#stores.set(name, store);
      return store;
    } finally {
      this.#making.delete(name);
    }
  }

  async #spooled(name: string): Promise<Store> {
    const spool = await Spool.open({
      dir: join(this.#options.spool!, name),
      segmentBytes: this.#options.segmentBytes,
      maxBytes: this.#options.maxBytes,
    });
    return {
      source: `ingest:${name}`,
      spool,
      ring: null,
      keys: spool.keys,
      pending: new Map(),
    };
  }

  async #ringed(name: string): Promise<Store> {
    const source = `ingest:${name}`;
    const ring = new IngestRing({
      source,
      capacity: this.#options.memoryBytes,
      signal: this.#options.signal,
    });
    this.#tail?.add(source, ring);
    return {
      source,
      spool: null,
      ring,
      keys: await IdempotencyKeys.open(null),
      pending: new Map(),
    };
  }
}

/** The name in an `ingest:<name>` source, or null. */
function nameOf(source: string): string | null {
  return source.startsWith("ingest:") ? source.slice(7) : null;
}

/** The answer to a retry of a POST taken before. */
function answered(known: KeyRecord, key: PostKey): AppendResult {
  if (known.digest !== key.digest) {
    return {
      kind: "conflict",
      message:
        `Idempotency-Key "${key.key}" was used before with another body: use a new key for new lines`,
    };
  }
  return { kind: "accepted", lines: known.lines, duplicate: true };
}

function problem(error: unknown): string {
  if (error instanceof SpoolUnavailable) return error.message;
  return `Cannot write the spool: ${
    describeError(error, {
      denied: "run with --allow-write for the --spool directory",
      os: "check the mode and owner of the --spool directory",
    })
  }`;
}
