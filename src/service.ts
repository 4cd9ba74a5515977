/**
 * Service: wiring and lifecycle. Owns the root AbortController and the order
 * things start and stop in:
 *
 *   Tail (followers, commands, ingest spools or rings)
 *     → LineStream → [MultilineStream] → ParseStream
 *     → FilterStream → dispatcher (journal, metrics, alerts) → Hub
 *                                                   ├ stdout NDJSON or text (block)
 *                                                   └ SSE subscribers (bounded)
 *
 * Notices flow through the same streams as the data, so the dispatcher
 * publishes everything in the order it happened: a batch per file run, then
 * the alerts its events fired. Metrics are counted per batch.
 * With `--publish` the NATS agent is one more durable sink beside (or
 * instead of) stdout: it too blocks the dispatcher while it cannot take
 * more, and the cursors move only once JetStream stored the lines.
 *
 * Stop: abort → followers stop reading and close their files, commands are
 * ended → the stages flush what was read → the hub ends every subscription →
 * stdout is flushed and the agent's last messages stored, the cursors saved,
 * the spools closed (the POSTs being written finish first), alert timers and
 * the webhook closed.
 */
import { resolve } from "node:path";
import type { Config } from "./config.ts";
import { isBatch } from "./sink/_drain.ts";
import { Hub, type Subscription } from "./sink/hub.ts";
import type { Batch } from "./sink/batch.ts";
import { Journal } from "./sink/journal.ts";
import { writeNdjson } from "./sink/ndjson.ts";
import { headerNames, writeText } from "./sink/text.ts";
import { formatNotice } from "./sink/notices.ts";
import { sameFile } from "./source/identity.ts";
import { StateStore } from "./source/state.ts";
import { Tail } from "./source/tail.ts";
import { checkRun, ExecSource } from "./source/exec.ts";
import { Ingest } from "./source/ingest.ts";
import type { WatcherOptions } from "./source/watch.ts";
import { Stages } from "./stage/pipeline.ts";
import { ConfigError } from "./errors.ts";
import { ruleFromObject } from "./alerts/config.ts";
import { AlertEngine } from "./alerts/engine.ts";
import { parseRule } from "./alerts/grammar.ts";
import { AlertRuleError } from "./alerts/rule.ts";
import { followedSources } from "./alerts/deadman.ts";
import { Metrics } from "./sink/metrics.ts";
import { Webhook } from "./alerts/webhook.ts";
import type { Agent } from "./nats/agent.ts";
import { where } from "./stage/rules.ts";
import {
  type Alert,
  type Chunk,
  END,
  type Event,
  FILE,
  isMark,
  LAST_LINE,
  type Mark,
  type Notice,
  NOTICED,
  UNSTORED,
} from "./types.ts";

export interface ServiceOptions {
  config: Config;
  /** Where events go when `config.stdout` is on, as `config.output` says. */
  stdout: WritableStream<Uint8Array>;
  /** One line of text for the operator (stderr). */
  log: (line: string) => void;
  cwd?: string;
  /** Test seam: the watch function. */
  watchFs?: WatcherOptions["watchFs"];
  /** Rotated-away files are closed after this long without new bytes. */
  rotateWaitMs?: number;
  /** Journal entries kept (the resume window). @default DEFAULT_JOURNAL_CAPACITY */
  journalCapacity?: number;
  /**
   * How long `stop()` waits for stdout to take what was read before it
   * gives up on it, ms. @default 1000
   */
  flushMs?: number;
  /**
   * Called once the sources are open and before anything is published: the
   * moment to subscribe to the hub and see the journal from its start (a
   * worker pool does).
   */
  onStart?: (service: Service) => void;
}

/** Lines the stdout sink may have queued before the pipeline waits for it. */
const STDOUT_QUEUE = 8192;
/** How often changed cursors are written to the state file. */
const STATE_SAVE_MS = 1000;
/** What `stop()` gives stdout by default, well inside main's 2 s to exit. */
const FLUSH_MS = 1000;

export class Service {
  /** Counters for /metrics. */
  readonly metrics: Metrics;
  readonly hub = new Hub({
    onDrop: (n) => this.metrics.dropped("slow-subscriber", n),
  });
  #stages!: Stages;
  #alerts: AlertEngine | null = null;
  #alertTimer: ReturnType<typeof setInterval> | null = null;
  #webhook: Webhook | null = null;
  /** Alerts fired by the batch being dispatched: published after it. */
  #fired: Alert[] | null = null;
  /** What was published, in order: the seam, the ids and the replays of subscribers. */
  readonly journal: Journal;
  readonly #abort = new AbortController();
  readonly #options: ServiceOptions;
  #tail!: Tail;
  #pipeline: Promise<void> = Promise.resolve();
  #stdout: Promise<void> = Promise.resolve();
  #stdoutSub: Subscription | null = null;
  #agent: Agent | null = null;
  #agentSub: Subscription | null = null;
  #stopping: Promise<boolean> | null = null;
  #state: StateStore | null = null;
  #ingest: Ingest | null = null;
  #saveTimer: ReturnType<typeof setInterval> | null = null;
  #saveProblem = "";
  readonly #sinkLost = Promise.withResolvers<"closed" | "failed">();

