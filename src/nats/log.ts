/**
 * StreamLog: a NATS JetStream stream as the log SSE subscribers are
 * replayed from (see `ReplayLog` in `../sink/journal.ts`), on a gateway.
 *
 * Positions are stream sequences: a message's events have the SSE ids
 * `2.<epoch>.<seq>.<end>`, `end` being the event's end offset in its file,
 * and `<epoch>` naming the stream (its name and creation time). Every
 * gateway reading the stream makes the same ids, so a client that comes to
 * another gateway with `Last-Event-ID` is replayed exactly what came after.
 *
 * The newest messages are kept in memory (up to `memory` events), decoded
 * and shared with every subscriber; a replay from further back reads the
 * stream itself, in order, through a {@link Reader}. Messages the stream no
 * longer holds (past its age or size limit) end a replay with `expired`:
 * the client gets a gap.
 */
import { Batch } from "../sink/batch.ts";
import type { ReplayLog, ReplayStep } from "../sink/journal.ts";
import type { Message } from "../sink/hub.ts";
import { positionId } from "../sink/cursor.ts";
import type { ResumeCursor } from "../types.ts";
import { decodeMessage, hostSource, type WireMessage } from "./wire.ts";

/** A message of the stream as the reader hands it over. */
export interface StreamMessage {
  /** Its stream sequence. */
  readonly seq: number;
  /** Its payload. */
  readonly data: Uint8Array;
}

/** Reads the stream from a sequence, in order (the gateway's {@link Reader}). */
export type ReadFrom = (
  start: number,
  until: number,
  signal: AbortSignal,
) => AsyncIterable<StreamMessage>;

/** A stream log's name, its start, and how it reads older messages. */
export interface StreamLogOptions {
  /** The stream's epoch in ids (see wire.ts `streamEpoch`). */
  readonly epoch: string;
  /** The first sequence the stream holds, as known at start. */
  readonly first: number;
  /** Events of the newest messages kept in memory. */
  readonly memory: number;
  /** Reads older messages from the stream. */
  readonly read: ReadFrom;
  /** A message that is not one of ours (told once per kind of problem). */
  readonly skipped?: (seq: number, why: string) => void;
  /** Asks the stream for its last sequence now (rejects when it cannot be asked). */
  readonly lastOfStream?: () => Promise<number>;
}

/** Events of the newest messages a gateway keeps by default. */
export const DEFAULT_MEMORY_EVENTS = 65_536;

/**
 * A stream read by a gateway, as the log its subscribers are replayed from.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { StreamLog } from "./log.ts";
 * import { encodeBatch } from "./wire.ts";
 * const log = new StreamLog({
 *   epoch: "e", first: 1, memory: 100, read: async function* () {},
 * });
 * const m = log.append(1, encodeBatch({
 *   host: "web1", source: "/a.log", dev: 1, ino: 2, from: 0, to: 3,
 *   ends: [3], files: [[1, 2, 3]],
 * }, ['{"id":"1.2:3","source":"web1:/a.log","offset":0,"line":"hi","time":"t"}']));
 * assertEquals(m?.type === "batch" && m.batch.id(0), "2.e.1.3");
 * assertEquals(log.head, 1);
 * ```
 */
export class StreamLog implements ReplayLog {
  /** Names the stream in ids: its name and creation time, hashed. */
  readonly epoch: string;
  readonly #memory: number;
  readonly #read: ReadFrom;
  readonly #skipped: (seq: number, why: string) => void;
  readonly #lastOfStream: (() => Promise<number>) | null;
  /** The question in flight: clients that come at once share one. */
  #asking: Promise<number> | null = null;
  /** The newest messages, by sequence, oldest first (a skipped sequence has none). */
  readonly #kept = new Map<number, Message>();
  #keptEvents = 0;
  /** Every sequence from here to the head is in memory (or was not ours). */
  #keptFrom = 1;
  #head = 0;
  #first: number;
  /** The stream's last sequence as last heard of (at least the head). */
  #last = 0;

