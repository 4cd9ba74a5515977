/**
 * Reader: a JetStream stream read in order from a sequence, message by
 * message — for as long as it is wanted.
 *
 * Agents say on `<prefix>.stored.<host>` (core NATS, not stored) the
 * sequence and id of every message JetStream stored for them, and the
 * reader also sees the messages themselves as they are published (a core
 * subscription to the stream's subjects): a message that was seen and then
 * said stored is taken as it is, with no request. Any other — one not seen
 * (published before this reader started, or lost on the way), or older —
 * is asked for by "direct get".
 *
 * Why not a consumer: measured here (nats-server 2.9, client 3.4.0), an
 * ordered consumer whose server dies is not recreated by the client, and
 * recreating one needs the stream's leader and the cluster's meta leader:
 * after a leader was killed, reading stalled for 5 to 15 s, sometimes
 * longer. A direct get is answered by any replica of the stream (the agent
 * makes it with `allow_direct`), so reading goes on while a new leader is
 * elected; what a client then waits for is only what is not published yet.
 *
 * A wake-up that was lost is made up for by a look every {@link POLL_MS},
 * and a request that fails or gets no answer is made again (the watchdog of
 * this reading): nothing is skipped, nothing given twice. Up to
 * {@link WINDOW} requests are in flight while the reader is behind, so a
 * backlog is read at the stream's pace.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { delay } from "@std/async/delay";
import { describe } from "./link.ts";
import type { StreamMessage } from "./log.ts";

/** What a reader reads, and what it tells. */
export interface ReaderOptions {
  /** For its subscriptions. */
  readonly nc: NatsConnection;
  /** For its requests (direct and leader gets). */
  readonly jsm: JetStreamManager;
  /** The stream's name. */
  readonly stream: string;
  /** The subject agents say what was stored on (`<prefix>.stored.>`). */
  readonly wakeups: string;
  /** The stream's subjects, to see messages as they are published. */
  readonly subjects: string;
  /** The stream allows direct gets (any replica answers); else its leader is asked. */
  readonly direct: boolean;
  /** The stream's last sequence, as known at start. */
  readonly last: number;
  /** A read failed and is made again (`why`). */
  readonly failed?: (seq: number, why: string) => void;
  /** The stream's last sequence is at least `last`. */
  readonly heard?: (last: number) => void;
  /** Resolves when the connection drops: the requests in flight then get no answer. */
  readonly dropped?: () => Promise<void>;
}

/** Requests in flight at most while behind. */
const WINDOW = 16;
/** Bytes of messages seen published (or said stored) kept for when they are read. */
const SEEN_BYTES = 64 * 1024 * 1024;

/** A message of the stream: its sequence and payload. */
interface Got {
  readonly seq: number;
  readonly data: Uint8Array;
}
/** A look for new messages when no wake-up came, ms. */
const POLL_MS = 250;

/** Reads a stream in order, message by message. */
export class Reader {
  readonly #o: ReaderOptions;
  #last: number;
  #sub: Subscription | null = null;
  #live: Subscription | null = null;
  #wake = Promise.withResolvers<void>();
  /** Messages seen published, by message id, oldest first. */
  readonly #published = new Bounded<string>();
  /** Messages seen published and then said stored, by sequence. */
  readonly #stored = new Bounded<number>();
  #seen = 0;
  #fetched = 0;

  /** A reader; it listens once `messages` is first asked for. */
  constructor(options: ReaderOptions) {
    this.#o = options;
    this.#last = options.last;
  }

