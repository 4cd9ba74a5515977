/**
 * Writing files that survive a crash: every byte written (one write may take
 * fewer), a file replaced atomically (temp file, fsync, rename, directory
 * fsync), and a directory's entries made durable. The state file and the
 * ingest spool write through these.
 */
import { dirname } from "node:path";

/** Writes all of `bytes`: one write may take fewer (a signal, a full disk). */
export async function writeAll(
  f: Deno.FsFile,
  bytes: Uint8Array,
): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    const n = await f.write(bytes.subarray(at));
    if (n === 0) throw new Deno.errors.WriteZero("wrote no byte");
    at += n;
  }
}

/** Makes the entries of `dir` durable (a rename, a new file); best effort. */
export async function syncDir(dir: string): Promise<void> {
  // Not every platform lets a directory be opened.
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

/**
 * Replaces the file at `path` with `bytes`, atomically: a reader (or a
 * restart after a crash) finds the old content or the new, never a mix.
 * The temp file is removed if anything fails; the error is thrown.
 */
export async function replaceFile(
  path: string,
  bytes: Uint8Array,
): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    const f = await Deno.open(tmp, {
      write: true,
      create: true,
      truncate: true,
    });
    try {
      await writeAll(f, bytes);
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
  await syncDir(dirname(path));
}