  private constructor(options: ServiceOptions) {
    this.#options = options;
    this.metrics = new Metrics({ nats: options.config.publish !== null });
    this.journal = new Journal({
      capacity: options.journalCapacity,
      unstored: UNSTORED,
      // Only subscribers that fall behind read the recent batches again.
      recent: options.config.server ? undefined : 0,
    });
  }

  /** Checks the sources and starts following. Throws ConfigError or SourceError. */
  static async start(options: ServiceOptions): Promise<Service> {
    const service = new Service(options);
    await service.#start();
    return service;
  }

  /** The followed sources and the wake-up mode, for health reports. */
  get tail(): Tail {
    return this.#tail;
  }

  /** The NATS agent, with `--publish`. */
  get agent(): Agent | null {
    return this.#agent;
  }

  /** The cursor store, with `--state`. */
  get state(): StateStore | null {
    return this.#state;
  }

  /** The sources of `POST /ingest/<name>`, with `--ingest`. */
  get ingest(): Ingest | null {
    return this.#ingest;
  }

  /** Aborted when the service stops. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /**
   * Resolves when a durable sink can take no more lines: `closed` when
   * stdout's reader went away (EPIPE, as after `| head -1`), `failed` when
   * a write to stdout failed, or the NATS agent stopped (reported on the
   * log). The run should then stop, as tail does. Pending for as long as
   * they work.
   */
  get sinkLost(): Promise<"closed" | "failed"> {
    return this.#sinkLost.promise;
  }

