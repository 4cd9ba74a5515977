/**
 * The alert engine: evaluates every rule against every line, keeps each
 * rule's window in bounded memory, and fires {@link Alert}s with cooldowns.
 *
 * One incident is one alert: after a threshold or rate rule fires it is
 * muted for its cooldown (by default its window), and its count starts
 * again from zero, so it fires again only once the cooldown is over and
 * the condition holds again. A deadman rule fires once per silence and
 * re-arms when a line comes. Memory per rule: a ring of the last N match
 * times for a threshold rule (exact), 60 counting buckets for a rate rule
 * (exact to within 1/60 of its window), one time for a deadman rule.
 */
import type { Alert } from "../types.ts";
import {
  type Alertable,
  type AlertRule,
  AlertRuleError,
  type DeadmanRule,
  formatDuration,
  type RateRule,
  type ThresholdRule,
} from "./rule.ts";

/** Counting buckets per rate rule. */
const RATE_BUCKETS = 60;
export interface AlertEngineOptions {
  /** Wall-clock time in ms since the epoch. @default Date.now */
  now?: () => number;
  /** Receives each alert, synchronously, from `observe` or `tick`. */
  onAlert: (alert: Alert) => void;
}

/** The last `count` match times of a threshold rule. */
class Ring {
  readonly #times: Float64Array;
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    this.#times = new Float64Array(capacity);
  }

  /** Records `t`; true when the ring is full and its oldest time is within `windowMs` of `t`. */
  push(t: number, windowMs: number): boolean {
    const cap = this.#times.length;
    this.#times[this.#next] = t;
    this.#next = (this.#next + 1) % cap;
    if (this.#size < cap) this.#size++;
    // Once full, #next points at the oldest.
    return this.#size === cap && this.#times[this.#next % cap] > t - windowMs;
  }

  clear(): void {
    this.#size = 0;
  }
}

/** Counts in fixed buckets covering a window, for rate rules. */
class Buckets {
  readonly #counts: Float64Array;
  readonly #width: number;
  #head = -Infinity;
  #total = 0;

  constructor(windowMs: number, buckets: number) {
    this.#counts = new Float64Array(buckets);
    this.#width = windowMs / buckets;
  }

  /** Adds one at `t`; returns the count within the window ending at `t`. */
  add(t: number): number {
    const b = Math.floor(t / this.#width);
    const n = this.#counts.length;
    if (b > this.#head) {
      if (b - this.#head >= n) {
        this.#counts.fill(0);
        this.#total = 0;
      } else {
        for (let i = this.#head + 1; i <= b; i++) {
          this.#total -= this.#counts[i % n];
          this.#counts[i % n] = 0;
        }
      }
      this.#head = b;
    }
    // A clock that went back counts in the newest bucket.
    this.#counts[this.#head % n]++;
    return ++this.#total;
  }

  clear(): void {
    this.#counts.fill(0);
    this.#total = 0;
  }
}

type State =
  | { rule: ThresholdRule; ring: Ring; mutedUntil: number }
  | { rule: RateRule; buckets: Buckets; mutedUntil: number }
  | { rule: DeadmanRule; lastSeen: number; hadLine: boolean; fired: boolean };

/**
 * Evaluates rules against lines (`observe`) and the passage of time
 * (`tick`, once a second, for deadman rules). Synchronous and O(1) per
 * line and rule; memory is bounded per rule.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { AlertEngine } from "./engine.ts";
 * import { parseRule } from "./grammar.ts";
 * import type { Alert } from "../types.ts";
 * const compile = (m: string) => (e: { line: string }) => e.line.includes(m);
 * let now = Date.parse("2026-01-01T00:00:00Z");
 * const alerts: Alert[] = [];
 * const engine = new AlertEngine([parseRule("errors: ERROR 2 in 1m", compile)], {
 *   now: () => now,
 *   onAlert: (a) => alerts.push(a),
 * });
 * engine.observe({ source: "/app.log", line: "ERROR one" });
 * now += 1000;
 * engine.observe({ source: "/app.log", line: "ERROR two" });
 * assertEquals(alerts.length, 1);
 * assertEquals(alerts[0].message, "errors: 2 lines matching ERROR within 1m");
 * engine.close();
 * ```
 */
export class AlertEngine {
  #states: State[];
  readonly #now: () => number;
  readonly #onAlert: (alert: Alert) => void;
  #closed = false;

