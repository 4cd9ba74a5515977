/**
 * Gateway (`--subscribe`): serves a NATS JetStream stream instead of files.
 * It follows no file and writes nothing, so it needs only `--allow-net`.
 *
 * One {@link Reader} feeds one hub, whatever the number of subscribers:
 * 1,000 SSE clients cost one read of the stream.
 * Each message read is decoded once into what the hub publishes (a batch
 * whose events keep the JSON their agent made, a notice, an alert), kept in
 * the {@link StreamLog} for replays, and published. The reading starts a
 * little before the stream's end, so a new gateway can serve backlogs and
 * resumes from memory at once.
 *
 * Owns the connection, the reading and the hub; `stop()` ends all three.
 * `done` rejects if the stream was deleted and made again (its ids mean
 * nothing any more): the process should exit and be restarted.
 */
import {
  type JetStreamManager,
  jetstreamManager,
  type StreamInfo,
} from "@nats-io/jetstream";
import { delay } from "@std/async/delay";
import { retry } from "@std/async/retry";
import type { SseOptions } from "../http/route.ts";
import { Hub } from "../sink/hub.ts";
import { KnownFiles } from "../source/known.ts";
import { type Chunk, type Event, isMark, type Mark } from "../types.ts";
import { Metrics } from "../sink/metrics.ts";
import {
  BACKOFF,
  describe,
  Link,
  type LinkOptions,
  type LinkStatus,
} from "./link.ts";
import { DEFAULT_MEMORY_EVENTS, StreamLog } from "./log.ts";
import { Reader } from "./reader.ts";
import { storedSubjects, streamEpoch, streamSubjects } from "./wire.ts";

/** What a gateway reads. */
export interface GatewayOptions {
  /** The NATS servers and the login. */
  readonly link: LinkOptions;
  /** The stream's name. */
  readonly stream: string;
  /** The subjects' prefix (`--subject-prefix`). */
  readonly prefix: string;
  /** One line for the operator (stderr). */
  readonly log: (line: string) => void;
  /** Events of the newest messages kept in memory. @default DEFAULT_MEMORY_EVENTS */
  readonly memory?: number;
  /**
   * Messages before the stream's end read at start, at most (and no more
   * than about {@link PRELOAD_BYTES} of them). @default 1024
   */
  readonly preload?: number;
}

/** The stream was deleted and made again while the gateway read it. */
export class StreamReplaced extends Error {
  /** The stream `name` was replaced. */
  constructor(name: string) {
    super(
      `the stream ${name} was deleted and made again: the ids clients hold mean nothing in it; restart the gateway`,
    );
    this.name = "StreamReplaced";
  }
}

/** What `/healthz` tells about the gateway. */
export interface GatewayHealth {
  /** Which role this process has. */
  readonly role: "gateway";
  /** Connected, and reading the stream. */
  readonly ok: boolean;
  /** The stream's name. */
  readonly stream: string;
  /** The connection's state. */
  readonly link: LinkStatus;
  /** The last stream sequence read. */
  readonly head: number;
  /** Messages of the stream not read yet. */
  readonly lag: number;
  /** Reads of the stream that failed and were made again. */
  readonly retries: number;
  /** Messages read as they were seen published, and those that had to be asked for. */
  readonly read: { readonly seen: number; readonly fetched: number };
  /** What it means for subscribers, when not ok. */
  readonly note: string | null;
}

/** The replay an SSE route is given on a gateway. */
export type GatewayReplay = NonNullable<SseOptions["replay"]>;

/**
 * The stages of a gateway: none. Its replays are batches read from the
 * stream, already events; they pass as marks, and no file chunk ever comes.
 */
function marksOnly(
  chunks: ReadableStream<Chunk | Mark>,
): ReadableStream<Event[] | Mark> {
  return chunks.pipeThrough(
    new TransformStream<Chunk | Mark, Event[] | Mark>({
      transform(item, controller) {
        if (!isMark(item)) {
          throw new TypeError("Cannot read a file on a gateway: it keeps none");
        }
        controller.enqueue(item);
      },
    }),
  );
}

