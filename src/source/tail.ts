/**
 * Tail: the followers of everything the user named, merged into one stream of
 * chunks and notices (each follower's in order; the watcher's own, such as a
 * switch to polling, as they come). Owns the watcher, the identity holders, one follower per followed
 * path, and one scan loop per glob. Literal paths are checked at start-up
 * (a directory or an unreadable file is a SourceError); files that do not
 * exist yet are waited for. Followers take their first look in turn, so the
 * files named at start-up are read in the order given, as tail prints them.
 *
 * Sources can be added while it runs: a file followed under a name of its
 * own (an ingest spool: its events say `ingest:<name>`, not its path), and
 * streams of sources that are on no disk (a command, an ingest ring), whose
 * end Tail awaits like a follower's.
 */
import { dirname } from "node:path";
import { SourceError } from "../errors.ts";
import type {
  Chunk,
  FileId,
  Notice,
  NoticeSink,
  StartAt,
  WatchMode,
} from "../types.ts";
import { expand, parsePattern, type Pattern } from "./discover.ts";
import { Follower, type Position } from "./follow.ts";
import { Holders } from "./identity.ts";
import { KnownFiles } from "./known.ts";
import type { SavedFile } from "./state.ts";
import { stdinChunks } from "./stdin.ts";
import { Merge } from "./merge.ts";
import { chunkBytes } from "./queue.ts";
import { Wakeup, Watcher, type WatcherOptions } from "./watch.ts";

export interface TailOptions {
  /** Path and glob arguments as typed; `-` is standard input. */
  paths: readonly string[];
  /** What `-` reads. @default Deno.stdin.readable */
  stdin?: ReadableStream<Uint8Array>;
  startAt: StartAt;
  /** Poll interval when polling is forced; null to watch events. */
  pollMs: number | null;
  /** Told every notice as it happens (they are in `readable` too, in order). */
  notice?: NoticeSink;
  signal: AbortSignal;
  cwd?: string;
  /** Rotated-away files are closed after this long without new bytes. @default 1000 */
  rotateWaitMs?: number;
  /** Test seam: the watch function. */
  watchFs?: WatcherOptions["watchFs"];
  /** Safety-net poll interval while watching events. @default 1000 */
  safetyPollMs?: number;
  /** Cursors the previous run saved for a path (`--state`). */
  saved?: (source: string) => readonly SavedFile[];
  /** A saved cursor's file is gone for good. */
  onForget?: (source: string, file: FileId) => void;
  /** A rotated-away file was read to its end (`offset`) and closed. */
  onFinish?: (source: string, file: FileId, offset: number) => void;
}

/** What `/healthz` and `/sources` tell about one source. */
export interface SourceStatus {
  /** The name its events carry. */
  readonly source: string;
  /** The file followed; null for a source on no disk. */
  readonly path: string | null;
  /** Where it is in its current file; null while there is none (or no file at all). */
  readonly position: Position | null;
  /** Bytes of read buffer its follower holds. */
  readonly buffered: number;
}

/** A source on no disk, read through its stream; `done` once it stopped and closed what it owns. */
export interface StreamSource {
  readonly readable: ReadableStream<Chunk | Notice>;
  readonly done: Promise<void>;
}

