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
import { replaceFile } from "./durable.ts";
import { describeError } from "../errors.ts";
import { decodeBase64, encodeBase64 } from "@std/encoding/base64";
import { sameFile } from "./identity.ts";
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
  /**
   * The start of the line ending at `offset` (up to {@link LINE_MARK}
   * characters; of a multi-line event, its last line): checks the file
   * still holds it.
   */
  readonly line?: string;
}

/** Characters kept of the last delivered line. */
export const LINE_MARK = 64;

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
        head: encodeBase64(r.head),
        offset: r.offset,
        ...(r.line === undefined ? {} : { line: r.line }),
      })),
    });
    try {
      await replaceFile(this.path, new TextEncoder().encode(body + "\n"));
      this.#lastSaved = saved;
    } catch (error) {
      this.#dirty = true;
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
        head = decodeBase64(r.head as string);
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

function describe(error: unknown): string {
  return describeError(error, {
    denied: "run with --allow-read and --allow-write for its directory",
    os: "check the mode and owner of the file and its directory",
    missing: "its directory does not exist",
  });
}
