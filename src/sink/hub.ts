/**
 * Hub: fan-out of messages to subscribers, each with its own bounded queue.
 *
 * `publish()` is synchronous and never waits for a subscriber. Each
 * subscriber's queue is a ring of fixed capacity with a stated policy for
 * when it is full:
 * - `drop-oldest`: the oldest message is overwritten and counted; the
 *   subscriber then receives one `gap` message saying how many it missed.
 * - `disconnect`: the subscription ends with reason `queue-full`.
 * - `block`: for durable local sinks only (stdout NDJSON). The hub never
 *   blocks on it by itself; the dispatcher awaits {@link Hub.ready} before
 *   publishing, so this is the one place backpressure reaches the follower,
 *   on purpose: the file is the buffer, and stdout loses nothing.
 * A stalled subscriber can therefore slow nothing but itself, and holds at
 * most its capacity in memory.
 */
import type { Alert, Event, Notice } from "../types.ts";

export type Policy = "drop-oldest" | "disconnect" | "block";

/** What flows through the hub. */
export type Message =
  | {
    readonly type: "line";
    readonly event: Event;
    /** The event as JSON, made once for every sink and subscriber. */
    readonly json?: string;
  }
  | { readonly type: "notice"; readonly notice: Notice }
  | { readonly type: "alert"; readonly alert: Alert }
  | {
    readonly type: "dropped";
    /** Messages this subscriber missed because its queue was full. */
    readonly count: number;
    /** How many of them were lines of standard input (which cannot be read back). */
    readonly stdin: number;
  };

/** Why a subscription ended. */
export type CloseReason =
  | "unsubscribed"
  | "queue-full"
  | "write-timeout"
  | "shutdown";

export interface SubscribeOptions {
  /** Messages queued at most. */
  capacity: number;
  policy: Policy;
  /** Which messages this subscriber wants; evaluated in `publish`. @default all */
  accept?: (message: Message) => boolean;
}

/**
 * One subscriber's queue. The consumer awaits {@link next} in its own loop.
 */
