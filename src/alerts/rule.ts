/**
 * Alert rules: what a rule is (threshold, rate, deadman), the alert it fires,
 * the error a bad rule is, and durations as rules write them.
 */

/** What a rule looks at: one line, from one source, perhaps with a level. */
export interface Alertable {
  readonly source: string;
  readonly line: string;
  readonly level?: string;
}

/** Decides whether a line counts for a rule. Must not throw. */
export type Matcher = (e: Alertable) => boolean;

/** Compiles the match of a rule (a where-expression); throws with a reason if it is invalid. */
export type CompileMatch = (match: string) => Matcher;

/** At least `count` matching lines within `windowMs`. */
export interface ThresholdRule {
  readonly kind: "threshold";
  readonly name: string;
  /** The match as written, for messages. */
  readonly matchText: string;
  readonly match: Matcher;
  readonly count: number;
  readonly windowMs: number;
  readonly cooldownMs: number;
}

/** More than `perSecond` matching lines a second, averaged over `windowMs`. */
export interface RateRule {
  readonly kind: "rate";
  readonly name: string;
  readonly matchText: string;
  readonly match: Matcher;
  readonly perSecond: number;
  readonly windowMs: number;
  readonly cooldownMs: number;
}

/** No line from `source` (any source if null) for `windowMs`. */
export interface DeadmanRule {
  readonly kind: "deadman";
  readonly name: string;
  readonly source: string | null;
  readonly windowMs: number;
}

/** A parsed, validated rule. */
export type AlertRule = ThresholdRule | RateRule | DeadmanRule;

/** The most matches a threshold rule may count (its ring holds that many times). */
export const MAX_THRESHOLD_COUNT = 100_000;
/** The rate window when a rule names none. */
export const DEFAULT_RATE_WINDOW_MS = 60_000;
/** What a rule's name may be. */
export const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/**
 * A rule that cannot be used: the message names the rule or key path and
 * says what to write instead.
 */
export class AlertRuleError extends TypeError {
  /** 0-based offset in the rule text of the fault, when it came from text. */
  readonly position: number | null;
  /** Key path of the fault in the config file, e.g. `alerts[2].window`. */
  readonly path: string | null;

  constructor(
    message: string,
    position: number | null = null,
    path: string | null = null,
  ) {
    super(message);
    this.name = "AlertRuleError";
    this.position = position;
    this.path = path;
  }
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration such as `500ms`, `30s`, `5m`, `1h30m`, `2d` into ms;
 * returns a reason (a string) if it is not one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseDuration } from "./rule.ts";
 * assertEquals(parseDuration("1m30s"), 90_000);
 * assertEquals(typeof parseDuration("5x"), "string");
 * ```
 */
export function parseDuration(text: string): number | string {
  const parts = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(text)
    ? [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)]
    : null;
  if (parts === null) {
    return `invalid duration ${
      JSON.stringify(text)
    }: use a number with ms, s, m, h or d, e.g. 30s, 5m or 1h30m`;
  }
  let ms = 0;
  for (const [, n, unit] of parts) ms += Number(n) * UNIT_MS[unit];
  ms = Math.round(ms);
  if (!(ms > 0) || !Number.isFinite(ms)) {
    return `invalid duration ${JSON.stringify(text)}: it must be at least 1ms`;
  }
  return ms;
}

/**
 * Writes ms as a compact duration, largest units first.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatDuration } from "./rule.ts";
 * assertEquals(formatDuration(90_000), "1m30s");
 * assertEquals(formatDuration(250), "250ms");
 * ```
 */
export function formatDuration(ms: number): string {
  let rest = Math.round(ms);
  if (rest <= 0) return "0s";
  let out = "";
  for (const unit of ["d", "h", "m", "s", "ms"]) {
    const size = UNIT_MS[unit];
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

/** A message as the end of a sentence. */
export function lower(message: string): string {
  return message[0].toLowerCase() + message.slice(1);
}
