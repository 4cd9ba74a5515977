/**
 * Idempotency keys: the `Idempotency-Key`s of the most recent POSTs to one
 * ingest name, so a retried POST is answered as the first was instead of
 * being appended twice. Bounded: the newest {@link IDEMPOTENCY_WINDOW} keys
 * are kept, the older ones forgotten (a retry of one of those is appended
 * again).
 *
 * With a spool, the keys are kept in a file beside it as well, so a restart
 * still knows them: one JSON line per key (`{"key","digest","lines"}`),
 * appended and fdatasynced once the lines the key stands for are on disk,
 * and rewritten atomically with only the newest keys once it holds twice
 * the window. A torn last line (a crash while it was written) is skipped.
 */
import { replaceFile, writeAll } from "./durable.ts";

/** Keys remembered per ingest name. */
export const IDEMPOTENCY_WINDOW = 10_000;

/** What a POST with a key was answered: the body it had (a digest) and the lines it appended. */
export interface KeyRecord {
  /** The `Idempotency-Key`. */
  readonly key: string;
  /** A digest of the body, to tell a retry from another body sent with the same key. */
  readonly digest: string;
  /** Lines the POST appended. */
  readonly lines: number;
}

const encoder = new TextEncoder();

/**
 * The keys of one ingest name: `get` what a key was answered, `add` (durable
 * with a file when it resolves).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { IdempotencyKeys } from "./keys.ts";
 * const keys = await IdempotencyKeys.open(null);
 * await keys.add([{ key: "a1", digest: "d", lines: 3 }]);
 * assertEquals(keys.get("a1")?.lines, 3);
 * assertEquals(keys.get("b2"), undefined);
 * ```
 */
export class IdempotencyKeys {
  readonly #path: string | null;
  readonly #window: number;
  readonly #records = new Map<string, KeyRecord>();
  #file: Deno.FsFile | null = null;
  /** Lines in the file: when it holds twice the window, it is rewritten. */
  #written = 0;

  private constructor(path: string | null, window: number) {
    this.#path = path;
    this.#window = window;
  }

  /**
   * The keys kept at `path` (none when it does not exist yet), or kept in
   * memory only when `path` is null.
   */
  static async open(
    path: string | null,
    window = IDEMPOTENCY_WINDOW,
  ): Promise<IdempotencyKeys> {
    const keys = new IdempotencyKeys(path, window);
    if (path === null) return keys;
    let text = "";
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    for (const line of text.split("\n")) {
      const record = parseRecord(line);
      if (record) keys.#remember(record);
      if (line !== "") keys.#written++;
    }
    keys.#file = await Deno.open(path, {
      append: true,
      create: true,
    });
    return keys;
  }

  /** What the POST with `key` was answered, while the key is remembered. */
  get(key: string): KeyRecord | undefined {
    return this.#records.get(key);
  }

  /** Remembers `records`, durably with a file: resolves once they are on disk. */
  async add(records: readonly KeyRecord[]): Promise<void> {
    if (records.length === 0) return;
    for (const r of records) this.#remember(r);
    const file = this.#file;
    if (file === null) return;
    const text = records.map((r) => JSON.stringify(r) + "\n").join("");
    await writeAll(file, encoder.encode(text));
    await file.syncData();
    this.#written += records.length;
    if (this.#written >= 2 * this.#window) await this.#compact();
  }

  /** Closes the file. */
  close(): void {
    try {
      this.#file?.close();
    } catch {
      // Already closed.
    }
    this.#file = null;
  }

  #remember(record: KeyRecord): void {
    this.#records.delete(record.key);
    this.#records.set(record.key, record);
    if (this.#records.size > this.#window) {
      const oldest = this.#records.keys().next().value!;
      this.#records.delete(oldest);
    }
  }

  /** Rewrites the file with the keys remembered now (atomically), and appends to it from then on. */
  async #compact(): Promise<void> {
    const path = this.#path!;
    const text = [...this.#records.values()]
      .map((r) => JSON.stringify(r) + "\n").join("");
    await replaceFile(path, encoder.encode(text));
    this.#file?.close();
    this.#file = await Deno.open(path, { append: true, create: true });
    this.#written = this.#records.size;
  }
}

function parseRecord(line: string): KeyRecord | null {
  if (line === "") return null;
  try {
    const r = JSON.parse(line);
    if (
      typeof r?.key === "string" && typeof r.digest === "string" &&
      Number.isSafeInteger(r.lines)
    ) {
      return { key: r.key, digest: r.digest, lines: r.lines };
    }
  } catch {
    // A torn line: written when the process died.
  }
  return null;
}