  async #start(): Promise<void> {
    const { config } = this.#options;
    const cwd = this.#options.cwd ?? Deno.cwd();
    this.#stages = new Stages({ ...config, cwd });
    this.#alerts = this.#startAlerts(cwd);
    const state = config.state === null
      ? null
      : await StateStore.open(config.state, config.stateReset);
    this.#state = state;
    // Refused before anything runs: a command Deno may not run.
    for (const e of config.exec) await checkRun(e.argv[0], e.flag);
    const ingest = config.ingest === null ? null : await Ingest.open({
      // Absolute, as every followed path: the watcher matches its events by path.
      spool: config.ingest.spool === null
        ? null
        : resolve(cwd, config.ingest.spool),
      segmentBytes: config.ingest.segmentBytes,
      maxBytes: config.ingest.maxBytes,
      memoryBytes: config.ingest.memoryBytes,
      startAt: config.startAt,
      signal: this.#abort.signal,
    });
    this.#ingest = ingest;
    this.#tail = await Tail.start({
      paths: config.paths,
      startAt: config.startAt,
      pollMs: config.pollMs,
      signal: this.#abort.signal,
      cwd: this.#options.cwd,
      watchFs: this.#options.watchFs,
      rotateWaitMs: this.#options.rotateWaitMs,
      saved: state ? (source) => state.saved(source) : undefined,
      onForget: state
        ? (source, file) => state.forget(source, file)
        : undefined,
      onFinish: state
        ? (source, file, offset) => state.finished(source, file, offset)
        : undefined,
    });
    ingest?.attach(
      this.#tail,
      state ? (source) => state.saved(source) : undefined,
    );
    try {
      for (const e of config.exec) {
        const source = `exec:${e.name}`;
        this.#tail.add(
          source,
          await ExecSource.start({
            source,
            argv: e.argv,
            flag: e.flag,
            signal: this.#abort.signal,
          }),
        );
      }
    } catch (error) {
      this.#abort.abort();
      await this.#tail.done;
      await ingest?.close();
      throw error;
    }
    // Cursors advance only past what reached the durable sink (stdout), or
    // past what was published when there is none.
    const delivered = state
      ? (batch: Batch) => this.#delivered(batch)
      : undefined;
    if (state) {
      this.#saveTimer = setInterval(() => this.#save(), STATE_SAVE_MS);
    }
    if (config.stdout) {
      const sub = this.hub.subscribe({
        capacity: STDOUT_QUEUE,
        policy: "block",
        accept: isBatch,
        unstored: UNSTORED,
      });
      this.#stdoutSub = sub;
      const out = this.#options.stdout;
      const writing = config.output === "text"
        ? writeText(sub, out, {
          headers: config.headers,
          color: config.color,
          name: headerNames(config.paths, cwd),
        }, delivered)
        : writeNdjson(sub, out, delivered);
      this.#stdout = writing.then((end) => {
        if (end === "closed") this.#sinkLost.resolve("closed");
      }, (error) => {
        this.#options.log(`tailcast: stdout: ${error}`);
        this.#sinkLost.resolve("failed");
      });
    }
    if (config.publish) {
      // Only an agent loads the NATS client (~18 MB and ~0.1 s per thread).
      const { Agent } = await import("./nats/agent.ts");
      const sub = this.hub.subscribe({
        capacity: STDOUT_QUEUE,
        policy: "block",
        unstored: UNSTORED,
      });
      this.#agentSub = sub;
      this.#agent = new Agent(sub, {
        ...config.publish,
        resumes: state !== null,
        log: this.#options.log,
        metrics: this.metrics,
      }, delivered ?? (() => {}));
      this.#agent.done.catch((error) => {
        this.#options.log(`tailcast: NATS: the agent stopped: ${error}`);
        this.#sinkLost.resolve("failed");
      });
    }
    this.#options.onStart?.(this);
    const published = config.stdout || config.publish ? undefined : delivered;
    // Each spool learns how far it was read: what it may delete, and what is behind.
    const chunks = ingest && config.ingest?.spool != null
      ? this.#tail.readable.pipeThrough(ingest.reading())
      : this.#tail.readable;
    this.#pipeline = this.events(chunks, true)
      .pipeTo(
        new WritableStream<Event[] | Mark>({
          write: (item) => {
            if (!isMark(item)) return this.#dispatch(item, published);
            if (item.kind !== "flush" && item.kind !== "carry") {
              this.#notice(item);
            }
          },
        }, new CountQueuingStrategy({ highWaterMark: 1 })),
      )
      .catch((error) => {
        this.#options.log(`tailcast: pipeline stopped: ${error}`);
      })
      .finally(() => this.hub.close());
  }

  /**
   * Publishes a batch of events: one journal batch per run of one file's
   * events (a blocking sink first makes room), its metrics, then the alerts
   * its events fired, so an alert never overtakes its lines.
   */
  async #dispatch(
    events: Event[],
    published: ((batch: Batch) => void) | undefined,
  ): Promise<void> {
    const noticed = events[0][NOTICED];
    for (let start = 0; start < events.length;) {
      const first = events[start];
      // Each event's own bytes: lines filtered out between them were counted by the stages.
      let bytes = first[END] - first.offset;
      let end = start + 1;
      while (
        end < events.length && end - start < STDOUT_QUEUE &&
        events[end].source === first.source &&
        sameFile(events[end][FILE], first[FILE])
      ) {
        bytes += events[end][END] - events[end].offset;
        end++;
      }
      const run = start === 0 && end === events.length
        ? events
        : events.slice(start, end);
      start = end;
      await this.hub.ready(run.length);
      const batch = this.journal.batch(first.source, first[FILE], run);
      this.metrics.linesRead(first.source, run.length, bytes);
      const alerts = this.#alerts;
      if (alerts) {
        this.#fired = [];
        for (const e of run) alerts.observe(e);
      }
      this.hub.publish({ type: "batch", batch });
      this.metrics.published(run.length);
      published?.(batch);
      const fired = this.#fired;
      this.#fired = null;
      for (const alert of fired ?? []) this.#alert(alert);
    }
    if (noticed !== undefined) this.metrics.delay(performance.now() - noticed);
  }

  /**
   * The stages from chunks to events, with every source's rules (see
   * stage/pipeline.ts); the live pipeline counts what they drop.
   */
  events(
    chunks: ReadableStream<Chunk | Mark>,
    live = false,
  ): ReadableStream<Event[] | Mark> {
    const metrics = this.metrics;
    return this.#stages.events(
      chunks,
      live
        ? {
          parseError: (source) => metrics.parseError(source),
          filtered: (source, bytes) => {
            metrics.linesRead(source, 1, bytes);
            metrics.dropped("filtered");
          },
        }
        : undefined,
    );
  }

  #notice(notice: Notice): void {
    this.metrics.notice(notice);
    this.#options.log(formatNotice(notice));
    const { seq, id } = this.journal.message({ type: "notice", notice });
    this.hub.publish({ type: "notice", seq, id, notice });
  }

  #alert(alert: Alert): void {
    this.#options.log(`tailcast: alert: ${alert.message}`);
    this.metrics.alert(alert.rule);
    const { seq, id } = this.journal.message({ type: "alert", alert });
    this.hub.publish({ type: "alert", seq, id, alert });
    this.#webhook?.send(alert);
  }

  /** Compiles the alert rules; each alert goes to SSE, stderr, metrics and the webhook. */
  /**
   * Compiles the alert rules (deadman sources resolved against `cwd`, as
   * the followed paths); each alert goes to SSE, stderr, metrics and the
   * webhook.
   */
  #startAlerts(cwd: string): AlertEngine | null {
    const { config } = this.#options;
    if (config.alerts.length === 0) return null;
    const compileMatch = (text: string) => where(text, "--alert");
    const parsed = config.alerts.map((r, i) => {
      try {
        return typeof r === "string"
          ? parseRule(r, compileMatch)
          : ruleFromObject(r, `alerts[${i}]`, compileMatch);
      } catch (error) {
        if (error instanceof AlertRuleError) {
          throw new ConfigError(
            typeof r === "string" ? "--alert" : "--config",
            error.message,
          );
        }
        throw error;
      }
    });
    let engine: AlertEngine;
    try {
      // The engine refuses rules that clash (two of one name).
      engine = new AlertEngine(followedSources(parsed, config.paths, cwd), {
        // Alerts a batch fires wait for it to be published; the timer's go now.
        onAlert: (alert) =>
          this.#fired ? this.#fired.push(alert) : this.#alert(alert),
      });
    } catch (error) {
      if (error instanceof AlertRuleError) {
        throw new ConfigError("--alert", error.message);
      }
      throw error;
    }
    if (config.alertWebhook !== null) {
      this.#webhook = new Webhook(config.alertWebhook, {
        log: this.#options.log,
      });
    }
    this.#alertTimer = setInterval(() => engine.tick(), 1000);
    return engine;
  }

  /** A batch reached the durable sink (stdout, or JetStream stored it; or it was published, without one): its cursor moves. */
  #delivered(batch: Batch): void {
    if (sameFile(batch.file, UNSTORED)) return;
    const last = batch.events[batch.events.length - 1];
    this.#state!.delivered(
      batch.source,
      batch.file,
      this.#tail.headOf(batch.file) ?? new Uint8Array(0),
      last[END],
      // The line a restart finds before the cursor: a multi-line event's last.
      last[LAST_LINE] ?? last.line,
    );
  }

  /** Writes changed cursors; a failure is reported once and retried next time. */
  async #save(): Promise<void> {
    try {
      await this.#state?.save();
      this.#saveProblem = "";
    } catch (error) {
      const message = `tailcast: ${(error as Error).message}`;
      if (message !== this.#saveProblem) this.#options.log(message);
      this.#saveProblem = message;
    }
  }

  /**
   * Stops reading, flushes what was read to the sinks, saves the cursors,
   * closes everything. Resolves true once stdout took every line read (and
   * JetStream stored it, with `--publish`); false when they did not within
   * `flushMs` (a pipe nobody reads, NATS gone): they are then given up, and
   * the cursors saved are those of what they took. Idempotent.
   */
  stop(): Promise<boolean> {
    this.#stopping ??= (async () => {
      this.#abort.abort();
      const flushing = (async () => {
        await this.#tail.done;
        await this.#pipeline;
        await this.#stdout;
        await this.#agent?.done;
      })();
      // Only the blocking sinks (stdout, NATS) can hold the pipeline up.
      const flushed = this.#stdoutSub || this.#agentSub
        ? await settlesWithin(flushing, this.#options.flushMs ?? FLUSH_MS)
        : await flushing.then(() => true);
      if (!flushed) {
        // A blocked sink keeps its last write; the pipeline no longer waits for it.
        this.#stdoutSub?.close();
        this.#agentSub?.close();
        this.#agent?.abandon();
      }
      // What JetStream stored until the agent gave up is in the cursors saved.
      await this.#agent?.done;
      if (this.#saveTimer !== null) clearInterval(this.#saveTimer);
      this.#saveTimer = null;
      await this.#save();
      if (this.#alertTimer !== null) clearInterval(this.#alertTimer);
      this.#alertTimer = null;
      this.#alerts?.close();
      await this.#webhook?.close();
      await this.#pipeline;
      await this.#ingest?.close();
      return flushed;
    })();
    return this.#stopping;
  }

  /**
   * Resolves when the pipeline and stdout have ended (after `stop()`; never
   * when stdout was given up).
   */
  get done(): Promise<void> {
    return Promise.all([this.#pipeline, this.#stdout]).then(() => {});
  }
}

/** Whether `promise` settles within `ms` (it is awaited either way up to then). */
async function settlesWithin(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
