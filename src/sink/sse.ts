/**
 * SSE route: one hub subscription per connection, streamed as
 * `text/event-stream` (or NDJSON on request).
 *
 * The response body is a pull-based stream with no queue of its own: the
 * HTTP layer pulls the next batch only when the previous one was written to
 * the socket, so a stalled client leaves its messages in its own bounded hub
 * queue, where its policy applies. One timer for all connections sends
 * heartbeats to idle ones and ends any whose write has not completed within
 * the write timeout. The body's `cancel` (the client went away) is the one
 * place a subscription ends from the client's side.
 */
import { matchesGlob } from "node:path";
import type { Notice } from "../types.ts";
import type { Hub, Message, Policy, Subscription } from "./hub.ts";

export interface SseOptions {
  /** Messages a subscriber may have queued. @default 2048 */
  queue?: number;
  /** Idle time before a heartbeat comment, ms. @default 15000 */
  heartbeatMs?: number;
  /** A write taking longer than this ends the subscriber, ms. @default 30000 */
  writeTimeoutMs?: number;
  /** The reconnect delay suggested to clients, ms. @default 2000 */
  retryMs?: number;
  /** Subscribers at most; beyond it, 503. @default 10000 */
  maxClients?: number;
}

/** A request's choices, already validated. */
export interface SubscriberQuery {
  readonly source: string | null;
  readonly grep: RegExp | null;
  readonly policy: Policy;
  readonly format: "sse" | "ndjson";
}

/** A request that cannot be served as asked: the route answers 400 with the message. */
export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QueryError";
  }
}

/** Validates the query parameters of `/events`. */
export function parseQuery(url: URL, accept: string | null): SubscriberQuery {
  const q = url.searchParams;
  let grep: RegExp | null = null;
  const grepText = q.get("grep");
  if (grepText !== null && grepText !== "") {
    try {
      grep = new RegExp(grepText);
    } catch (error) {
      throw new QueryError(
        `Invalid grep regex ${JSON.stringify(grepText)}: ${
          (error as Error).message
        }`,
      );
    }
  }
  const policy = q.get("policy") ?? "drop-oldest";
  if (policy !== "drop-oldest" && policy !== "disconnect") {
    throw new QueryError(
      `Invalid policy ${
        JSON.stringify(policy)
      }: use drop-oldest (default) or disconnect`,
    );
  }
  const format = q.get("format");
  if (format !== null && format !== "sse" && format !== "ndjson") {
    throw new QueryError(
      `Invalid format ${JSON.stringify(format)}: use sse or ndjson`,
    );
  }
  const wantsNdjson = format === "ndjson" ||
    (format === null && (accept ?? "").includes("application/x-ndjson"));
  const source = q.get("source");
  return {
    source: source === null || source === "" ? null : source,
    grep,
    policy,
    format: wantsNdjson ? "ndjson" : "sse",
  };
}

/** Whether a message is for a subscriber that asked for `query`. */
export function selects(query: SubscriberQuery): (m: Message) => boolean {
  const { source, grep } = query;
  return (m) => {
    if (m.type === "dropped") return true;
    const from = m.type === "line" ? m.event.source : sourceOf(m.notice);
    if (source !== null && (from === null || !matchesGlob(from, source))) {
      return false;
    }
    if (m.type === "line" && grep !== null) return grep.test(m.event.line);
    return m.type === "line" || query.format === "sse";
  };
}

function sourceOf(n: Notice): string | null {
  return n.kind === "mode" ? null : n.source;
}

const encoder = new TextEncoder();

/** The SSE wire format of a batch: one event per message, JSON data on one line. */
export function formatSse(messages: readonly Message[]): string {
  let out = "";
  for (const m of messages) {
    if (m.type === "line") {
      out += `event: line\nid: ${m.event.id}\ndata: ${
        JSON.stringify(m.event)
      }\n\n`;
    } else if (m.type === "dropped") {
      out += `event: gap\ndata: ${
        JSON.stringify({
          cause: "slow-subscriber",
          lines: m.count,
          message:
            `${m.count} events were dropped because this client read too slowly`,
        })
      }\n\n`;
    } else {
      out += `event: ${m.notice.kind}\ndata: ${JSON.stringify(m.notice)}\n\n`;
    }
  }
  return out;
}

/** NDJSON for pipes: line events as on stdout, plus `{"type":"gap"}` records. */
export function formatNdjson(messages: readonly Message[]): string {
  let out = "";
  for (const m of messages) {
    if (m.type === "line") out += JSON.stringify(m.event) + "\n";
    else if (m.type === "dropped") {
      out += JSON.stringify({
        type: "gap",
        cause: "slow-subscriber",
        lines: m.count,
      }) + "\n";
    }
  }
  return out;
}

