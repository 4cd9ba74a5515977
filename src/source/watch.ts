/**
 * Wake-ups: turns filesystem events and poll ticks into coalesced
 * "path X may have changed" signals. Owns every `Deno.FsWatcher` and the
 * poll timer; never reads file data.
 *
 * Directories are watched, not files: a watch on a file follows its inode
 * and goes blind after rename rotation. Events are only hints (they carry no
 * byte counts, merge under load, and overflow into a single `rescan`), so the
 * reader always reads from its offset to EOF, and a slow stat poll runs even
 * in event mode as a safety net. When watching fails (watch limit, a sandbox
 * that denies it), every wake-up comes from polling instead.
 */
import { dirname } from "node:path";
import type { NoticeSink, WatchMode } from "../types.ts";

export interface WatcherOptions {
  /** `events` watches with `Deno.watchFs` and falls back to polling; `polling` never watches. @default "events" */
  mode?: WatchMode;
  /** Poll interval in ms while polling. @default 250 */
  pollMs?: number;
  /** Safety-net poll interval in ms while watching events. @default 1000 */
  safetyPollMs?: number;
  notice?: NoticeSink;
  /** The watch function; tests pass one that fails. @default Deno.watchFs */
  watchFs?: (path: string, options: { recursive: boolean }) => Deno.FsWatcher;
}

/**
 * A coalesced wake-up flag: many changes before `next()` is awaited count
 * once. It also says whether a change may have been to which file the path
 * names (a create, rename or removal in its directory, a poll tick, a
 * rescan) rather than to the bytes of the file it names (a modify): only
 * then must the path itself be looked at again.
 */
export class Wakeup {
  #dirty = true;
  #membership = true;
  #closed = false;
  #waiter: PromiseWithResolvers<boolean> | null = null;
  readonly #onClose: (w: Wakeup) => void;

  constructor(onClose: (w: Wakeup) => void) {
    this.#onClose = onClose;
  }

  /** Resolves `true` when something may have changed (at once the first time), `false` once closed. */
  next(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#dirty) {
      this.#dirty = false;
      return Promise.resolve(true);
    }
    this.#waiter ??= Promise.withResolvers<boolean>();
    return this.#waiter.promise;
  }

  /**
   * Whether a change since the last call may have been to which file the
   * path names (true the first time); clears it.
   */
  takeMembership(): boolean {
    const m = this.#membership;
    this.#membership = false;
    return m;
  }

  /** Marks the flag; wakes a pending `next()`. `membership`: see the class. */
  wake(membership = true): void {
    if (this.#closed) return;
    if (membership) this.#membership = true;
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = null;
      w.resolve(true);
    } else {
      this.#dirty = true;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter?.resolve(false);
    this.#waiter = null;
    this.#onClose(this);
  }
}

interface DirWatch {
  recursive: boolean;
  fs: Deno.FsWatcher | null;
  ino: number | null;
  loop: Promise<void> | null;
}

interface Tree {
  readonly dir: string;
  readonly recursive: boolean;
  readonly wakeup: Wakeup;
}

/** Kinds that change which files exist; a glob rescans only on these. */
const MEMBERSHIP = new Set(["create", "remove", "rename", "any", "other"]);