/** Bytes of the stream's newest messages read at start, about. */
const PRELOAD_BYTES = 32 * 1024 * 1024;

/** Sources remembered for `/sources`. */
const MAX_SOURCES = 10_000;
/** How often the stream's limits (its first sequence) are looked at, ms. */
const INFO_EVERY_MS = 5000;

/** Reads a stream into a hub. */
export class Gateway {
  /** What subscribers subscribe to: every message read from the stream. */
  readonly hub: Hub;
  /** Counters for `/metrics`. */
  readonly metrics = new Metrics({ nats: true });
  /**
   * Resolves, once the stream is found (never, if stopped first), with what
   * the SSE route replays from: the stream's log, no file, no stage.
   */
  readonly ready: Promise<GatewayReplay>;
  /** Resolves once stopped; rejects with {@link StreamReplaced}. */
  readonly done: Promise<void>;
  readonly #options: GatewayOptions;
  readonly #link: Link;
  readonly #abort = new AbortController();
  readonly #ready = Promise.withResolvers<GatewayReplay>();
  readonly #sources = new Map<string, number>();
  #log: StreamLog | null = null;
  #reader: Reader | null = null;
  #retries = 0;
  #problems = new Set<string>();

  /** Connects and starts reading (trying until NATS and the stream are there). */
  constructor(options: GatewayOptions) {
    this.#options = options;
    this.hub = new Hub({
      onDrop: (n) => this.metrics.dropped("slow-subscriber", n),
    });
    this.#link = new Link(options.link, "tailcast gateway", options.log);
    this.ready = this.#ready.promise;
    this.done = this.#run().finally(async () => {
      this.hub.close();
      await this.#link.close();
    });
    // A stop before the stream was found leaves `ready` pending; nobody waits then.
    this.done.catch(() => {});
  }

  /** For `/healthz`. */
  health(): GatewayHealth {
    const link = this.#link.status;
    const head = this.#log?.head ?? 0;
    const lag = Math.max(0, (this.#log?.last ?? 0) - head);
    const ok = link.state === "connected" && this.#log !== null;
    return {
      role: "gateway",
      ok,
      stream: this.#options.stream,
      link,
      head,
      lag,
      retries: this.#retries,
      read: this.#reader?.counts ?? { seen: 0, fetched: 0 },
      note: ok ? null : "not reading the stream: subscribers get nothing new",
    };
  }

  /** Whether a server is connected. */
  get connected(): boolean {
    return this.#link.connected;
  }

  /** Messages of the stream not read yet. */
  get lag(): number {
    return Math.max(0, (this.#log?.last ?? 0) - (this.#log?.head ?? 0));
  }

  /** The sources seen in the stream (`host:path`), with the sequence of their newest message. */
  sources(): { path: string; seq: number }[] {
    return [...this.#sources].map(([path, seq]) => ({ path, seq }));
  }

  /** Stops reading, ends every subscription, closes the connection. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.done.catch(() => {});
  }

  async #run(): Promise<void> {
    const o = this.#options;
    const signal = this.#abort.signal;
    const nc = await this.#link.open(signal);
    if (!nc) return;
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const info = await this.#find(jsm);
    if (!info) return;
    const epoch = streamEpoch(o.stream, info.created);
    if (info.config.allow_direct !== true) {
      o.log(
        `tailcast: NATS: the stream ${o.stream} does not allow direct gets: this gateway reads it from its leader, and stops reading while a new one is elected (allow them with: nats stream edit ${o.stream} --allow-direct)`,
      );
    }
    const { first_seq: first, last_seq: last, messages, bytes } = info.state;
    const reader = new Reader({
      nc,
      // A request to a server that died is made again soon.
      jsm: await jetstreamManager(nc, { checkAPI: false, timeout: 2000 }),
      stream: o.stream,
      wakeups: storedSubjects(o.prefix),
      subjects: streamSubjects(o.prefix),
      direct: info.config.allow_direct === true,
      last,
      failed: (seq, why) => this.#failed(seq, why),
      heard: (last) => this.#log?.heard(0, last),
      dropped: () => this.#link.dropped,
    });
    this.#reader = reader;
    const log = new StreamLog({
      epoch,
      first,
      memory: o.memory ?? DEFAULT_MEMORY_EVENTS,
      read: (start, until, stop) =>
        reader.messages(start, until, AbortSignal.any([stop, signal])),
      skipped: (seq, why) => this.#tell(`skipped message ${seq}: ${why}`),
      lastOfStream: async () =>
        (await jsm.streams.info(o.stream)).state.last_seq,
    });
    // The newest messages, for backlogs and resumes from memory; by their
    // average size, no more than memory would keep anyway.
    const average = messages > 0 ? bytes / messages : 1;
    const preload = Math.min(
      o.preload ?? 1024,
      Math.max(1, Math.floor(PRELOAD_BYTES / average)),
    );
    const start = Math.max(first, last - preload + 1, 1);
    log.startAt(start);
    log.heard(first, last);
    this.#log = log;
    this.#ready.resolve({
      journal: log,
      known: new KnownFiles(),
      events: marksOnly,
    });
    o.log(
      `tailcast: NATS: reading the stream ${o.stream} from message ${start} (it holds ${first}-${last})`,
    );
    let replaced: unknown = null;
    const watching = this.#watch(jsm, info.created, log).catch((error) => {
      replaced = error;
    });
    try {
      for await (const m of reader.messages(start, Infinity, signal)) {
        if (m.seq > log.head + 1 && log.head >= start) {
          this.#tell(
            `messages ${log.head + 1}-${
              m.seq - 1
            } left the stream (its age or size limit) before this gateway read them`,
          );
        }
        const message = log.append(m.seq, m.data);
        if (message === null) continue;
        if (message.type === "batch") {
          const n = message.batch.count;
          this.metrics.natsRead(n);
          this.metrics.published(n);
          if (
            this.#sources.has(message.batch.source) ||
            this.#sources.size < MAX_SOURCES
          ) {
            this.#sources.set(message.batch.source, m.seq);
          }
        } else {
          this.metrics.natsRead(0);
        }
        this.hub.publish(message);
      }
    } finally {
      this.#abort.abort();
      reader.close();
      await watching;
    }
    if (replaced) throw replaced;
  }

  /** The stream's info, asked until it exists; null when stopped first. */
  async #find(jsm: JetStreamManager): Promise<StreamInfo | null> {
    try {
      return await retry(async () => {
        try {
          return await jsm.streams.info(this.#options.stream);
        } catch (error) {
          this.#link.problem(
            `cannot find the stream ${this.#options.stream} (an agent makes it when it starts): ${
              describe(error)
            }`,
          );
          throw error;
        }
      }, { ...BACKOFF, signal: this.#abort.signal });
    } catch (error) {
      if (this.#abort.signal.aborted) return null;
      throw error;
    }
  }

  /**
   * Looks at the stream now and then: where it starts now (its limits
   * remove old messages), and that it is still the same stream.
   */
  async #watch(
    jsm: JetStreamManager,
    created: string,
    log: StreamLog,
  ): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      await delay(INFO_EVERY_MS, { signal }).catch(() => {});
      if (signal.aborted) return;
      try {
        const info = await jsm.streams.info(this.#options.stream);
        if (info.created !== created) {
          this.#abort.abort();
          throw new StreamReplaced(this.#options.stream);
        }
        log.heard(info.state.first_seq, info.state.last_seq);
      } catch (error) {
        if (error instanceof StreamReplaced) throw error;
        // The reader says what is wrong with the stream; this is a look only.
      }
    }
  }

  #failed(seq: number, why: string): void {
    this.#retries++;
    this.metrics.natsRetried();
    this.#tell(
      `cannot read message ${seq} of the stream (${why}); trying again`,
    );
  }

  /** Says `text` once (a kind of problem is not repeated for every message). */
  #tell(text: string): void {
    const kind = text.replace(/\d+/g, "N");
    if (this.#problems.has(kind) || this.#problems.size > 100) return;
    this.#problems.add(kind);
    this.#options.log(`tailcast: NATS: ${text}`);
  }
}