  /**
   * The messages from `start` up to `until` (Infinity: for ever), in
   * order, until `signal` aborts. A message the stream no longer holds
   * (its limits removed it) is passed over: the next one's sequence shows
   * it.
   */
  async *messages(
    start: number,
    until: number,
    signal: AbortSignal,
  ): AsyncGenerator<StreamMessage, void, void> {
    this.#listen();
    const inflight = new Map<number, Promise<Got | null>>();
    let next = start;
    let failures = 0;
    // Ask for `next` though no agent said it exists: at start, and on a poll.
    let look = true;
    try {
      while (!signal.aborted && next <= until) {
        if (next > this.#last && !look) {
          // Nothing known past here: wait for an agent to say so, or look.
          look = !await this.#wait(signal);
          continue;
        }
        look = false;
        const last = Math.min(until, Math.max(this.#last, next));
        for (let s = next; s <= last && s < next + WINDOW; s++) {
          if (inflight.has(s)) continue;
          const asking = this.#get(s);
          // Only the awaited one's failure counts; the others are asked again.
          asking.catch(() => {});
          inflight.set(s, asking);
        }
        const asked = inflight.get(next)!;
        let m: Got | null;
        try {
          m = await this.#answer(asked);
          failures = 0;
        } catch (error) {
          inflight.clear();
          this.#o.failed?.(next, describe(error));
          failures++;
          await delay(Math.min(50 * 2 ** failures, 1000), { signal })
            .catch(() => {});
          continue;
        }
        inflight.delete(next);
        if (m !== null) {
          this.#heard(m.seq);
          if (m instanceof Fetched) {
            this.#fetched++;
            // Seen published too, meanwhile: it is read now.
            this.#stored.take(m.seq);
          } else {
            this.#seen++;
          }
          next = m.seq + 1;
          yield { seq: m.seq, data: m.data };
          continue;
        }
        if (next <= this.#last) {
          // Known to exist: a replica behind the others, or removed.
          inflight.clear();
          let settled: { message: Got | null; next: number };
          try {
            settled = await this.#settle(next, signal);
          } catch (error) {
            this.#o.failed?.(next, describe(error));
            failures++;
            await delay(Math.min(50 * 2 ** failures, 1000), { signal })
              .catch(() => {});
            continue;
          }
          if (settled.message) {
            this.#fetched++;
            next = settled.message.seq + 1;
            yield { seq: settled.message.seq, data: settled.message.data };
          } else {
            next = settled.next;
          }
          continue;
        }
        // Nothing there yet.
        inflight.clear();
      }
    } finally {
      inflight.clear();
    }
  }

  /** Waits for an agent to say something was stored (true), or {@link POLL_MS} (false). */
  async #wait(signal: AbortSignal): Promise<boolean> {
    const timer = new AbortController();
    try {
      return await Promise.race([
        this.#wake.promise.then(() => true),
        delay(POLL_MS, { signal: AbortSignal.any([signal, timer.signal]) })
          .then(() => false, () => false),
      ]);
    } finally {
      timer.abort();
    }
  }

  /** Messages read as they were seen published, and those asked for. */
  get counts(): { seen: number; fetched: number } {
    return { seen: this.#seen, fetched: this.#fetched };
  }

  /** Stops listening. */
  close(): void {
    this.#sub?.unsubscribe();
    this.#live?.unsubscribe();
    this.#sub = this.#live = null;
    this.#wake.resolve();
  }

  #listen(): void {
    if (this.#sub !== null) return;
    this.#live = this.#o.nc.subscribe(this.#o.subjects, {
      callback: (_, msg) => {
        const id = msg.headers?.get("Nats-Msg-Id");
        if (id) this.#published.put(id, msg.data);
      },
    });
    this.#sub = this.#o.nc.subscribe(this.#o.wakeups, {
      callback: (_, msg) => {
        // `<seq> <message id>`
        const [seqText, id] = decoder.decode(msg.data).split(" ");
        const seq = Number(seqText);
        if (Number.isSafeInteger(seq) && seq > 0) {
          this.#heard(seq);
          const data = id === undefined ? undefined : this.#published.take(id);
          if (data) this.#stored.put(seq, data);
        }
        const wake = this.#wake;
        this.#wake = Promise.withResolvers<void>();
        wake.resolve();
      },
    });
  }

  #heard(seq: number): void {
    if (seq > this.#last) {
      this.#last = seq;
      this.#o.heard?.(seq);
    }
  }

  /** The answer to a request, or an error as soon as the connection drops. */
  #answer(asked: Promise<Got | null>): Promise<Got | null> {
    const dropped = this.#o.dropped?.().then((): never => {
      throw new Error("the connection dropped with the request in flight");
    });
    if (!dropped) return asked;
    dropped.catch(() => {});
    return Promise.race([asked, dropped]);
  }

  /** Message `seq`: as seen published, else asked for. */
  #get(seq: number): Promise<Got | null> {
    const data = this.#stored.take(seq);
    if (data) return Promise.resolve({ seq, data });
    const { jsm, stream, direct } = this.#o;
    return (direct
      ? jsm.direct.getMessage(stream, { seq })
      : jsm.streams.getMessage(stream, { seq })).then((m) =>
        m && new Fetched(m.seq, m.data)
      );
  }

  /**
   * Message `seq` exists (an agent said it was stored) but the replica
   * asked did not have it yet (it applies what the leader sends a moment
   * later): the leader has it. While there is no leader (an election), the
   * replicas are asked again now and then.
   */
  async #settle(
    seq: number,
    signal: AbortSignal,
  ): Promise<{ message: Got | null; next: number }> {
    const { jsm, stream } = this.#o;
    for (let tries = 0;; tries++) {
      try {
        const message = await jsm.streams.getMessage(stream, { seq });
        if (message) return { message, next: seq + 1 };
        const info = await jsm.streams.info(stream);
        // Removed by the stream's limits: go on from its first message;
        // removed on its own (a delete): go on after it.
        return {
          message: null,
          next: seq < info.state.first_seq ? info.state.first_seq : seq + 1,
        };
      } catch (error) {
        if (tries >= 20 || signal.aborted) throw error;
        await delay(Math.min(50 * 2 ** tries, 500), { signal });
        const message = await this.#get(seq).catch(() => null);
        if (message) return { message, next: seq + 1 };
      }
    }
  }
}

const decoder = new TextDecoder();

/** A message that had to be asked for. */
class Fetched implements Got {
  constructor(readonly seq: number, readonly data: Uint8Array) {}
}

/** Payloads by key, oldest first, within {@link SEEN_BYTES}. */
class Bounded<K> {
  readonly #map = new Map<K, Uint8Array>();
  #bytes = 0;

  put(key: K, data: Uint8Array): void {
    const old = this.#map.get(key);
    if (old) this.#bytes -= old.length;
    this.#map.set(key, data);
    this.#bytes += data.length;
    while (this.#bytes > SEEN_BYTES && this.#map.size > 0) {
      const [first, dropped] = this.#map.entries().next().value!;
      this.#map.delete(first);
      this.#bytes -= dropped.length;
    }
  }

  take(key: K): Uint8Array | undefined {
    const data = this.#map.get(key);
    if (data) {
      this.#map.delete(key);
      this.#bytes -= data.length;
    }
    return data;
  }
}
