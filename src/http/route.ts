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
 *
 * A client that comes back with `Last-Event-ID` (or `?since=`), or asks for
 * `backlog=N`, is first sent what it missed from the files on disk (see
 * resume.ts), then goes live. The subscription is made, and the published
 * positions snapshotted, in the same tick, so the seam has no gap and no
 * duplicate; if its queue overflows during a long replay, the replay is
 * repeated from where it got to before going live.
 */
import { type DecodedCursor, toDecoded } from "./cursor.ts";
import { replayChunks } from "../source/replay.ts";
import { type Chunk, END, type Event, FILE } from "../types.ts";
import type { Hub, Message, Subscription } from "../sink/hub.ts";
import type { Positions } from "../sink/positions.ts";
import { planResume, type SubscriberCursor } from "./resume.ts";
import { formatNdjson, formatSse } from "./format.ts";
import {
  parseQuery,
  QueryError,
  selects,
  selectsEvent,
  selectsSource,
  type SubscriberQuery,
} from "./query.ts";

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
  /**
   * Resume and backlog: the published positions (the seam) and the stages
   * that turn replayed bytes into events, the same as the live pipeline's.
   * Without it both are refused.
   */
  replay?: {
    readonly positions: Positions;
    readonly events: (chunks: ReadableStream<Chunk>) => ReadableStream<Event[]>;
  };
  /** Standard input is followed: its lines cannot be read back after an overflow. */
  stdin?: boolean;
  /** One line for the operator (a subscriber cut for a stalled write). */
  log?: (line: string) => void;
}

/** How a connection is ended when its subscriber is cut (write timeout, shutdown). */
export class SubscriberEnded extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`subscriber ended: ${reason}`);
    this.name = "SubscriberEnded";
    this.reason = reason;
  }
}

const encoder = new TextEncoder();

