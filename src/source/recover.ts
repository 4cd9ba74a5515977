/**
 * Recovery after a restart and after copytruncate: deciding where each
 * followed file resumes from the cursors the previous run saved (found by
 * identity and fingerprint among the path's rotated siblings), and finding
 * the copy a truncated file was copied to. Decisions only: the follower
 * opens and reads what they name.
 */
import { equalBytes, readAt, startsWith } from "./bytes.ts";
import { idKey, sameFile } from "./identity.ts";
import { type Located, locatedOf, siblings } from "./replay.ts";
import { FINGERPRINT_BYTES, type SavedFile } from "./state.ts";
import type { FileId } from "../types.ts";

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
  // A whole multi-line event, as earlier versions saved it: not one line, so not comparable.
  if (saved.line.includes("\n")) return true;
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
      const text = LINE_DECODER.decode(bytes).replace(/\r?\n$/, "");
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
/** Decodes as the line splitter does (src/stage/lines.ts): a leading BOM stays in the first line. */
const LINE_DECODER = new TextDecoder("utf-8", { ignoreBOM: true });

/** What {@link planRestore} found: a decision, or why it must be tried again. */
export type RestorePlan =
  | { readonly kind: "decided"; readonly decision: StartDecision }
  | { readonly kind: "retry"; readonly problem: string };

/**
 * The start decision for a path with saved cursors: the file under the path
 * now (`info`, null when there is none) and the siblings that can be a saved
 * file or its copy. "Cannot list" or "cannot open" is never read as "gone":
 * the plan is then to try again.
 */
export async function planRestore(
  path: string,
  saved: readonly SavedFile[],
  info: Deno.FileInfo | null,
  describe: (error: unknown) => string,
): Promise<RestorePlan> {
  const offsets = saved.map((s) => s.offset);
  const now = info ? await withHead(locatedOf(path, info), offsets) : null;
  let listed: Located[];
  try {
    listed = await siblings(path, { strict: true });
  } catch (error) {
    return {
      kind: "retry",
      problem: `cannot list its directory to resume from the saved cursor (${
        describe(error)
      }); the cursor is kept and tried again`,
    };
  }
  if (info !== null && now === null) {
    return {
      kind: "retry",
      problem:
        "cannot open it to resume from the saved cursor; the cursor is kept and tried again",
    };
  }
  // Rotated copies keep their inode (rename) or their content (copytruncate).
  // Only files that can be a saved one or its copy are opened: the same
  // inode, or at least as long as a saved cursor (a directory may hold many
  // old rotations).
  const ids = new Set(saved.map((s) => idKey(s.file)));
  const shortest = Math.min(...offsets);
  const candidates: Candidate[] = [];
  for (const s of listed) {
    if (!ids.has(idKey(s.file)) && s.size < shortest) continue;
    const c = await withHead(s, offsets);
    if (c) candidates.push(c);
  }
  return { kind: "decided", decision: decideStart(saved, now, candidates) };
}

/** What identifies the bytes read so far of a file: its first bytes and the bytes just before `offset`. */
export interface Marks {
  readonly offset: number;
  readonly head: Uint8Array;
  readonly tail: Uint8Array;
}

/** Newest rotated siblings checked for the copy of a truncated file. */
const COPY_CANDIDATES = 4;

/**
 * copytruncate: the copy of a file that was just truncated, among the
 * newest siblings of its path — one whose first bytes and bytes before
 * `marks.offset` are the file's. The copy comes back open; the caller
 * owns and closes it.
 */
export async function findCopy(
  path: string,
  marks: Marks,
): Promise<{ path: string; size: number; file: Deno.FsFile } | null> {
  if (marks.offset === 0 || marks.head.length === 0) return null;
  for (const s of (await siblings(path)).slice(0, COPY_CANDIDATES)) {
    if (s.size < marks.offset) continue;
    let copy: Deno.FsFile | null = null;
    try {
      copy = await Deno.open(s.path, { read: true });
      const head = await readAt(copy, 0, marks.head.length);
      const tail = await readAt(
        copy,
        marks.offset - marks.tail.length,
        marks.tail.length,
      );
      if (equalBytes(head, marks.head) && equalBytes(tail, marks.tail)) {
        const found = { path: s.path, size: s.size, file: copy };
        copy = null;
        return found;
      }
    } catch {
      // Vanished or unreadable: not the copy.
    } finally {
      copy?.close();
    }
  }
  return null;
}
