/**
 * SSE route: one hub subscription per connection, streamed as
 * `text/event-stream` (or NDJSON on request).
 *
 * The response body is a pull-based stream with no queue of its own: the
 * HTTP layer pulls when the previous bytes were written to the socket, so a
 * stalled client leaves its messages in its own bounded hub queue, where its
 * policy applies. A client that takes whole batches is handed the batch's
 * shared bytes from inside `publish`, when its body is waiting; one with line
 * filters (grep, where, level) is served in its own turn, so its filters
 * delay nobody else's delivery. One timer for all connections sends
 * heartbeats to idle ones and ends any whose write has not completed within
 * the write timeout. The body's `cancel` (the client went away) is the one
 * place a subscription ends from the client's side.
 *
 * A client that comes back with `Last-Event-ID` (or `?since=`) is first sent
 * what it missed, then goes live; so is one that asks for `backlog=N`. The
 * subscription is made and the journal's head read in the same tick, so the
 * seam has no gap and no duplicate. Within the journal's window the replay
 * is the journal's entries after the client's position (byte ranges read
 * back from the files, notices and alerts as published); otherwise, from
 * the file positions its id carries; one whose position the log has not
 * reached yet (a gateway behind the one the client came from) is sent only
 * what comes after it, live. When a queue overflows (drop-oldest),
 * the messages still queued are kept, what was dropped before them is
 * replayed the same way, and the stream goes on: memory stays bounded and
 * no line is lost while the files hold it. At most `maxReplays` replays run
 * at once; a connection over that waits for its turn.
 */
import { Semaphore } from "@std/async/unstable-semaphore";
import { concat } from "@std/bytes/concat";
import type { DecodedCursor } from "../sink/cursor.ts";
import { MAX_ID_BYTES, positionId } from "../sink/cursor.ts";
import type { Hub, Message, Subscription } from "../sink/hub.ts";
import type { ReplayLog, ReplayStep } from "../sink/journal.ts";
import { eventJson } from "../sink/json.ts";
import type { KnownFiles } from "../source/known.ts";
import { Admission, type Doorkeeper, type Verdict } from "./guard.ts";
import {
  locate,
  Pacer,
  replayChunks,
  type ReplayRange,
} from "../source/replay.ts";
import {
  type Chunk,
  END,
  type Event,
  FILE,
  type FileId,
  isMark,
  type Mark,
  type ResumeCursor,
} from "../types.ts";
import {
  batchBytes,
  gapText,
  messageText,
  sseId,
  sseLine,
  unstoredGap,
  type WireFormat,
} from "./format.ts";
import {
  lineFilter,
  parseQuery,
  QueryError,
  type QueryLimits,
  selects,
  selectsSource,
  type SubscriberQuery,
} from "./query.ts";
import { planResume, type SubscriberCursor } from "./resume.ts";