/**
 * Hands out wake-ups for files and directory trees.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Watcher } from "./watch.ts";
 * const dir = await Deno.makeTempDir();
 * const watcher = new Watcher();
 * const wakeup = watcher.file(`${dir}/app.log`);
 * assertEquals(await wakeup.next(), true); // the first call never waits
 * await Deno.writeTextFile(`${dir}/app.log`, "hi\n");
 * assertEquals(await wakeup.next(), true);
 * await watcher.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Watcher {
  #mode: WatchMode;
  readonly #pollMs: number;
  readonly #safetyPollMs: number;
  readonly #notice: NoticeSink;
  readonly #watchFs: (
    path: string,
    options: { recursive: boolean },
  ) => Deno.FsWatcher;
  readonly #dirs = new Map<string, DirWatch>();
  readonly #files = new Map<string, Set<Wakeup>>();
  readonly #trees = new Set<Tree>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #ticking = false;
  #closed = false;
  #reason = "";
  #degraded = false;

  constructor(options: WatcherOptions = {}) {
    this.#mode = options.mode ?? "events";
    this.#pollMs = options.pollMs ?? 250;
    this.#safetyPollMs = options.safetyPollMs ?? 1000;
    this.#notice = options.notice ?? (() => {});
    this.#watchFs = options.watchFs ??
      ((path, opts) => Deno.watchFs(path, opts));
    this.#reason = this.#mode === "polling"
      ? "polling was asked for (--poll)"
      : "watching directories for filesystem events";
    this.#startTimer();
  }

  /** `events` while filesystem events drive wake-ups, `polling` otherwise. */
  get mode(): WatchMode {
    return this.#mode;
  }

  /** True when watching failed and polling took over (not when polling was asked for). */
  get degraded(): boolean {
    return this.#degraded;
  }

  /** Why the current mode is in force, for health reports. */
  get reason(): string {
    return this.#reason;
  }

  /** Wake-ups for one file path (its parent directory is watched). */
  file(path: string): Wakeup {
    const wakeup = new Wakeup((w) => this.#files.get(path)?.delete(w));
    let set = this.#files.get(path);
    if (!set) this.#files.set(path, set = new Set());
    set.add(wakeup);
    this.#ensure(dirname(path), false);
    return wakeup;
  }

  /** Wake-ups when files appear or vanish under `dir` (below it too, if recursive). */
  tree(dir: string, recursive: boolean): Wakeup {
    const wakeup = new Wakeup(() => this.#trees.delete(tree));
    const tree: Tree = { dir, recursive, wakeup };
    this.#trees.add(tree);
    this.#ensure(dir, recursive);
    return wakeup;
  }

  /** Closes every watch, the timer and every wake-up. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    const loops: Promise<void>[] = [];
    for (const watch of this.#dirs.values()) {
      if (watch.loop) loops.push(watch.loop);
      this.#disarm(watch);
    }
    this.#dirs.clear();
    for (const set of [...this.#files.values()]) {
      for (const w of [...set]) w.close();
    }
    for (const tree of [...this.#trees]) tree.wakeup.close();
    await Promise.all(loops);
  }

  #startTimer(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    const ms = this.#mode === "events" ? this.#safetyPollMs : this.#pollMs;
    this.#timer = setInterval(() => this.#tick(), ms);
  }

  #ensure(dir: string, recursive: boolean): void {
    const existing = this.#dirs.get(dir);
    if (existing && (existing.recursive || !recursive)) return;
    if (existing) this.#disarm(existing);
    const watch: DirWatch = { recursive, fs: null, ino: null, loop: null };
    this.#dirs.set(dir, watch);
    if (this.#mode === "events") this.#arm(dir, watch);
  }

  /** Starts watching `dir`; a missing directory is retried on every poll tick. */
  #arm(dir: string, watch: DirWatch): boolean {
    let fs: Deno.FsWatcher;
    try {
      fs = this.#watchFs(dir, { recursive: watch.recursive });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      this.#fallBack(`watching ${dir} failed: ${message(error)}`);
      return false;
    }
    watch.fs = fs;
    try {
      watch.ino = Deno.statSync(dir).ino;
    } catch {
      watch.ino = null;
    }
    watch.loop = this.#drain(dir, fs);
    // Changes made before the watch existed are caught by reading to EOF now.
    this.#wakeAll();
    return true;
  }

  #disarm(watch: DirWatch): void {
    const fs = watch.fs;
    watch.fs = null;
    watch.ino = null;
    if (fs) {
      try {
        fs.close();
      } catch {
        // Already closed by its own loop ending.
      }
    }
  }

  /** Reads events promptly and never awaits slow work, so the kernel queue does not overflow. */
  async #drain(dir: string, fs: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of fs) {
        if (event.flag === "rescan") {
          this.#wakeAll();
          continue;
        }
        const membership = MEMBERSHIP.has(event.kind);
        for (const path of event.paths) {
          const set = this.#files.get(path);
          if (set) { for (const w of set) w.wake(membership); }
          if (membership) this.#wakeTrees(path);
        }
        if (event.paths.length === 0) this.#wakeAll();
      }
    } catch (error) {
      if (!this.#closed && this.#dirs.get(dir)?.fs === fs) {
        this.#fallBack(`the watch on ${dir} failed: ${message(error)}`);
      }
    }
  }

  #wakeTrees(path: string): void {
    for (const tree of this.#trees) {
      const inside = tree.recursive
        ? path.startsWith(tree.dir.endsWith("/") ? tree.dir : tree.dir + "/")
        : dirname(path) === tree.dir;
      if (inside || path === tree.dir) tree.wakeup.wake();
    }
  }

  #wakeAll(): void {
    for (const set of this.#files.values()) for (const w of set) w.wake();
    for (const tree of this.#trees) tree.wakeup.wake();
  }

  /** Watching no longer works: every wake-up comes from the poll timer from now on. */
  #fallBack(reason: string): void {
    if (this.#mode === "polling" || this.#closed) return;
    this.#mode = "polling";
    this.#degraded = true;
    this.#reason = `${reason}; polling every ${this.#pollMs} ms instead`;
    for (const watch of this.#dirs.values()) this.#disarm(watch);
    this.#startTimer();
    this.#notice({ kind: "mode", mode: "polling", reason: this.#reason });
    this.#wakeAll();
  }

  #tick(): void {
    this.#wakeAll();
    if (this.#mode !== "events" || this.#ticking) return;
    this.#ticking = true;
    try {
      for (const [dir, watch] of this.#dirs) {
        if (this.#mode !== "events") break;
        let ino: number | null = null;
        try {
          ino = Deno.statSync(dir).ino;
        } catch {
          ino = null;
        }
        // A directory that was removed or replaced needs a fresh watch.
        if (watch.fs && ino !== watch.ino) this.#disarm(watch);
        if (!watch.fs && ino !== null) this.#arm(dir, watch);
      }
    } finally {
      this.#ticking = false;
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
