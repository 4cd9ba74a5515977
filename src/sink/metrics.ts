/**
 * Metrics: what the pipeline has done, in the Prometheus text exposition
 * format (version 0.0.4), for a `/metrics` route to serve.
 *
 * Not a client library: {@link Metrics} has one typed method for each
 * thing the pipeline reports (lines read, events published or dropped,
 * notices, alerts, publish delay), and reads the gauges (subscribers,
 * queue depths, watch mode, sources) through a callback at scrape time,
 * so nothing has to keep them up to date. All state lives in the instance
 * the service owns.
 *
 * Cardinality is bounded whatever the input:
 * - `source`: the first {@link MetricsOptions.maxSources} distinct sources
 *   (1000 by default) get their own series; every later one is counted
 *   under `source="other"` (a followed path is absolute and standard input
 *   is `-`, so no source is named `other`).
 * - `reason` (drops) and `cause` (gaps): short slugs such as
 *   `slow-subscriber` or `line-too-long`, at most 16 distinct values each;
 *   anything else (free text, or a 17th slug) is counted as `other`.
 * - `rule` (alerts): the first {@link MetricsOptions.maxRules} distinct
 *   rules (100 by default), then `other`.
 * - `code` (ingest answers): HTTP status codes, at most 16 distinct.
 * - Subscriber queue depths are summarised (`max`, `total`, a histogram),
 *   never one series per subscriber.
 */
import type { Notice, WatchMode } from "../types.ts";

/** What the gauges read at scrape time. */
export interface GaugeReadings {
  /** Messages waiting in each current subscriber's queue. */
  readonly depths: Iterable<number>;
  /** Current subscribers. @default the number of `depths` */
  readonly subscribers?: number;
  /** The active watch mode. @default the mode of the last `mode` notice */
  readonly mode?: WatchMode;
  /** Sources followed now. */
  readonly sources: number;
  /** With NATS: whether a server is connected now. */
  readonly natsConnected?: boolean;
  /** A gateway: messages of the stream not read yet. */
  readonly natsLag?: number;
}

export interface MetricsOptions {
  /** Distinct `source` label values before the rest become `other`. @default 1000 */
  maxSources?: number;
  /** Distinct `rule` label values before the rest become `other`. @default 100 */
  maxRules?: number;
  /** Read at every {@link Metrics.render}; see also {@link Metrics.setGauges}. */
  gauges?: () => GaugeReadings;
  /** Render the `tailcast_nats_*` families (an agent or a gateway). @default false */
  nats?: boolean;
}

/** The label value that collects everything beyond a cap. */
export const OTHER = "other";

/** Upper bounds (seconds) of `tailcast_publish_delay_seconds`. */
export const DELAY_BUCKETS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
];

/** Upper bounds (messages) of `tailcast_subscriber_queue_depths`. */
export const DEPTH_BUCKETS: readonly number[] = [
  0,
  1,
  4,
  16,
  64,
  256,
  1024,
  4096,
  16384,
];

/** Drop reasons that are always exposed, at 0 until something is dropped. */
const KNOWN_DROP_REASONS = ["filtered", "slow-subscriber"] as const;
/** Distinct slug values kept for `reason` and `cause`. */
const MAX_SLUGS = 16;
const SLUG = /^[a-z][a-z0-9-]{0,39}$/;
const WATCH_MODES: readonly WatchMode[] = ["events", "polling"];

/**
 * The metrics registry of one running service.
 *
 * Amounts that are not finite and non-negative are ignored: a counter
 * never goes down. {@link render} calls the gauge callback and lets what
 * it throws propagate.
 *
 * @example
 * ```ts
 * import { assertMatch } from "@std/assert";
 * import { Metrics } from "./metrics.ts";
 * const metrics = new Metrics({
 *   gauges: () => ({ depths: [0, 3], mode: "events", sources: 1 }),
 * });
 * metrics.linesRead("/var/log/app.log", 2, 40);
 * metrics.published(2);
 * metrics.delay(3);
 * metrics.notice({ kind: "rotate", source: "/var/log/app.log", how: "renamed" });
 * const text = metrics.render();
 * assertMatch(text, /^tailcast_lines_read_total\{source="\/var\/log\/app.log"\} 2$/m);
 * assertMatch(text, /^tailcast_rotations_total\{source="\/var\/log\/app.log"\} 1$/m);
 * assertMatch(text, /^tailcast_publish_delay_seconds_bucket\{le="0.005"\} 1$/m);
 * assertMatch(text, /^tailcast_subscriber_queue_depth\{stat="max"\} 3$/m);
 * assertMatch(text, /^tailcast_watch_mode\{mode="polling"\} 0$/m);
 * ```
 */
