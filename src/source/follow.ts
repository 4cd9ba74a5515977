/**
 * Follower: follows one path the way `tail -F` does and streams its bytes.
 *
 * It owns the open file of the path, its byte offset and its identity, plus
 * the files rotated away from the path that it is still draining. Nobody else
 * seeks, reads or closes them.
 *
 * On every wake-up it (1) drains rotated-away files, closing each once it has
 * been quiet for `rotateWaitMs`; (2) reads the open file from the offset to
 * EOF, and only when there was nothing to read checks it for truncation
 * (size below the offset: restart at 0, report it) — one system call per
 * wake-up on the common path; (3) when the wake-up may have changed which
 * file the path names (a directory event, a poll tick), stats the path: if
 * it now names another file (rename or delete rotation), the open file joins
 * the rotated-away ones (it was just drained, and is drained again on later
 * wake-ups in case its writer is still flushing) and the new file is read
 * from 0. The read buffer grows with what there is to read and shrinks when
 * the file goes quiet, so an idle follower holds little memory. Reading waits while the stream's
 * queue is full, so a slow consumer leaves the data in the file, not in memory.
 * Notices (rotation, truncation, errors…) go into the same stream, in order
 * with the bytes, so nothing downstream sees a rotation before the lines
 * read before it; `notice` is told them too, as they happen.
 */
import { describeError } from "../errors.ts";
import type { Chunk, FileId, Notice, NoticeSink, StartAt } from "../types.ts";
import { fileId, type Holders, sameFile } from "./identity.ts";
import {
  lastLinesOffset,
  lineStartOffset,
  readAt,
  samePrefix,
} from "./bytes.ts";
import { findCopy, planRestore, withHead } from "./recover.ts";
import { bornAt, siblings } from "./replay.ts";
import { FINGERPRINT_BYTES, type SavedFile } from "./state.ts";
import type { Wakeup } from "./watch.ts";
import { chunkBytes } from "./queue.ts";

export interface FollowerOptions {
  /** The source's name, in every chunk and notice: the path, unless it is an ingest spool. */
  source: string;
  /** Absolute path to follow. @default source */
  path?: string;
  /** Where to start in a file that exists at the first check; a file that appears later is read from 0. */
  startAt: StartAt;
  wakeup: Wakeup;
  holders: Holders;
  /** Told every notice as it happens (they are in `readable` too, in order). */
  notice?: NoticeSink;
  signal: AbortSignal;
  /** Bytes read per system call at most. @default 262144 */
  readBytes?: number;
  /** How long a rotated-away file must be quiet before it is closed. @default 1000 */
  rotateWaitMs?: number;
  /** Rotated-away files kept open at most; the oldest is closed beyond it. @default 8 */
  maxRotated?: number;
  /** Bytes queued before reading pauses (a notice counts as one). @default readBytes */
  highWaterMark?: number;
  /** Cursors saved by the previous run for this path (`--state`). */
  saved?: readonly SavedFile[];
  /** Told each file's first bytes (its fingerprint) as they become known. */
  onHead?: (file: FileId, head: Uint8Array) => void;
  /** Told when a saved cursor's file is gone for good. */
  onForget?: (file: FileId) => void;
  /** Told when a rotated-away file was read to its end and closed, at that offset. */
  onFinish?: (file: FileId, offset: number) => void;
}

/** Where a follower is in the file it currently follows. */
export interface Position {
  readonly file: FileId;
  readonly offset: number;
  readonly size: number;
}

interface Reader {
  readonly file: Deno.FsFile;
  readonly id: FileId;
  offset: number;
  size: number;
  quietSince: number;
  /** Creation time (ms): files born between two followed ones were rotated past unseen. */
  born: number;
  /** The file's first bytes and the bytes just before `offset`: how its copy is recognised after copytruncate. */
  head: Uint8Array;
  tail: Uint8Array;
}

/** The read buffer's smallest size (an idle follower's). */
const MIN_READ = 16 * 1024;

/** Bytes kept to recognise a copy of the file (and to fingerprint it, see state.ts). */
const MARK_BYTES = FINGERPRINT_BYTES;
/** First bytes remembered of files already read, to recognise their copies. */
const KNOWN_HEADS = 16;