/**
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Tail } from "./tail.ts";
 * import { type Chunk, isMark } from "../types.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.log`, "old\n");
 * const abort = new AbortController();
 * const tail = await Tail.start({
 *   paths: [`${dir}/*.log`], startAt: { kind: "start" }, pollMs: null,
 *   signal: abort.signal,
 * });
 * const reader = tail.readable.getReader();
 * let value = (await reader.read()).value;
 * while (value && isMark(value)) value = (await reader.read()).value;
 * assertEquals(new TextDecoder().decode((value as Chunk).bytes), "old\n");
 * abort.abort();
 * while (!(await reader.read()).done);
 * await tail.done;
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Tail {
  readonly readable: ReadableStream<Chunk | Notice>;
  readonly #options: TailOptions;
  readonly #watcher: Watcher;
  readonly #holders = new Holders();
  readonly #merge = new Merge<Chunk | Notice>(chunkBytes());
  /** The watcher's notices, into the merged stream. */
  #notices!: ReadableStreamDefaultController<Notice>;
  readonly #followers = new Map<string, Follower>();
  /** Paths named literally: followed even while they name nothing. */
  readonly #literal = new Set<string>();
  /** Retired followers still closing. */
  readonly #ending = new Set<Promise<void>>();
  readonly #streams = new Map<string, StreamSource>();
  readonly #scans: Promise<void>[] = [];
  /** The files followed under each path, with their first bytes: what a resume may read, and the fingerprints cursors are saved with. */
  readonly known = new KnownFiles();
  #done: Promise<void> = Promise.resolve();
  /** Resolves once the newest follower has taken its first look. */
  #turn: Promise<void> = Promise.resolve();
  #ready: Promise<void> = Promise.resolve();

  private constructor(options: TailOptions) {
    this.#options = options;
    this.#watcher = new Watcher({
      mode: options.pollMs === null ? "events" : "polling",
      pollMs: options.pollMs ?? undefined,
      safetyPollMs: options.safetyPollMs,
      notice: (n) => {
        options.notice?.(n);
        try {
          this.#notices.enqueue(n);
        } catch {
          // Stopped: nobody reads notices any more.
        }
      },
      watchFs: options.watchFs,
    });
    this.#merge.add(
      new ReadableStream<Notice>({
        start: (controller) => {
          this.#notices = controller;
        },
      }),
    );
    this.readable = this.#merge.readable;
  }

  /** Checks every argument, then starts following. Throws SourceError or ConfigError. */
  static async start(options: TailOptions): Promise<Tail> {
    const cwd = options.cwd ?? Deno.cwd();
    const patterns = options.paths.filter((p) => p !== "-").map((p) =>
      parsePattern(p, cwd)
    );
    for (const pattern of patterns) await check(pattern);
    const tail = new Tail(options);
    tail.#begin(patterns);
    if (options.paths.includes("-")) {
      tail.#merge.add(
        stdinChunks(options.stdin ?? Deno.stdin.readable, options.signal),
      );
    }
    return tail;
  }

  /** How wake-ups come now, and why. */
  get mode(): {
    readonly mode: WatchMode;
    readonly reason: string;
    readonly degraded: boolean;
  } {
    return {
      mode: this.#watcher.mode,
      reason: this.#watcher.reason,
      degraded: this.#watcher.degraded,
    };
  }

  /** Every source and where it is: the followed files, then the sources on no disk. */
  get sources(): SourceStatus[] {
    const files = [...this.#followers.values()].map((f) => ({
      source: f.source,
      path: f.path,
      position: f.position,
      buffered: f.buffered,
    }));
    const others = [...this.#streams.keys()].map((source) => ({
      source,
      path: null,
      position: null,
      buffered: 0,
    }));
    return [...files, ...others];
  }

  /**
   * Follows the file at `path` under the name `source` (an ingest spool),
   * from `startAt` if it exists at the first look (a file that appears
   * later is read from its first byte). Ignored once stopped.
   */
  follow(path: string, source: string, startAt: StartAt): void {
    if (this.#options.signal.aborted) return;
    this.#follow(path, startAt, source);
  }

  /**
   * Adds a source on no disk, named `source` (a command, an ingest ring):
   * its stream is merged with the rest, and stopping waits for `done`.
   */
  add(source: string, input: StreamSource): void {
    if (this.#streams.has(source)) {
      throw new TypeError(`Cannot add source "${source}" twice`);
    }
    this.#streams.set(source, input);
    this.#merge.add(input.readable);
  }

  /** The first bytes of a file being read, if known. */
  headOf(file: FileId): Uint8Array | undefined {
    return this.known.headOf(file);
  }

  /** Resolves once every follower and scan stopped and the watcher is closed. */
  get done(): Promise<void> {
    return this.#done;
  }

  /**
   * Resolves once every file there is at start-up (literal paths and the
   * first matches of every glob) has been read to its end once, or found
   * missing: what tail would print before it starts following.
   */
  get ready(): Promise<void> {
    return this.#ready;
  }

  #begin(patterns: Pattern[]): void {
    const { signal } = this.#options;
    for (const pattern of patterns) {
      if (!pattern.glob) this.#literal.add(pattern.path);
    }
    const expanded: Promise<void>[] = [];
    for (const pattern of patterns) {
      if (pattern.glob) {
        const first = Promise.withResolvers<void>();
        expanded.push(first.promise);
        this.#scans.push(this.#scan(pattern, first.resolve));
      } else this.#follow(pattern.path, this.#options.startAt);
    }
    this.#ready = Promise.all(expanded).then(() => this.#turn);
    this.#done = (async () => {
      if (!signal.aborted) {
        await new Promise((resolve) =>
          signal.addEventListener("abort", resolve, { once: true })
        );
      }
      await Promise.all(this.#scans);
      this.#notices.close();
      this.#merge.close();
      await Promise.all([
        ...[...this.#followers.values()].map((f) => f.done),
        ...this.#ending,
      ]);
      await Promise.all([...this.#streams.values()].map((s) => s.done));
      await this.#watcher.close();
    })();
  }

  #follow(path: string, startAt: StartAt, source = path): void {
    if (this.#followers.has(source)) return;
    this.known.follows(source, path);
    const looked = Promise.withResolvers<void>();
    const wakeup = new InTurn(
      this.#watcher.file(path),
      this.#turn,
      looked.resolve,
    );
    this.#turn = looked.promise;
    const follower = new Follower({
      source,
      path,
      startAt,
      wakeup,
      holders: this.#holders,
      notice: (n) => {
        if (n.kind === "appear") this.known.add(source, n.file, n.from);
        this.#options.notice?.(n);
      },
      signal: this.#options.signal,
      rotateWaitMs: this.#options.rotateWaitMs,
      saved: this.#options.saved?.(source) ?? [],
      onHead: (file, head) => this.known.head(source, file, head),
      onForget: (file) => this.#options.onForget?.(source, file),
      onFinish: (file, offset) =>
        this.#options.onFinish?.(source, file, offset),
    });
    this.#followers.set(source, follower);
    this.#merge.add(follower.readable);
  }

  /**
   * Stops following the files of `pattern` that vanished (nothing under
   * their path, nothing left to drain) and no longer match it, so a glob
   * over short-lived files does not keep a follower for each forever. A
   * path also named literally is waited for, as tail -F does.
   */
  #retire(pattern: Pattern, matched: ReadonlySet<string>): void {
    for (const [path, follower] of this.#followers) {
      if (
        matched.has(path) || !pattern.regex!.test(path) || !follower.idle ||
        this.#literal.has(path)
      ) continue;
      follower.retire();
      this.#followers.delete(path);
      const ending = follower.done.finally(() => this.#ending.delete(ending));
      this.#ending.add(ending);
    }
  }

  /** Re-expands a glob whenever files appear under its base, and follows new matches. */
  async #scan(pattern: Pattern, expanded: () => void): Promise<void> {
    const { signal } = this.#options;
    const wakeup = this.#watcher.tree(pattern.base, pattern.depth > 1);
    const onAbort = () => wakeup.close();
    signal.addEventListener("abort", onAbort, { once: true });
    let startAt = this.#options.startAt;
    try {
      while (!signal.aborted && await wakeup.next()) {
        const matched = await expand(pattern);
        for (const path of matched) {
          if (signal.aborted) break;
          this.#follow(path, startAt);
        }
        this.#retire(pattern, new Set(matched));
        // Files that match after start-up are new: read them whole.
        startAt = { kind: "start" };
        expanded();
      }
    } finally {
      expanded();
      signal.removeEventListener("abort", onAbort);
      wakeup.close();
    }
  }
}

