/**
 * State: the cursors tailcast keeps across restarts (`--state <path>`).
 * The store owns the state file: it loads it once, takes positions as they
 * are delivered, and writes the file atomically (temp file, fsync, rename),
 * periodically and at shutdown, skipping writes when nothing changed.
 *
 * A cursor names a file by device and inode plus a fingerprint, the file's
 * first bytes (up to {@link FINGERPRINT_BYTES}; a shorter file keeps what it
 * has and is compared on that prefix), so a reused inode is not mistaken for
 * the file it replaced. Its offset is the end of the last line delivered to
 * the durable sink, never past an unterminated line.
 *
 * Format (version 1):
 * `{"version":1,"saved":"<ISO>","files":[{"source","dev","ino","head","offset"}]}`
 * where `head` is the fingerprint in base64.
 */
import { dirname } from "node:path";
import { sameFile } from "./identity.ts";
import type { Located } from "./replay.ts";
import type { FileId } from "../types.ts";

export const STATE_VERSION = 1;
/** Bytes of a file's start that identify it together with dev and ino. */
export const FINGERPRINT_BYTES = 64;
/** Files remembered per path: the current one and rotated ones being drained. */
const FILES_PER_SOURCE = 4;

/** A state file that cannot be used; main prints the message and exits 2. */
export class StateError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = "StateError";
    this.path = path;
  }
}

/** Where one file was delivered up to. */
export interface SavedFile {
  readonly source: string;
  readonly file: FileId;
  /** The file's first bytes when the cursor was saved. */
  readonly head: Uint8Array;
  readonly offset: number;
}

/** A candidate file at start-up with its first bytes, for the decision. */
export interface Candidate extends Located {
  readonly head: Uint8Array;
}

/** Where a follower starts, given a saved cursor and what is on disk now. */
export interface StartDecision {
  /** Rotated files to drain first (oldest first), from their saved offsets. */
  readonly drain: ReadonlyArray<{ path: string; file: FileId; offset: number }>;
  /** Offset in the file now under the path; null to use the configured start. */
  readonly offset: number | null;
  /** What to tell the operator. */
  readonly notes: ReadonlyArray<StartNote>;
}

/** Something the start decision must tell the operator. */
export interface StartNote {
  readonly kind: "gap" | "vanish";
  readonly file: FileId;
  readonly offset: number;
  readonly bytes: number;
  readonly cause: string;
}

/** Whether `candidate` is the file a cursor was saved for: same inode, same first bytes. */
export function isSameFile(saved: SavedFile, candidate: Candidate): boolean {
  if (!sameFile(saved.file, candidate.file)) return false;
  const n = Math.min(saved.head.length, candidate.head.length);
  // A file shorter than the saved fingerprint is not the same file (files only grow).
  if (candidate.head.length < saved.head.length) return false;
  for (let i = 0; i < n; i++) {
    if (saved.head[i] !== candidate.head[i]) return false;
  }
  return true;
}

/**
 * The start-position decision, one place for every rule:
 * - no saved cursor: the configured start (`offset: null`);
 * - the file under the path is the saved one: resume at the saved offset,
 *   or at 0 with a gap if it is now shorter (truncated while down);
 * - the saved file is a rotated sibling now: drain it from the saved offset,
 *   then read the file under the path from 0;
 * - the saved file is nowhere (or its inode now holds other bytes): report
 *   it once, forget it, read the file under the path from 0.
 */
export function decideStart(
  saved: readonly SavedFile[],
  current: Candidate | null,
  siblings: readonly Candidate[],
): StartDecision {
  if (saved.length === 0) return { drain: [], offset: null, notes: [] };
  const drain: Array<{ path: string; file: FileId; offset: number }> = [];
  const notes: StartNote[] = [];
  let offset = 0;
  for (const s of saved) {
    if (current && isSameFile(s, current)) {
      if (current.size < s.offset) {
        notes.push({
          kind: "gap",
          file: s.file,
          offset: 0,
          bytes: s.offset,
          cause:
            `truncated while tailcast was stopped (below the saved byte ${s.offset}); reading it from byte 0`,
        });
        offset = 0;
      } else {
        offset = s.offset;
      }
      continue;
    }
    const moved = siblings.find((c) => isSameFile(s, c));
    if (moved) {
      if (moved.size >= s.offset) {
        drain.push({ path: moved.path, file: moved.file, offset: s.offset });
      } else {
        notes.push({
          kind: "gap",
          file: s.file,
          offset: s.offset,
          bytes: 0,
          cause:
            `rotated to ${moved.path} and truncated below the saved byte ${s.offset}`,
        });
      }
      continue;
    }
    notes.push({
      kind: "vanish",
      file: s.file,
      offset: s.offset,
      bytes: 0,
      cause:
        `the file read up to byte ${s.offset} when tailcast stopped is gone (deleted, or rotated out of reach)`,
    });
  }
  // The saved file is under the path: nothing newer needs reading from 0.
  const resumed = current !== null && saved.some((s) => isSameFile(s, current));
  return { drain, offset: resumed ? offset : 0, notes };
}