/**
 * Follows one path; `readable` yields its bytes as {@link Chunk}s.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Follower } from "./follow.ts";
 * import { Holders } from "./identity.ts";
 * import type { Chunk } from "../types.ts";
 * import { Watcher } from "./watch.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.log`, "one\n");
 * const watcher = new Watcher();
 * const abort = new AbortController();
 * const follower = new Follower({
 *   source: `${dir}/a.log`, startAt: { kind: "start" }, holders: new Holders(),
 *   wakeup: watcher.file(`${dir}/a.log`), notice: () => {}, signal: abort.signal,
 * });
 * const reader = follower.readable.getReader();
 * await reader.read(); // the notice that it is followed from byte 0
 * const { value } = await reader.read();
 * assertEquals(new TextDecoder().decode((value as Chunk).bytes), "one\n");
 * abort.abort();
 * while (!(await reader.read()).done);
 * await watcher.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Follower {
  readonly source: string;
  /** The path followed (the source's name, but for an ingest spool). */
  readonly path: string;
  readonly readable: ReadableStream<Chunk | Notice>;
  readonly #startAt: StartAt;
  readonly #wakeup: Wakeup;
  readonly #holders: Holders;
  readonly #observe: NoticeSink;
  readonly #signal: AbortSignal;
  /** The read buffer: sized by what the last reads found, between MIN_READ and #maxRead. */
  #buffer: Uint8Array;
  readonly #maxRead: number;
  readonly #rotateWaitMs: number;
  readonly #maxRotated: number;
  #controller!: ReadableStreamDefaultController<Chunk | Notice>;
  #demand: PromiseWithResolvers<void> | null = null;
  #current: Reader | null = null;
  #rotated: Reader[] = [];
  #first = true;
  #stopped = false;
  #lastProblem = "";
  #missing = false;
  #saved: readonly SavedFile[];
  /** Offset the saved state decided for the file under the path, until it is opened. */
  #restored: number | null = null;
  /** Creation time of the newest file read under the path (null before the first). */
  #lastBorn: number | null = null;
  /**
   * First bytes of files truncated in place here: a sibling starting the
   * same is their copy (copytruncate), not a missed file. Only those: files
   * renamed away are known by identity, and a file rotated away unseen may
   * well start as they did (a spool of identical lines, a banner).
   */
  #heads: Uint8Array[] = [];
  readonly #onHead: (file: FileId, head: Uint8Array) => void;
  readonly #onForget: (file: FileId) => void;
  readonly #onFinish: (file: FileId, offset: number) => void;
  readonly #done: Promise<void>;

  constructor(options: FollowerOptions) {
    this.source = options.source;
    this.path = options.path ?? options.source;
    this.#startAt = options.startAt;
    this.#wakeup = options.wakeup;
    this.#holders = options.holders;
    this.#observe = options.notice ?? (() => {});
    this.#signal = options.signal;
    this.#maxRead = options.readBytes ?? 256 * 1024;
    this.#buffer = new Uint8Array(Math.min(MIN_READ, this.#maxRead));
    this.#rotateWaitMs = options.rotateWaitMs ?? 1000;
    this.#maxRotated = options.maxRotated ?? 8;
    this.#saved = options.saved ?? [];
    this.#onHead = options.onHead ?? (() => {});
    this.#onForget = options.onForget ?? (() => {});
    this.#onFinish = options.onFinish ?? (() => {});
    this.readable = new ReadableStream<Chunk | Notice>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => this.#satisfy(),
        cancel: () => this.#stop(),
      },
      // At most one full read waits downstream: the rest stays in the file.
      chunkBytes(options.highWaterMark ?? this.#maxRead),
    );
    const onAbort = () => this.#stop();
    this.#signal.addEventListener("abort", onAbort, { once: true });
    this.#done = this.#run().finally(() =>
      this.#signal.removeEventListener("abort", onAbort)
    );
  }

  /** The file currently followed and how far it has been read; null while the path names no file. */
  get position(): Position | null {
    const r = this.#current;
    return r ? { file: r.id, offset: r.offset, size: r.size } : null;
  }

  /** Resolves once the follower has stopped and closed its files. */
  get done(): Promise<void> {
    return this.#done;
  }

  /** Bytes of read buffer it holds now (little while its files are quiet). */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Whether the path names no file now and no rotated one is being drained. */
  get idle(): boolean {
    return this.#current === null && this.#rotated.length === 0;
  }

  /** Stops following (a path that no longer matters): its stream ends. */
  retire(): void {
    this.#stop();
  }

  #satisfy(): void {
    const demand = this.#demand;
    this.#demand = null;
    demand?.resolve();
  }

  #stop(): void {
    this.#stopped = true;
    this.#wakeup.close();
    this.#satisfy();
  }

  async #run(): Promise<void> {
    try {
      if (this.#signal.aborted) this.#stop();
      while (!this.#stopped && await this.#wakeup.next()) {
        if (this.#stopped) break;
        try {
          await this.#check(performance.now(), this.#wakeup.takeMembership());
        } catch (error) {
          // A file that cannot be read now is retried on the next wake-up,
          // from the same offset: reported, never fatal.
          this.#problem(`cannot read it: ${describe(error)}`);
        }
      }
    } finally {
      this.#stopped = true;
      this.#wakeup.close();
      for (const r of this.#rotated) this.#close(r);
      this.#rotated = [];
      if (this.#current) this.#close(this.#current);
      this.#current = null;
      try {
        this.#controller.close();
      } catch {
        // Already closed or cancelled by the consumer.
      }
    }
  }

  async #check(noticed: number, membership: boolean): Promise<void> {
    for (const r of [...this.#rotated]) {
      if (await this.#drain(r, noticed) > 0) r.quietSince = performance.now();
      if (this.#stopped) return;
      if (performance.now() - r.quietSince >= this.#rotateWaitMs) {
        this.#finish(r, noticed);
      }
    }
    const current = this.#current;
    // Read first: only a read that finds nothing needs the file's size.
    if (current && await this.#drain(current, noticed) === 0) {
      if (this.#stopped) return;
      const size = (await current.file.stat()).size;
      current.size = size;
      if (size < current.offset) {
        const offset = current.offset;
        this.#remember(current.head);
        const copy = await this.#recoverCopy(current, noticed);
        this.#notice({
          kind: "truncate",
          source: this.source,
          offset,
          size,
          ...(copy ? { copy: copy.path, recovered: copy.bytes } : {}),
        });
        current.offset = 0;
        current.head = new Uint8Array(0);
        current.tail = new Uint8Array(0);
        await current.file.seek(0, Deno.SeekMode.Start);
        await this.#drain(current, noticed);
      }
    }
    if (this.#stopped) return;
    // A change to the bytes of the file it has open cannot change which file
    // the path names: only a directory event or a poll tick can.
    if (current && !membership && this.#saved.length === 0) return;
    const first = this.#first;
    this.#first = false;
    const info = await this.#statPath();
    if (info === undefined) return;
    // Until the saved cursors are applied, nothing under the path is opened.
    if (this.#saved.length > 0 && !await this.#restore(info, noticed)) return;
    if (current && (info === null || !sameFile(current.id, fileId(info)))) {
      const gone = (await current.file.stat()).nlink === 0;
      this.#notice({
        kind: "rotate",
        source: this.source,
        how: gone ? "deleted" : "renamed",
      });
      current.quietSince = performance.now();
      this.#rotated.push(current);
      this.#current = null;
      await this.#catchMissed(info, noticed);
      while (this.#rotated.length > this.#maxRotated) {
        this.#finish(this.#rotated[0], noticed);
      }
    }
    if (this.#current || info === null) return;
    await this.#open(info, first, noticed);
  }

  /** Stat of the path: null when it names nothing, undefined when it cannot be checked now. */
  async #statPath(): Promise<Deno.FileInfo | null | undefined> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        if (!this.#missing && !this.#current) {
          this.#missing = true;
          this.#notice({ kind: "vanish", source: this.source });
        }
        return null;
      }
      this.#problem(`cannot check the path: ${describe(error)}`);
      return undefined;
    }
    this.#missing = false;
    if (!info.isFile) {
      this.#problem(
        "it is not a regular file; give a file, or a glob such as 'dir/*.log'",
      );
      return undefined;
    }
    return info;
  }

  async #open(
    info: Deno.FileInfo,
    first: boolean,
    noticed: number,
  ): Promise<void> {
    const id = fileId(info);
    // Another follower is still draining this file under its old name.
    if (!this.#holders.claim(id, this.path)) return;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.path, { read: true });
    } catch (error) {
      this.#holders.drop(id, this.path);
      if (!(error instanceof Deno.errors.NotFound)) {
        this.#problem(`cannot open it: ${describe(error)}`);
      }
      return;
    }
    const opened = await file.stat();
    if (!sameFile(id, fileId(opened))) {
      // Replaced between stat and open; the next wake-up sees the new one.
      file.close();
      this.#holders.drop(id, this.path);
      return;
    }
    this.#lastProblem = "";
    // Files that came and went under the path since the last one was read.
    await this.#catchMissed(opened, noticed);
    this.#lastBorn = Math.max(this.#lastBorn ?? 0, bornAt(opened));
    const size = opened.size;
    const resume = this.#holders.resumeAt(id, bornAt(opened));
    let offset = 0;
    if (resume !== undefined && resume <= size) {
      offset = resume;
    } else if (this.#restored !== null) {
      offset = Math.min(this.#restored, size);
    } else if (first) {
      offset = await startOffset(file, size, this.#startAt);
    }
    this.#restored = null;
    await file.seek(offset, Deno.SeekMode.Start);
    const reader: Reader = {
      file,
      id,
      offset,
      size,
      born: bornAt(opened),
      quietSince: performance.now(),
      head: new Uint8Array(0),
      tail: new Uint8Array(0),
    };
    if (offset > 0) await this.#mark(reader);
    this.#current = reader;
    this.#notice({
      kind: "appear",
      source: this.source,
      file: id,
      from: offset,
    });
    await this.#drain(reader, noticed);
  }

  /**
   * Files created under the path and rotated away between two checks (a
   * rename faster than the poll): siblings born after the file just
   * rotated away and before the file now under the path. They are read
   * whole, oldest first, like any rotated file.
   */
  async #catchMissed(
    now: Deno.FileInfo | null,
    noticed: number,
  ): Promise<void> {
    const since = this.#lastBorn;
    if (since === null) return;
    const until = now ? bornAt(now) : Infinity;
    // Only names that extend this one (app.log.1, app.log-20261127): a new
    // file of another name is not a rotated copy of this one.
    const prefix = this.path + ".";
    const dated = this.path + "-";
    const missed = (await siblings(this.path))
      .filter((s) =>
        (s.path.startsWith(prefix) || s.path.startsWith(dated)) &&
        s.born > since && s.born < until &&
        !this.#rotated.some((r) => sameFile(r.id, s.file)) &&
        this.#holders.resumeAt(s.file, s.born) === undefined
      )
      .sort((a, b) => a.born - b.born);
    for (const s of missed) {
      const head = (await withHead(s))?.head;
      if (!head || this.#heads.some((h) => samePrefix(h, head))) continue;
      if (!this.#holders.claim(s.file, this.path)) continue;
      let file: Deno.FsFile;
      let stat: Deno.FileInfo;
      try {
        file = await Deno.open(s.path, { read: true });
        stat = await file.stat();
      } catch {
        this.#holders.drop(s.file, this.path);
        continue;
      }
      if (!sameFile(fileId(stat), s.file)) {
        file.close();
        this.#holders.drop(s.file, this.path);
        continue;
      }
      this.#notice({
        kind: "rotate",
        source: this.source,
        how: "renamed",
      });
      this.#notice({
        kind: "appear",
        source: this.source,
        file: s.file,
        from: 0,
      });
      const r: Reader = {
        file,
        id: s.file,
        offset: 0,
        size: stat.size,
        born: bornAt(stat),
        quietSince: performance.now(),
        head: new Uint8Array(0),
        tail: new Uint8Array(0),
      };
      this.#lastBorn = Math.max(this.#lastBorn ?? 0, r.born);
      this.#rotated.push(r);
      await this.#drain(r, noticed);
    }
  }

  #remember(head: Uint8Array): void {
    if (head.length === 0 || this.#heads.some((h) => samePrefix(h, head))) {
      return;
    }
    this.#heads.push(head);
    if (this.#heads.length > KNOWN_HEADS) this.#heads.shift();
  }

  /**
   * First check with cursors saved by the previous run: drain the rotated
   * files they point to (found by identity and fingerprint among the
   * path's siblings) and decide where the file under the path resumes.
   */
  async #restore(
    info: Deno.FileInfo | null,
    noticed: number,
  ): Promise<boolean> {
    const saved = this.#saved;
    const plan = await planRestore(this.path, saved, info, describe);
    if (plan.kind === "retry") {
      this.#problem(plan.problem);
      return false;
    }
    this.#saved = [];
    const decision = plan.decision;
    for (const note of decision.notes) {
      if (note.kind === "vanish") this.#onForget(note.file);
      this.#notice({
        kind: "gap",
        source: this.source,
        offset: note.offset,
        bytes: note.bytes,
        cause: note.cause,
      });
    }
    for (const d of decision.drain) {
      if (!this.#holders.claim(d.file, this.path)) continue;
      let file: Deno.FsFile;
      try {
        file = await Deno.open(d.path, { read: true });
        if (!sameFile(fileId(await file.stat()), d.file)) {
          file.close();
          this.#holders.drop(d.file, this.path);
          continue;
        }
      } catch {
        this.#holders.drop(d.file, this.path);
        continue;
      }
      const stat = await file.stat();
      const r: Reader = {
        file,
        id: d.file,
        offset: d.offset,
        size: stat.size,
        born: bornAt(stat),
        quietSince: performance.now(),
        head: new Uint8Array(0),
        tail: new Uint8Array(0),
      };
      await this.#mark(r);
      this.#notice({
        kind: "appear",
        source: this.source,
        file: d.file,
        from: d.offset,
      });
      // Files rotated after this one while tailcast was down are read next.
      this.#lastBorn = Math.max(this.#lastBorn ?? 0, r.born);
      this.#rotated.push(r);
      await this.#drain(r, noticed);
    }
    this.#restored = decision.offset;
    return true;
  }

  /**
   * Reads `r` from its offset to EOF, waiting while the queue is full; a
   * short read is taken as EOF (more bytes wake it again). Returns bytes read.
   */
  async #drain(r: Reader, noticed: number): Promise<number> {
    let total = 0;
    while (!this.#stopped) {
      await this.#room();
      if (this.#stopped) break;
      const buffer = this.#buffer;
      const n = await r.file.read(buffer);
      if (n === null || n === 0) break;
      const bytes = buffer.slice(0, n);
      this.#controller.enqueue({
        source: this.source,
        file: r.id,
        offset: r.offset,
        bytes,
        noticed,
      });
      if (remember(r, bytes)) this.#onHead(r.id, r.head);
      r.offset += n;
      total += n;
      if (n < buffer.length) break;
      // A full buffer: there is more; read bigger.
      if (buffer.length < this.#maxRead) {
        this.#buffer = new Uint8Array(
          Math.min(buffer.length * 2, this.#maxRead),
        );
      }
    }
    if (r.offset > r.size) r.size = r.offset;
    // Quiet again: give the big buffer back.
    if (total < this.#buffer.length / 4 && this.#buffer.length > MIN_READ) {
      this.#buffer = new Uint8Array(
        Math.max(MIN_READ, this.#buffer.length / 2),
      );
    }
    return total;
  }

  /** Reads the head and tail marks of a file opened past its start. */
  async #mark(r: Reader): Promise<void> {
    r.head = await readAt(r.file, 0, Math.min(MARK_BYTES, r.offset));
    this.#onHead(r.id, r.head);
    const from = Math.max(0, r.offset - MARK_BYTES);
    r.tail = await readAt(r.file, from, r.offset - from);
    await r.file.seek(r.offset, Deno.SeekMode.Start);
  }

  /**
   * copytruncate: before the file restarts at 0, finds the copy just made
   * (a sibling whose first bytes and bytes before our offset are ours) and
   * reads what it holds past our offset, as the rest of this file.
   */
  async #recoverCopy(
    r: Reader,
    noticed: number,
  ): Promise<{ path: string; bytes: number } | null> {
    const copy = await findCopy(this.path, r);
    if (!copy) return null;
    const start = r.offset;
    try {
      await copy.file.seek(start, Deno.SeekMode.Start);
      while (r.offset < copy.size && !this.#stopped) {
        await this.#room();
        const want = Math.min(this.#buffer.length, copy.size - r.offset);
        const n = await copy.file.read(this.#buffer.subarray(0, want));
        if (n === null || n === 0) break;
        this.#controller.enqueue({
          source: this.source,
          file: r.id,
          offset: r.offset,
          bytes: this.#buffer.slice(0, n),
          noticed,
        });
        r.offset += n;
      }
    } catch {
      // The copy went away while being read: what was read stands.
    } finally {
      copy.file.close();
    }
    return { path: copy.path, bytes: r.offset - start };
  }

  async #room(): Promise<void> {
    while (!this.#stopped && (this.#controller.desiredSize ?? 0) <= 0) {
      this.#demand ??= Promise.withResolvers<void>();
      await this.#demand.promise;
    }
  }

  /** A rotated-away file is done: say so downstream, give it up, close it. */
  #finish(r: Reader, noticed: number): void {
    this.#rotated = this.#rotated.filter((x) => x !== r);
    try {
      this.#controller.enqueue({
        source: this.source,
        file: r.id,
        offset: r.offset,
        bytes: new Uint8Array(0),
        noticed,
        end: true,
      });
    } catch {
      // The consumer is gone; nothing to tell it.
    }
    this.#onFinish(r.id, r.offset);
    this.#close(r);
  }

  #close(r: Reader): void {
    let renamed = false;
    try {
      renamed = (r.file.statSync().nlink ?? 1) > 0;
    } catch {
      renamed = false;
    }
    // A deleted file's inode may be reused, so only a file still on disk keeps its offset.
    if (renamed) this.#holders.release(r.id, this.path, r.offset, r.born);
    else this.#holders.drop(r.id, this.path);
    try {
      r.file.close();
    } catch {
      // Already closed.
    }
  }

  /** Puts a notice into the stream, after the bytes read so far, and tells the observer. */
  #notice(notice: Notice): void {
    this.#observe(notice);
    try {
      this.#controller.enqueue(notice);
    } catch {
      // The consumer is gone; nothing to tell it.
    }
  }

  /** Reports a problem once until it changes, so a poll loop does not flood stderr. */
  #problem(message: string): void {
    if (message === this.#lastProblem) return;
    this.#lastProblem = message;
    this.#notice({ kind: "error", source: this.source, message });
  }
}

