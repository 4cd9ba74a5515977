/**
 * File identity and who holds which file.
 *
 * A file is known by device and inode, never by name. The registry makes sure
 * one file is read by one follower at a time: when `app.log` is renamed to
 * `app.log.1` and both names are followed, the follower of `app.log` keeps
 * reading the renamed file until it is drained, and only then may the follower
 * of `app.log.1` take it over, from the offset where the first one stopped.
 */
import type { FileId } from "../types.ts";

/** Identity of what `stat` describes. */
export function fileId(info: Deno.FileInfo): FileId {
  return { dev: info.dev ?? 0, ino: info.ino ?? 0 };
}

export function sameFile(a: FileId | null, b: FileId | null): boolean {
  return a !== null && b !== null && a.dev === b.dev && a.ino === b.ino;
}

/** Compact text form of an identity, used in event ids: `<dev>.<ino>` in base 36. */
export function idKey(id: FileId): string {
  return `${id.dev.toString(36)}.${id.ino.toString(36)}`;
}

/** A map key for one file read under one followed path. */
export function fileKey(source: string, file: FileId): string {
  return `${idKey(file)}\u0000${source}`;
}

/** Claims on file identities, shared by the followers of one service. */
export class Holders {
  readonly #held = new Map<string, string>();
  readonly #released = new Map<string, { offset: number; born: number }>();
  readonly #maxReleased: number;

  constructor(maxReleased = 4096) {
    this.#maxReleased = maxReleased;
  }

  /** Takes `id` for `holder`; false while another holder has it. */
  claim(id: FileId, holder: string): boolean {
    const key = idKey(id);
    const current = this.#held.get(key);
    if (current !== undefined && current !== holder) return false;
    this.#held.set(key, holder);
    return true;
  }

  /**
   * Gives `id` up; a later claimant of the same file resumes at `offset`.
   * `born` (creation time) tells the same file from a new one that reuses
   * the inode after this one was deleted.
   */
  release(id: FileId, holder: string, offset: number, born: number): void {
    const key = idKey(id);
    if (this.#held.get(key) !== holder) return;
    this.#held.delete(key);
    this.#released.delete(key);
    this.#released.set(key, { offset, born });
    if (this.#released.size > this.#maxReleased) {
      const oldest = this.#released.keys().next().value;
      if (oldest !== undefined) this.#released.delete(oldest);
    }
  }

  /** Where a file given up by another follower was left, if it is the same file (same birth). */
  resumeAt(id: FileId, born: number): number | undefined {
    const r = this.#released.get(idKey(id));
    return r !== undefined && r.born === born ? r.offset : undefined;
  }

  /** Forgets a claim without recording an offset (the holder stopped). */
  drop(id: FileId, holder: string): void {
    const key = idKey(id);
    if (this.#held.get(key) === holder) this.#held.delete(key);
  }
}