interface FileRecord {
  source: string;
  file: FileId;
  head: Uint8Array;
  offset: number;
  /** Set when the file was read to its end: once delivered up to here, it is forgotten. */
  final?: number;
}

/** Owns the state file. */
export class StateStore {
  readonly path: string;
  readonly #loaded: Map<string, SavedFile[]>;
  readonly #records = new Map<string, FileRecord[]>();
  #dirty = false;
  #lastSaved: Date | null = null;
  #saving: Promise<void> | null = null;

  private constructor(path: string, loaded: Map<string, SavedFile[]>) {
    this.path = path;
    this.#loaded = loaded;
    // Paths not followed this time keep their cursors: nothing is wiped silently.
    for (const [source, list] of loaded) {
      this.#records.set(source, list.map((s) => ({ ...s })));
    }
  }

  /**
   * Loads `path` (a missing file is an empty state) and checks it can be
   * written. Throws StateError for a corrupted, newer or unwritable state
   * unless `reset`, which starts from an empty state.
   */
  static async open(path: string, reset: boolean): Promise<StateStore> {
    let loaded = new Map<string, SavedFile[]>();
    if (!reset) {
      let text: string | null = null;
      try {
        text = await Deno.readTextFile(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          throw new StateError(
            path,
            `Cannot read the state file "${path}": ${describe(error)}`,
          );
        }
      }
      if (text !== null) loaded = parseState(path, text);
    }
    const store = new StateStore(path, loaded);
    // Prove now that it can be written, not at the first save.
    await store.save(true);
    return store;
  }

  /** The cursors saved for `source` by the previous run. */
  saved(source: string): SavedFile[] {
    return this.#loaded.get(source) ?? [];
  }

  /** When the file was last written. */
  get lastSaved(): Date | null {
    return this.#lastSaved;
  }

