/**
 * Spool: the lines posted to one ingest name, on disk, in `DIR/<name>/`:
 * `spool.log` is the file written to (and followed like any log file), and
 * `spool.log.<n>` the files rotated away from it, oldest first by `n`. One
 * line per event line: what was posted, as it is to be read back.
 *
 * Durable before acknowledged: `append` resolves only once its bytes are
 * written and fdatasynced (and the directory fsynced after a rotation), so a
 * 202 answered then survives `kill -9` and a power cut. Appends that arrive
 * while one is being written are written together with one fdatasync (group
 * commit). A write that fails is cut back off the file, so nothing
 * half-written is left to glue onto the next line; a file that ends without
 * a newline when the spool is opened (a crash in the middle of a write) is
 * cut back to its last newline the same way.
 *
 * Rotation and retention: before an append would take `spool.log` past
 * `segmentBytes` it is renamed to the next `spool.log.<n>` and a new one is
 * started. Rotated files are deleted, oldest first, while the spool holds
 * more than `maxBytes` (or more than {@link MAX_SEGMENTS} files), but only
 * once the pipeline has read them to their end (`consumed`); what is not
 * read yet is bounded by `maxBytes` too: {@link Spool.unread} tells the
 * caller when to refuse. What the files hold when the spool is opened counts
 * as read: a run that starts at their end (`--from end`) never reads it, and
 * must not refuse posts for it; with `--state`, what follows a saved cursor
 * is unread again ({@link Spool.resumesAt}).
 *
 * Owns the open `spool.log` for writing and the keys file; the follower
 * reads with its own handles.
 */
import { basename, dirname, join } from "node:path";
import { concat } from "@std/bytes/concat";
import { readAt } from "./bytes.ts";
import { syncDir, writeAll } from "./durable.ts";
import { fileId, sameFile } from "./identity.ts";
import { IdempotencyKeys, type KeyRecord } from "./keys.ts";
import { MAX_KNOWN_PER_SOURCE } from "./known.ts";
import { FINGERPRINT_BYTES } from "./state.ts";
import type { FileId } from "../types.ts";

/** The file being written and followed. */
export const SPOOL_FILE = "spool.log";
/** The idempotency keys of the name, beside its spool files. */
export const KEYS_FILE = "keys.ndjson";
/** Files one name's spool keeps at most: as many as a resume can find again (see known.ts). */
export const MAX_SEGMENTS = MAX_KNOWN_PER_SOURCE;

/** Where a spool is and how large it may grow. */
export interface SpoolOptions {
  /** The name's directory, `DIR/<name>`; made if missing. */
  dir: string;
  /** `spool.log` is rotated before an append takes it past this size. */
  segmentBytes: number;
  /** Bytes kept (rotated files read are deleted beyond it). */
  maxBytes: number;
}

/** One spool file. */
export interface Segment {
  /** Where it is now (`spool.log`, then `spool.log.<n>`). */
  path: string;
  /** Its identity, which a rename keeps. */
  readonly file: FileId;
  /** Bytes written to it. */
  size: number;
  /** How far the pipeline read it. */
  read: number;
  /** Its first bytes (the fingerprint a resume checks). */
  head: Uint8Array;
}

/** The spool cannot take lines now: stopped, or a write failed and could not be undone. */
export class SpoolUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpoolUnavailable";
  }
}

interface Job {
  readonly bytes: Uint8Array;
  readonly records: readonly KeyRecord[];
  readonly done: PromiseWithResolvers<void>;
}

const NL = 0x0a;