export class Subscription {
  readonly policy: Policy;
  readonly capacity: number;
  readonly #accept: (message: Message) => boolean;
  readonly #ring: (Message | undefined)[];
  readonly #onClose: (s: Subscription) => void;
  readonly #onDrop: (count: number) => void;
  #head = 0;
  #size = 0;
  #dropped = 0;
  #droppedStdin = 0;
  #droppedTotal = 0;
  #reason: CloseReason | null = null;
  #waiter: PromiseWithResolvers<void> | null = null;
  #roomWaiter: PromiseWithResolvers<void> | null = null;
  #poked = false;

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
    this.#ring = new Array(options.capacity);
    this.#onClose = onClose;
    this.#onDrop = onDrop;
  }

  /** Messages waiting. */
  get depth(): number {
    return this.#size;
  }

  /** Messages dropped over the subscription's life. */
  get dropped(): number {
    return this.#droppedTotal;
  }

  /** Why it ended, or null while open. */
  get reason(): CloseReason | null {
    return this.#reason;
  }

  /**
   * Everything queued, oldest first, waiting if nothing is; a `dropped`
   * message leads when messages were lost. Null once closed and drained;
   * an empty array after {@link poke}.
   */
  async next(max = Infinity): Promise<Message[] | null> {
    while (this.#size === 0 && this.#dropped === 0) {
      if (this.#reason !== null) return null;
      if (this.#poked) {
        this.#poked = false;
        return [];
      }
      this.#waiter ??= Promise.withResolvers<void>();
      await this.#waiter.promise;
    }
    this.#poked = false;
    const out: Message[] = [];
    if (this.#dropped > 0) {
      out.push({
        type: "dropped",
        count: this.#dropped,
        stdin: this.#droppedStdin,
      });
      this.#dropped = 0;
      this.#droppedStdin = 0;
    }
    const n = Math.min(this.#size, max);
    for (let i = 0; i < n; i++) {
      const at = (this.#head + i) % this.capacity;
      out.push(this.#ring[at]!);
      this.#ring[at] = undefined;
    }
    this.#head = (this.#head + n) % this.capacity;
    this.#size -= n;
    this.#roomWaiter?.resolve();
    this.#roomWaiter = null;
    return out;
  }

  /** Resolves once `count` more messages fit (or the subscription ends). */
  async room(count: number): Promise<void> {
    const need = Math.min(count, this.capacity);
    while (this.#reason === null && this.capacity - this.#size < need) {
      this.#roomWaiter ??= Promise.withResolvers<void>();
      await this.#roomWaiter.promise;
    }
  }

  /** Takes everything queued now, without waiting (a `dropped` count is left for `next()`). */
  takeQueued(): Message[] {
    const out: Message[] = [];
    for (let i = 0; i < this.#size; i++) {
      const at = (this.#head + i) % this.capacity;
      out.push(this.#ring[at]!);
      this.#ring[at] = undefined;
    }
    this.#head = 0;
    this.#size = 0;
    this.#roomWaiter?.resolve();
    this.#roomWaiter = null;
    return out;
  }

  /** Takes the count of standard-input lines dropped and not yet reported. */
  takeDroppedStdin(): number {
    const n = this.#droppedStdin;
    this.#droppedStdin = 0;
    return n;
  }

  /** Makes a waiting (or the next) `next()` return, empty if nothing is queued: time for a heartbeat. */
  poke(): void {
    this.#poked = true;
    this.#wake();
  }

  /** Ends the subscription; what is queued can still be taken with `next()`. */
  close(reason: CloseReason = "unsubscribed"): void {
    if (this.#reason !== null) return;
    this.#reason = reason;
    this.#wake();
    this.#roomWaiter?.resolve();
    this.#roomWaiter = null;
    this.#onClose(this);
  }

  /** Called by the hub: queue `message` under this subscriber's policy. */
  offer(message: Message): void {
    if (this.#reason !== null || !this.#accept(message)) return;
    if (this.#size === this.capacity) {
      if (this.policy === "disconnect") {
        this.close("queue-full");
        return;
      }
      if (this.policy === "drop-oldest") {
        const oldest = this.#ring[this.#head];
        if (oldest?.type === "line" && oldest.event.source === "-") {
          this.#droppedStdin++;
        }
        this.#ring[this.#head] = undefined;
        this.#head = (this.#head + 1) % this.capacity;
        this.#size--;
        this.#dropped++;
        this.#droppedTotal++;
        this.#onDrop(1);
      } else {
        throw new RangeError(
          "Cannot queue for a blocking subscriber without room: await Hub.ready() before publish()",
        );
      }
    }
    this.#ring[(this.#head + this.#size) % this.capacity] = message;
    this.#size++;
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.resolve();
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
 *   hub.publish([{ type: "notice", notice: { kind: "vanish", source: `/${n}` } }]);
 * }
 * const got = await sub.next();
 * assertEquals(got?.map((m) => m.type), ["dropped", "notice", "notice"]);
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

  /** Queue depths of the current subscribers. */
  get subscriptions(): Iterable<Subscription> {
    return this.#subs;
  }

  /** Resolves when every blocking subscriber has room for `count` messages. */
  async ready(count: number): Promise<void> {
    for (const sub of this.#subs) {
      if (sub.policy === "block") await sub.room(count);
    }
  }

  /** Offers every message to every subscriber. Never waits. */
  publish(messages: readonly Message[]): void {
    for (const sub of this.#subs) {
      for (const m of messages) sub.offer(m);
    }
  }

  /** Ends every subscription with reason `shutdown`; queued messages can still be taken. */
  close(): void {
    this.#closed = true;
    for (const sub of [...this.#subs]) sub.close("shutdown");
  }
}