export interface SseOptions {
  /** Events a subscriber may have queued. @default 2048 */
  queue?: number;
  /** Idle time before a heartbeat comment, ms. @default 15000 */
  heartbeatMs?: number;
  /** A write taking longer than this ends the subscriber, ms. @default 30000 */
  writeTimeoutMs?: number;
  /** The reconnect delay suggested to clients, ms. @default 2000 */
  retryMs?: number;
  /** Subscribers at most; beyond it, 503. @default 10000 */
  maxClients?: number;
  /** Streams one client address may hold at once; beyond it, 429. @default 256 */
  maxClientsPerIp?: number;
  /**
   * Who counts the places, when it is not this route alone (a pool of
   * servers shares the reader's). @default an Admission of the two limits
   */
  doorkeeper?: Doorkeeper;
  /** Replays (resumes, backlogs, catch-ups) running at once; more wait. @default 16 */
  maxReplays?: number;
  /** Bounds on what one request may ask for. */
  limits?: QueryLimits;
  /**
   * Resume and backlog: the journal (the seam and what was published), the
   * files tailcast followed, and the stages that turn replayed bytes into
   * events, the same as the live pipeline's. Without it a client is not
   * replayed anything: it gets a gap.
   */
  replay?: {
    readonly journal: ReplayLog;
    readonly known: KnownFiles;
    readonly events: (
      chunks: ReadableStream<Chunk | Mark>,
    ) => ReadableStream<Event[] | Mark>;
  };
  /** The identity batches of lines on no disk carry (standard input, commands, ingest rings): they cannot be read back. */
  unstored?: FileId;
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

/** A position in the journal: after entry `seq`, past byte `end` of its file. */
interface At {
  seq: number;
  end: number;
}

interface Connection {
  /** The client's address, holding one of its places. */
  readonly client: string;
  readonly query: SubscriberQuery;
  readonly format: WireFormat;
  readonly sse: boolean;
  /** The line filters, or null when it takes whole batches. */
  readonly keep: ((e: Event) => boolean) | null;
  readonly inSource: (source: string) => boolean;
  readonly sub: Subscription;
  readonly controller: ReadableStreamDefaultController<Uint8Array>;
  /** Where the stream is: just past what was last handed to the HTTP layer. */
  at: At;
  /**
   * A position the client already has that the log had not reached when
   * it came (see {@link ReplayLog.ahead}): live messages up to it are not
   * sent. Null once passed.
   */
  floor: At | null;
  /** The id that position has (sent with heartbeats when filters held lines back). */
  id: string | null;
  /** The id the client was last sent. */
  sentId: string | null;
  /** What is being sent before live messages: a replay, then messages held back. */
  replay: AsyncGenerator<Uint8Array, void, void> | null;
  /** When the last bytes were handed to the HTTP layer and not yet taken. */
  pendingSince: number | null;
  lastWrite: number;
  /** A pull waiting for live messages resolves through this. */
  waiting: (() => void) | null;
}

const encoder = new TextEncoder();

/** Serves `/events`; owns every connection's stream and the heartbeat timer. */
export class SseRoute {
  readonly #hub: Hub;
  readonly #queue: number;
  readonly #heartbeatMs: number;
  readonly #writeTimeoutMs: number;
  readonly #retryMs: number;
  readonly #limits: QueryLimits;
  readonly #replay: SseOptions["replay"] | null;
  readonly #replays: Semaphore;
  readonly #unstored: FileId | undefined;
  /** Every replay and every filter of this route takes turns through it: no number of them can stall the process. */
  readonly #pacer = new Pacer();
  readonly #log: (line: string) => void;
  readonly #connections = new Set<Connection>();
  readonly #door: Doorkeeper;
  #timer: ReturnType<typeof setInterval> | null = null;
  #closed = false;

  constructor(hub: Hub, options: SseOptions = {}) {
    this.#hub = hub;
    this.#queue = options.queue ?? 2048;
    this.#heartbeatMs = options.heartbeatMs ?? 15_000;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 30_000;
    this.#retryMs = options.retryMs ?? 2000;
    this.#door = options.doorkeeper ??
      new Admission(
        options.maxClients ?? 10_000,
        options.maxClientsPerIp ?? 256,
      );
    this.#limits = options.limits ?? {};
    this.#replay = options.replay ?? null;
    this.#replays = new Semaphore(options.maxReplays ?? 16);
    this.#unstored = options.unstored;
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

  /** Answers one `/events` request from the client at `client` (its address). */
  handle(request: Request, client = "local"): Response | Promise<Response> {
    let query: SubscriberQuery;
    try {
      query = parseQuery(
        new URL(request.url),
        request.headers.get("accept"),
        request.headers.get("last-event-id"),
        this.#limits,
      );
    } catch (error) {
      if (error instanceof QueryError) return text(400, error.message);
      throw error;
    }
    if (this.#closed) return text(503, "tailcast is shutting down");
    const verdict = this.#door.take(client);
    return verdict instanceof Promise
      ? verdict.then((v) => this.#admit(v, client, query))
      : this.#admit(verdict, client, query);
  }

  /** The stream, or the refusal the doorkeeper's verdict calls for. */
  #admit(verdict: Verdict, client: string, query: SubscriberQuery): Response {
    if (verdict === "ok" && this.#closed) {
      this.#door.give(client);
      return text(503, "tailcast is shutting down");
    }
    if (verdict === "full") {
      return text(
        503,
        `Too many subscribers: the limit is ${this.#door.maxClients} (raise it with --max-clients)`,
      );
    }
    if (verdict === "per-ip") {
      return text(
        429,
        `Too many streams from ${client}: one address may hold ${this.#door.maxPerIp} (raise it with --max-clients-per-ip)`,
        { "retry-after": "5" },
      );
    }
    let c: Connection;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        c = this.#open(client, query, controller);
      },
      pull: () => this.#pull(c),
      cancel: async () => {
        this.#drop(c);
        c.sub.close("unsubscribed");
        c.waiting?.();
        await c.replay?.return();
      },
    }, { highWaterMark: 0 });
    return new Response(body, {
      headers: {
        "content-type": query.format === "sse"
          ? "text/event-stream; charset=utf-8"
          : "application/x-ndjson; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  }

  /** Subscribes and reads the seam in one tick; plans what goes before live. */
  #open(
    client: string,
    query: SubscriberQuery,
    controller: ReadableStreamDefaultController<Uint8Array>,
  ): Connection {
    const journal = this.#replay?.journal ?? null;
    const sub = this.#hub.subscribe({
      capacity: this.#queue,
      policy: query.policy,
      accept: selects(query),
      unstored: this.#unstored,
    });
    const head = journal?.head ?? 0;
    const inSource = selectsSource(query);
    const seam = journal?.seam(inSource) ?? new Map();
    const c: Connection = {
      client,
      query,
      format: query.format,
      sse: query.format === "sse",
      keep: lineFilter(query),
      inSource,
      sub,
      controller,
      at: { seq: head, end: Infinity },
      floor: null,
      id: null,
      sentId: null,
      replay: null,
      pendingSince: null,
      lastWrite: performance.now(),
      waiting: null,
    };
    // Decided with the head, in this tick: live messages may queue already.
    const at = query.since?.at;
    if (at && journal?.ahead?.(at.epoch, at.seq)) {
      c.floor = { seq: at.seq, end: at.end };
    }
    this.#connections.add(c);
    this.#ensureTimer();
    c.replay = this.#start(c, head, seam);
    return c;
  }

