/**
 * Hub: fan-out of published messages to subscribers, each with its own
 * bounded queue.
 *
 * A message is a whole published batch (one file's events, shared by every
 * subscriber and encoded once), or a notice or alert. `publish()` is
 * synchronous and never waits for a subscriber: it offers the message to
 * each one (one cheap `accept` test per batch, e.g. its source), and wakes
 * a consumer that is waiting, in the same call. Each queue holds at most
 * `capacity` events (a notice or alert counts as one; a single batch larger
 * than the capacity is still taken into an empty queue) and has a stated
 * policy for when it is full:
 * - `drop-oldest`: the oldest messages are dropped and counted; the consumer
 *   learns what it lost ({@link Subscription.overflow}) and catches up from
 *   the journal and the files.
 * - `disconnect`: the subscription ends with reason `queue-full`.
 * - `block`: for durable sinks only (stdout, the NATS agent). The hub never
 *   blocks on it by itself; the dispatcher awaits {@link Hub.ready} before
 *   publishing a batch, so this is the one place backpressure reaches the
 *   follower, on purpose: the file is the buffer, and the sink loses
 *   nothing. Notices and alerts are not waited for; a full queue takes them
 *   past its capacity (they are few: they come with the lines, or from the
 *   alert timer).
 * A stalled subscriber therefore slows nothing but itself, and pins at most
 * its capacity of events in memory.
 */
import type { Alert, FileId, Notice } from "../types.ts";
import { sameFile } from "../source/identity.ts";
import type { Batch } from "./batch.ts";

export type Policy = "drop-oldest" | "disconnect" | "block";

/** What flows through the hub, in publish order. */
export type Message =
  | { readonly type: "batch"; readonly batch: Batch }
  | {
    readonly type: "notice";
    readonly seq: number;
    /** The SSE id of the position just after it. */
    readonly id: string;
    readonly notice: Notice;
  }
  | {
    readonly type: "alert";
    readonly seq: number;
    readonly id: string;
    readonly alert: Alert;
  };

/** Why a subscription ended. */
export type CloseReason =
  | "unsubscribed"
  | "queue-full"
  | "write-timeout"
  | "shutdown";

/** What a subscriber lost when its queue overflowed. */
export interface Overflow {
  /** Events and messages dropped. */
  readonly count: number;
  /** How many of them were lines on no disk (standard input, commands, ingest rings), which cannot be read back. */
  readonly unstored: number;
}

export interface SubscribeOptions {
  /** Events queued at most (a notice or alert counts as one). */
  capacity: number;
  policy: Policy;
  /** Which messages this subscriber wants; evaluated in `publish`, so keep it cheap. @default all */
  accept?: (message: Message) => boolean;
  /** The identity of batches of lines on no disk, to count their lines apart. */
  unstored?: FileId;
}

/** Events a message stands for in a queue. */
function weightOf(m: Message): number {
  return m.type === "batch" ? m.batch.count : 1;
}

/** One subscriber's queue. Its consumer takes messages in its own loop. */
export class Subscription {
  readonly policy: Policy;
  readonly capacity: number;
  readonly #accept: (message: Message) => boolean;
  readonly #onClose: (s: Subscription) => void;
  readonly #onDrop: (count: number) => void;
  readonly #unstored: FileId | null;
  /** Queued messages, oldest first from #head; grows on demand, never past what the capacity allows. */
  #ring: (Message | undefined)[] = new Array(4);
  #head = 0;
  #size = 0;
  #weight = 0;
  #lost = 0;
  #lostUnstored = 0;
  #droppedTotal = 0;
  #reason: CloseReason | null = null;
  #waiter: PromiseWithResolvers<void> | null = null;
  #roomWaiter: PromiseWithResolvers<void> | null = null;
  #poked = false;
  #wake: (() => void) | null = null;