  /** A log with nothing read yet. */
  constructor(options: StreamLogOptions) {
    this.epoch = options.epoch;
    this.#memory = options.memory;
    this.#read = options.read;
    this.#skipped = options.skipped ?? (() => {});
    this.#lastOfStream = options.lastOfStream ?? null;
    this.#first = options.first;
  }

  /** The sequence of the newest message read (published to the hub). */
  get head(): number {
    return this.#head;
  }

  /** The stream's last sequence, as last heard of. */
  get last(): number {
    return Math.max(this.#last, this.#head);
  }

  /** Reading starts at `seq`: everything before it is only in the stream. */
  startAt(seq: number): void {
    this.#head = seq - 1;
    this.#keptFrom = seq;
  }

  /** The stream holds sequences from `first` and up to at least `last`. */
  heard(first: number, last: number): void {
    this.#first = Math.max(this.#first, first);
    this.#last = Math.max(this.#last, last);
  }

  /**
   * The message at `seq` (the next one after the head) was read: it is
   * kept, and returned as the hub publishes it (null when it is not ours).
   */
  append(seq: number, data: Uint8Array): Message | null {
    const message = this.decode(seq, data);
    this.#head = seq;
    if (message === null) return null;
    this.#kept.set(seq, message);
    this.#keptEvents += weight(message);
    while (this.#keptEvents > this.#memory && this.#kept.size > 1) {
      const [old, m] = this.#kept.entries().next().value!;
      this.#kept.delete(old);
      this.#keptEvents -= weight(m);
      this.#keptFrom = old + 1;
    }
    return message;
  }

  /** A message of the stream as the hub and subscribers take it; null when it is not ours. */
  decode(seq: number, data: Uint8Array): Message | null {
    let wire: WireMessage;
    try {
      wire = decodeMessage(data);
    } catch (error) {
      this.#skipped(
        seq,
        error instanceof Error ? error.message : String(error),
      );
      return null;
    }
    const { header } = wire;
    const id = positionId(this.epoch, seq, 0);
    if (header.kind === "notice") {
      const n = header.notice;
      const notice = n.kind === "mode"
        ? { ...n, host: header.host }
        : { ...n, source: hostSource(header.host, n.source) };
      return { type: "notice", seq, id, notice };
    }
    if (header.kind === "alert") {
      const a = header.alert;
      const alert = {
        ...a,
        host: header.host,
        ...(a.source === undefined
          ? {}
          : { source: hostSource(header.host, a.source) }),
      };
      return { type: "alert", seq, id, alert };
    }
    const file = { dev: header.dev, ino: header.ino };
    const source = hostSource(header.host, header.source);
    const batch = Batch.fromJsonLines(
      seq,
      source,
      file,
      header.from,
      header.ends,
      {
        prefix: `2.${this.epoch}.${seq.toString(36)}.`,
        others: null,
        own: null,
      },
      wire.lines!,
    );
    return { type: "batch", batch };
  }

  /**
   * Whether what came after position `seq`/`end` of `epoch` can be
   * replayed: the stream still holds the message at `seq` (a client's id
   * may be of any event in it), or, past all of it (`end` Infinity), the
   * next one.
   */
  holds(epoch: string, seq: number, end = 0): boolean {
    return epoch === this.epoch && seq <= this.#head &&
      (end === Infinity ? seq + 1 : seq) >= this.#first;
  }

  /**
   * Whether `seq` of `epoch` is past the head: this gateway has not read
   * it yet. Within an epoch sequences only grow, so another gateway's id
   * names a message this one will read, even one it has not heard of yet
   * (its wake-ups or a look at the stream were lost in a failover);
   * {@link reaches} tells a forged one.
   */
  ahead(epoch: string, seq: number): boolean {
    return epoch === this.epoch && seq > this.#head;
  }

