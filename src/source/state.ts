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
import { readAt, startsWith } from "./bytes.ts";
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
  /** The start of the last line delivered (up to {@link LINE_MARK} characters): checks the file still holds it. */
  readonly line?: string;
}

/** Characters kept of the last delivered line. */
export const LINE_MARK = 64;

/** A candidate file at start-up with its first bytes, for the decision. */
export interface Candidate extends Located {
  readonly head: Uint8Array;
  /**
   * The text of the line ending at each saved offset: null when no line
   * ends there, undefined when the line is too long to have been read back.
   */
  readonly before?: ReadonlyMap<number, string | null | undefined>;
}

/** Whether `c` still holds, just before `saved.offset`, the last line delivered from it. */
function holdsCursor(saved: SavedFile, c: Candidate): boolean {
  if (saved.line === undefined || saved.offset === 0 || !c.before) return true;
  if (!c.before.has(saved.offset)) return true;
  const text = c.before.get(saved.offset);
  // undefined: the line is longer than what was read back, so it cannot be compared.
  return text === undefined || (text !== null && text.startsWith(saved.line));
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
  // A file shorter than the saved fingerprint is not the same file (files only grow).
  return sameFile(saved.file, candidate.file) &&
    startsWith(candidate.head, saved.head);
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
  let resumeAt: number | null = null;
  for (const s of saved) {
    if (current && isSameFile(s, current)) {
      if (current.size >= s.offset && holdsCursor(s, current)) {
        resumeAt = s.offset;
        continue;
      }
      // Truncated while down (and maybe written again): what it holds now is new.
      const copy = siblings.find((c) =>
        !sameFile(c.file, s.file) && isSameContent(s, c)
      );
      if (copy) {
        drain.push({ path: copy.path, file: copy.file, offset: s.offset });
      } else {
        notes.push({
          kind: "gap",
          file: s.file,
          offset: s.offset,
          bytes: 0,
          cause:
            `truncated while tailcast was stopped and no copy of it was found: lines written after byte ${s.offset} before the truncation are lost; reading it again from byte 0`,
        });
      }
      resumeAt = 0;
      continue;
    }
    const moved = siblings.find((c) => isSameFile(s, c));
    if (moved && moved.size >= s.offset && holdsCursor(s, moved)) {
      drain.push({ path: moved.path, file: moved.file, offset: s.offset });
      continue;
    }
    // copytruncate while down: a copy holds the old content, the inode starts again.
    const copy = siblings.find((c) => isSameContent(s, c));
    if (copy) {
      drain.push({ path: copy.path, file: copy.file, offset: s.offset });
      continue;
    }
    notes.push({
      kind: moved ? "gap" : "vanish",
      file: s.file,
      offset: s.offset,
      bytes: 0,
      cause: moved
        ? `rotated to ${moved.path}, which no longer holds what was read up to byte ${s.offset}`
        : `the file read up to byte ${s.offset} when tailcast stopped is gone (deleted, or rotated out of reach)`,
    });
  }
  // The file under the path now is the saved one (resume) or newer (read whole).
  return { drain, offset: current ? resumeAt ?? 0 : 0, notes };
}

/** A file (any inode) whose first bytes and line before the cursor are the saved file's: its copy. */
function isSameContent(saved: SavedFile, c: Candidate): boolean {
  if (saved.head.length === 0 || !startsWith(c.head, saved.head)) return false;
  return c.size >= saved.offset && saved.line !== undefined &&
    holdsCursor(saved, c);
}

interface FileRecord {
  source: string;
  file: FileId;
  head: Uint8Array;
  offset: number;
  /** Set when the file was read to its end: once delivered up to here, it is forgotten. */
  final?: number;
  line?: string;
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
    line?: string,
  ): void {
    const mark = line === undefined ? undefined : line.slice(0, LINE_MARK);
    let list = this.#records.get(source);
    if (!list) this.#records.set(source, list = []);
    const r = list.find((x) => sameFile(x.file, file));
    if (r) {
      if (r.offset === offset && r.head.length >= head.length) return;
      r.offset = offset;
      r.line = mark;
      if (head.length > r.head.length) r.head = head;
      if (r.final !== undefined && offset >= r.final) this.forget(source, file);
    } else {
      list.push({ source, file, head, offset, line: mark });
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
    // A failed save must not poison the ones after it.
    const next = previous.catch(() => {}).then(() => this.#write());
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
        ...(r.line === undefined ? {} : { line: r.line }),
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
      ...(typeof r.line === "string" ? { line: r.line } : {}),
    });
  });
  return out;
}

/**
 * Reads a candidate's first bytes, and the line ending at each of `offsets`,
 * for the start decision.
 */
export async function withHead(
  located: Located,
  offsets: readonly number[] = [],
): Promise<Candidate | null> {
  let f: Deno.FsFile | null = null;
  try {
    f = await Deno.open(located.path, { read: true });
    const info = await f.stat();
    if (!sameFile({ dev: info.dev ?? 0, ino: info.ino ?? 0 }, located.file)) {
      return null;
    }
    const head = await readAt(f, 0, Math.min(FINGERPRINT_BYTES, info.size));
    const before = new Map<number, string | null | undefined>();
    for (const offset of offsets) {
      if (offset <= 0 || offset > info.size) continue;
      const from = Math.max(0, offset - LINE_WINDOW);
      const bytes = await readAt(f, from, offset - from);
      if (bytes[bytes.length - 1] !== 0x0a) {
        before.set(offset, null);
        continue;
      }
      const text = new TextDecoder().decode(bytes).replace(/\r?\n$/, "");
      const start = text.lastIndexOf("\n");
      before.set(
        offset,
        start === -1 && from > 0 ? undefined : text.slice(start + 1),
      );
    }
    return { ...located, size: info.size, head, before };
  } catch {
    return null;
  } finally {
    f?.close();
  }
}

/** Bytes read back to find the line before a cursor. */
const LINE_WINDOW = 4096;

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
