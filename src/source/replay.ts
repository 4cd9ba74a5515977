/**
 * Replay: reads byte ranges of followed files back from disk, for a
 * subscriber that resumes or asks for a backlog. A file is found by identity
 * among the files tailcast followed (see known.ts): under its source's path,
 * or among its rotated siblings in the same directory (`app.log.1`,
 * `app-2026-11-27.log`, …), and only if its first bytes are still the ones
 * tailcast read. Each replay owns the files it opens and closes them when
 * done or cancelled.
 */
import { basename, dirname, extname, join } from "node:path";
import type { Chunk, FileId, Mark } from "../types.ts";
import { readAt } from "./bytes.ts";
import { fileId, sameFile } from "./identity.ts";
import type { KnownFiles } from "./known.ts";
import { FINGERPRINT_BYTES } from "./state.ts";

/** Bytes [from, to) of one file; `to` null reads to its current end. */
export interface ReplayRange {
  /** The source the file belongs to (the events' `source`). */
  readonly source: string;
  /** Where the file is now (the followed path or a rotated sibling). */
  readonly path: string;
  readonly file: FileId;
  readonly from: number;
  readonly to: number | null;
}

/** A file found by identity. */
export interface Located {
  readonly path: string;
  readonly size: number;
  readonly mtime: number;
  /** When the file was created (its mtime where the platform has no birth time). */
  readonly born: number;
  readonly file: FileId;
}

/** Creation time of what `stat` describes, in ms (mtime where unknown). */
export function bornAt(info: Deno.FileInfo): number {
  return info.birthtime?.getTime() ?? info.mtime?.getTime() ?? 0;
}

/** What `stat` says of the file at `path`, as a {@link Located}. */
export function locatedOf(path: string, info: Deno.FileInfo): Located {
  return {
    path,
    size: info.size,
    mtime: info.mtime?.getTime() ?? 0,
    born: bornAt(info),
    file: fileId(info),
  };
}

/** Siblings considered at most, so a huge directory cannot stall a resume. */
const MAX_SIBLINGS = 2000;

/**
 * Files in the followed path's directory that may be its rotated copies:
 * names starting with the path's name without its extension. Newest first.
 */
export async function siblings(
  path: string,
  options: { strict?: boolean } = {},
): Promise<Located[]> {
  const dir = dirname(path);
  const name = basename(path);
  const stem = name.slice(0, name.length - extname(name).length) || name;
  const out: Located[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (out.length >= MAX_SIBLINGS) break;
      if (!entry.name.startsWith(stem) || entry.name === name) continue;
      const path = join(dir, entry.name);
      try {
        const info = await Deno.stat(path);
        if (!info.isFile) continue;
        out.push(locatedOf(path, info));
      } catch {
        // Vanished or unreadable: not a candidate.
      }
    }
  } catch (error) {
    // Strict callers must not take "cannot list" for "nothing there"; a
    // directory that does not exist holds nothing.
    if (options.strict && !(error instanceof Deno.errors.NotFound)) throw error;
  }
  return out.sort((a, b) => b.mtime - a.mtime);
}

/** The file now at a followed path, if any. */
export async function current(path: string): Promise<Located | null> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return null;
    return locatedOf(path, info);
  } catch {
    return null;
  }
}

/**
 * Finds `file` under the path of `source` or among its siblings: only a
 * file tailcast followed there (`known`), and only while its first bytes
 * are the ones it read.
 */
export async function locate(
  source: string,
  file: FileId,
  known: KnownFiles,
): Promise<Located | null> {
  if (!known.has(source, file)) return null;
  const path = known.pathOf(source);
  const now = await current(path);
  const found = now && sameFile(now.file, file)
    ? now
    : (await siblings(path)).find((s) => sameFile(s.file, file)) ?? null;
  if (!found) return null;
  let f: Deno.FsFile | null = null;
  try {
    f = await Deno.open(found.path, { read: true });
    if (!sameFile(fileId(await f.stat()), file)) return null;
    const head = await readAt(f, 0, FINGERPRINT_BYTES);
    return known.matches(source, file, head) ? found : null;
  } catch {
    return null;
  } finally {
    f?.close();
  }
}

/**
 * Bytes read back at a time. A chunk's lines are parsed and framed in one
 * go: 32 KiB take a few milliseconds; 256 KiB took up to 100 ms, during
 * which the process answered nothing else.
 */
export const REPLAY_READ_BYTES = 32 * 1024;
/** Bytes all replays together may read in one turn of the event loop. */
export const REPLAY_BYTES_PER_TURN = 128 * 1024;
/** Milliseconds all subscribers' line filters together may run in one turn of the event loop. */
export const FILTER_MS_PER_TURN = 10;