  constructor(rules: readonly AlertRule[], options: AlertEngineOptions) {
    this.#now = options.now ?? Date.now;
    this.#onAlert = options.onAlert;
    const names = new Set<string>();
    const start = this.#now();
    this.#states = rules.map((rule): State => {
      if (names.has(rule.name)) {
        throw new AlertRuleError(
          `Two alert rules are named ${
            JSON.stringify(rule.name)
          }: give each rule its own name`,
        );
      }
      names.add(rule.name);
      switch (rule.kind) {
        case "threshold":
          return { rule, ring: new Ring(rule.count), mutedUntil: -Infinity };
        case "rate":
          return {
            rule,
            buckets: new Buckets(rule.windowMs, RATE_BUCKETS),
            mutedUntil: -Infinity,
          };
        case "deadman":
          return { rule, lastSeen: start, hadLine: false, fired: false };
      }
    });
  }

  /** The rules, in the order given. */
  get rules(): AlertRule[] {
    return this.#states.map((s) => s.rule);
  }

  /** Counts one line against every rule; may fire threshold and rate alerts. */
  observe(e: Alertable): void {
    if (this.#closed) return;
    const t = this.#now();
    for (const s of this.#states) {
      const rule = s.rule;
      if (rule.kind === "deadman") {
        const d = s as Extract<State, { rule: DeadmanRule }>;
        if (rule.source === null || rule.source === e.source) {
          d.lastSeen = t;
          d.hadLine = true;
          d.fired = false;
        }
        continue;
      }
      if (!rule.match(e)) continue;
      if (rule.kind === "threshold") {
        const th = s as Extract<State, { rule: ThresholdRule }>;
        if (!th.ring.push(t, rule.windowMs) || t < th.mutedUntil) continue;
        th.ring.clear();
        th.mutedUntil = t + rule.cooldownMs;
        this.#fire(t, {
          rule: rule.name,
          kind: "threshold",
          message: `${rule.name}: ${rule.count} ${
            rule.count === 1 ? "line" : "lines"
          } matching ${rule.matchText} within ${formatDuration(rule.windowMs)}`,
          count: rule.count,
          window: formatDuration(rule.windowMs),
          source: e.source,
        });
      } else {
        const ra = s as Extract<State, { rule: RateRule }>;
        const count = ra.buckets.add(t);
        const perSecond = count / (rule.windowMs / 1000);
        if (!(perSecond > rule.perSecond) || t < ra.mutedUntil) continue;
        ra.buckets.clear();
        ra.mutedUntil = t + rule.cooldownMs;
        this.#fire(t, {
          rule: rule.name,
          kind: "rate",
          message:
            `${rule.name}: ${count} lines matching ${rule.matchText} in ${
              formatDuration(rule.windowMs)
            } (${rounded(perSecond)}/s, above ${rounded(rule.perSecond)}/s)`,
          count,
          window: formatDuration(rule.windowMs),
          source: e.source,
        });
      }
    }
  }

  /** Evaluates deadman rules against the clock; call it about once a second. */
  tick(): void {
    if (this.#closed) return;
    const t = this.#now();
    for (const s of this.#states) {
      if (s.rule.kind !== "deadman") continue;
      const d = s as Extract<State, { rule: DeadmanRule }>;
      const rule = d.rule;
      if (d.fired || t - d.lastSeen < rule.windowMs) continue;
      d.fired = true;
      const from = rule.source === null ? "" : ` from ${rule.source}`;
      const since = d.hadLine
        ? `last at ${new Date(d.lastSeen).toISOString()}`
        : "none since start";
      this.#fire(t, {
        rule: rule.name,
        kind: "deadman",
        message: `${rule.name}: no lines${from} for ${
          formatDuration(rule.windowMs)
        } (${since})`,
        window: formatDuration(rule.windowMs),
        ...(rule.source === null ? {} : { source: rule.source }),
      });
    }
  }

  /** Stops evaluating: `observe` and `tick` do nothing after it. */
  close(): void {
    this.#closed = true;
    this.#states = [];
  }

  #fire(t: number, alert: Omit<Alert, "time">): void {
    this.#onAlert({ ...alert, time: new Date(t).toISOString() });
  }
}

function rounded(n: number): string {
  return String(Math.round(n * 100) / 100);
}
