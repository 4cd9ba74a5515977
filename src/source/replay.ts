/**
 * Replay: reads byte ranges of followed files back from disk, for a
 * subscriber that resumes or asks for a backlog. A file is found by identity:
 * under its followed path, or among its rotated siblings in the same
 * directory (`app.log.1`, `app-2026-11-27.log`, …). Each replay owns the files
 * it opens and closes them when done or cancelled.
 */
import { basename, dirname, extname, join } from "node:path";
import type { Chunk, FileId } from "../types.ts";
import { fileId, sameFile } from "./identity.ts";

/** Bytes [from, to) of one file; `to` null reads to its current end. */
export interface ReplayRange {
  /** The followed path the file belongs to (the events' `source`). */
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
  source: string,
  options: { strict?: boolean } = {},
): Promise<Located[]> {
  const dir = dirname(source);
  const name = basename(source);
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

/** The followed path's current file, if any. */
export async function current(source: string): Promise<Located | null> {
  try {
    const info = await Deno.stat(source);
    if (!info.isFile) return null;
    return locatedOf(source, info);
  } catch {
    return null;
  }
}

/** Finds `file` under `source` or among its siblings. */
export async function locate(
  source: string,
  file: FileId,
): Promise<Located | null> {
  const now = await current(source);
  if (now && sameFile(now.file, file)) return now;
  return (await siblings(source)).find((s) => sameFile(s.file, file)) ?? null;
}

/**
 * Streams the ranges in order as chunks. A file whose identity changed
 * under its path since it was located is skipped (`onMissing`).
 */
export function replayChunks(
  ranges: readonly ReplayRange[],
  onMissing: (range: ReplayRange) => void,
  readBytes = 256 * 1024,
): ReadableStream<Chunk> {
  let index = 0;
  let open: { file: Deno.FsFile; at: number } | null = null;
  const buffer = new Uint8Array(readBytes);
  const closeOpen = () => {
    try {
      open?.file.close();
    } catch {
      // Already closed.
    }
    open = null;
  };
  return new ReadableStream<Chunk>({
    async pull(controller) {
      while (index < ranges.length) {
        const range = ranges[index];
        if (!open) {
          try {
            const file = await Deno.open(range.path, { read: true });
            if (!sameFile(fileId(await file.stat()), range.file)) {
              file.close();
              throw new Deno.errors.NotFound("replaced");
            }
            await file.seek(range.from, Deno.SeekMode.Start);
            open = { file, at: range.from };
          } catch {
            onMissing(range);
            index++;
            continue;
          }
        }
        const want = range.to === null
          ? buffer.length
          : Math.min(buffer.length, range.to - open.at);
        const n = want > 0
          ? await open.file.read(buffer.subarray(0, want))
          : null;
        if (n === null || n === 0) {
          closeOpen();
          index++;
          continue;
        }
        controller.enqueue({
          source: range.source,
          file: range.file,
          offset: open.at,
          bytes: buffer.slice(0, n),
          noticed: performance.now(),
        });
        open.at += n;
        return;
      }
      controller.close();
    },
    cancel() {
      closeOpen();
    },
  }, new CountQueuingStrategy({ highWaterMark: 1 }));
}
