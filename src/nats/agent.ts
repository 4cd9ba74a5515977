/**
 * Agent: the sink that publishes what tailcast reads to a NATS JetStream
 * stream (`--publish`). It drains a `block` hub subscription, like stdout,
 * so when NATS is slow or gone the dispatcher waits and the followers stop
 * reading: the files are the buffer. Messages go to one {@link Chain} per
 * subject (one per followed path, one for the host's own alerts and watch
 * mode), each publishing in order, one in flight; a batch's cursor moves
 * (`acked`) only once JetStream stored all of it.
 *
 * Memory: at most {@link MAX_HELD} events wait in the chains (plus the
 * subscription's own capacity); past that the agent takes nothing more.
 *
 * Lifecycle: `new Agent(...)` connects (trying until NATS answers), makes
 * the stream if it is missing, then publishes until the subscription ends
 * and every chain is empty; `done` resolves then, with the connection
 * drained. {@link Agent.abandon} gives up on what is not stored yet (the
 * stop deadline): the cursors are those of what was stored.
 */
import {
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { retry } from "@std/async/retry";
import type { Message, Subscription } from "../sink/hub.ts";
import type { Batch } from "../sink/batch.ts";
import type { Metrics } from "../sink/metrics.ts";
import { Chain } from "./chain.ts";
import {
  BACKOFF,
  describe,
  Link,
  type LinkOptions,
  type LinkStatus,
} from "./link.ts";
import type { StreamSettings } from "./settings.ts";
import { ensureStream } from "./stream.ts";
import { storedSubject, subjectOf } from "./wire.ts";
import type { NatsConnection } from "@nats-io/transport-node";

/** How often a publish that finds no stream makes the agent look for it, ms. */
const ENSURE_EVERY_MS = 5000;

/** Events waiting in the chains at most before the agent takes no more. */
export const MAX_HELD = 16_384;

/** What an agent publishes to, and as which host. */
export interface AgentOptions {
  /** The NATS servers and the login. */
  readonly link: LinkOptions;
  /** The stream, made if it is missing. */
  readonly stream: StreamSettings;
  /** The host name in subjects and sources. */
  readonly host: string;
  /** Cursors were resumed from a state file (`--state`). */
  readonly resumes: boolean;
  /** One line for the operator (stderr). */
  readonly log: (line: string) => void;
  /** Where it counts what it stored and retried. */
  readonly metrics?: Metrics;
}

/** What `/healthz` tells about the agent. */
export interface AgentHealth {
  /** Which role this process has. */
  readonly role: "agent";
  /** Connected, and the last publish worked. */
  readonly ok: boolean;
  /** The stream's name. */
  readonly stream: string;
  /** The host name it publishes as. */
  readonly host: string;
  /** The connection's state. */
  readonly link: LinkStatus;
  /** Events read and not yet stored by JetStream. */
  readonly pending: number;
  /** When JetStream last stored a message (ISO), or null. */
  readonly lastStored: string | null;
  /** What it means for the files, when not ok. */
  readonly note: string | null;
}

/** Publishes a subscription's messages to JetStream. */
export class Agent {
  /** Resolves once everything taken is stored and the connection drained (or given up). */
  readonly done: Promise<void>;
  readonly #sub: Subscription;
  readonly #options: AgentOptions;
  readonly #acked: (batch: Batch) => void;
  readonly #link: Link;
  readonly #abandon = new AbortController();
  readonly #chains = new Map<string, Chain>();
  readonly #stored: string;
  #nc: NatsConnection | null = null;
  #js: JetStreamClient | null = null;
  #jsm: JetStreamManager | null = null;
  #maxPayload = 1024 * 1024;
  #held = 0;
  #room: PromiseWithResolvers<void> | null = null;
  #ensuring: Promise<void> | null = null;
  #ensuredAt = 0;
  readonly #told = new Set<string>();
  #lastStored: Date | null = null;

  /**
   * Starts publishing what `sub` (a `block` subscription) receives; `acked`
   * is told each batch once JetStream stored all of it.
   */
  constructor(
    sub: Subscription,
    options: AgentOptions,
    acked: (batch: Batch) => void,
  ) {
    this.#sub = sub;
    this.#options = options;
    this.#acked = acked;
    this.#stored = storedSubject(options.stream.prefix, options.host);
    this.#link = new Link(
      options.link,
      `tailcast agent ${options.host}`,
      options.log,
    );
    // Drained when everything was stored; closed at once when given up.
    this.done = this.#run().finally(() =>
      this.#link.close(!this.#abandon.signal.aborted)
    );
  }

  /** For `/healthz`. */
  health(): AgentHealth {
    const link = this.#link.status;
    const pending = this.#held + this.#sub.depth;
    const ok = link.state === "connected" && link.problem === null;
    return {
      role: "agent",
      ok,
      stream: this.#options.stream.name,
      host: this.#options.host,
      link,
      pending,
      lastStored: this.#lastStored?.toISOString() ?? null,
      note: ok
        ? null
        : "NATS does not take what is read: reading is paused, the files hold the lines",
    };
  }

  /** Whether a NATS server is connected now. */
  get connected(): boolean {
    return this.#link.connected;
  }

  /** Gives up on what is not stored yet; `done` resolves soon after. */
  abandon(): void {
    this.#abandon.abort();
    this.#room?.resolve();
  }

  async #run(): Promise<void> {
    const signal = this.#abandon.signal;
    const nc = await this.#link.open(signal);
    if (!nc) return;
    this.#nc = nc;
    this.#maxPayload = nc.info?.max_payload ?? this.#maxPayload;
    // No account check: JetStream may still be starting (a cluster electing).
    this.#jsm = await jetstreamManager(nc, { checkAPI: false });
    this.#js = jetstream(nc);
    try {
      await this.#ensure();
    } catch (error) {
      if (signal.aborted) return; // Abandoned.
      throw error;
    }
    while (!signal.aborted) {
      while (this.#held >= MAX_HELD && !signal.aborted) {
        this.#room = Promise.withResolvers<void>();
        await this.#room.promise;
      }
      const messages = await this.#sub.next();
      if (messages === null) break;
      for (const m of messages) this.#route(m);
    }
    await Promise.all([...this.#chains.values()].map((c) => c.idle));
  }

  /**
   * Makes the stream if it is missing, trying until it works (or the agent
   * gives up). Asked again when a publish finds no stream (deleted, or a
   * leader being elected): then at most every {@link ENSURE_EVERY_MS}.
   */
  #ensure(again = false): Promise<void> {
    if (
      again && this.#ensuring === null &&
      performance.now() - this.#ensuredAt < ENSURE_EVERY_MS
    ) {
      return Promise.resolve();
    }
    this.#ensuredAt = performance.now();
    this.#ensuring ??= retry(async () => {
      try {
        await ensureStream(this.#jsm!, this.#options.stream, (line) => {
          // Said once, however often the stream is looked for.
          if (this.#told.has(line)) return;
          this.#told.add(line);
          this.#options.log(line);
        });
      } catch (error) {
        this.#link.problem(
          `cannot use the stream ${this.#options.stream.name}: ${
            describe(error)
          }`,
        );
        throw error;
      }
    }, { ...BACKOFF, signal: this.#abandon.signal }).finally(() => {
      this.#ensuring = null;
    });
    return this.#ensuring;
  }

  #route(m: Message): void {
    const source = m.type === "batch"
      ? m.batch.source
      : m.type === "notice" && m.notice.kind !== "mode"
      ? m.notice.source
      : null;
    const subject = subjectOf(
      this.#options.stream.prefix,
      this.#options.host,
      source,
    );
    let chain = this.#chains.get(subject);
    if (!chain) {
      chain = new Chain(subject, {
        js: this.#js!,
        jsm: this.#jsm!,
        link: this.#link,
        stream: this.#options.stream.name,
        host: this.#options.host,
        resumes: this.#options.resumes,
        maxPayload: this.#maxPayload,
        signal: this.#abandon.signal,
        acked: this.#acked,
        stored: (seq, id, events, duplicate) => {
          this.#lastStored = new Date();
          this.#options.metrics?.natsStored(events, duplicate);
          // Gateways wake up on it, and take the message they saw published
          // (a lost one is made up for by their polls and reads).
          this.#nc?.publish(this.#stored, `${seq} ${id}`);
        },
        failed: () => this.#options.metrics?.natsRetried(),
        ensure: () => this.#ensure(true),
        released: (events) => {
          this.#held -= events;
          if (this.#held < MAX_HELD) this.#room?.resolve();
        },
      });
      this.#chains.set(subject, chain);
    }
    if (m.type === "batch") this.#held += m.batch.count;
    chain.push(m);
  }
}
