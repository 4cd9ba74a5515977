/**
 * Journal: the order in which tailcast published, as a bounded ring of small
 * entries — a batch of one file's events (its byte range, not its bytes: the
 * file holds those) or a notice or alert (kept whole: they are on no disk).
 * Each entry has a sequence number. An event's SSE id names its batch and
 * its end offset (see cursor.ts), the same id for every subscriber, so its
 * frame is encoded once for all of them; a client that comes back with it
 * is replayed the entries after it, in the order they were published (byte
 * ranges read back from the files), and then goes live, with no gap and no
 * duplicate: the journal's head is read in the same tick as the subscription
 * is made.
 *
 * The newest batches themselves are kept too, up to `recent` events, so a
 * subscriber that fell a little behind (its queue overflowed) or reconnects
 * at once is sent the shared bytes again instead of reading and parsing the
 * files once more for itself.
 *
 * Memory: `capacity` entries of fixed size (about 40 bytes each, plus the
 * notices and alerts in it), and the recent batches; an entry older than the
 * window is gone, and a client behind it is told so with a gap (or resumed
 * from the file positions its id carries).
 */
import {
  type Alert,
  END,
  type Event,
  type FileId,
  type Notice,
  type ResumeCursor,
} from "../types.ts";
import { fileKey, sameFile } from "../source/identity.ts";
import { Batch } from "./batch.ts";
import { entries, MAX_ID_BYTES, pathHash, positionId } from "./cursor.ts";
import { Positions } from "./positions.ts";

/** Entries kept by default. */
export const DEFAULT_JOURNAL_CAPACITY = 262_144;
/** Events of the newest batches kept in memory by default. */
export const DEFAULT_RECENT_EVENTS = 16_384;

/** File entries an id carries at most, so it stays within {@link MAX_ID_BYTES}. */
const MAX_FALLBACK_ENTRIES = 7;

/** A notice or alert as published, with its sequence number. */
export interface Published {
  readonly seq: number;
  readonly message:
    | { readonly type: "notice"; readonly notice: Notice }
    | { readonly type: "alert"; readonly alert: Alert };
}

/** One step of a replay from the journal, in publish order. */
export type ReplayStep =
  | {
    /** A batch still in memory: its events past `after` (an end offset). */
    readonly kind: "batch";
    readonly seq: number;
    readonly batch: Batch;
    readonly after: number;
  }
  | {
    readonly kind: "range";
    readonly seq: number;
    readonly source: string;
    readonly file: FileId;
    /** Bytes [from, to) of the file held the batch's events. */
    readonly from: number;
    readonly to: number;
    readonly lines: number;
    /** Lines on no disk (standard input, a command, an ingest ring): a range of them cannot be replayed. */
    readonly unstored: boolean;
  }
  | ({ readonly kind: "message" } & Published)
  | {
    /** Entries from `seq` on left the window while the replay was behind them. */
    readonly kind: "expired";
    readonly seq: number;
  };

/**
 * What a subscriber is replayed from: the order things were published in,
 * numbered (the SSE ids name positions in it). The journal is one; a NATS
 * JetStream stream read by a gateway can be another.
 */
export interface ReplayLog {
  /** Names the numbering: an id of another epoch is not a position here. */
  readonly epoch: string;
  /** The newest position: what a new subscriber's replay runs up to. */
  readonly head: number;
  /** Whether what came after `seq`/`end` of `epoch` can still be replayed. */
  holds(epoch: string, seq: number, end?: number): boolean;
  /** The entries after `after`, up to and including `until`, in order. */
  replay(
    after: { seq: number; end: number },
    until: number,
  ): Iterable<ReplayStep> | AsyncIterable<ReplayStep>;
  /** The published positions in the files of the paths `wanted` selects. */
  seam(wanted?: (source: string) => boolean): ResumeCursor;
  /**
   * A log that keeps no files (a stream read by a gateway) answers
   * `backlog=` itself: the last `lines` events of each source `wanted`
   * selects, up to position `until`, as `batch` steps in order. The
   * journal has none: a backlog is read from the files.
   */
  backlog?(
    lines: number,
    wanted: (source: string) => boolean,
    until: number,
  ): Iterable<ReplayStep> | AsyncIterable<ReplayStep>;
  /**
   * Whether position `seq` of `epoch` is past the head but will be reached:
   * a gateway that has not read its stream as far as another one, whose
   * client comes over. Such a client is sent, live, only what comes after
   * its position. The journal has none: no id is ahead of its own head.
   */
  ahead?(epoch: string, seq: number): boolean;
  /**
   * Whether position `seq` exists (or will: it is within what the log has
   * heard of, or what it asks its source now), for a client found
   * {@link ahead}: a position nobody published (a forged id) gets a gap
   * instead of a client waiting for it forever.
   */
  reaches?(seq: number): Promise<boolean>;
}