interface Connection {
  readonly sub: Subscription;
  readonly controller: ReadableStreamDefaultController<Uint8Array>;
  /** When the last chunk was handed to the HTTP layer and not yet taken. */
  pendingSince: number | null;
  lastWrite: number;
}

/** Serves `/events`; owns every connection's stream and the heartbeat timer. */
export class SseRoute {
  readonly #hub: Hub;
  readonly #queue: number;
  readonly #heartbeatMs: number;
  readonly #writeTimeoutMs: number;
  readonly #retryMs: number;
  readonly #maxClients: number;
  readonly #connections = new Set<Connection>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #closed = false;

  constructor(hub: Hub, options: SseOptions = {}) {
    this.#hub = hub;
    this.#queue = options.queue ?? 2048;
    this.#heartbeatMs = options.heartbeatMs ?? 15_000;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 30_000;
    this.#retryMs = options.retryMs ?? 2000;
    this.#maxClients = options.maxClients ?? 10_000;
  }

  /** Subscribers connected now. */
  get clients(): number {
    return this.#connections.size;
  }

  /** Answers one `/events` request. */
  handle(request: Request): Response {
    let query: SubscriberQuery;
    try {
      query = parseQuery(new URL(request.url), request.headers.get("accept"));
    } catch (error) {
      if (error instanceof QueryError) return text(400, error.message);
      throw error;
    }
    if (this.#closed) return text(503, "tailcast is shutting down");
    if (this.#connections.size >= this.#maxClients) {
      return text(
        503,
        `Too many subscribers: the limit is ${this.#maxClients} (raise it with --max-clients)`,
      );
    }
    const sub = this.#hub.subscribe({
      capacity: this.#queue,
      policy: query.policy,
      accept: selects(query),
    });
    const sse = query.format === "sse";
    const format = sse ? formatSse : formatNdjson;
    let connection: Connection;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        connection = {
          sub,
          controller,
          pendingSince: null,
          lastWrite: performance.now(),
        };
        this.#connections.add(connection);
        this.#ensureTimer();
        if (sse) {
          controller.enqueue(
            encoder.encode(`retry: ${this.#retryMs}\n: tailcast\n\n`),
          );
        }
      },
      pull: async (controller) => {
        connection.pendingSince = null;
        const batch = await sub.next(1024);
        // Cut while waiting (write timeout, shutdown): the stream is already errored.
        if (!this.#connections.has(connection)) return;
        if (batch === null) {
          if (sse) {
            controller.enqueue(encoder.encode(
              `event: bye\ndata: ${JSON.stringify({ reason: sub.reason })}\n\n`,
            ));
          }
          controller.close();
          this.#connections.delete(connection);
          return;
        }
        const chunk = batch.length === 0
          ? (sse ? ": ping\n\n" : "")
          : format(batch);
        if (chunk.length === 0) return;
        controller.enqueue(encoder.encode(chunk));
        connection.pendingSince = connection.lastWrite = performance.now();
      },
      cancel: () => {
        sub.close("unsubscribed");
        this.#connections.delete(connection);
      },
    }, { highWaterMark: 0 });
    return new Response(body, {
      headers: {
        "content-type": sse
          ? "text/event-stream; charset=utf-8"
          : "application/x-ndjson; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  }

  /**
   * Stops taking subscribers. The hub must be closed first so every
   * connection is sent `bye`; those whose client does not take it within
   * `graceMs` are cut.
   */
  async close(graceMs = 500): Promise<void> {
    this.#closed = true;
    const deadline = performance.now() + graceMs;
    while (this.#connections.size > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const c of this.#connections) this.#cut(c, "shutdown");
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #ensureTimer(): void {
    if (this.#timer !== null) return;
    const every = Math.max(
      50,
      Math.min(this.#heartbeatMs, this.#writeTimeoutMs) / 4,
    );
    this.#timer = setInterval(() => this.#sweep(), every);
  }

  #sweep(): void {
    const now = performance.now();
    for (const c of this.#connections) {
      if (
        c.pendingSince !== null && now - c.pendingSince > this.#writeTimeoutMs
      ) {
        this.#cut(c, "write-timeout");
      } else if (
        c.pendingSince === null && now - c.lastWrite >= this.#heartbeatMs
      ) {
        c.lastWrite = now;
        c.sub.poke();
      }
    }
    if (this.#connections.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /** Ends a connection that cannot take more: its queue is freed, its socket closed. */
  #cut(c: Connection, reason: "write-timeout" | "shutdown"): void {
    this.#connections.delete(c);
    c.sub.close(reason);
    try {
      c.controller.error(new Error(`subscriber ended: ${reason}`));
    } catch {
      // Already closed.
    }
  }
}

function text(status: number, message: string): Response {
  return new Response(message + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