export class Metrics {
  readonly #sources: Bounded;
  readonly #rules: Bounded;
  readonly #reasons = new Bounded(MAX_SLUGS, (v) => SLUG.test(v));
  readonly #causes = new Bounded(MAX_SLUGS, (v) => SLUG.test(v));
  readonly #codes = new Bounded(MAX_SLUGS, (v) => /^[1-5]\d\d$/.test(v));
  #gauges: (() => GaugeReadings) | null;
  #mode: WatchMode | null = null;

  readonly #linesRead = new Counter(
    "tailcast_lines_read_total",
    "Lines read from followed files and standard input.",
    ["source"],
  );
  readonly #bytesRead = new Counter(
    "tailcast_bytes_read_total",
    "Bytes read from followed files and standard input.",
    ["source"],
  );
  readonly #published = new Counter(
    "tailcast_events_published_total",
    "Events published to the hub.",
    [],
  );
  readonly #dropped = new Counter(
    "tailcast_events_dropped_total",
    "Events not delivered, by reason.",
    ["reason"],
  );
  readonly #parseErrors = new Counter(
    "tailcast_parse_errors_total",
    "Lines that could not be parsed.",
    ["source"],
  );
  readonly #rotations = new Counter(
    "tailcast_rotations_total",
    "Files rotated away (renamed, deleted or replaced) under a followed path.",
    ["source"],
  );
  readonly #truncations = new Counter(
    "tailcast_truncations_total",
    "Followed files truncated.",
    ["source"],
  );
  readonly #gaps = new Counter(
    "tailcast_gaps_total",
    "Gaps: bytes of a followed file that were skipped or lost, by cause.",
    ["source", "cause"],
  );
  readonly #gapBytes = new Counter(
    "tailcast_gap_bytes_total",
    "Bytes skipped or lost in gaps (0 when the amount is unknown).",
    ["source"],
  );
  readonly #sourceErrors = new Counter(
    "tailcast_source_errors_total",
    "Errors reported while following a source.",
    ["source"],
  );
  readonly #restarts = new Counter(
    "tailcast_restarts_total",
    "Command sources (--exec) started again after they exited.",
    ["source"],
  );
  readonly #stderrLines = new Counter(
    "tailcast_stderr_lines_total",
    "Lines command sources (--exec) wrote to their standard error.",
    ["source"],
  );
  readonly #ingest = new Counter(
    "tailcast_ingest_requests_total",
    "POSTs to /ingest, by the status they were answered with.",
    ["code"],
  );
  readonly #alerts = new Counter(
    "tailcast_alerts_total",
    "Alerts raised, by rule.",
    ["rule"],
  );
  readonly #delay = new Histogram(
    "tailcast_publish_delay_seconds",
    "Time from a file change being noticed to its events being published.",
    DELAY_BUCKETS,
  );
  readonly #nats: boolean;
  readonly #natsMessages = new Counter(
    "tailcast_nats_messages_total",
    "NATS JetStream messages: stored for this agent (duplicate: stored before), or read by this gateway.",
    ["result"],
  );
  readonly #natsEvents = new Counter(
    "tailcast_nats_events_total",
    "Events in NATS JetStream messages stored for this agent, or read by this gateway.",
    ["result"],
  );
  readonly #natsRetries = new Counter(
    "tailcast_nats_retries_total",
    "Requests to NATS JetStream that failed and were made again: an agent's publishes, a gateway's reads.",
    [],
  );

  constructor(options: MetricsOptions = {}) {
    this.#sources = new Bounded(
      cap("maxSources", options.maxSources ?? 1000),
      () => true,
    );
    this.#rules = new Bounded(
      cap("maxRules", options.maxRules ?? 100),
      () => true,
    );
    this.#gauges = options.gauges ?? null;
    this.#nats = options.nats ?? false;
    this.#published.add([], 0);
    for (const reason of KNOWN_DROP_REASONS) {
      this.#dropped.add([this.#reasons.label(reason)], 0);
    }
  }

  /** Sets (or with null, removes) the callback the gauges are read from at every {@link render}. */
  setGauges(read: (() => GaugeReadings) | null): void {
    this.#gauges = read;
  }

  /** Counts `lines` lines and `bytes` bytes read from `source`. */
  linesRead(source: string, lines: number, bytes: number): void {
    const s = [this.#sources.label(source)];
    this.#linesRead.add(s, lines);
    this.#bytesRead.add(s, bytes);
  }

  /** Counts `n` events published. */
  published(n = 1): void {
    this.#published.add([], n);
  }

  /** Counts `n` events dropped for `reason` (a slug such as `slow-subscriber` or `filtered`). */
  dropped(reason: string, n = 1): void {
    this.#dropped.add([this.#reasons.label(reason)], n);
  }

  /** Counts one line of `source` that could not be parsed. */
  parseError(source: string): void {
    this.#parseErrors.add([this.#sources.label(source)], 1);
  }

  /**
   * Counts a notice: rotations, truncations, gaps (and their bytes),
   * errors, command restarts and standard error lines, by source; a `mode`
   * notice sets the watch mode shown when the gauge callback gives none.
   * Other kinds are not counted.
   */
  notice(n: Notice): void {
    switch (n.kind) {
      case "rotate":
        this.#rotations.add([this.#sources.label(n.source)], 1);
        break;
      case "truncate":
        this.#truncations.add([this.#sources.label(n.source)], 1);
        break;
      case "gap": {
        const source = this.#sources.label(n.source);
        this.#gaps.add([source, this.#causes.label(n.cause)], 1);
        this.#gapBytes.add([source], n.bytes);
        break;
      }
      case "error":
        this.#sourceErrors.add([this.#sources.label(n.source)], 1);
        break;
      case "mode":
        this.#mode = n.mode;
        break;
      case "restart":
        this.#restarts.add([this.#sources.label(n.source)], 1);
        break;
      case "stderr":
        this.#stderrLines.add([this.#sources.label(n.source)], 1);
        break;
    }
  }

  /** Counts one POST to /ingest answered with `status`. */
  ingest(status: number): void {
    this.#ingest.add([this.#codes.label(String(status))], 1);
  }

  /** Counts one alert raised by `rule`. */
  alert(rule: string): void {
    this.#alerts.add([this.#rules.label(rule)], 1);
  }

  /** An agent's message of `events` events was stored (`duplicate`: it had been already). */
  natsStored(events: number, duplicate: boolean): void {
    const result = duplicate ? "duplicate" : "stored";
    this.#natsMessages.add([result], 1);
    this.#natsEvents.add([result], events);
  }

  /** A publish (an agent's) or a read (a gateway's) failed and is made again. */
  natsRetried(): void {
    this.#natsRetries.add([], 1);
  }

  /** A gateway read a message of `events` events. */
  natsRead(events: number): void {
    this.#natsMessages.add(["read"], 1);
    this.#natsEvents.add(["read"], events);
  }

  /** Observes the time (ms) from a change being noticed to its events being published. */
  delay(ms: number): void {
    if (!Number.isFinite(ms)) return;
    this.#delay.observe(Math.max(0, ms) / 1000);
  }

  /**
   * Every family in the Prometheus text format 0.0.4 (content type
   * `text/plain; version=0.0.4; charset=utf-8`): `# HELP` and `# TYPE`
   * for each, families sorted by name, series sorted by labels.
   */
  render(): string {
    const readings = this.#gauges?.() ?? null;
    const blocks: Block[] = [
      this.#linesRead,
      this.#bytesRead,
      this.#published,
      this.#dropped,
      this.#parseErrors,
      this.#rotations,
      this.#truncations,
      this.#gaps,
      this.#gapBytes,
      this.#sourceErrors,
      this.#restarts,
      this.#stderrLines,
      this.#ingest,
      this.#alerts,
      this.#delay,
      ...(this.#nats
        ? [
          this.#natsMessages,
          this.#natsEvents,
          this.#natsRetries,
        ]
        : []),
      ...this.#gaugeBlocks(readings),
    ].map((f) => f.block());
    blocks.sort((a, b) => compare(a.name, b.name));
    let out = "";
    for (const b of blocks) {
      out += `# HELP ${b.name} ${escapeHelp(b.help)}\n`;
      out += `# TYPE ${b.name} ${b.type}\n`;
      for (const line of b.lines) out += `${line}\n`;
    }
    return out;
  }

  #gaugeBlocks(r: GaugeReadings | null): { block(): Block }[] {
    const depths = new Histogram(
      "tailcast_subscriber_queue_depths",
      "Subscriber queues by depth (messages waiting), read at scrape time.",
      DEPTH_BUCKETS,
    );
    let max = 0;
    let total = 0;
    let count = 0;
    for (const d of r?.depths ?? []) {
      if (!Number.isFinite(d) || d < 0) continue;
      depths.observe(d);
      max = Math.max(max, d);
      total += d;
      count++;
    }
    const subscribers = new Gauge(
      "tailcast_subscribers",
      "Current subscribers.",
      [],
    );
    subscribers.set([], r?.subscribers ?? count);
    const depth = new Gauge(
      "tailcast_subscriber_queue_depth",
      "Messages waiting in subscriber queues: the deepest queue and all of them together.",
      ["stat"],
    );
    depth.set(["max"], max);
    depth.set(["total"], total);
    const mode = new Gauge(
      "tailcast_watch_mode",
      "How followers are woken: 1 for the active mode, 0 otherwise.",
      ["mode"],
    );
    const active = r?.mode ?? this.#mode;
    for (const m of WATCH_MODES) mode.set([m], m === active ? 1 : 0);
    const sources = new Gauge(
      "tailcast_sources",
      "Sources followed.",
      [],
    );
    sources.set([], r?.sources ?? 0);
    const blocks = [subscribers, depth, depths, mode, sources];
    if (this.#nats) {
      const connected = new Gauge(
        "tailcast_nats_connected",
        "1 while a NATS server is connected.",
        [],
      );
      connected.set([], r?.natsConnected ? 1 : 0);
      blocks.push(connected);
      if (r?.natsLag !== undefined) {
        const lag = new Gauge(
          "tailcast_nats_lag_messages",
          "Messages of the stream this gateway has not read yet.",
          [],
        );
        lag.set([], r.natsLag);
        blocks.push(lag);
      }
    }
    return blocks;
  }
}