export interface JournalOptions {
  /** Entries kept. @default DEFAULT_JOURNAL_CAPACITY */
  capacity?: number;
  /** The process's epoch in ids. @default random */
  epoch?: string;
  /** The identity of lines on no disk (`UNSTORED`): they get no file position. */
  unstored?: FileId;
  /** Events of the newest batches kept in memory. @default DEFAULT_RECENT_EVENTS */
  recent?: number;
  /**
   * The entry numbering starts after: a copy of another journal (a pool
   * worker's) made once it had entries, which this one does not hold.
   * @default 0
   */
  start?: number;
}

interface FileRef {
  readonly source: string;
  readonly file: FileId;
  /** Newest entry naming it: when the window passes it, the ref is forgotten. */
  last: number;
}

const BATCH = 0;
const MESSAGE = 1;

/**
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Journal } from "./journal.ts";
 * import { END, FILE } from "../types.ts";
 * const journal = new Journal({ epoch: "e" });
 * const file = { dev: 1, ino: 2 };
 * const event = (offset: number, end: number) => ({
 *   id: "", source: "/a.log", offset, line: "x", time: "", [FILE]: file, [END]: end,
 * });
 * const batch = journal.batch("/a.log", file, [event(0, 2), event(2, 4)]);
 * assertEquals(batch.id(1), "2.e.1.4~1lr67t1.1.2.4");
 * // Resumed after the first event: the rest of the batch, still in memory.
 * const [step] = journal.replay({ seq: 1, end: 2 }, journal.head);
 * assertEquals(step.kind === "batch" && step.after, 2);
 * ```
 */
export class Journal implements ReplayLog {
  readonly epoch: string;
  readonly capacity: number;
  /** How far each file's events were published: the seam and the ids' file entries. */
  readonly positions = new Positions();
  readonly #kind: Uint8Array;
  readonly #ref: Int32Array;
  readonly #from: Float64Array;
  readonly #to: Float64Array;
  readonly #lines: Uint32Array;
  readonly #messages: (Published["message"] | undefined)[];
  readonly #refs = new Map<number, FileRef>();
  readonly #refOf = new Map<string, number>();
  readonly #unstored: FileId | null;
  /** The newest batches, oldest first, and the events they hold. */
  readonly #recent = new Map<number, Batch>();
  readonly #recentMax: number;
  #recentEvents = 0;
  #nextRef = 0;
  #head: number;
  /** The first entry this journal holds (after `start`). */
  readonly #first: number;
  #hashes = new Map<string, string>();