/**
 * Streams the ranges in order as chunks, each range followed by a flush mark
 * (its events were complete where it ends). A file whose identity changed
 * under its path since it was located is skipped (`onMissing`). Consecutive
 * ranges of one file share one open handle; the read buffer is sized by what
 * a range holds, up to `readBytes`. With a `pacer`, every read first takes
 * its bytes from the budget the pacer shares between replays.
 */
export function replayChunks(
  ranges: Iterable<ReplayRange> | AsyncIterable<ReplayRange>,
  onMissing: (range: ReplayRange) => void,
  readBytes = REPLAY_READ_BYTES,
  pacer: Pacer | null = null,
): ReadableStream<Chunk | Mark> {
  return ReadableStream.from(read(ranges, onMissing, readBytes, pacer));
}

/**
 * Shares the event loop between the work clients cause and everything else.
 * In one turn of the event loop, replays may read at most `bytes` between
 * them, and subscribers' line filters may run for at most `ms`; past either,
 * whoever asks waits for the next turn (a timer), so requests, live lines,
 * stdout and timers come in between, however many clients there are. A
 * replay takes its bytes before it reads them ({@link take}), so a turn's
 * parsing is what was read in the turn before; synchronous work (filters)
 * asks ({@link busy}) right before it runs and is counted ({@link spent})
 * right after, before the next one asks.
 */
export class Pacer {
  readonly bytes: number;
  readonly ms: number;
  #bytes = 0;
  #ms = 0;
  #turn: Promise<void> | null = null;

  constructor(bytes = REPLAY_BYTES_PER_TURN, ms = FILTER_MS_PER_TURN) {
    this.bytes = bytes;
    this.ms = ms;
  }

  /** Waits until `bytes` more may be read in this turn, and takes them. */
  async take(bytes: number): Promise<void> {
    while (this.#bytes > 0 && this.#bytes + bytes > this.bytes) {
      await this.#next();
    }
    this.#bytes += bytes;
  }

  /**
   * Null when more work may be done in this turn; else the next turn, to be
   * waited for before asking again. Null means now: the work must follow
   * without an `await`, then be counted with {@link spent}, so that the
   * next one to ask sees it.
   */
  busy(): Promise<void> | null {
    return this.#ms >= this.ms ? this.#next() : null;
  }

  /** Counts `ms` of work done in this turn. */
  spent(ms: number): void {
    this.#ms += ms;
  }

  #next(): Promise<void> {
    return this.#turn ??= new Promise((resolve) =>
      setTimeout(() => {
        this.#turn = null;
        this.#bytes = 0;
        this.#ms = 0;
        resolve();
      }, 0)
    );
  }
}

async function* read(
  ranges: Iterable<ReplayRange> | AsyncIterable<ReplayRange>,
  onMissing: (range: ReplayRange) => void,
  readBytes: number,
  pacer: Pacer | null,
): AsyncGenerator<Chunk | Mark, void, void> {
  let open: { file: Deno.FsFile; path: string; id: FileId; at: number } | null =
    null;
  const close = () => {
    try {
      open?.file.close();
    } catch {
      // Already closed.
    }
    open = null;
  };
  try {
    for await (const range of ranges) {
      if (
        open && (open.path !== range.path || !sameFile(open.id, range.file))
      ) {
        close();
      }
      try {
        if (!open) {
          const file = await Deno.open(range.path, { read: true });
          open = { file, path: range.path, id: range.file, at: -1 };
          if (!sameFile(fileId(await file.stat()), range.file)) {
            close();
            onMissing(range);
            continue;
          }
        }
        if (open.at !== range.from) {
          await open.file.seek(range.from, Deno.SeekMode.Start);
          open.at = range.from;
        }
      } catch {
        close();
        onMissing(range);
        continue;
      }
      const size = range.to === null ? readBytes : range.to - range.from;
      const buffer = new Uint8Array(Math.max(1, Math.min(readBytes, size)));
      while (range.to === null || open.at < range.to) {
        const want = range.to === null
          ? buffer.length
          : Math.min(buffer.length, range.to - open.at);
        await pacer?.take(want);
        const n = await open.file.read(buffer.subarray(0, want));
        if (n === null || n === 0) break;
        yield {
          source: range.source,
          file: range.file,
          offset: open.at,
          bytes: buffer.slice(0, n),
          noticed: performance.now(),
        };
        open.at += n;
      }
      yield { kind: "flush", source: range.source };
    }
  } finally {
    close();
  }
}