  constructor(
    options: SubscribeOptions,
    onClose: (s: Subscription) => void,
    onDrop: (count: number) => void = () => {},
  ) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new RangeError(
        `Cannot subscribe with capacity ${options.capacity}: use a whole number of at least 1`,
      );
    }
    this.policy = options.policy;
    this.capacity = options.capacity;
    this.#accept = options.accept ?? (() => true);
    this.#onClose = onClose;
    this.#onDrop = onDrop;
    this.#unstored = options.unstored ?? null;
  }

  /** Events waiting. */
  get depth(): number {
    return this.#weight;
  }

  /** Events dropped over the subscription's life. */
  get dropped(): number {
    return this.#droppedTotal;
  }

  /** Why it ended, or null while open. */
  get reason(): CloseReason | null {
    return this.#reason;
  }

  /** What was dropped since the last call (then forgotten), or null. */
  overflow(): Overflow | null {
    if (this.#lost === 0) return null;
    const out = { count: this.#lost, unstored: this.#lostUnstored };
    this.#lost = 0;
    this.#lostUnstored = 0;
    return out;
  }

  /** Takes everything queued now, oldest first, without waiting. */
  take(): Message[] {
    const out: Message[] = new Array(this.#size);
    const n = this.#ring.length;
    for (let i = 0; i < this.#size; i++) {
      const at = (this.#head + i) % n;
      out[i] = this.#ring[at]!;
      this.#ring[at] = undefined;
    }
    this.#head = 0;
    this.#size = 0;
    this.#weight = 0;
    this.#roomWaiter?.resolve();
    this.#roomWaiter = null;
    return out;
  }

  /**
   * Everything queued, waiting if nothing is (or something was lost). Null
   * once closed and drained; an empty array after {@link poke}.
   */
  async next(): Promise<Message[] | null> {
    while (this.#size === 0 && this.#lost === 0) {
      if (this.#reason !== null) return null;
      if (this.#poked) {
        this.#poked = false;
        return [];
      }
      this.#waiter ??= Promise.withResolvers<void>();
      await this.#waiter.promise;
    }
    this.#poked = false;
    return this.take();
  }

  /**
   * Calls `fn` (once) as soon as a message, a loss, a poke or the end
   * arrives — synchronously, from `publish`, when it is the one to bring it.
   */
  whenReady(fn: () => void): void {
    if (this.#size > 0 || this.#lost > 0 || this.#reason !== null) {
      fn();
    } else if (this.#poked) {
      this.#poked = false;
      fn();
    } else {
      this.#wake = fn;
    }
  }

  /** Resolves once `count` more events fit (or the subscription ends). */
  async room(count: number): Promise<void> {
    const need = Math.min(count, this.capacity);
    while (this.#reason === null && this.capacity - this.#weight < need) {
      this.#roomWaiter ??= Promise.withResolvers<void>();
      await this.#roomWaiter.promise;
    }
  }

  /** Makes a waiting (or the next) `next()` return, empty if nothing is queued: time for a heartbeat. */
  poke(): void {
    this.#poked = true;
    this.#signal();
  }

  /** Ends the subscription; what is queued can still be taken. */
  close(reason: CloseReason = "unsubscribed"): void {
    if (this.#reason !== null) return;
    this.#reason = reason;
    this.#signal();
    this.#roomWaiter?.resolve();
    this.#roomWaiter = null;
    this.#onClose(this);
  }

  /** Called by the hub: queue `message` under this subscriber's policy. */
  offer(message: Message): void {
    if (this.#reason !== null || !this.#accept(message)) return;
    const weight = weightOf(message);
    if (this.#weight + weight > this.capacity && this.#size > 0) {
      if (this.policy === "disconnect") {
        this.close("queue-full");
        return;
      }
      if (this.policy === "block") {
        // Notices and alerts are not waited for (an alert may come from a
        // timer); they are few, and taken past the capacity.
        if (message.type === "batch") {
          throw new RangeError(
            "Cannot queue for a blocking subscriber without room: await Hub.ready() before publish()",
          );
        }
      } else {
        while (this.#size > 0 && this.#weight + weight > this.capacity) {
          this.#dropOldest();
        }
      }
    }
    if (this.#size === this.#ring.length) this.#grow();
    this.#ring[(this.#head + this.#size) % this.#ring.length] = message;
    this.#size++;
    this.#weight += weight;
    this.#signal();
  }

  #dropOldest(): void {
    const at = this.#head;
    const oldest = this.#ring[at]!;
    const weight = weightOf(oldest);
    if (
      oldest.type === "batch" && this.#unstored !== null &&
      sameFile(oldest.batch.file, this.#unstored)
    ) {
      this.#lostUnstored += weight;
    }
    this.#ring[at] = undefined;
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#size--;
    this.#weight -= weight;
    this.#lost += weight;
    this.#droppedTotal += weight;
    this.#onDrop(weight);
  }

  #grow(): void {
    const old = this.#ring;
    const ring: (Message | undefined)[] = new Array(old.length * 2);
    for (let i = 0; i < this.#size; i++) {
      ring[i] = old[(this.#head + i) % old.length];
    }
    this.#ring = ring;
    this.#head = 0;
  }

  #signal(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.resolve();
    const wake = this.#wake;
    this.#wake = null;
    if (wake) {
      // A poke is taken by the one it wakes.
      this.#poked = false;
      wake();
    }
  }
}

/**
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Hub } from "./hub.ts";
 * const hub = new Hub();
 * const sub = hub.subscribe({ capacity: 2, policy: "drop-oldest" });
 * for (const n of [1, 2, 3]) {
 *   hub.publish({ type: "notice", seq: n, id: "", notice: { kind: "vanish", source: `/${n}` } });
 * }
 * assertEquals(sub.overflow(), { count: 1, unstored: 0 });
 * assertEquals(sub.take().map((m) => m.type === "notice" && m.seq), [2, 3]);
 * hub.close();
 * ```
 */
export class Hub {
  readonly #subs = new Set<Subscription>();
  readonly #onDrop: (count: number) => void;
  #closed = false;

  constructor(options: { onDrop?: (count: number) => void } = {}) {
    this.#onDrop = options.onDrop ?? (() => {});
  }

  /** Adds a subscriber with its own queue. */
  subscribe(options: SubscribeOptions): Subscription {
    const sub = new Subscription(
      options,
      (s) => this.#subs.delete(s),
      this.#onDrop,
    );
    if (this.#closed) sub.close("shutdown");
    else this.#subs.add(sub);
    return sub;
  }

  /** Current subscribers. */
  get size(): number {
    return this.#subs.size;
  }

  /** The current subscriptions. */
  get subscriptions(): Iterable<Subscription> {
    return this.#subs;
  }

  /** Resolves when every blocking subscriber has room for `count` events. */
  async ready(count: number): Promise<void> {
    for (const sub of this.#subs) {
      if (sub.policy === "block") await sub.room(count);
    }
  }

  /** Offers the message to every subscriber. Never waits. */
  publish(message: Message): void {
    for (const sub of this.#subs) sub.offer(message);
  }

  /** Ends every subscription with reason `shutdown`; queued messages can still be taken. */
  close(): void {
    this.#closed = true;
    for (const sub of [...this.#subs]) sub.close("shutdown");
  }
}
