/**
 * Cursors: where a reader is in what tailcast published, as the text of an
 * SSE `id:` (and of `Last-Event-ID` / `?since=`). Never longer than
 * {@link MAX_ID_BYTES}, whatever the number of followed files.
 *
 * Two forms:
 *
 *     2.<epoch>.<seq>.<end>[~<path-hash>.<dev>.<ino>.<offset>…]
 *     1~<path-hash>.<dev>.<ino>.<offset>[~…]
 *
 * Every number is base 36. The first is a position in the journal (see
 * journal.ts): `seq` names a published batch, `end` the byte offset in its
 * file just past the event. Within the journal's window it resumes exactly.
 * `epoch` names the process that numbered the journal; after a restart, or
 * past the window, the optional entries that follow are used instead: the
 * position reached in every followed file (`path-hash` is the FNV-1a hash of
 * the followed path), sent only while they fit in {@link MAX_ID_BYTES}. The
 * second form is those entries alone: a subscriber's own position while it
 * is being replayed from the files.
 */
import {
  type FilePosition,
  MAX_FILES_PER_SOURCE,
  type ResumeCursor,
} from "../types.ts";

/** The longest SSE id tailcast sends (and accepts), in bytes. */
export const MAX_ID_BYTES = 256;

/** A malformed cursor; HTTP answers 400 with the message. */
export class CursorError extends Error {
  /** `message` says what is wrong with the cursor. */
  constructor(message: string) {
    super(message);
    this.name = "CursorError";
  }
}

/** A decoded file cursor: entries keyed by path hash, to be matched with the followed paths. */
export type DecodedCursor = Map<string, FilePosition[]>;

/** A position in the journal of the process with `epoch`. */
export interface JournalPosition {
  /** The process that numbered the journal. */
  readonly epoch: string;
  /** The batch (or notice, alert) it is at. */
  readonly seq: number;
  /** The byte offset in the batch's file just past the event. */
  readonly end: number;
}

/** What a client's cursor says. */
export interface DecodedId {
  /** The journal position, for the `2.` form. */
  readonly at: JournalPosition | null;
  /** The file positions, when the cursor carries them. */
  readonly files: DecodedCursor | null;
}

/** FNV-1a 32-bit hash of a path, base 36. */
export function pathHash(path: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) {
    h ^= path.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
}

/** The `~hash.dev.ino.offset` entries of one path's positions. */
export function entries(
  hash: string,
  positions: readonly FilePosition[],
): string {
  let out = "";
  for (const p of positions) {
    out += `~${hash}.${p.file.dev.toString(36)}.${p.file.ino.toString(36)}.${
      p.offset.toString(36)
    }`;
  }
  return out;
}

/** The `2.` id of journal position `seq`/`end` of the process `epoch`, without file entries. */
export function positionId(epoch: string, seq: number, end: number): string {
  return `2.${epoch}.${seq.toString(36)}.${end.toString(36)}`;
}

/** The `1~` text of a file cursor. */
export function encodeCursor(cursor: ResumeCursor): string {
  let out = "1";
  for (const [path, positions] of cursor) {
    out += entries(pathHash(path), positions);
  }
  return out;
}

const ENTRY =
  /^([0-9a-z]{1,7})\.([0-9a-z]{1,11})\.([0-9a-z]{1,11})\.([0-9a-z]{1,11})$/;
const POSITION = /^2\.([0-9a-z]{1,12})\.([0-9a-z]{1,11})\.([0-9a-z]{1,11})$/;

/**
 * Parses a client's cursor (from `Last-Event-ID` or `?since=`).
 *
 * @throws {CursorError} for anything that is not a cursor this server could have sent.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { CursorError, decodeId } from "./cursor.ts";
 * assertEquals(decodeId("2.k3x.1z.9").at, { epoch: "k3x", seq: 71, end: 9 });
 * assertThrows(() => decodeId("garbage"), CursorError);
 * ```
 */
export function decodeId(text: string): DecodedId {
  if (text.length > MAX_ID_BYTES) {
    throw new CursorError(
      `Cannot resume: the cursor is ${text.length} characters long, and this server's are at most ${MAX_ID_BYTES} (use the id: of an event it sent)`,
    );
  }
  const parts = text.split("~");
  let at: JournalPosition | null = null;
  if (parts[0] !== "1") {
    const m = POSITION.exec(parts[0]);
    const seq = m ? parseInt(m[2], 36) : NaN;
    const end = m ? parseInt(m[3], 36) : NaN;
    if (!m || !Number.isSafeInteger(seq) || !Number.isSafeInteger(end)) {
      throw new CursorError(
        `Cannot resume from ${
          JSON.stringify(text.slice(0, 64))
        }: not a tailcast cursor (use the id: of an event this server sent)`,
      );
    }
    at = { epoch: m[1], seq, end };
  }
  if (parts.length === 1) return { at, files: null };
  const files: DecodedCursor = new Map();
  for (const part of parts.slice(1)) {
    const m = ENTRY.exec(part);
    const nums = m ? [m[2], m[3], m[4]].map((x) => parseInt(x, 36)) : [];
    if (!m || nums.some((n) => !Number.isSafeInteger(n))) {
      throw new CursorError(
        `Cannot resume: malformed cursor entry ${
          JSON.stringify(part.slice(0, 64))
        } (expected hash.dev.ino.offset in base 36)`,
      );
    }
    let list = files.get(m[1]);
    if (!list) files.set(m[1], list = []);
    if (list.length >= MAX_FILES_PER_SOURCE) {
      throw new CursorError(
        `Cannot resume: more than ${MAX_FILES_PER_SOURCE} files for one path in the cursor`,
      );
    }
    list.push({ file: { dev: nums[0], ino: nums[1] }, offset: nums[2] });
  }
  return { at, files };
}

/** A file cursor keyed by path hash, as if it had been decoded from text. */
export function toDecoded(cursor: ResumeCursor): DecodedCursor {
  const out: DecodedCursor = new Map();
  for (const [path, list] of cursor) out.set(pathHash(path), [...list]);
  return out;
}
