/**
 * Resume from the files: what a subscriber must be sent from disk when the
 * journal cannot say (it comes back after a restart, or from behind the
 * journal's window, with the file positions its id carries), or when it asks
 * for a backlog; and the file cursor it carries while that replay runs.
 *
 * Each file of the cursor must be one tailcast followed under that path
 * (see known.ts); it is found by identity and replayed from the position to
 * the seam, the published position snapshotted when the subscription was
 * made. Files followed under the path after it are replayed whole, in the
 * order tailcast followed them. A file that is not known, cannot be found
 * or shrank below the position becomes a gap; nothing else is opened.
 */
import { type DecodedCursor, entries, pathHash } from "../sink/cursor.ts";
import { lastLinesOffset } from "../source/bytes.ts";
import { sameFile } from "../source/identity.ts";
import type { KnownFiles } from "../source/known.ts";
import {
  current,
  locate,
  type Located,
  type ReplayRange,
} from "../source/replay.ts";
import {
  type FileId,
  type FilePosition,
  MAX_FILES_PER_SOURCE,
  type ResumeCursor,
} from "../types.ts";

/** Something a resuming subscriber cannot be given. */
export interface ResumeGap {
  readonly source: string;
  readonly cause: "rotated-away" | "truncated" | "unknown-file";
  readonly offset: number;
  readonly message: string;
}

/**
 * The position of one subscriber in every file of its selection while it is
 * replayed from the files; its text form is the `1~` cursor (only the path
 * that changed is re-encoded).
 */
export class SubscriberCursor {
  readonly #entries = new Map<string, FilePosition[]>();
  readonly #parts = new Map<string, string>();
  /** Path hashes, computed once per path (the id is re-encoded for every event). */
  readonly #hashes = new Map<string, string>();
  #text: string | null = null;

  constructor(initial: ResumeCursor = new Map()) {
    for (const [source, list] of initial) {
      for (const p of list) this.advance(source, p.file, p.offset);
    }
  }

  /** Records that the subscriber is at `offset` in `file`. */
  advance(source: string, file: FileId, offset: number): void {
    let list = this.#entries.get(source);
    if (!list) this.#entries.set(source, list = []);
    const at = list.findIndex((x) => sameFile(x.file, file));
    if (at === -1) {
      list.push({ file, offset });
      if (list.length > MAX_FILES_PER_SOURCE) list.shift();
    } else {
      list[at] = { file, offset };
    }
    let h = this.#hashes.get(source);
    if (h === undefined) this.#hashes.set(source, h = pathHash(source));
    this.#parts.set(source, entries(h, list));
    this.#text = null;
  }

  /** The cursor as text: the `id:` of the next event. */
  get text(): string {
    if (this.#text === null) {
      this.#text = "1";
      for (const part of this.#parts.values()) this.#text += part;
    }
    return this.#text;
  }
}

/** What to replay for a subscriber, and the gaps it must be told about. */
export interface ResumePlan {
  readonly ranges: ReplayRange[];
  readonly gaps: ResumeGap[];
  /** Where the subscriber is before the first range. */
  readonly cursor: SubscriberCursor;
}

export interface PlanOptions {
  /** The file positions the client came back with; null for a backlog. */
  wanted: DecodedCursor | null;
  /** Lines of each file to send first (`backlog=N`); ignored when resuming. */
  backlog: number | null;
  /** Published positions of the selected paths, taken with the subscription. */
  seam: ResumeCursor;
  /** The files tailcast followed: the only ones a plan may name. */
  known: KnownFiles;
}

/** Plans the replay from the files for one subscriber. */
export async function planResume(options: PlanOptions): Promise<ResumePlan> {
  const { wanted, backlog, seam, known } = options;
  const ranges: ReplayRange[] = [];
  const gaps: ResumeGap[] = [];
  const cursor = new SubscriberCursor(seam);
  for (const [source, published] of seam) {
    const end = (file: FileId) =>
      published.find((p) => sameFile(p.file, file))?.offset ?? null;
    if (wanted) {
      const had = wanted.get(pathHash(source)) ?? [];
      await planSource(source, had, end, known, ranges, gaps, cursor);
    } else if (backlog !== null && backlog > 0) {
      const newest = published.at(-1);
      const path = known.pathOf(source);
      const now = await current(path);
      if (newest && now && sameFile(now.file, newest.file)) {
        const from = await backlogStart(path, newest, backlog);
        if (from < newest.offset) {
          ranges.push({
            source,
            path,
            file: newest.file,
            from,
            to: newest.offset,
          });
          cursor.advance(source, newest.file, from);
        }
      }
    }
  }
  return { ranges, gaps, cursor };
}

async function planSource(
  source: string,
  had: readonly FilePosition[],
  end: (file: FileId) => number | null,
  known: KnownFiles,
  ranges: ReplayRange[],
  gaps: ResumeGap[],
  cursor: SubscriberCursor,
): Promise<void> {
  // The files followed under the path, in order; the client's newest known
  // one tells which came after it.
  const followed = known.of(source);
  const order = followed.map((k) => k.file);
  let newest = -1;
  for (const position of had) {
    const rank = order.findIndex((f) => sameFile(f, position.file));
    if (rank === -1) {
      gaps.push({
        source,
        cause: "unknown-file",
        offset: position.offset,
        message:
          `${source}: the cursor names a file this tailcast has not followed there; events of ${source} before now are not replayed`,
      });
      continue;
    }
    newest = Math.max(newest, rank);
    const found = await locate(source, position.file, known);
    if (!found) {
      gaps.push({
        source,
        cause: "rotated-away",
        offset: position.offset,
        message:
          `${source}: the file read up to byte ${position.offset} is gone (deleted or rotated out of reach); events after it could not be replayed`,
      });
      continue;
    }
    let from = position.offset;
    if (found.size < from) {
      gaps.push({
        source,
        cause: "truncated",
        offset: from,
        message:
          `${source}: the file was truncated below byte ${from}; replaying it from byte 0`,
      });
      from = 0;
    }
    addRange(source, found, from, end(found.file), ranges, cursor);
  }
  // A client that never saw this path (it started to be followed later)
  // gets what was published of it; one that did gets the files followed
  // after its newest. A client whose every file is unknown gets nothing
  // before the seam.
  if (had.length > 0 && newest === -1) return;
  for (const later of followed.slice(newest + 1)) {
    if (had.some((p) => sameFile(p.file, later.file))) continue;
    const found = await locate(source, later.file, known);
    if (found) {
      addRange(source, found, later.from, end(found.file), ranges, cursor);
    }
  }
}

function addRange(
  source: string,
  found: Located,
  from: number,
  to: number | null,
  ranges: ReplayRange[],
  cursor: SubscriberCursor,
): void {
  cursor.advance(source, found.file, from);
  if (to !== null && to <= from) return;
  ranges.push({ source, path: found.path, file: found.file, from, to });
}

async function backlogStart(
  path: string,
  newest: FilePosition,
  lines: number,
): Promise<number> {
  let file: Deno.FsFile | null = null;
  try {
    file = await Deno.open(path, { read: true });
    return await lastLinesOffset(file, newest.offset, lines);
  } catch {
    return newest.offset;
  } finally {
    file?.close();
  }
}