/** Keeps the head and tail marks of a reader up to date with bytes just read; true when the head grew. */
function remember(r: Reader, bytes: Uint8Array): boolean {
  let grew = false;
  if (r.offset < MARK_BYTES && r.head.length === r.offset) {
    const head = new Uint8Array(Math.min(MARK_BYTES, r.offset + bytes.length));
    head.set(r.head);
    head.set(bytes.subarray(0, head.length - r.head.length), r.head.length);
    r.head = head;
    grew = true;
  }
  if (bytes.length >= MARK_BYTES) {
    r.tail = bytes.slice(bytes.length - MARK_BYTES);
  } else {
    const keep = Math.min(r.tail.length, MARK_BYTES - bytes.length);
    const tail = new Uint8Array(keep + bytes.length);
    tail.set(r.tail.subarray(r.tail.length - keep));
    tail.set(bytes, keep);
    r.tail = tail;
  }
  return grew;
}

/** Offset to start reading a file that existed at start-up. */
export async function startOffset(
  file: Deno.FsFile,
  size: number,
  startAt: StartAt,
): Promise<number> {
  switch (startAt.kind) {
    case "start":
      return 0;
    case "end":
      return size;
    case "lines":
      return await lastLinesOffset(file, size, startAt.count);
    case "fromLine":
      return await lineStartOffset(file, size, startAt.line);
    case "bytes":
      return Math.max(0, size - startAt.count);
    case "fromByte":
      return Math.min(size, Math.max(0, startAt.byte - 1));
    default: {
      const never: never = startAt;
      throw new TypeError(`Unknown start position ${JSON.stringify(never)}`);
    }
  }
}

function describe(error: unknown): string {
  return describeError(error, {
    denied: "run with --allow-read for its directory",
    os: "check the file's mode and owner",
  });
}