/**
 * One name's spool: `append` (durable when it resolves), how much is not
 * read yet, what the pipeline read.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Spool } from "./spool.ts";
 * const dir = await Deno.makeTempDir();
 * const spool = await Spool.open({ dir, segmentBytes: 4096, maxBytes: 65536 });
 * await spool.append(new TextEncoder().encode("one\ntwo\n"), []);
 * assertEquals(await Deno.readTextFile(spool.path), "one\ntwo\n");
 * assertEquals(spool.unread(), 8);
 * await spool.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Spool {
  /** The name's directory. */
  readonly dir: string;
  /** `spool.log`: the path to follow. */
  readonly path: string;
  /** The idempotency keys of the name, kept beside its files. */
  readonly keys: IdempotencyKeys;
  readonly #options: SpoolOptions;
  /** Oldest first; the last is `spool.log`. */
  readonly #segments: Segment[];
  #file: Deno.FsFile;
  #next: number;
  #queue: Job[] = [];
  #queued = 0;
  #writing: Promise<void> | null = null;
  #closed = false;
  #broken: string | null = null;

  private constructor(
    options: SpoolOptions,
    file: Deno.FsFile,
    segments: Segment[],
    next: number,
    keys: IdempotencyKeys,
  ) {
    this.#options = options;
    this.dir = options.dir;
    this.path = join(options.dir, SPOOL_FILE);
    this.#file = file;
    this.#segments = segments;
    this.#next = next;
    this.keys = keys;
  }

  /** Opens (or makes) the spool in `options.dir`, repairing a torn last line. */
  static async open(options: SpoolOptions): Promise<Spool> {
    const { dir } = options;
    let made = false;
    try {
      await Deno.stat(dir);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      await Deno.mkdir(dir, { recursive: true });
      made = true;
    }
    if (made) await syncDir(dirname(dir));
    const rotated: { n: number; path: string }[] = [];
    for await (const entry of Deno.readDir(dir)) {
      const m = /^spool\.log\.(\d{1,15})$/.exec(entry.name);
      if (m && entry.isFile) {
        rotated.push({ n: Number(m[1]), path: join(dir, entry.name) });
      }
    }
    rotated.sort((a, b) => a.n - b.n);
    const segments: Segment[] = [];
    for (const r of rotated) {
      const segment = await describe(r.path);
      if (segment) segments.push(segment);
    }
    const path = join(dir, SPOOL_FILE);
    const file = await Deno.open(path, {
      read: true,
      append: true,
      create: true,
    });
    try {
      await repair(file);
      const info = await file.stat();
      segments.push({
        path,
        file: fileId(info),
        size: info.size,
        read: info.size,
        head: await readAt(file, 0, FINGERPRINT_BYTES),
      });
      await syncDir(dir);
      const keys = await IdempotencyKeys.open(join(dir, KEYS_FILE));
      const next = (rotated.at(-1)?.n ?? 0) + 1;
      return new Spool(options, file, segments, next, keys);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /** The spool files, oldest first (the last is `spool.log`). */
  get segments(): readonly Readonly<Segment>[] {
    return this.#segments;
  }

  /** Bytes posted that the pipeline has not read yet (those being written included). */
  unread(): number {
    let n = this.#queued;
    for (const s of this.#segments) n += Math.max(0, s.size - s.read);
    return n;
  }

  /**
   * A cursor saved by the previous run (`--state`) resumes `file` at
   * `offset`: what follows it, there and in every newer file, was not
   * delivered, so it counts as unread again, and retention keeps it until
   * the pipeline has read it.
   */
  resumesAt(file: FileId, offset: number): void {
    const at = this.#segments.findIndex((x) => sameFile(x.file, file));
    if (at === -1) return;
    const s = this.#segments[at];
    s.read = Math.min(s.read, Math.max(0, offset));
    for (const later of this.#segments.slice(at + 1)) later.read = 0;
  }

  /** The pipeline read `file` up to byte `end`. */
  consumed(file: FileId, end: number): void {
    const s = this.#segments.find((x) => sameFile(x.file, file));
    if (s && end > s.read) s.read = end;
  }

  /**
   * Appends `bytes` (whole lines), then remembers the keys `records` once
   * the bytes are on disk. Resolves once both are durable. Rejects with
   * SpoolUnavailable once closed or broken, or with the write's error
   * (nothing of `bytes` is then left in the file).
   */
  append(bytes: Uint8Array, records: readonly KeyRecord[]): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new SpoolUnavailable("tailcast is shutting down"),
      );
    }
    if (this.#broken !== null) {
      return Promise.reject(new SpoolUnavailable(this.#broken));
    }
    const job: Job = { bytes, records, done: Promise.withResolvers<void>() };
    this.#queue.push(job);
    this.#queued += bytes.length;
    this.#kick();
    return job.done.promise;
  }

  /** Starts writing what is queued, unless a write is under way (it takes the rest when done). */
  #kick(): void {
    if (this.#writing !== null || this.#queue.length === 0) return;
    this.#writing = this.#drain().finally(() => {
      this.#writing = null;
      this.#kick();
    });
  }

  /** Waits for the appends under way, then closes the files. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#writing) await this.#writing;
    try {
      this.#file.close();
    } catch {
      // Already closed.
    }
    this.keys.close();
  }

  /** Writes what is queued, a group at a time, until nothing is. */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const jobs = this.#queue;
      this.#queue = [];
      const bytes = jobs.length === 1
        ? jobs[0].bytes
        : concat(jobs.map((j) => j.bytes));
      try {
        await this.#commit(bytes, jobs.flatMap((j) => j.records));
        for (const j of jobs) j.done.resolve();
      } catch (error) {
        for (const j of jobs) j.done.reject(error);
      } finally {
        this.#queued -= bytes.length;
      }
    }
  }

  async #commit(bytes: Uint8Array, records: KeyRecord[]): Promise<void> {
    if (this.#broken !== null) throw new SpoolUnavailable(this.#broken);
    let current = this.#segments[this.#segments.length - 1];
    if (
      current.size > 0 &&
      current.size + bytes.length > this.#options.segmentBytes
    ) {
      current = await this.#rotate();
    }
    const before = current.size;
    try {
      await writeAll(this.#file, bytes);
      await this.#file.syncData();
    } catch (error) {
      // Nothing half-written may stay: the next line would continue it. (A
      // follower that read the torn bytes meanwhile sees a truncation and
      // reads the file again from 0: a failed disk costs duplicates, not lines.)
      try {
        await this.#file.truncate(before);
      } catch {
        this.#broken =
          `cannot write to ${this.path}, nor undo a failed write there; restart tailcast once the disk is fixed`;
      }
      throw error;
    }
    current.size += bytes.length;
    if (current.head.length < FINGERPRINT_BYTES && before < FINGERPRINT_BYTES) {
      current.head = concat([current.head, bytes]).slice(0, FINGERPRINT_BYTES);
    }
    await this.keys.add(records);
    await this.#retain();
  }

  /** `spool.log` becomes `spool.log.<n>`; a new `spool.log` is started. */
  async #rotate(): Promise<Segment> {
    const old = this.#segments[this.#segments.length - 1];
    const to = join(this.dir, `${basename(this.path)}.${this.#next}`);
    await Deno.rename(this.path, to);
    this.#next++;
    old.path = to;
    this.#file.close();
    this.#file = await Deno.open(this.path, {
      read: true,
      append: true,
      create: true,
    });
    // The rename and the new file must be on disk before what goes in it is acknowledged.
    await syncDir(this.dir);
    const info = await this.#file.stat();
    const segment: Segment = {
      path: this.path,
      file: fileId(info),
      size: 0,
      read: 0,
      head: new Uint8Array(0),
    };
    this.#segments.push(segment);
    return segment;
  }

  /** Deletes rotated files read to their end, oldest first, while the spool holds too much. */
  async #retain(): Promise<void> {
    const total = () => this.#segments.reduce((n, s) => n + s.size, 0);
    while (
      this.#segments.length > 1 &&
      (total() > this.#options.maxBytes ||
        this.#segments.length > MAX_SEGMENTS)
    ) {
      const oldest = this.#segments[0];
      if (oldest.read < oldest.size) break;
      try {
        await Deno.remove(oldest.path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) break;
      }
      this.#segments.shift();
    }
  }
}

/** A rotated spool file as it is now, or null if it cannot be read. */
async function describe(path: string): Promise<Segment | null> {
  try {
    using f = await Deno.open(path, { read: true });
    const info = await f.stat();
    return {
      path,
      file: fileId(info),
      size: info.size,
      read: info.size,
      head: await readAt(f, 0, FINGERPRINT_BYTES),
    };
  } catch {
    return null;
  }
}

/** Cuts a last line without newline (a write the process died in) off the file. */
async function repair(file: Deno.FsFile): Promise<void> {
  const size = (await file.stat()).size;
  if (size === 0) return;
  let end = size;
  const step = 64 * 1024;
  while (end > 0) {
    const from = Math.max(0, end - step);
    const bytes = await readAt(file, from, end - from);
    const nl = bytes.lastIndexOf(NL);
    if (nl !== -1) {
      const keep = from + nl + 1;
      if (keep < size) {
        await file.truncate(keep);
        await file.syncData();
      }
      return;
    }
    end = from;
  }
  await file.truncate(0);
  await file.syncData();
}
