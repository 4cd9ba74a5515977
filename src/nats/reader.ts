/**
 * Reader: a JetStream stream read in order from a sequence, through an
 * ordered consumer, for as long as it is wanted — with a watchdog. The
 * client does not recreate a consumer whose server died (measured with
 * 3.4.0 and nats-server 2.9: it reports missed heartbeats, or nothing, and
 * stalls), so when neither a message nor a heartbeat came for `stallMs`
 * the reading is closed and opened again at the sequence after the last
 * one handed over: nothing is skipped, nothing given twice.
 */
import {
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
} from "@nats-io/jetstream";
import { delay } from "@std/async/delay";
import { describe } from "./link.ts";
import type { StreamMessage } from "./log.ts";

export interface ReaderOptions {
  readonly js: JetStreamClient;
  readonly stream: string;
  /** The subjects read (one filter: server 2.9 takes one per consumer). */
  readonly filter: string;
  /** No message and no heartbeat for this long: the reading is reopened, ms. @default 3000 */
  readonly stallMs?: number;
  /** The reading was reopened at `seq` (`why`: what happened). */
  readonly reopened?: (seq: number, why: string) => void;
  /** The stream's last sequence is at least `last` (heartbeats and pending counts say). */
  readonly heard?: (last: number) => void;
}

/** Bytes a pull asks for at once. */
const PULL_BYTES = 4 * 1024 * 1024;
/** How often the server sends a heartbeat while it has nothing to send, ms. */
const HEARTBEAT_MS = 1000;
/** How long a pull waits on the server before the next is made, ms. */
const EXPIRES_MS = 5000;
const DEFAULT_STALL_MS = 3000;

/** Reads a stream in order, reopening what stalls. */
export class Reader {
  readonly #options: ReaderOptions;

  constructor(options: ReaderOptions) {
    this.#options = options;
  }

  /**
   * The messages from `start` up to `until` (Infinity: for ever), in
   * order, until `signal` aborts. A message the stream no longer holds is
   * skipped over (the next one's sequence shows it).
   */
  async *messages(
    start: number,
    until: number,
    signal: AbortSignal,
  ): AsyncGenerator<StreamMessage, void, void> {
    const o = this.#options;
    const stallMs = o.stallMs ?? DEFAULT_STALL_MS;
    let next = start;
    let failures = 0;
    while (!signal.aborted && next <= until) {
      let messages: ConsumerMessages;
      try {
        const consumer = await o.js.consumers.get(o.stream, {
          filter_subjects: o.filter,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: next,
        });
        messages = await consumer.consume({
          max_bytes: PULL_BYTES,
          idle_heartbeat: HEARTBEAT_MS,
          expires: EXPIRES_MS,
        });
        failures = 0;
      } catch (error) {
        o.reopened?.(next, `cannot read the stream: ${describe(error)}`);
        failures++;
        await delay(Math.min(100 * 2 ** failures, 2000), { signal })
          .catch(() => {});
        continue;
      }
      let alive = performance.now();
      let stalled = false;
      // While the reader of this generator has not asked for more, the
      // consumer is not stalled: it is held back.
      let held = false;
      const stop = () => messages.stop();
      signal.addEventListener("abort", stop);
      const watchdog = setInterval(() => {
        if (!held && performance.now() - alive > stallMs) {
          stalled = true;
          messages.stop();
        }
      }, stallMs / 4);
      const heartbeats = (async () => {
        for await (const s of messages.status()) {
          if (s.type === "heartbeat") {
            alive = performance.now();
            o.heard?.(s.lastStreamSequence);
          }
        }
      })();
      let why = "the consumer ended";
      try {
        for await (const m of messages) {
          alive = performance.now();
          if (m.seq < next) continue;
          o.heard?.(m.seq + m.info.pending);
          next = m.seq + 1;
          held = true;
          yield { seq: m.seq, data: m.data };
          held = false;
          alive = performance.now();
          if (next > until || signal.aborted) break;
        }
      } catch (error) {
        why = describe(error);
      } finally {
        clearInterval(watchdog);
        signal.removeEventListener("abort", stop);
        messages.stop();
        await heartbeats;
      }
      if (!signal.aborted && next <= until) {
        o.reopened?.(
          next,
          stalled ? `no message and no heartbeat for ${stallMs / 1000} s` : why,
        );
      }
    }
  }
}
