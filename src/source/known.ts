/**
 * Known files: the identities tailcast itself has followed under each source
 * (the current file, rotated ones it drained, files found rotated while it
 * was down), with their first bytes, and the path each source follows (a
 * source is named by its path, except an ingest spool: `ingest:<name>`).
 * A client's resume cursor names files by identity; only a file known here
 * may be read back for it, found under its source's path or among its
 * siblings by inode, and only if its first bytes are still the ones
 * tailcast saw. Nothing else in a directory is ever opened for a client, so
 * a cursor cannot make tailcast read a file it did not follow.
 *
 * Bounded: {@link MAX_KNOWN_PER_SOURCE} identities per source, oldest first.
 */
import { startsWith } from "./bytes.ts";
import { sameFile } from "./identity.ts";
import type { FileId } from "../types.ts";

/** Identities remembered per followed path. */
export const MAX_KNOWN_PER_SOURCE = 16;

/** One file followed under a path. */
export interface KnownFile {
  readonly file: FileId;
  /** Where tailcast started reading it: bytes before were never published. */
  from: number;
  /** Its first bytes as read (up to the fingerprint length); empty until read. */
  head: Uint8Array;
}

export class KnownFiles {
  readonly #bySource = new Map<string, KnownFile[]>();
  readonly #paths = new Map<string, string>();
  readonly #whole = new Set<string>();

  /** `source` follows the file at `path` (when they differ: an ingest spool). */
  follows(source: string, path: string): void {
    if (path !== source) this.#paths.set(source, path);
  }

  /** The path `source` follows: its own name unless {@link follows} said otherwise. */
  pathOf(source: string): string {
    return this.#paths.get(source) ?? source;
  }

  /**
   * Every byte of `source`'s files may be read back, whatever byte this run
   * started reading them at: tailcast wrote them itself, and each line in
   * them was acknowledged (an ingest spool). A resume after a restart then
   * gets what the earlier run took but did not publish.
   */
  whole(source: string): void {
    this.#whole.add(source);
    for (const k of this.#bySource.get(source) ?? []) k.from = 0;
  }

  /** `file` is being followed under `source`, from byte `from` (when known). */
  add(source: string, file: FileId, from?: number): void {
    if (this.#whole.has(source)) from = 0;
    let list = this.#bySource.get(source);
    if (!list) this.#bySource.set(source, list = []);
    const k = list.find((x) => sameFile(x.file, file));
    if (k) {
      if (from !== undefined) k.from = from;
      return;
    }
    list.push({ file, from: from ?? 0, head: new Uint8Array(0) });
    if (list.length > MAX_KNOWN_PER_SOURCE) list.shift();
  }

  /** The first bytes of `file`, followed under `source`, as far as they were read. */
  head(source: string, file: FileId, head: Uint8Array): void {
    this.add(source, file);
    const k = this.#find(source, file)!;
    if (head.length > k.head.length) k.head = head;
  }

  /** The first bytes read of `file` under any path, if known. */
  headOf(file: FileId): Uint8Array | undefined {
    for (const list of this.#bySource.values()) {
      const k = list.find((x) => sameFile(x.file, file));
      if (k) return k.head;
    }
    return undefined;
  }

  /** Whether `file` was followed under `source`. */
  has(source: string, file: FileId): boolean {
    return this.#find(source, file) !== undefined;
  }

  /** The files followed under `source`, oldest first. */
  of(source: string): readonly KnownFile[] {
    return this.#bySource.get(source) ?? [];
  }

  /**
   * Whether `bytes` (a file's first bytes, read now) can be the start of the
   * known `file`: they agree with what tailcast read of it.
   */
  matches(source: string, file: FileId, bytes: Uint8Array): boolean {
    const k = this.#find(source, file);
    if (!k) return false;
    return k.head.length <= bytes.length
      ? startsWith(bytes, k.head)
      : startsWith(k.head, bytes);
  }

  #find(source: string, file: FileId): KnownFile | undefined {
    return this.#bySource.get(source)?.find((k) => sameFile(k.file, file));
  }
}
