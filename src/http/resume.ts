/**
 * Resume: what a subscriber must be sent from disk before it goes live, and
 * the cursor it carries while it is served.
 *
 * A subscriber's cursor holds, per followed path, the position reached in the
 * path's current file and in rotated files still being drained. When it
 * reconnects with that cursor, each file is found by identity (under its path
 * or among its rotated siblings) and replayed from the position to the seam:
 * the published position snapshotted when the new subscription was made.
 * Live events past the seam come from the hub. Files rotated in between are
 * replayed whole, oldest first; a file that cannot be found or shrank below
 * the position becomes a gap.
 */
import { type DecodedCursor, pathHash } from "./cursor.ts";
import { lastLinesOffset } from "../source/bytes.ts";
import { idKey, sameFile } from "../source/identity.ts";
import {
  current,
  locate,
  type Located,
  type ReplayRange,
  siblings,
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
  readonly cause: "rotated-away" | "truncated";
  readonly offset: number;
  readonly message: string;
}

interface Entry {
  file: FileId;
  offset: number;
  /** While true, live events at or before `offset` were already delivered. */
  seam: boolean;
}

/**
 * The position of one subscriber in every file of its selection; its text
 * form is the SSE `id:`. Only the path that changed is re-encoded.
 */
export class SubscriberCursor {
  readonly #entries = new Map<string, Entry[]>();
  readonly #parts = new Map<string, string>();
  /** Path hashes, computed once per path (the id is re-encoded for every event). */
  readonly #hashes = new Map<string, string>();
  #text: string | null = null;

  constructor(initial: ResumeCursor = new Map()) {
    for (const [source, list] of initial) {
      for (const p of list) this.#put(source, p.file, p.offset, "on");
    }
  }

  /** Sets where the subscriber is in `file` before anything is sent. */
  start(source: string, file: FileId, offset: number): void {
    this.#put(source, file, offset, "on");
  }

  /** Records a replayed line of `file` ending at `end`. */
  advance(source: string, file: FileId, end: number): void {
    this.#put(source, file, end, "keep");
  }

  /**
   * Whether a live line must be delivered: false only for a line the
   * subscriber already had (at the seam). Records it when delivered.
   */
  accept(source: string, file: FileId, end: number): boolean {
    const e = this.#entries.get(source)?.find((x) => sameFile(x.file, file));
    if (e && e.seam && end <= e.offset) return false;
    this.#put(source, file, end, "off");
    return true;
  }

  /** The file restarted at 0 (truncation): later lines are new whatever their offset. */
  restart(source: string): void {
    for (const e of this.#entries.get(source) ?? []) e.seam = false;
  }

  /** The cursor as text: the `id:` of the next event. */
  get text(): string {
    if (this.#text === null) {
      this.#text = "1";
      for (const part of this.#parts.values()) this.#text += part;
    }
    return this.#text;
  }

  /** The positions, oldest identity first per path. */
  get positions(): ResumeCursor {
    const out: ResumeCursor = new Map();
    for (const [source, list] of this.#entries) {
      out.set(source, list.map((e) => ({ file: e.file, offset: e.offset })));
    }
    return out;
  }

  #put(
    source: string,
    file: FileId,
    offset: number,
    seam: "on" | "off" | "keep",
  ): void {
    let list = this.#entries.get(source);
    if (!list) this.#entries.set(source, list = []);
    let e = list.find((x) => sameFile(x.file, file));
    if (!e) {
      e = { file, offset, seam: seam !== "off" };
      list.push(e);
      if (list.length > MAX_FILES_PER_SOURCE) list.shift();
    } else {
      e.offset = offset;
      if (seam !== "keep") e.seam = seam === "on";
    }
    let h = this.#hashes.get(source);
    if (h === undefined) this.#hashes.set(source, h = pathHash(source));
    let part = "";
    for (const p of list) {
      part += `~${h}.${p.file.dev.toString(36)}.${p.file.ino.toString(36)}.${
        p.offset.toString(36)
      }`;
    }
    this.#parts.set(source, part);
    this.#text = null;
  }
}

/** What to replay for a subscriber, and the gaps it must be told about. */
export interface ResumePlan {
  readonly ranges: ReplayRange[];
  readonly gaps: ResumeGap[];
  readonly cursor: SubscriberCursor;
}

export interface PlanOptions {
  /** The cursor the client came back with; null for a new subscriber. */
  wanted: DecodedCursor | null;
  /** Lines of each file to send first (`backlog=N`); ignored when resuming. */
  backlog: number | null;
  /** Published positions of the selected paths, taken with the subscription. */
  seam: ResumeCursor;
}

/** Plans the replay for one subscriber. */
export async function planResume(options: PlanOptions): Promise<ResumePlan> {
  const { wanted, backlog, seam } = options;
  const ranges: ReplayRange[] = [];
  const gaps: ResumeGap[] = [];
  const cursor = new SubscriberCursor(seam);
  for (const [source, published] of seam) {
    const end = (file: FileId) =>
      published.find((p) => sameFile(p.file, file))?.offset ?? null;
    if (wanted) {
      const had = wanted.get(pathHash(source)) ?? [];
      await planSource(source, had, end, ranges, gaps, cursor);
    } else if (backlog !== null && backlog > 0) {
      const newest = published.at(-1);
      const now = await current(source);
      if (newest && now && sameFile(now.file, newest.file)) {
        const from = await backlogStart(source, newest, backlog);
        if (from < newest.offset) {
          ranges.push({
            source,
            path: source,
            file: newest.file,
            from,
            to: newest.offset,
          });
          cursor.start(source, newest.file, from);
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
  ranges: ReplayRange[],
  gaps: ResumeGap[],
  cursor: SubscriberCursor,
): Promise<void> {
  const done = new Set<string>();
  let newestSeen: Located | null = null;
  for (const position of had) {
    done.add(idKey(position.file));
    const found = await locate(source, position.file);
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
    newestSeen = found;
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
  // Files that came after the newest one the client saw: rotated copies in
  // order of age, then the file under the path now. A client that never saw
  // this path (it started to be followed later) gets it whole.
  const later: Located[] = [];
  const since = newestSeen?.mtime ?? -Infinity;
  if (had.length > 0) {
    for (const s of (await siblings(source)).reverse()) {
      if (!done.has(idKey(s.file)) && s.mtime >= since) later.push(s);
    }
  }
  const now = await current(source);
  if (now && !done.has(idKey(now.file))) later.push(now);
  for (const file of later) {
    done.add(idKey(file.file));
    addRange(source, file, 0, end(file.file), ranges, cursor);
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
  cursor.start(source, found.file, from);
  if (to !== null && to <= from) return;
  ranges.push({ source, path: found.path, file: found.file, from, to });
}

async function backlogStart(
  source: string,
  newest: FilePosition,
  lines: number,
): Promise<number> {
  let file: Deno.FsFile | null = null;
  try {
    file = await Deno.open(source, { read: true });
    return await lastLinesOffset(file, newest.offset, lines);
  } catch {
    return newest.offset;
  } finally {
    file?.close();
  }
}