/** One family, rendered. */
interface Block {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly lines: string[];
}

/** Label values of one kind, at most `max` distinct, the rest `other`. */
class Bounded {
  readonly #seen = new Set<string>();
  readonly #max: number;
  readonly #valid: (value: string) => boolean;

  constructor(max: number, valid: (value: string) => boolean) {
    this.#max = max;
    this.#valid = valid;
  }

  label(value: string): string {
    if (this.#seen.has(value)) return value;
    if (!this.#valid(value) || this.#seen.size >= this.#max) return OTHER;
    this.#seen.add(value);
    return value;
  }
}

/** Series keyed by their rendered label set, values summed or set. */
class Series {
  readonly name: string;
  readonly help: string;
  readonly #labels: readonly string[];
  protected readonly values = new Map<string, number>();

  constructor(name: string, help: string, labels: readonly string[]) {
    this.name = name;
    this.help = help;
    this.#labels = labels;
  }

  protected key(values: readonly string[]): string {
    return labelSet(this.#labels.map((l, i) => [l, values[i]]));
  }

  protected lines(): string[] {
    return [...this.values]
      .sort(([a], [b]) => compare(a, b))
      .map(([key, v]) => `${this.name}${key} ${num(v)}`);
  }
}

class Counter extends Series {
  add(labels: readonly string[], n: number): void {
    if (!Number.isFinite(n) || n < 0) return;
    const key = this.key(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + n);
  }

  block(): Block {
    return {
      name: this.name,
      help: this.help,
      type: "counter",
      lines: this.lines(),
    };
  }
}

class Gauge extends Series {
  set(labels: readonly string[], v: number): void {
    this.values.set(this.key(labels), v);
  }

  block(): Block {
    return {
      name: this.name,
      help: this.help,
      type: "gauge",
      lines: this.lines(),
    };
  }
}

/** A histogram without labels. */
class Histogram {
  readonly name: string;
  readonly help: string;
  readonly #bounds: readonly number[];
  /** Observations per bucket, not cumulative; the last is above every bound. */
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.#bounds = bounds;
    this.#counts = new Array(bounds.length + 1).fill(0);
  }

  observe(v: number): void {
    let i = 0;
    while (i < this.#bounds.length && v > this.#bounds[i]) i++;
    this.#counts[i]++;
    this.#sum += v;
    this.#count++;
  }

  block(): Block {
    const lines: string[] = [];
    let cumulative = 0;
    this.#bounds.forEach((le, i) => {
      cumulative += this.#counts[i];
      lines.push(`${this.name}_bucket{le="${num(le)}"} ${cumulative}`);
    });
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`);
    lines.push(`${this.name}_sum ${num(this.#sum)}`);
    lines.push(`${this.name}_count ${this.#count}`);
    return { name: this.name, help: this.help, type: "histogram", lines };
  }
}

function cap(name: string, n: number): number {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(
      `Cannot bound label values with ${name} ${n}: use a whole number of at least 0`,
    );
  }
  return n;
}

/** `{a="x",b="y"}`, or the empty string without labels. */
function labelSet(pairs: readonly (readonly [string, string])[]): string {
  if (pairs.length === 0) return "";
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/** Escapes HELP text: backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Code-unit order, the same in every locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
