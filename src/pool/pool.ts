/**
 * Pool: the reader's side of the worker pool. Subscribers are served by N
 * threads on one port (`reusePort`: the kernel spreads the connections):
 * the reader's own server and N − 1 workers, each with its own hub, stream
 * route and copy of the journal, so fan-out CPU spreads over cores.
 *
 * The pool is one more subscriber of the reader's hub, with policy `block`:
 * every message is forwarded to every worker in publish order, as it is
 * published (the frames the reader encoded, copied, never encoded again). A
 * worker that falls more than a window behind holds the pool's queue, and
 * a full queue holds the dispatcher, as stdout does: the files are the
 * buffer, and no worker's copy of the journal ever misses an entry, so an id
 * resumes the same on any thread. Slow subscribers hold nothing here: each
 * has its own bounded queue in its worker's hub.
 *
 * The reader keeps what must be one: the subscriber places (a worker asks
 * for one per connection), the metrics (workers report drops), the files
 * known (changes are sent to the workers' copies), and every route but
 * `/events` (workers forward those requests here).
 */
import type { Config } from "../config.ts";
import type { Admission } from "../http/guard.ts";
import type { Hub, Subscription } from "../sink/hub.ts";
import type { Journal } from "../sink/journal.ts";
import type { KnownChange, KnownFiles } from "../source/known.ts";
import {
  Flow,
  type FromWorker,
  readAtMost,
  toWire,
  type ToWorker,
  weightOf,
  type WireRequest,
  type WireResponse,
} from "./wire.ts";

/** Events queued for the pool before the dispatcher waits. */
const POOL_QUEUE = 65_536;
/** Events a worker may be behind before the pool waits for it. */
const FLOW_WINDOW = 65_536;
/** Largest response body forwarded back to a worker. */
const MAX_FORWARDED_RESPONSE = 64 * 1024 * 1024;

export interface PoolOptions {
  /** Worker threads (the reader's server is one more). */
  readonly workers: number;
  /** The module a worker runs (it calls `runWorker`). */
  readonly entry: URL;
  readonly config: Config;
  readonly cwd: string;
  readonly version: string;
  readonly maxClients: number;
  readonly hub: Hub;
  readonly journal: Journal;
  readonly known: KnownFiles;
  /** The subscriber places of the whole server. */
  readonly admission: Admission;
  readonly log: (line: string) => void;
  /** Counts events a worker's subscribers lost. */
  readonly onDrop?: (count: number) => void;
}

interface Member {
  readonly index: number;
  readonly worker: Worker;
  /** Places it holds, per client address: given back if it dies. */
  readonly places: Map<string, number>;
  alive: boolean;
  listening: PromiseWithResolvers<boolean> | null;
  closed: PromiseWithResolvers<void>;
}

export class Pool {
  readonly #options: PoolOptions;
  readonly #members: Member[] = [];
  readonly #sub: Subscription;
  readonly #flow: Flow;
  readonly #pending = new Map<
    number,
    (m: Extract<FromWorker, { type: "gauges" }>) => void
  >();
  #fetch: ((request: Request, client: string) => Promise<Response>) | null =
    null;
  #nextId = 0;
  #waiting = false;