  /** The cursors as they stand (what the next save writes). */
  get cursors(): SavedFile[] {
    return [...this.#records.values()].flat();
  }

  /** A line of `file` ending at `offset` was delivered. */
  delivered(
    source: string,
    file: FileId,
    head: Uint8Array,
    offset: number,
  ): void {
    let list = this.#records.get(source);
    if (!list) this.#records.set(source, list = []);
    const r = list.find((x) => sameFile(x.file, file));
    if (r) {
      if (r.offset === offset && r.head.length >= head.length) return;
      r.offset = offset;
      if (head.length > r.head.length) r.head = head;
      if (r.final !== undefined && offset >= r.final) this.forget(source, file);
    } else {
      list.push({ source, file, head, offset });
      if (list.length > FILES_PER_SOURCE) list.shift();
    }
    this.#dirty = true;
  }

  /** A rotated-away file was read to `offset`, its end: forget it once delivered that far. */
  finished(source: string, file: FileId, offset: number): void {
    const r = this.#records.get(source)?.find((x) => sameFile(x.file, file));
    if (!r) return;
    r.final = offset;
    if (r.offset >= offset) this.forget(source, file);
  }

  /** Forgets a saved file that is gone. */
  forget(source: string, file: FileId): void {
    const list = this.#records.get(source);
    if (!list) return;
    const kept = list.filter((x) => !sameFile(x.file, file));
    if (kept.length !== list.length) {
      this.#records.set(source, kept);
      this.#dirty = true;
    }
  }

  /** Writes the state atomically if it changed (or `force`). */
  save(force = false): Promise<void> {
    if (!force && !this.#dirty) return this.#saving ?? Promise.resolve();
    const previous = this.#saving ?? Promise.resolve();
    const next = previous.then(() => this.#write());
    this.#saving = next;
    return next;
  }

  async #write(): Promise<void> {
    this.#dirty = false;
    const saved = new Date();
    const body = JSON.stringify({
      version: STATE_VERSION,
      saved: saved.toISOString(),
      files: this.cursors.map((r) => ({
        source: r.source,
        dev: r.file.dev,
        ino: r.file.ino,
        head: toBase64(r.head),
        offset: r.offset,
      })),
    });
    const tmp = `${this.path}.tmp-${Deno.pid}`;
    try {
      const f = await Deno.open(tmp, {
        write: true,
        create: true,
        truncate: true,
      });
      try {
        await f.write(new TextEncoder().encode(body + "\n"));
        await f.sync();
      } finally {
        f.close();
      }
      await Deno.rename(tmp, this.path);
      await syncDir(dirname(this.path));
      this.#lastSaved = saved;
    } catch (error) {
      this.#dirty = true;
      await Deno.remove(tmp).catch(() => {});
      throw new StateError(
        this.path,
        `Cannot write the state file "${this.path}": ${describe(error)}`,
      );
    }
  }
}

/** Parses and validates a state file's text. */
export function parseState(
  path: string,
  text: string,
): Map<string, SavedFile[]> {
  const fix =
    `(move it away, or start with --state-reset to begin without saved cursors)`;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new StateError(
      path,
      `The state file "${path}" is corrupted: it is not JSON ${fix}`,
    );
  }
  const root = data as { version?: unknown; files?: unknown };
  if (
    typeof root !== "object" || root === null ||
    typeof root.version !== "number"
  ) {
    throw new StateError(
      path,
      `The state file "${path}" is corrupted: no version ${fix}`,
    );
  }
  if (root.version > STATE_VERSION) {
    throw new StateError(
      path,
      `The state file "${path}" is from a newer tailcast (format ${root.version}, this one reads ${STATE_VERSION}) ${fix}`,
    );
  }
  if (root.version !== STATE_VERSION || !Array.isArray(root.files)) {
    throw new StateError(
      path,
      `The state file "${path}" is corrupted: bad format ${fix}`,
    );
  }
  const out = new Map<string, SavedFile[]>();
  root.files.forEach((f: unknown, i: number) => {
    const r = f as Record<string, unknown>;
    const ok = typeof r === "object" && r !== null &&
      typeof r.source === "string" &&
      [r.dev, r.ino, r.offset].every((n) =>
        Number.isSafeInteger(n) && (n as number) >= 0
      ) &&
      typeof r.head === "string";
    let head: Uint8Array | null = null;
    if (ok) {
      try {
        head = fromBase64(r.head as string);
      } catch {
        head = null;
      }
    }
    if (!ok || head === null) {
      throw new StateError(
        path,
        `The state file "${path}" is corrupted at files[${i}] ${fix}`,
      );
    }
    const source = r.source as string;
    let list = out.get(source);
    if (!list) out.set(source, list = []);
    list.push({
      source,
      file: { dev: r.dev as number, ino: r.ino as number },
      head,
      offset: r.offset as number,
    });
  });
  return out;
}

/** Reads a candidate's first bytes for the start decision. */
export async function withHead(located: Located): Promise<Candidate | null> {
  let f: Deno.FsFile | null = null;
  try {
    f = await Deno.open(located.path, { read: true });
    const info = await f.stat();
    if (!sameFile({ dev: info.dev ?? 0, ino: info.ino ?? 0 }, located.file)) {
      return null;
    }
    const head = new Uint8Array(Math.min(FINGERPRINT_BYTES, info.size));
    let got = 0;
    while (got < head.length) {
      const n = await f.read(head.subarray(got));
      if (n === null) break;
      got += n;
    }
    return { ...located, size: info.size, head: head.subarray(0, got) };
  } catch {
    return null;
  } finally {
    f?.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable; not every platform lets a directory be opened.
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch {
    // Best effort.
  }
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function describe(error: unknown): string {
  if (error instanceof Deno.errors.NotCapable) {
    return `Deno permission denied (run with --allow-read and --allow-write for its directory)`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return "permission denied (check the mode and owner of the file and its directory)";
  }
  if (error instanceof Deno.errors.NotFound) {
    return "its directory does not exist";
  }
  return error instanceof Error ? error.message : String(error);
}