  /**
   * Whether the stream has `seq`: heard of, or its last sequence asked for
   * now. A stream that cannot be asked (an election) is taken at its word:
   * the client waits rather than get a gap it may not have.
   */
  async reaches(seq: number): Promise<boolean> {
    if (seq <= this.last) return true;
    if (this.#lastOfStream === null) return false;
    const asking = this.#asking ??= this.#lastOfStream().finally(() => {
      this.#asking = null;
    });
    try {
      const last = await asking;
      this.heard(0, last);
      return seq <= last;
    } catch {
      return true;
    }
  }

  /** The messages after `after` up to `until`, from memory or from the stream. */
  async *replay(
    after: { seq: number; end: number },
    until: number,
  ): AsyncGenerator<ReplayStep, void, void> {
    const seq = after.seq;
    // The rest of the message the position is in.
    if (seq >= 1 && seq <= until && after.end !== Infinity) {
      for await (const step of this.#steps(seq, seq)) {
        if (step.kind === "batch") {
          const last = step.batch.to;
          if (after.end < last) yield { ...step, after: after.end };
        } else if (step.kind === "expired") {
          yield step;
          return;
        }
      }
    }
    for await (const step of this.#steps(seq + 1, until)) {
      yield step;
      if (step.kind === "expired") return;
    }
  }

  /**
   * The last `lines` events of each source `wanted` selects among the
   * messages in memory up to `until`, as `batch` steps in order.
   */
  *backlog(
    lines: number,
    wanted: (source: string) => boolean,
    until: number,
  ): Generator<ReplayStep, void, void> {
    // Newest first: where each source's last `lines` events start.
    const need = new Map<string, number>();
    const from = new Map<string, { seq: number; after: number }>();
    const batches = [...this.#kept.values()].filter((m) =>
      m.type === "batch" && m.batch.seq <= until && wanted(m.batch.source)
    ) as Extract<Message, { type: "batch" }>[];
    for (let i = batches.length - 1; i >= 0; i--) {
      const { batch } = batches[i];
      const left = need.get(batch.source) ?? lines;
      if (left === 0) continue;
      const n = batch.count;
      const take = Math.min(left, n);
      need.set(batch.source, left - take);
      from.set(batch.source, {
        seq: batch.seq,
        after: take === n ? -1 : batch.end(n - take - 1),
      });
    }
    for (const { batch } of batches) {
      const start = from.get(batch.source);
      if (!start || batch.seq < start.seq) continue;
      yield {
        kind: "batch",
        seq: batch.seq,
        batch,
        after: batch.seq === start.seq ? start.after : -1,
      };
    }
  }

  /** A gateway keeps no files: no position in one. */
  seam(): ResumeCursor {
    return new Map();
  }

  /** Steps of sequences `from` to `until`: from memory where it holds them, else from the stream. */
  async *#steps(
    from: number,
    until: number,
  ): AsyncGenerator<ReplayStep, void, void> {
    let seq = from;
    while (seq <= until) {
      if (seq >= this.#keptFrom) {
        const m = this.#kept.get(seq);
        if (m) yield stepOf(m);
        seq++;
        continue;
      }
      if (seq < this.#first) {
        yield { kind: "expired", seq };
        return;
      }
      // Older than memory: read the stream up to where memory starts.
      const to = Math.min(until, this.#keptFrom - 1);
      const stop = new AbortController();
      try {
        for await (const msg of this.#read(seq, to, stop.signal)) {
          if (msg.seq > seq) {
            // Removed from the stream (its limits) before it could be read.
            this.#first = Math.max(this.#first, msg.seq);
            yield { kind: "expired", seq };
            return;
          }
          const m = this.decode(msg.seq, msg.data);
          if (m) yield stepOf(m);
          seq = msg.seq + 1;
          if (seq > to) break;
        }
      } finally {
        stop.abort();
      }
      if (seq <= to) {
        yield { kind: "expired", seq };
        return;
      }
    }
  }
}

function weight(m: Message): number {
  // The count, not `events`: that would parse every line's JSON back.
  return m.type === "batch" ? m.batch.count : 1;
}

function stepOf(m: Message): ReplayStep {
  if (m.type === "batch") {
    return { kind: "batch", seq: m.batch.seq, batch: m.batch, after: -1 };
  }
  return {
    kind: "message",
    seq: m.seq,
    message: m.type === "notice"
      ? { type: "notice", notice: m.notice }
      : { type: "alert", alert: m.alert },
  };
}