interface Connection {
  sub: Subscription;
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
  readonly #resume: SseOptions["replay"] | null;
  readonly #stdin: boolean;
  readonly #log: (line: string) => void;
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
    this.#resume = options.replay ?? null;
    this.#stdin = options.stdin ?? false;
    this.#log = options.log ?? (() => {});
  }

  /** Subscribers connected now. */
  get clients(): number {
    return this.#connections.size;
  }

  /** Queue depth of every connected subscriber. */
  get depths(): number[] {
    return [...this.#connections].map((c) => c.sub.depth);
  }

  /** Answers one `/events` request. */
  handle(request: Request): Response {
    let query: SubscriberQuery;
    try {
      query = parseQuery(
        new URL(request.url),
        request.headers.get("accept"),
        request.headers.get("last-event-id"),
      );
      if ((query.since || query.backlog) && !this.#resume) {
        throw new QueryError("This server cannot replay: resume is off");
      }
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
    const sse = query.format === "sse";
    let connection: Connection;
    let frames: AsyncGenerator<string, void, void>;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        connection = {
          sub: this.#subscribe(query),
          controller,
          pendingSince: null,
          lastWrite: performance.now(),
        };
        this.#connections.add(connection);
        this.#ensureTimer();
        frames = this.#frames(connection, query);
      },
      pull: async (controller) => {
        connection.pendingSince = null;
        let next: IteratorResult<string, void>;
        try {
          next = await frames.next();
        } catch (error) {
          this.#connections.delete(connection);
          connection.sub.close();
          throw error;
        }
        // Cut while waiting (write timeout, shutdown): the stream is already errored.
        if (!this.#connections.has(connection)) return;
        if (next.done) {
          controller.close();
          this.#connections.delete(connection);
          return;
        }
        controller.enqueue(encoder.encode(next.value));
        connection.pendingSince = connection.lastWrite = performance.now();
      },
      cancel: async () => {
        this.#connections.delete(connection);
        connection.sub.close("unsubscribed");
        await frames.return();
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

  #subscribe(query: SubscriberQuery): Subscription {
    return this.#hub.subscribe({
      capacity: this.#queue,
      policy: query.policy,
      accept: selects(query),
    });
  }

  /** What one connection is sent: preamble, replay from disk, then live batches, then `bye`. */
  async *#frames(
    c: Connection,
    query: SubscriberQuery,
  ): AsyncGenerator<string, void, void> {
    const sse = query.format === "sse";
    const format = sse ? formatSse : formatNdjson;
    if (sse) yield `retry: ${this.#retryMs}\n: tailcast\n\n`;
    let cursor: SubscriberCursor | null = null;
    if (this.#resume) {
      cursor = yield* this.#replay(
        c,
        query,
        format,
        query.since,
        query.backlog,
      );
    }
    const idOf = (e: Event): string | null => {
      if (!cursor || e.source === "-") return e.id;
      return cursor.accept(e.source, e[FILE], e[END]) ? cursor.text : null;
    };
    for (
      let batch = await c.sub.next(1024);
      batch;
      batch = await c.sub.next(1024)
    ) {
      if (batch.length === 0) {
        if (sse) yield ": ping\n\n";
        continue;
      }
      if (cursor && batch[0].type === "dropped") {
        // The queue overflowed, but the files still hold what was dropped:
        // catch up from them. Lines of standard input are not on disk:
        // send the ones still queued, and a gap for the ones lost.
        const dropped = batch[0];
        const stdin = stdinLines(batch.slice(1));
        if (dropped.stdin > 0) {
          yield format([{ ...dropped, count: dropped.stdin }]);
        }
        if (stdin.length > 0) yield format(stdin, idOf);
        cursor = yield* this.#replay(
          c,
          query,
          format,
          toDecoded(cursor.positions),
          null,
        );
        continue;
      }
      if (cursor) {
        for (const m of batch) {
          if (m.type === "notice" && m.notice.kind === "truncate") {
            cursor.restart(m.notice.source);
          }
        }
      }
      const out = format(batch, idOf);
      if (out.length > 0) yield out;
    }
    if (sse) {
      yield `event: bye\ndata: ${JSON.stringify({ reason: c.sub.reason })}\n\n`;
    }
  }

  /** Sends what the subscriber missed from disk; returns its cursor, positioned at the seam. */
  async *#replay(
    c: Connection,
    query: SubscriberQuery,
    format: typeof formatSse,
    since: DecodedCursor | null,
    backlog: number | null,
  ): AsyncGenerator<string, SubscriberCursor, void> {
    const { positions, events: stages } = this.#resume!;
    const inSource = selectsSource(query);
    const wanted = selectsEvent(query);
    // Until a round ends without the live queue overflowing, read from disk.
    for (;;) {
      const left = stdinLines(c.sub.takeQueued());
      const lost = c.sub.takeDroppedStdin();
      c.sub.close();
      c.sub = this.#subscribe(query);
      if (lost > 0) {
        yield format([{ type: "dropped", count: lost, stdin: lost }]);
      }
      if (left.length > 0) yield format(left);
      // Same tick as the subscription: the seam between disk and live.
      const seam = positions.snapshot(inSource);
      const plan = await planResume({ wanted: since, backlog, seam });
      const cursor = plan.cursor;
      for (const gap of plan.gaps) {
        yield format([{
          type: "notice",
          notice: {
            kind: "gap",
            source: gap.source,
            offset: gap.offset,
            bytes: 0,
            cause: gap.cause,
          },
        }]);
      }
      if (plan.ranges.length > 0) {
        const missing: string[] = [];
        const chunks = replayChunks(
          plan.ranges,
          (r) => missing.push(r.source),
        );
        // The same stages as the live pipeline (formats, multiline, filters).
        for await (const batch of stages(chunks)) {
          const messages: Message[] = [];
          const ids: string[] = [];
          for (const e of batch) {
            cursor.advance(e.source, e[FILE], e[END]);
            if (!wanted(e)) continue;
            messages.push({ type: "line", event: e });
            // Each event's id is the cursor just past it.
            ids.push(cursor.text);
          }
          if (messages.length > 0) {
            let k = 0;
            yield format(messages, () => ids[k++]);
          }
        }
        for (const source of missing) {
          yield format([{
            type: "notice",
            notice: {
              kind: "gap",
              source,
              offset: 0,
              bytes: 0,
              cause: "rotated-away",
            },
          }]);
        }
      }
      if (c.sub.dropped === 0 || c.sub.reason !== null) return cursor;
      since = toDecoded(cursor.positions);
      backlog = null;
    }
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
        this.#log(
          `tailcast: ended a subscriber whose write stalled for more than ${
            Math.round(this.#writeTimeoutMs / 1000)
          } s (it can reconnect with its last event id)`,
        );
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
      c.controller.error(new SubscriberEnded(reason));
    } catch {
      // Already closed.
    }
  }
}

/** The lines of standard input among `messages`: they exist nowhere else. */
function stdinLines(messages: readonly Message[]): Message[] {
  return messages.filter((m) => m.type === "line" && m.event.source === "-");
}

function text(status: number, message: string): Response {
  return new Response(message + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
