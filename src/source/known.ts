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

/** One change to what is known, as a copy elsewhere (a pool worker's) applies it. */
export type KnownChange =
  | {
    readonly op: "add";
    readonly source: string;
    readonly file: FileId;
    readonly from?: number;
  }
  | {
    readonly op: "head";
    readonly source: string;
    readonly file: FileId;
    readonly head: Uint8Array;
  }
  | { readonly op: "follows"; readonly source: string; readonly path: string }
  | { readonly op: "whole"; readonly source: string };

export class KnownFiles {
  readonly #bySource = new Map<string, KnownFile[]>();
  readonly #paths = new Map<string, string>();
  readonly #whole = new Set<string>();
  /** Told every change, in order: a pool keeps its workers' copies with it. */
  onChange: ((change: KnownChange) => void) | null = null;

  /** Applies a change made to another KnownFiles. */
  apply(change: KnownChange): void {
    switch (change.op) {
      case "add":
        return this.add(change.source, change.file, change.from);
      case "head":
        return this.head(change.source, change.file, change.head);
      case "follows":
        return this.follows(change.source, change.path);
      case "whole":
        return this.whole(change.source);
    }
  }

  /** The changes that make a copy of what is known now, oldest first. */
  changes(): KnownChange[] {
    const out: KnownChange[] = [];
    for (const [source, path] of this.#paths) {
      out.push({ op: "follows", source, path });
    }
    for (const source of this.#whole) out.push({ op: "whole", source });
    for (const [source, list] of this.#bySource) {
      for (const k of list) {
        out.push({ op: "add", source, file: k.file, from: k.from });
        if (k.head.length > 0) {
          out.push({ op: "head", source, file: k.file, head: k.head });
        }
      }
    }
    return out;
  }

  /** `source` follows the file at `path` (when they differ: an ingest spool). */
  follows(source: string, path: string): void {
    this.onChange?.({ op: "follows", source, path });
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
    this.onChange?.({ op: "whole", source });
    this.#whole.add(source);
    for (const k of this.#bySource.get(source) ?? []) k.from = 0;
  }

  /** `file` is being followed under `source`, from byte `from` (when known). */
  add(source: string, file: FileId, from?: number): void {
    this.onChange?.({ op: "add", source, file, from });
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
    // Longer, or other bytes: the file was truncated in place and written again.
    if (head.length > k.head.length || !startsWith(k.head, head)) {
      k.head = head;
      this.onChange?.({ op: "head", source, file, head });
    }
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
