/**
 * Cursors: where a reader is in the followed files, as text.
 *
 * An event's `id` is the cursor of its own line: `<dev>.<ino>:<end>` (base 36;
 * `end` is the byte offset just past the line). A subscriber's SSE `id:` is a
 * resume cursor: the position reached in every file of its selection, so
 * `Last-Event-ID` can replay from the files themselves, even after a restart:
 *
 *     1~<path-hash>.<dev>.<ino>.<offset>~<path-hash>.<dev>.<ino>.<offset>…
 *
 * `1` is the format version, every part is base 36, and `path-hash` is the
 * FNV-1a hash of the followed path. An entry is 15–30 bytes; a path has up to
 * {@link MAX_FILES_PER_SOURCE} entries while rotated files are still drained,
 * one otherwise.
 */
import {
  type FilePosition,
  MAX_FILES_PER_SOURCE,
  type ResumeCursor,
} from "../types.ts";

/** A malformed cursor; HTTP answers 400 with the message. */
export class CursorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CursorError";
  }
}

/** A decoded resume cursor: entries keyed by path hash, to be matched with the followed paths. */
export type DecodedCursor = Map<string, FilePosition[]>;

/** FNV-1a 32-bit hash of a path, base 36. */
export function pathHash(path: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) {
    h ^= path.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
}

/** Text form of a resume cursor. */
export function encodeCursor(cursor: ResumeCursor): string {
  let out = "1";
  for (const [path, positions] of cursor) {
    const h = pathHash(path);
    for (const p of positions) {
      out += `~${h}.${p.file.dev.toString(36)}.${p.file.ino.toString(36)}.${
        p.offset.toString(36)
      }`;
    }
  }
  return out;
}

const ENTRY =
  /^([0-9a-z]{1,7})\.([0-9a-z]{1,11})\.([0-9a-z]{1,11})\.([0-9a-z]{1,11})$/;

/** Parses a resume cursor (from `Last-Event-ID` or `?since=`). Throws CursorError. */
export function decodeCursor(text: string): DecodedCursor {
  const parts = text.split("~");
  if (parts[0] !== "1") {
    throw new CursorError(
      `Cannot resume from ${
        JSON.stringify(text.slice(0, 64))
      }: not a tailcast cursor (it starts with "1~"; use the id: of an event this server sent)`,
    );
  }
  if (parts.length > 1 + 4096) {
    throw new CursorError(
      "Cannot resume: the cursor names more than 4096 files",
    );
  }
  const out: DecodedCursor = new Map();
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
    let list = out.get(m[1]);
    if (!list) out.set(m[1], list = []);
    if (list.length >= MAX_FILES_PER_SOURCE) {
      throw new CursorError(
        `Cannot resume: more than ${MAX_FILES_PER_SOURCE} files for one path in the cursor`,
      );
    }
    list.push({ file: { dev: nums[0], ino: nums[1] }, offset: nums[2] });
  }
  return out;
}

/** A resume cursor keyed by path hash, as if it had been decoded from text. */
export function toDecoded(cursor: ResumeCursor): DecodedCursor {
  const out: DecodedCursor = new Map();
  for (const [path, list] of cursor) out.set(pathHash(path), [...list]);
  return out;
}