  constructor(options: JournalOptions = {}) {
    const capacity = options.capacity ?? DEFAULT_JOURNAL_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot keep a journal of ${capacity} entries: use a whole number of at least 1`,
      );
    }
    this.capacity = capacity;
    this.epoch = options.epoch ??
      crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
    this.#unstored = options.unstored ?? null;
    this.#recentMax = options.recent ?? DEFAULT_RECENT_EVENTS;
    this.#head = options.start ?? 0;
    this.#first = this.#head + 1;
    this.#kind = new Uint8Array(capacity);
    this.#ref = new Int32Array(capacity);
    this.#from = new Float64Array(capacity);
    this.#to = new Float64Array(capacity);
    this.#lines = new Uint32Array(capacity);
    this.#messages = new Array(capacity);
  }

  /** Events of the newest batches kept in memory. */
  get recent(): number {
    return this.#recentMax;
  }

  /** Sequence number of the newest entry; 0 before the first. */
  get head(): number {
    return this.#head;
  }

  /** Sequence number of the oldest entry still kept. */
  get tail(): number {
    return Math.max(this.#first, this.#head - this.capacity + 1);
  }

  /** Appends a batch of `source`'s events from `file` (in order, non-empty). */
  batch(source: string, file: FileId, events: readonly Event[]): Batch {
    const seq = this.#head + 1;
    const unstored = this.#isUnstored(file);
    let others: string | null = null;
    let own: string | null = null;
    if (!unstored) {
      // The fallback entries name the positions with this batch published.
      this.positions.advance(source, file, events[events.length - 1][END]);
      others = this.#fallback(source, file);
      own = `~${this.#hash(source)}.${file.dev.toString(36)}.${
        file.ino.toString(36)
      }.`;
      const longest = positionId(this.epoch, seq, Number.MAX_SAFE_INTEGER)
        .length + (others?.length ?? Infinity) + own.length + 11;
      if (longest > MAX_ID_BYTES) others = own = null;
    }
    const batch = new Batch(seq, source, file, events, {
      prefix: `2.${this.epoch}.${seq.toString(36)}.`,
      others,
      own,
    });
    this.#record(batch);
    return batch;
  }

  /**
   * Appends a batch another journal of this epoch made (a pool worker's copy
   * of the reader's journal): it must be the next entry.
   */
  copyBatch(batch: Batch): void {
    if (batch.seq !== this.#head + 1) {
      throw new RangeError(
        `Cannot copy entry ${batch.seq} into a journal whose head is ${this.#head}: entries are copied in order`,
      );
    }
    if (!this.#isUnstored(batch.file)) {
      this.positions.advance(batch.source, batch.file, batch.to);
    }
    this.#record(batch);
  }

  #record(batch: Batch): void {
    const seq = this.#append(BATCH);
    const at = seq % this.capacity;
    this.#ref[at] = this.#refFor(batch.source, batch.file, seq);
    this.#from[at] = batch.from;
    this.#to[at] = batch.to;
    this.#lines[at] = batch.count;
    this.#keep(batch);
  }

  #isUnstored(file: FileId): boolean {
    return this.#unstored !== null && sameFile(file, this.#unstored);
  }

  #keep(batch: Batch): void {
    if (this.#recentMax === 0) return;
    this.#recent.set(batch.seq, batch);
    this.#recentEvents += batch.count;
    while (this.#recentEvents > this.#recentMax && this.#recent.size > 1) {
      const [seq, old] = this.#recent.entries().next().value!;
      this.#recent.delete(seq);
      this.#recentEvents -= old.count;
    }
  }

  /** Appends a notice or alert; returns its sequence number and the SSE id of the position after it. */
  message(message: Published["message"]): { seq: number; id: string } {
    const seq = this.#append(MESSAGE);
    this.#recordMessage(seq, message);
    const base = positionId(this.epoch, seq, 0);
    const others = this.#fallback(null, null);
    const id = others !== null && base.length + others.length <= MAX_ID_BYTES
      ? base + others
      : base;
    return { seq, id };
  }

  /** Appends a notice or alert another journal of this epoch numbered `seq` (the next entry). */
  copyMessage(seq: number, message: Published["message"]): void {
    if (seq !== this.#head + 1) {
      throw new RangeError(
        `Cannot copy entry ${seq} into a journal whose head is ${this.#head}: entries are copied in order`,
      );
    }
    this.#recordMessage(this.#append(MESSAGE), message);
  }

  #recordMessage(seq: number, message: Published["message"]): void {
    this.#messages[seq % this.capacity] = message;
    if (message.type === "notice" && message.notice.kind === "appear") {
      const n = message.notice;
      this.positions.appear(n.source, n.file, n.from);
    }
  }

  /**
   * The entries after position `after` (a batch seq and an end offset in
   * it, or a message seq), up to and including `until`, in order. An entry
   * that leaves the window before it is reached yields one `expired` step,
   * and the replay ends there.
   */
  *replay(
    after: { seq: number; end: number },
    until: number,
  ): Generator<ReplayStep, void, void> {
    let seq = after.seq;
    if (!this.#covers(after)) {
      yield { kind: "expired", seq };
      return;
    }
    // The batch the position is in: the rest of it after `end`.
    const at = seq % this.capacity;
    if (
      seq >= this.#first && seq <= this.#head && this.#kind[at] === BATCH &&
      after.end < this.#to[at]
    ) {
      const step = this.#range(seq, after.end);
      if (step) yield step;
    }
    for (seq = seq + 1; seq <= until; seq++) {
      if (seq < this.tail) {
        yield { kind: "expired", seq };
        return;
      }
      const i = seq % this.capacity;
      if (this.#kind[i] === MESSAGE) {
        yield { kind: "message", seq, message: this.#messages[i]! };
      } else {
        const step = this.#range(seq, this.#from[i]);
        if (step) yield step;
      }
    }
  }

  /** Whether the journal can replay what came after position `seq`/`end` of this process's `epoch`. */
  holds(epoch: string, seq: number, end = Infinity): boolean {
    return epoch === this.epoch && seq <= this.#head &&
      this.#covers({ seq, end });
  }

  /**
   * Whether everything after position `at` is still here: the entries after
   * it are, and so is its own (unless the position is past all of it).
   */
  #covers(at: { seq: number; end: number }): boolean {
    const tail = this.tail;
    return at.seq >= tail || (at.seq === tail - 1 && at.end === Infinity);
  }

  /** A copy of the published positions of the paths `wanted` selects. */
  seam(wanted: (source: string) => boolean = () => true): ResumeCursor {
    return this.positions.snapshot(wanted);
  }

  /**
   * The file entries of every published position but `file`'s under
   * `source`, while there are few enough to fit in an id (else null): the
   * cursor to fall back on when this journal is gone (a restart) or has
   * moved on.
   */
  #fallback(source: string | null, file: FileId | null): string | null {
    if (this.positions.count > MAX_FALLBACK_ENTRIES) return null;
    let out = "";
    for (const [path, list] of this.positions.all) {
      const rest = path === source && file !== null
        ? list.filter((p) => !sameFile(p.file, file))
        : list;
      out += entries(this.#hash(path), rest);
    }
    return out;
  }

  #range(seq: number, from: number): ReplayStep | null {
    const batch = this.#recent.get(seq);
    if (batch) return { kind: "batch", seq, batch, after: from };
    const i = seq % this.capacity;
    const ref = this.#refs.get(this.#ref[i]);
    if (!ref) return null;
    return {
      kind: "range",
      seq,
      source: ref.source,
      file: ref.file,
      from,
      to: this.#to[i],
      lines: this.#lines[i],
      unstored: this.#isUnstored(ref.file),
    };
  }

  #append(kind: number): number {
    const seq = ++this.#head;
    const at = seq % this.capacity;
    if (seq > this.capacity) {
      // The entry it replaces leaves the window: forget what only it named.
      const old = seq - this.capacity;
      if (this.#kind[at] === BATCH) {
        const ref = this.#refs.get(this.#ref[at]);
        if (ref && ref.last === old) {
          this.#refs.delete(this.#ref[at]);
          this.#refOf.delete(fileKey(ref.source, ref.file));
        }
      }
      this.#messages[at] = undefined;
    }
    this.#kind[at] = kind;
    return seq;
  }

  #refFor(source: string, file: FileId, seq: number): number {
    const key = fileKey(source, file);
    let ref = this.#refOf.get(key);
    if (ref === undefined) {
      ref = this.#nextRef++;
      this.#refOf.set(key, ref);
      this.#refs.set(ref, { source, file, last: seq });
    } else {
      this.#refs.get(ref)!.last = seq;
    }
    return ref;
  }

  #hash(path: string): string {
    let h = this.#hashes.get(path);
    if (h === undefined) {
      if (this.#hashes.size >= 4096) this.#hashes.clear();
      this.#hashes.set(path, h = pathHash(path));
    }
    return h;
  }
}