  /** The preamble, then what the client missed or asked for, before live. */
  async *#start(
    c: Connection,
    head: number,
    seam: ResumeCursor,
  ): AsyncGenerator<Uint8Array, void, void> {
    if (c.sse) yield encoder.encode(`retry: ${this.#retryMs}\n: tailcast\n\n`);
    const { since, backlog } = c.query;
    if (since === null && (backlog === null || backlog === 0)) return;
    const replay = this.#replay;
    if (!replay) {
      yield this.#gap(c, {
        cause: "no-replay",
        message: "this server does not replay history",
      });
      return;
    }
    using _turn = await this.#replays.acquire();
    const { journal } = replay;
    if (c.floor !== null) {
      // This server had not read as far as the client: it waits for live,
      // unless nobody published that position.
      if (journal.reaches && !(await journal.reaches(c.floor.seq))) {
        c.floor = null;
        yield this.#gap(c, {
          cause: "resume-expired",
          message:
            "the position this client resumes from was never published in this stream; events before now are not replayed",
        });
      }
    } else if (
      since?.at && journal.holds(since.at.epoch, since.at.seq, since.at.end)
    ) {
      yield* this.#fromJournal(c, journal.replay(since.at, head));
    } else if (since === null && backlog && journal.backlog) {
      yield* this.#fromJournal(c, journal.backlog(backlog, c.inSource, head));
    } else if (since?.files || (since === null && backlog)) {
      yield* this.#fromFiles(c, since?.files ?? null, backlog, seam);
    } else if (since) {
      yield this.#gap(c, {
        cause: "resume-expired",
        message:
          "the position this client resumes from is no longer known here (the server restarted, or it is older than the journal keeps); events before now are not replayed",
      });
    }
    c.at = { seq: head, end: Infinity };
  }

  /** Steps of the journal's (a replay or a backlog), read back as they were published. */
  async *#fromJournal(
    c: Connection,
    steps: Iterable<ReplayStep> | AsyncIterable<ReplayStep>,
  ): AsyncGenerator<Uint8Array, void, void> {
    const replay = this.#replay!;
    const { journal, known } = replay;
    const pacer = this.#pacer;
    const misses: Extract<ReplayStep, { kind: "range" }>[] = [];
    let current: Extract<ReplayStep, { kind: "range" }> | null = null;
    const wants = selects(c.query);
    // Ranges become chunks (with a carried mark where each starts); the rest
    // is carried through the stages as is, so the order is kept.
    async function* input(): AsyncGenerator<Chunk | Mark, void, void> {
      for await (const step of steps) {
        if (step.kind !== "range" || step.unstored) {
          yield { kind: "carry", value: step };
          if (step.kind === "expired") return;
          continue;
        }
        const found = await locate(step.source, step.file, known);
        if (!found) {
          yield { kind: "carry", value: { ...step, kind: "missing" } };
          continue;
        }
        yield { kind: "carry", value: step };
        const range: ReplayRange = {
          source: step.source,
          path: found.path,
          file: step.file,
          from: step.from,
          to: step.to,
        };
        yield* replayChunks([range], () => misses.push(step), undefined, pacer);
      }
    }
    for await (const item of replay.events(ReadableStream.from(input()))) {
      if (!isMark(item)) {
        if (current === null) continue;
        const out = this.#replayedLines(c, item, journal.epoch, current.seq);
        if (out !== "") yield encoder.encode(out);
        continue;
      }
      if (item.kind === "flush" && current !== null) {
        c.at = { seq: current.seq, end: current.to };
        continue;
      }
      if (item.kind !== "carry") continue;
      const step = item.value as ReplayStep | { kind: "missing" } & ReplayStep;
      current = null;
      if (step.kind === "batch") {
        // Still in memory: the shared bytes, or those of the lines this client keeps.
        const { batch, after } = step;
        const bytes = c.inSource(batch.source)
          ? batchBytes(batch, c.format, c.keep, after)
          : null;
        c.at = { seq: batch.seq, end: batch.to };
        c.id = batch.id(batch.count - 1);
        if (bytes !== null && c.keep === null) c.sentId = c.id;
        if (bytes !== null) yield bytes;
      } else if (step.kind === "range") {
        if (step.unstored) {
          if (c.inSource(step.source)) {
            yield encoder.encode(
              unstoredGap(step.source, step.lines, c.format),
            );
          }
          c.at = { seq: step.seq, end: step.to };
        } else {
          current = step;
        }
      } else if (step.kind === "message") {
        const m = { ...step.message, seq: step.seq, id: "" } as Exclude<
          Message,
          { type: "batch" }
        >;
        if (wants(m)) {
          const id = positionId(journal.epoch, step.seq, 0);
          const out = messageText(m, c.format, c.sse ? id : null);
          if (out !== "") yield encoder.encode(out);
          if (c.sse) c.sentId = id;
        }
        c.at = { seq: step.seq, end: 0 };
      } else if (step.kind === "expired") {
        yield this.#gap(c, {
          cause: "resume-expired",
          message:
            "part of what this client missed left the server's journal before it could be replayed",
        });
        return;
      } else {
        const missing = step as Extract<ReplayStep, { kind: "range" }>;
        if (c.inSource(missing.source)) {
          yield this.#rotatedAway(
            c,
            missing,
            "is gone (deleted or rotated out of reach)",
          );
        }
        c.at = { seq: missing.seq, end: missing.to };
      }
    }
    // Replaced between being found and being opened: rare, but still a gap.
    for (const missing of misses) {
      if (!c.inSource(missing.source)) continue;
      yield this.#rotatedAway(
        c,
        missing,
        "was replaced while it was read back",
      );
    }
  }

  /** The gap for a journal range whose file cannot be read back. */
  #rotatedAway(
    c: Connection,
    range: Extract<ReplayStep, { kind: "range" }>,
    what: string,
  ): Uint8Array {
    return this.#gap(c, {
      source: range.source,
      offset: range.from,
      bytes: range.to - range.from,
      cause: "rotated-away",
      message: `${range.source}: the file that held these events ${what}`,
    });
  }

  /** The frames of replayed events of journal entry `seq` this client keeps. */
  #replayedLines(
    c: Connection,
    events: Event[],
    epoch: string,
    seq: number,
  ): string {
    let out = "";
    for (const e of events) {
      if (!c.inSource(e.source) || (c.keep !== null && !c.keep(e))) continue;
      const id = positionId(epoch, seq, e[END]);
      out += c.sse ? sseLine(eventJson(e), id) : eventJson(e) + "\n";
      c.sentId = id;
    }
    return out;
  }

  /** A backlog, or a resume from the file positions a client's id carries. */
  async *#fromFiles(
    c: Connection,
    files: DecodedCursor | null,
    backlog: number | null,
    seam: ResumeCursor,
  ): AsyncGenerator<Uint8Array, void, void> {
    const replay = this.#replay!;
    const plan = await planResume({
      wanted: files,
      backlog,
      seam,
      known: replay.known,
    });
    for (const gap of plan.gaps) {
      yield this.#gap(c, {
        source: gap.source,
        offset: gap.offset,
        bytes: 0,
        cause: gap.cause,
        message: gap.message,
      });
    }
    if (plan.ranges.length === 0) return;
    const cursor: SubscriberCursor = plan.cursor;
    const missing: string[] = [];
    const chunks = replayChunks(
      plan.ranges,
      (r) => missing.push(r.source),
      undefined,
      this.#pacer,
    );
    for await (const item of replay.events(chunks)) {
      if (isMark(item)) continue;
      let out = "";
      for (const e of item) {
        cursor.advance(e.source, e[FILE], e[END]);
        if (!c.inSource(e.source) || (c.keep !== null && !c.keep(e))) continue;
        // Each event's id is the cursor just past it, while it fits.
        const id = cursor.text.length <= MAX_ID_BYTES ? cursor.text : null;
        out += c.sse ? sseLine(eventJson(e), id) : eventJson(e) + "\n";
        if (id !== null) c.sentId = id;
      }
      if (out !== "") yield encoder.encode(out);
    }
    for (const source of missing) {
      yield this.#gap(c, {
        source,
        offset: 0,
        bytes: 0,
        cause: "rotated-away",
        message:
          `${source}: a file to replay is gone (deleted or rotated out of reach)`,
      });
    }
  }

  #gap(c: Connection, data: Record<string, unknown>): Uint8Array {
    return encoder.encode(gapText(data, c.format));
  }

  /** The body asks for more: replay first, then live messages (waiting for them). */
  async #pull(c: Connection): Promise<void> {
    c.pendingSince = null;
    for (;;) {
      if (!this.#connections.has(c)) return;
      if (c.replay) {
        let next: IteratorResult<Uint8Array, void>;
        try {
          next = await c.replay.next();
        } catch (error) {
          this.#drop(c);
          c.sub.close();
          throw error;
        }
        // Cut while waiting (write timeout, shutdown): the stream is already errored.
        if (!this.#connections.has(c)) return;
        if (!next.done) {
          this.#send(c, next.value);
          return;
        }
        c.replay = null;
      }
      if (c.keep !== null && c.sub.depth > 0) {
        // Filters take turns with everything else: many subscribers with
        // costly patterns cannot hold the process for long together. From
        // here to `spent` nothing awaits.
        const turn = this.#pacer.busy();
        if (turn !== null) {
          await turn;
          continue;
        }
      }
      const lost = c.sub.overflow();
      if (lost) {
        c.replay = this.#catchUp(c, lost);
        continue;
      }
      const messages = c.sub.take();
      if (messages.length > 0) {
        const started = performance.now();
        const bytes = this.#live(c, messages);
        if (c.keep !== null) this.#pacer.spent(performance.now() - started);
        if (bytes !== null) {
          this.#send(c, bytes);
          return;
        }
        continue;
      }
      if (c.sub.reason !== null) {
        this.#end(c);
        return;
      }
      // Nothing queued: wait for publish, a poke (heartbeat) or the end.
      if (await this.#wait(c)) return;
      if (this.#heartbeatDue(c)) {
        this.#send(c, this.#heartbeat(c));
        return;
      }
    }
  }

  /**
   * Waits for the subscription; true when bytes were sent meanwhile. A
   * client that takes whole batches is handed them right there, inside
   * `publish`; one with line filters returns to `#pull` to do its work in
   * its own turn.
   */
  #wait(c: Connection): Promise<boolean> {
    return new Promise((resolve) => {
      c.waiting = () => resolve(false);
      c.sub.whenReady(() => {
        c.waiting = null;
        if (
          c.keep === null && c.replay === null && c.sub.reason === null &&
          this.#connections.has(c)
        ) {
          const lost = c.sub.overflow();
          if (lost) {
            c.replay = this.#catchUp(c, lost);
          } else {
            const bytes = this.#live(c, c.sub.take());
            if (bytes !== null) {
              this.#send(c, bytes);
              resolve(true);
              return;
            }
          }
        }
        resolve(false);
      });
    });
  }

  /** The bytes of live messages for this client (null when none were for it). */
  #live(c: Connection, messages: readonly Message[]): Uint8Array | null {
    const parts: Uint8Array[] = [];
    let text = "";
    for (const m of messages) {
      const floor = c.floor;
      if (floor !== null && seqOf(m) > floor.seq) c.floor = null;
      if (m.type === "batch") {
        const batch = m.batch;
        c.at = { seq: batch.seq, end: batch.to };
        const ahead = c.floor !== null && batch.seq === floor!.seq;
        // Before the client's position: its id would take the client back.
        if (c.floor !== null && !ahead) continue;
        c.id = batch.id(batch.count - 1);
        // The batch the client's position is in: the events after it.
        const bytes = batchBytes(
          batch,
          c.format,
          c.keep,
          ahead ? floor!.end : -1,
        );
        if (bytes === null) continue;
        if (text !== "") {
          parts.push(encoder.encode(text));
          text = "";
        }
        parts.push(bytes);
        if (c.keep === null && !ahead) c.sentId = c.id;
      } else {
        c.at = { seq: m.seq, end: 0 };
        if (c.floor !== null) continue;
        c.id = m.id;
        const out = messageText(m, c.format, c.sse ? m.id : null);
        if (out !== "") {
          text += out;
          if (c.sse) c.sentId = m.id;
        }
      }
    }
    if (text !== "") parts.push(encoder.encode(text));
    if (parts.length === 0) return null;
    return parts.length === 1 ? parts[0] : concat(parts);
  }

  /**
   * The queue overflowed: keep what is still queued (the newest), replay
   * from the journal what was dropped before it, then send the kept ones.
   */
  async *#catchUp(
    c: Connection,
    lost: { count: number; unstored: number },
  ): AsyncGenerator<Uint8Array, void, void> {
    const kept = c.sub.take();
    const journal = this.#replay?.journal ?? null;
    const first = kept.length > 0 ? seqOf(kept[0]) : null;
    // A client still ahead of the log is owed nothing before its position.
    if (c.floor !== null && c.floor.seq > c.at.seq) c.at = { ...c.floor };
    if (journal === null || first === null) {
      yield this.#gap(c, {
        cause: "slow-subscriber",
        lines: lost.count,
        message:
          `${lost.count} events were dropped because this client read too slowly`,
      });
    } else if (journal.holds(journal.epoch, c.at.seq, c.at.end)) {
      using _turn = await this.#replays.acquire();
      yield* this.#fromJournal(c, journal.replay({ ...c.at }, first - 1));
    } else {
      yield this.#gap(c, {
        cause: "resume-expired",
        message:
          "what this client missed while it read too slowly left the server's journal before it could be replayed",
      });
    }
    if (kept.length > 0) {
      const bytes = this.#live(c, kept);
      if (bytes !== null) yield bytes;
    }
  }

  #heartbeatDue(c: Connection): boolean {
    return performance.now() - c.lastWrite >= this.#heartbeatMs &&
      c.sub.reason === null;
  }

  /** A heartbeat: a comment (with the current id when filters held lines back), or an NDJSON ping. */
  #heartbeat(c: Connection): Uint8Array {
    if (!c.sse) return encoder.encode('{"type":"ping"}\n');
    if (c.id !== null && c.id !== c.sentId) {
      c.sentId = c.id;
      return encoder.encode(": ping\n" + sseId(c.id));
    }
    return encoder.encode(": ping\n\n");
  }

  #send(c: Connection, bytes: Uint8Array): void {
    c.controller.enqueue(bytes);
    c.pendingSince = c.lastWrite = performance.now();
  }

  /** The subscription ended (shutdown, queue full): say bye, end the stream. */
  #end(c: Connection): void {
    if (c.sse) {
      c.controller.enqueue(
        encoder.encode(
          `event: bye\ndata: ${JSON.stringify({ reason: c.sub.reason })}\n\n`,
        ),
      );
    }
    c.controller.close();
    this.#drop(c);
  }

  /** Forgets a connection and gives its client's place back (once). */
  #drop(c: Connection): void {
    if (this.#connections.delete(c)) this.#door.give(c.client);
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
        c.sub.poke();
      }
    }
    if (this.#connections.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /**
   * Ends a connection that cannot take more: its queue, its replay and the
   * replay's files are freed at once. The socket is Deno's: it is closed
   * once the HTTP layer can write again, so a client that reads nothing
   * keeps it until it reads or closes (docs/security.md).
   */
  #cut(c: Connection, reason: "write-timeout" | "shutdown"): void {
    this.#drop(c);
    c.sub.close(reason);
    c.waiting?.();
    c.replay?.return().catch(() => {});
    try {
      c.controller.error(new SubscriberEnded(reason));
    } catch {
      // Already closed.
    }
  }
}

function seqOf(m: Message): number {
  return m.type === "batch" ? m.batch.seq : m.seq;
}

/**
 * A refusal, in words. `Connection: close` asks the client to close the
 * connection (curl and browsers do); Deno.serve itself keeps it open until
 * the client closes it, so a client that does not holds a descriptor
 * (docs/security.md).
 */
function text(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(message + "\n", {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      ...(status >= 500 || status === 429 ? { connection: "close" } : {}),
      ...headers,
    },
  });
}