  /**
   * Starts the workers and subscribes to the hub, in one tick with reading
   * the journal's head: call it before anything is published.
   */
  constructor(options: PoolOptions) {
    this.#options = options;
    const memory = Flow.memory(options.workers);
    this.#flow = new Flow(memory);
    this.#sub = options.hub.subscribe({
      capacity: POOL_QUEUE,
      policy: "block",
    });
    const known = options.known.changes();
    options.known.onChange = (change) => this.#known(change);
    for (let index = 0; index < options.workers; index++) {
      const worker = new Worker(options.entry, {
        type: "module",
        name: `tailcast-${index + 1}`,
      });
      const member: Member = {
        index,
        worker,
        places: new Map(),
        alive: true,
        listening: null,
        closed: Promise.withResolvers<void>(),
      };
      worker.onmessage = (e: MessageEvent<FromWorker>) =>
        this.#onMessage(member, e.data);
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        options.log(
          `tailcast: server thread ${index + 1} failed: ${e.message}`,
        );
        this.#lost(member);
      };
      this.#members.push(member);
      this.#post(member, {
        type: "init",
        index,
        config: options.config,
        cwd: options.cwd,
        version: options.version,
        epoch: options.journal.epoch,
        capacity: options.journal.capacity,
        recent: options.journal.recent,
        head: options.journal.head,
        maxClients: options.maxClients,
        flow: memory,
        known,
      });
    }
    this.#sub.whenReady(this.#pump);
  }

  /** Threads serving subscribers besides the reader's, alive now. */
  get size(): number {
    return this.#members.filter((m) => m.alive).length;
  }

  /**
   * Has every worker listen on `port` (shared with the reader's server) and
   * answer other routes with `fetch` (the reader's app); resolves with how
   * many do.
   */
  async listen(
    port: number,
    fetch: (request: Request, client: string) => Promise<Response>,
  ): Promise<number> {
    this.#fetch = fetch;
    const results = await Promise.all(this.#members.map((m) => {
      if (!m.alive) return false;
      m.listening = Promise.withResolvers<boolean>();
      this.#post(m, { type: "listen", port });
      return m.listening.promise;
    }));
    return results.filter(Boolean).length;
  }

  /** The subscribers the workers serve: how many (in all, and per worker), and their queue depths. */
  async gauges(): Promise<
    { clients: number; depths: number[]; threads: number[] }
  > {
    const replies = await Promise.all(
      this.#members.filter((m) => m.alive).map((m) => {
        const id = this.#nextId++;
        const reply = Promise.withResolvers<
          Extract<FromWorker, { type: "gauges" }> | null
        >();
        this.#pending.set(id, reply.resolve);
        this.#post(m, { type: "gauges", id });
        const timer = setTimeout(() => {
          this.#pending.delete(id);
          reply.resolve(null);
        }, 1000);
        return reply.promise.finally(() => clearTimeout(timer));
      }),
    );
    let clients = 0;
    const depths: number[] = [];
    const threads: number[] = [];
    for (const r of replies) {
      threads.push(r?.clients ?? 0);
      if (!r) continue;
      clients += r.clients;
      for (const d of r.depths) depths.push(d);
    }
    return { clients, depths, threads };
  }

  /**
   * Waits (up to `ms`) for every worker to end its subscribers, which it
   * does once the hub closed and everything published reached it; then
   * stops the threads.
   */
  async close(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#members.map((m) => m.closed.promise)),
      new Promise((resolve) => timer = setTimeout(resolve, ms)),
    ]);
    clearTimeout(timer);
    this.#sub.close();
    for (const m of this.#members) this.#lost(m);
  }

  /** Forwards what the hub queued for the pool, while every worker has room. */
  readonly #pump = (): void => {
    const messages = this.#sub.take();
    if (messages.length > 0) {
      const wire = messages.map(toWire);
      let weight = 0;
      for (const m of wire) weight += weightOf(m);
      for (const m of this.#members) {
        if (!m.alive) continue;
        this.#post(m, { type: "publish", messages: wire });
        this.#flow.sent(m.index, weight);
      }
    }
    if (this.#sub.reason !== null) {
      // The hub closed: everything published was sent; the workers end their subscribers.
      if (this.#sub.reason === "shutdown") {
        for (const m of this.#members) {
          this.#post(m, { type: "close", graceMs: 300 });
        }
      }
      return;
    }
    const behind = this.#members.find((m) =>
      m.alive && this.#flow.inFlight(m.index) > FLOW_WINDOW
    );
    if (behind) {
      // Looked at again when it took some, or soon (it may have died).
      if (!this.#waiting) {
        this.#waiting = true;
        this.#flow.progress(behind.index).then(() => {
          this.#waiting = false;
          this.#pump();
        });
      }
      return;
    }
    this.#sub.whenReady(this.#pump);
  };

  #known(change: KnownChange): void {
    // A copy of the head: the array may be a view of a larger buffer.
    const c = change.op === "head"
      ? { ...change, head: change.head.slice() }
      : change;
    for (const m of this.#members) this.#post(m, { type: "known", change: c });
  }

  #post(m: Member, message: ToWorker): void {
    if (!m.alive) return;
    try {
      m.worker.postMessage(message);
    } catch (error) {
      this.#options.log(
        `tailcast: cannot reach server thread ${m.index + 1}: ${error}`,
      );
      this.#lost(m);
    }
  }

  #onMessage(m: Member, message: FromWorker): void {
    switch (message.type) {
      case "listening":
        m.listening?.resolve(true);
        break;
      case "failed":
        this.#options.log(
          `tailcast: server thread ${
            m.index + 1
          } could not listen: ${message.message}`,
        );
        m.listening?.resolve(false);
        this.#lost(m);
        break;
      case "take": {
        const verdict = this.#options.admission.take(message.client);
        if (verdict === "ok") {
          m.places.set(message.client, (m.places.get(message.client) ?? 0) + 1);
        }
        this.#post(m, { type: "verdict", id: message.id, verdict });
        break;
      }
      case "give": {
        const n = m.places.get(message.client) ?? 0;
        if (n === 0) break;
        if (n === 1) m.places.delete(message.client);
        else m.places.set(message.client, n - 1);
        this.#options.admission.give(message.client);
        break;
      }
      case "request":
        this.#answer(m, message.id, message.request);
        break;
      case "gauges": {
        const reply = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        reply?.(message);
        break;
      }
      case "dropped":
        this.#options.onDrop?.(message.count);
        break;
      case "closed":
        m.closed.resolve();
        break;
    }
  }

  /** Answers a request a worker forwarded, with the reader's app. */
  async #answer(m: Member, id: number, request: WireRequest): Promise<void> {
    let response: WireResponse;
    try {
      const fetch = this.#fetch;
      if (!fetch) throw new Error("the server is not listening yet");
      const r = await fetch(
        new Request(request.url, {
          method: request.method,
          headers: request.headers,
          body: request.body,
        }),
        request.client,
      );
      const body = r.body
        ? await readAtMost(r.body, MAX_FORWARDED_RESPONSE)
        : null;
      if (r.body && body === null) {
        throw new RangeError(
          `a response of more than ${MAX_FORWARDED_RESPONSE} bytes cannot be forwarded`,
        );
      }
      response = { status: r.status, headers: [...r.headers], body };
    } catch (error) {
      response = {
        status: 500,
        headers: [["content-type", "text/plain; charset=utf-8"]],
        body: new TextEncoder().encode(`internal error: ${error}\n`),
      };
    }
    this.#post(m, { type: "response", id, response });
  }

  /** A worker is gone (failed or stopped): its places are given back, nothing waits for it. */
  #lost(m: Member): void {
    if (!m.alive) return;
    m.alive = false;
    for (const [client, n] of m.places) {
      for (let i = 0; i < n; i++) this.#options.admission.give(client);
    }
    m.places.clear();
    m.listening?.resolve(false);
    m.closed.resolve();
    m.worker.terminate();
  }
}
