/**
 * A pool worker: one more server of `/events` on the reader's port. It owns
 * its hub, its stream route and its subscribers' queues, and copies of the
 * reader's journal and known files, kept entry by entry from what the
 * reader forwards, so its ids, replays and resumes are the reader's. Line
 * replays read the files here, through the same stages as the reader's.
 * What must be one for the whole server is asked of the reader: a place per
 * subscriber, and every other route (forwarded as a request).
 */
import { createWorkerApp } from "../app.ts";
import type { Doorkeeper, Verdict } from "../http/guard.ts";
import { SseRoute } from "../http/route.ts";
import { listen, type Listening, routeOptions } from "../server.ts";
import { Hub } from "../sink/hub.ts";
import { Journal } from "../sink/journal.ts";
import { KnownFiles } from "../source/known.ts";
import { UNSTORED } from "../types.ts";
import { Stages } from "../stage/pipeline.ts";
import {
  Flow,
  fromWire,
  type FromWorker,
  readAtMost,
  type ToWorker,
  weightOf,
  type WireResponse,
  type WorkerInit,
} from "./wire.ts";

/** Largest request body forwarded to the reader, but for an ingest POST's own limit. */
const MAX_FORWARDED_BODY = 1024 * 1024;

const encoder = new TextEncoder();

function log(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // stderr is gone; nothing else to tell.
  }
}

/** Whether this code runs in a worker thread. */
export function inWorker(): boolean {
  return typeof (globalThis as { WorkerGlobalScope?: unknown })
    .WorkerGlobalScope !== "undefined";
}

/** Runs this thread as a pool worker: waits for its init message, then serves. */
export function runWorker(): void {
  const scope = self as unknown as {
    onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
    postMessage(message: FromWorker): void;
    close(): void;
  };
  scope.onmessage = (e) => {
    if (e.data.type !== "init") return;
    const thread = new WorkerThread(e.data, (m) => scope.postMessage(m));
    scope.onmessage = (e) => thread.receive(e.data, () => scope.close());
  };
}

class WorkerThread {
  readonly #init: WorkerInit;
  readonly #post: (message: FromWorker) => void;
  readonly #journal: Journal;
  readonly #known = new KnownFiles();
  readonly #hub: Hub;
  readonly #sse: SseRoute;
  readonly #flow: Flow;
  readonly #verdicts = new Map<number, (verdict: Verdict) => void>();
  readonly #responses = new Map<number, (response: WireResponse) => void>();
  #server: Listening | null = null;
  #nextId = 0;
  #dropped = 0;

  constructor(init: WorkerInit, post: (message: FromWorker) => void) {
    this.#init = init;
    this.#post = post;
    this.#flow = new Flow(init.flow);
    this.#journal = new Journal({
      epoch: init.epoch,
      capacity: init.capacity,
      recent: init.recent,
      start: init.head,
      unstored: UNSTORED,
    });
    for (const change of init.known) this.#known.apply(change);
    this.#hub = new Hub({ onDrop: (n) => this.#drop(n) });
    const stages = new Stages({ ...init.config, cwd: init.cwd });
    this.#sse = new SseRoute(this.#hub, {
      ...routeOptions(init.config, init.maxClients),
      doorkeeper: this.#doorkeeper(),
      replay: {
        journal: this.#journal,
        known: this.#known,
        events: (chunks) => stages.events(chunks),
      },
      log,
      unstored: UNSTORED,
    });
  }

  receive(message: ToWorker, end: () => void): void {
    switch (message.type) {
      case "publish": {
        let weight = 0;
        for (const wire of message.messages) {
          const m = fromWire(wire);
          if (m.type === "batch") this.#journal.copyBatch(m.batch);
          else {
            this.#journal.copyMessage(
              m.seq,
              m.type === "alert"
                ? { type: "alert", alert: m.alert }
                : { type: "notice", notice: m.notice },
            );
          }
          this.#hub.publish(m);
          weight += weightOf(wire);
        }
        this.#flow.took(this.#init.index, weight);
        break;
      }
      case "known":
        this.#known.apply(message.change);
        break;
      case "listen":
        this.#listen(message.port);
        break;
      case "verdict":
        this.#verdicts.get(message.id)?.(message.verdict);
        this.#verdicts.delete(message.id);
        break;
      case "response":
        this.#responses.get(message.id)?.(message.response);
        this.#responses.delete(message.id);
        break;
      case "gauges":
        this.#post({
          type: "gauges",
          id: message.id,
          clients: this.#sse.clients,
          depths: this.#sse.depths,
        });
        break;
      case "close":
        this.#close(message.graceMs).finally(() => {
          this.#post({ type: "closed" });
          end();
        });
        break;
    }
  }

  async #listen(port: number): Promise<void> {
    const config = this.#init.config;
    const app = createWorkerApp({
      sse: this.#sse,
      version: this.#init.version,
      token: config.token,
      corsOrigin: config.corsOrigin,
      listen: config.host,
      allowedHosts: config.allowedHosts,
      ingest: config.ingest
        ? { token: config.ingest.token, maxBody: config.ingest.maxBody }
        : null,
      forward: (request, client) => this.#forward(request, client),
    });
    try {
      this.#server = await listen(config, app.fetch, {
        port,
        reusePort: true,
        log,
      });
      this.#post({ type: "listening" });
    } catch (error) {
      this.#post({
        type: "failed",
        message: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /** Ends every subscriber (they are sent `bye`), then stops serving. */
  async #close(graceMs: number): Promise<void> {
    this.#hub.close();
    await this.#sse.close(graceMs);
    const server = this.#server;
    if (server) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      // A connection whose socket is full never finishes; do not wait for it.
      await Promise.race([
        server.shutdown(),
        new Promise((resolve) => timer = setTimeout(resolve, 200)),
      ]);
      clearTimeout(timer);
    }
  }

  /** Places are the reader's to give: one message there and back per connection. */
  #doorkeeper(): Doorkeeper {
    return {
      maxClients: this.#init.maxClients,
      maxPerIp: this.#init.config.maxClientsPerIp,
      take: (client) => {
        const id = this.#nextId++;
        const verdict = Promise.withResolvers<Verdict>();
        this.#verdicts.set(id, verdict.resolve);
        this.#post({ type: "take", id, client });
        return verdict.promise;
      },
      give: (client) => this.#post({ type: "give", client }),
    };
  }

  /** Another route: answered by the reader's app, which has what it reports on. */
  async #forward(request: Request, client: string): Promise<Response> {
    let body: Uint8Array<ArrayBuffer> | null = null;
    if (request.body) {
      const max = Math.max(
        MAX_FORWARDED_BODY,
        this.#init.config.ingest?.maxBody ?? 0,
      );
      body = await readAtMost(request.body, max);
      if (body === null) {
        return new Response(
          `Content Too Large: a request body here may have at most ${max} bytes\n`,
          { status: 413, headers: { connection: "close" } },
        );
      }
    }
    const id = this.#nextId++;
    const answer = Promise.withResolvers<WireResponse>();
    this.#responses.set(id, answer.resolve);
    this.#post({
      type: "request",
      id,
      request: {
        method: request.method,
        url: request.url,
        headers: [...request.headers],
        body,
        client,
      },
    });
    const r = await answer.promise;
    return new Response(r.body, { status: r.status, headers: r.headers });
  }

  /** Drops are counted by the reader's metrics; reported once per turn. */
  #drop(count: number): void {
    if (this.#dropped === 0) {
      setTimeout(() => {
        this.#post({ type: "dropped", count: this.#dropped });
        this.#dropped = 0;
      }, 0);
    }
    this.#dropped += count;
  }
}