/**
 * A follower's wake-ups whose first one waits until the previous follower
 * has taken its first look (a follower asking for its second wake-up, or
 * closing, has finished its first check: opened the file and read it to its
 * end, or found it missing). A subclass because followers take a Wakeup.
 */
class InTurn extends Wakeup {
  readonly #inner: Wakeup;
  #before: Promise<void> | null;
  readonly #looked: () => void;

  constructor(inner: Wakeup, before: Promise<void>, looked: () => void) {
    super(() => {});
    this.#inner = inner;
    this.#before = before;
    this.#looked = looked;
  }

  override async next(): Promise<boolean> {
    const before = this.#before;
    this.#before = null;
    if (before) await before;
    else this.#looked();
    return await this.#inner.next();
  }

  override wake(membership = true): void {
    this.#inner.wake(membership);
  }

  override takeMembership(): boolean {
    return this.#inner.takeMembership();
  }

  override close(): void {
    this.#looked();
    this.#inner.close();
  }
}

/** Start-up check of one argument: errors the user must fix now, not later. */
async function check(pattern: Pattern): Promise<void> {
  const target = pattern.glob ? pattern.base : pattern.path;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(target);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw sourceError(pattern.arg, target, error);
  }
  if (pattern.glob) {
    if (!info.isDirectory) return;
    try {
      for await (const _ of Deno.readDir(target)) break;
    } catch (error) {
      throw sourceError(pattern.arg, target, error);
    }
    return;
  }
  if (info.isDirectory) {
    const dir = pattern.arg.replace(/\/+$/, "");
    throw new SourceError(
      pattern.arg,
      `Cannot follow "${pattern.arg}": it is a directory (follow the files in it with '${dir}/*.log' or '${dir}/**/*.log')`,
    );
  }
  try {
    (await Deno.open(pattern.path, { read: true })).close();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw sourceError(pattern.arg, pattern.path, error);
  }
}

function sourceError(arg: string, path: string, error: unknown): SourceError {
  if (error instanceof Deno.errors.NotCapable) {
    const dir = dirname(path);
    return new SourceError(
      arg,
      `Cannot follow "${arg}": Deno read permission denied (run with --allow-read=${dir}, or give the binary read access to it)`,
    );
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new SourceError(
      arg,
      `Cannot follow "${arg}": permission denied reading ${path} (grant this user read access, e.g. with chmod or by adding it to the file's group)`,
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SourceError(arg, `Cannot follow "${arg}": ${message}`);
}
