/**
 * Built-in alerts: rules evaluated against every line, firing {@link Alert}s.
 *
 * Three kinds of rule:
 * - threshold: at least N matching lines within a sliding window;
 * - rate: more than X matching lines per second, averaged over a window;
 * - deadman: no line at all from a source (or from any source) for a while.
 *
 * One incident is one alert: after a threshold or rate rule fires it is
 * muted for its cooldown (by default its window), and its count starts
 * again from zero, so it fires again only once the cooldown is over and
 * the condition holds again. A deadman rule fires once per silence and
 * re-arms when a line comes.
 *
 * Rule syntax (a `--alert` flag, or a string in the config file):
 *
 * ```text
 * rule      = name ":" body
 * body      = match count "in" duration [cooldown]          (threshold)
 *           | match ">" number "/" unit ["over" duration] [cooldown]   (rate)
 *           | "no lines" ["from" source] "for" duration      (deadman)
 * cooldown  = "cooldown" duration
 * match     = "any"                    every line
 *           | "grep" ["-i"] regex      a regex on the line (quote it if it has spaces)
 *           | expression               anything else: a where-expression
 * duration  = one or more of number + ms|s|m|h|d, e.g. 500ms, 30s, 5m, 1h30m
 * unit      = s | m | h                 per second, minute or hour
 * name      = letters, digits, _ . -   (at most 64)
 * ```
 *
 * The tail of the body is read from the end, so a where-expression may
 * itself contain `in`, `>` or numbers. The rate window defaults to 1m.
 *
 * Examples:
 * - `errors: level=error 10 in 1m cooldown 5m`
 * - `timeouts: grep "timed? ?out" > 5/s over 30s`
 * - `flood: any > 1000/s`
 * - `quiet: no lines from /var/log/app.log for 5m`
 * - `silence: no lines for 10m`
 *
 * The engine keeps bounded memory per rule: a ring of the last N match
 * times for a threshold rule (exact), 60 counting buckets for a rate rule
 * (exact to within 1/60 of its window), one time for a deadman rule.
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

/** The kinds of rule. */
export type AlertKind = "threshold" | "rate" | "deadman";

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

/** One alert: what the engine reports when a rule fires. */
export interface Alert {
  readonly rule: string;
  readonly kind: AlertKind;
  /** One line for a human, e.g. `errors: 10 lines matching level=error within 1m`. */
  readonly message: string;
  /** Matching lines counted (threshold, rate). */
  readonly count?: number;
  /** The rule's window (or silence), e.g. `1m`, `1m30s`. */
  readonly window: string;
  /** The source of the line that tripped the rule, or the silent source. */
  readonly source?: string;
  /** ISO time it fired. */
  readonly time: string;
}

/** The most matches a threshold rule may count (its ring holds that many times). */
export const MAX_THRESHOLD_COUNT = 100_000;
/** The rate window when a rule names none. */
export const DEFAULT_RATE_WINDOW_MS = 60_000;
const RATE_BUCKETS = 60;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

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
 * import { assertEquals, assertMatch, assertThrows, fail } from "@std/assert";
 * import { parseDuration } from "./alerts.ts";
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
 * import { assertEquals, assertMatch, assertThrows, fail } from "@std/assert";
 * import { formatDuration } from "./alerts.ts";
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

interface Token {
  /** The value, unquoted. */
  readonly text: string;
  readonly start: number;
  readonly end: number;
  readonly quoted: boolean;
}

function tokenize(text: string, from: number, fail: Fail): Token[] {
  const tokens: Token[] = [];
  let i = from;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === '"' || c === "'") {
      let value = "";
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === "\\" && i + 1 < text.length) {
          // Keep the backslash unless it escapes the quote or itself: regexes need theirs.
          const next = text[i + 1];
          value += next === c || next === "\\" ? next : text[i] + next;
          i += 2;
        } else {
          value += text[i++];
        }
      }
      if (i >= text.length) {
        fail(start, `unterminated ${c} quote: close it with ${c}`);
      }
      i++;
      tokens.push({ text: value, start, end: i, quoted: true });
    } else {
      while (i < text.length && !/\s/.test(text[i])) i++;
      tokens.push({
        text: text.slice(start, i),
        start,
        end: i,
        quoted: false,
      });
    }
  }
  return tokens;
}

type Fail = (position: number, reason: string) => never;

const SYNTAX =
  "write `<match> <count> in <window>`, `<match> > <rate>/s [over <window>]` or `no lines [from <source>] for <duration>`, each optionally followed by `cooldown <duration>`";

/**
 * Parses one rule, e.g. `errors: level=error 10 in 1m cooldown 5m` (see the
 * module documentation for the syntax). `compileMatch` compiles a
 * where-expression match; `any` and `grep` matches are compiled here.
 * Throws {@link AlertRuleError} with the column and reason of the fault.
 *
 * @example
 * ```ts
 * import { assertEquals, assertMatch, assertThrows, fail } from "@std/assert";
 * import { parseRule } from "./alerts.ts";
 * const compile = (m: string) => (e: { line: string }) => e.line.includes(m);
 * const rule = parseRule("errors: ERROR 10 in 1m cooldown 5m", compile);
 * assertEquals(rule.kind, "threshold");
 * assertEquals(
 *   rule.kind === "threshold" && [rule.count, rule.windowMs, rule.cooldownMs],
 *   [10, 60_000, 300_000],
 * );
 * assertMatch(String(assertThrows(() => parseRule("errors: ERROR 10 in 1x", compile))), /column 21/);
 * ```
 */
export function parseRule(text: string, compileMatch: CompileMatch): AlertRule {
  const fail: Fail = (position, reason) => {
    throw new AlertRuleError(
      `Invalid alert ${JSON.stringify(text)} at column ${
        position + 1
      }: ${reason}`,
      position,
    );
  };
  const colon = text.indexOf(":");
  if (colon < 0) {
    fail(
      0,
      "missing the rule name: start with `name:`, e.g. `errors: level=error 10 in 1m`",
    );
  }
  const name = text.slice(0, colon).trim();
  if (!NAME.test(name)) {
    fail(
      Math.max(0, text.search(/\S/)),
      `invalid rule name ${
        JSON.stringify(name)
      }: use 1 to 64 letters, digits, _ . or -, starting with a letter, digit or _`,
    );
  }
  let tokens = tokenize(text, colon + 1, fail);
  if (tokens.length === 0) fail(colon + 1, `the rule is empty: ${SYNTAX}`);
  const word = (t: Token | undefined, w: string) =>
    t !== undefined && !t.quoted && t.text === w;
  const duration = (t: Token | undefined, what: string): number => {
    if (t === undefined) fail(text.length, `missing the ${what} duration`);
    const ms = parseDuration(t.text);
    if (typeof ms === "string") fail(t.start, ms);
    return ms;
  };

  let cooldown: { ms: number; at: number } | null = null;
  const n = tokens.length;
  if (n >= 2 && word(tokens[n - 2], "cooldown")) {
    cooldown = {
      ms: duration(tokens[n - 1], "cooldown"),
      at: tokens[n - 2].start,
    };
    tokens = tokens.slice(0, n - 2);
  } else if (word(tokens[n - 1], "cooldown")) {
    fail(tokens[n - 1].end, "missing the cooldown duration, e.g. cooldown 5m");
  }

  if (
    word(tokens[0], "no") &&
    (word(tokens[1], "lines") || word(tokens[1], "line"))
  ) {
    if (cooldown !== null) {
      fail(
        cooldown.at,
        "a deadman rule fires once per silence and re-arms when a line comes: remove the cooldown",
      );
    }
    let i = 2;
    let source: string | null = null;
    if (word(tokens[i], "from")) {
      const t = tokens[i + 1];
      if (t === undefined || word(t, "for")) {
        fail(
          t?.start ?? text.length,
          "missing the source after `from`, e.g. from /var/log/app.log",
        );
      }
      source = t.text;
      i += 2;
    }
    if (!word(tokens[i], "for")) {
      fail(
        tokens[i]?.start ?? text.length,
        "expected `for <duration>` after `no lines [from <source>]`, e.g. no lines for 5m",
      );
    }
    const windowMs = duration(tokens[i + 1], "silence");
    if (tokens.length > i + 2) {
      fail(
        tokens[i + 2].start,
        `unexpected ${JSON.stringify(tokens[i + 2].text)} after the duration`,
      );
    }
    return { kind: "deadman", name, source, windowMs };
  }

  const m = tokens.length;
  const matchOf = (count: number): { text: string; match: Matcher } => {
    if (count <= 0) {
      fail(
        tokens[0]?.start ?? text.length,
        `missing the match before the threshold: use \`any\`, \`grep <regex>\` or a where-expression`,
      );
    }
    return compileRuleMatch(text, tokens.slice(0, count), compileMatch, fail);
  };

  // Rate: ... > X/s [over D]   or   ... >X/s [over D]
  let over: number | null = null;
  let end = m;
  if (m >= 2 && word(tokens[m - 2], "over")) {
    over = m - 2;
    end = m - 2;
  }
  const rateAt = ():
    | { perSecond: number; at: Token; matchEnd: number }
    | null => {
    const last = tokens[end - 1];
    if (last === undefined || last.quoted) return null;
    if (word(tokens[end - 2], ">")) {
      return { perSecond: rate(last), at: last, matchEnd: end - 2 };
    }
    if (last.text.startsWith(">") && last.text.length > 1) {
      return {
        perSecond: rate({
          ...last,
          text: last.text.slice(1),
          start: last.start + 1,
        }),
        at: last,
        matchEnd: end - 1,
      };
    }
    return null;
  };
  const rate = (t: Token): number => {
    const r = /^(\d+(?:\.\d+)?)\/(s|sec|m|min|h)$/.exec(t.text);
    if (r === null) {
      fail(
        t.start,
        `invalid rate ${
          JSON.stringify(t.text)
        }: use lines per second, minute or hour, e.g. 5/s, 100/m`,
      );
    }
    const per = r[2].startsWith("s") ? 1 : r[2].startsWith("m") ? 60 : 3600;
    return Number(r[1]) / per;
  };
  const r = rateAt();
  if (r !== null) {
    const windowMs = over === null
      ? DEFAULT_RATE_WINDOW_MS
      : duration(tokens[over + 1], "rate window");
    const { text: matchText, match } = matchOf(r.matchEnd);
    return {
      kind: "rate",
      name,
      matchText,
      match,
      perSecond: r.perSecond,
      windowMs,
      cooldownMs: cooldown?.ms ?? windowMs,
    };
  }
  if (over !== null) {
    fail(
      tokens[over].start,
      "`over <window>` follows a rate, e.g. `grep timeout > 5/s over 30s`",
    );
  }

  // Threshold: ... N in D
  if (m >= 3 && word(tokens[m - 2], "in")) {
    const countToken = tokens[m - 3];
    if (countToken.quoted || !/^\d+$/.test(countToken.text)) {
      fail(
        countToken.start,
        `expected a count of lines before \`in\`, got ${
          JSON.stringify(countToken.text)
        }: e.g. 10 in 1m`,
      );
    }
    const count = Number(countToken.text);
    if (count < 1 || count > MAX_THRESHOLD_COUNT) {
      fail(
        countToken.start,
        `count ${count} is out of range: use 1 to ${MAX_THRESHOLD_COUNT} (for more, use a rate: > X/s)`,
      );
    }
    const windowMs = duration(tokens[m - 1], "window");
    const { text: matchText, match } = matchOf(m - 3);
    return {
      kind: "threshold",
      name,
      matchText,
      match,
      count,
      windowMs,
      cooldownMs: cooldown?.ms ?? windowMs,
    };
  }
  return fail(
    tokens[m - 1]?.end ?? text.length,
    `no threshold found: ${SYNTAX}`,
  );
}

function compileRuleMatch(
  text: string,
  tokens: readonly Token[],
  compileMatch: CompileMatch,
  fail: Fail,
): { text: string; match: Matcher } {
  const first = tokens[0];
  const last = tokens[tokens.length - 1];
  const matchText = text.slice(first.start, last.end);
  if (tokens.length === 1 && !first.quoted && first.text === "any") {
    return { text: matchText, match: () => true };
  }
  if (!first.quoted && first.text === "grep") {
    let rest = tokens.slice(1);
    let flags = "";
    if (rest.length > 1 && !rest[0].quoted && rest[0].text === "-i") {
      flags = "i";
      rest = rest.slice(1);
    }
    if (rest.length !== 1) {
      fail(
        rest[1]?.start ?? first.end,
        rest.length === 0
          ? 'missing the regex after grep, e.g. grep "timed out"'
          : 'grep takes one regex: quote it if it has spaces, e.g. grep "timed out"',
      );
    }
    let re: RegExp;
    try {
      re = new RegExp(rest[0].text, flags);
    } catch (error) {
      fail(rest[0].start, `invalid regex: ${(error as Error).message}`);
    }
    return { text: matchText, match: (e) => re.test(e.line) };
  }
  try {
    return { text: matchText, match: compileMatch(matchText) };
  } catch (error) {
    fail(
      first.start,
      `invalid match ${JSON.stringify(matchText)}: ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
}

const KEYS: Record<AlertKind, readonly string[]> = {
  threshold: ["name", "kind", "match", "grep", "count", "window", "cooldown"],
  rate: ["name", "kind", "match", "grep", "rate", "window", "cooldown"],
  deadman: ["name", "kind", "source", "for"],
};

/**
 * Validates one rule of the config file: either a rule string (the flag
 * syntax) or an object:
 *
 * - `{ "name": "errors", "kind": "threshold", "match": "level=error", "count": 10, "window": "1m", "cooldown": "5m" }`
 * - `{ "name": "timeouts", "kind": "rate", "grep": "timed? ?out", "rate": 5, "window": "30s" }`
 *   (`rate` is lines per second, or a string such as `"100/m"`; `window` defaults to 1m)
 * - `{ "name": "quiet", "kind": "deadman", "source": "/var/log/app.log", "for": "5m" }`
 *
 * `match` is a where-expression (or `any`); `grep` is a regex on the line;
 * give one of them. Errors name the key path under `path`, e.g.
 * `alerts[2].window`.
 *
 * @example
 * ```ts
 * import { assertEquals, assertMatch, assertThrows, fail } from "@std/assert";
 * import { ruleFromObject } from "./alerts.ts";
 * const compile = (m: string) => (e: { line: string }) => e.line.includes(m);
 * const rule = ruleFromObject(
 *   { name: "quiet", kind: "deadman", for: "5m" },
 *   "alerts[0]",
 *   compile,
 * );
 * assertEquals(rule, { kind: "deadman", name: "quiet", source: null, windowMs: 300_000 });
 * assertMatch(
 *   String(assertThrows(() => ruleFromObject({ name: "e", kind: "threshold", match: "x", count: 3, window: "1x" }, "alerts[2]", compile))),
 *   /^AlertRuleError: alerts\[2\]\.window: invalid duration "1x"/,
 * );
 * ```
 */
export function ruleFromObject(
  obj: unknown,
  path: string,
  compileMatch: CompileMatch,
): AlertRule {
  const fail = (key: string | null, reason: string): never => {
    const at = key === null ? path : `${path}.${key}`;
    throw new AlertRuleError(`${at}: ${reason}`, null, at);
  };
  if (typeof obj === "string") {
    try {
      return parseRule(obj, compileMatch);
    } catch (error) {
      if (!(error instanceof AlertRuleError)) throw error;
      throw new AlertRuleError(
        `${path}: ${error.message}`,
        error.position,
        path,
      );
    }
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    fail(
      null,
      `expected a rule string or an object such as {"name": "errors", "kind": "threshold", "match": "level=error", "count": 10, "window": "1m"}, got ${
        Array.isArray(obj) ? "an array" : obj === null ? "null" : typeof obj
      }`,
    );
  }
  const o = obj as Record<string, unknown>;
  const kind = o.kind;
  if (kind !== "threshold" && kind !== "rate" && kind !== "deadman") {
    fail(
      "kind",
      `${
        kind === undefined ? "missing" : `invalid kind ${JSON.stringify(kind)}`
      }: use "threshold", "rate" or "deadman"`,
    );
  }
  const k = kind as AlertKind;
  for (const key of Object.keys(o)) {
    if (!KEYS[k].includes(key)) {
      fail(
        key,
        `unknown key for a ${k} alert: use ${KEYS[k].join(", ")}`,
      );
    }
  }
  if (typeof o.name !== "string" || !NAME.test(o.name)) {
    fail(
      "name",
      `${
        o.name === undefined
          ? "missing"
          : `invalid name ${JSON.stringify(o.name)}`
      }: use 1 to 64 letters, digits, _ . or -, starting with a letter, digit or _`,
    );
  }
  const name = o.name as string;
  const duration = (key: string, required: boolean): number | null => {
    const v = o[key];
    if (v === undefined) {
      if (required) fail(key, `missing: give a duration such as "5m"`);
      return null;
    }
    if (typeof v !== "string") {
      fail(
        key,
        `expected a duration string such as "30s" or "5m", got ${
          JSON.stringify(v)
        }`,
      );
    }
    const ms = parseDuration(v as string);
    if (typeof ms === "string") fail(key, ms);
    return ms as number;
  };

  if (k === "deadman") {
    if (
      o.source !== undefined &&
      (typeof o.source !== "string" || o.source === "")
    ) {
      fail(
        "source",
        "expected the path of a followed file; leave it out to watch every source",
      );
    }
    return {
      kind: "deadman",
      name,
      source: (o.source as string | undefined) ?? null,
      windowMs: duration("for", true)!,
    };
  }

  const hasMatch = o.match !== undefined;
  const hasGrep = o.grep !== undefined;
  if (hasMatch === hasGrep) {
    fail(
      hasMatch ? "grep" : "match",
      hasMatch
        ? "give either match or grep, not both"
        : `missing: give "match" (a where-expression, or "any") or "grep" (a regex on the line)`,
    );
  }
  const key = hasMatch ? "match" : "grep";
  const value = o[key];
  if (typeof value !== "string" || value.trim() === "") {
    fail(key, `expected a non-empty string, got ${JSON.stringify(value)}`);
  }
  let matchText = value as string;
  let match: Matcher;
  if (hasGrep) {
    let re: RegExp;
    try {
      re = new RegExp(matchText);
    } catch (error) {
      return fail(key, `invalid regex: ${(error as Error).message}`);
    }
    match = (e) => re.test(e.line);
    matchText = `grep ${JSON.stringify(matchText)}`;
  } else if (matchText.trim() === "any") {
    match = () => true;
  } else {
    try {
      match = compileMatch(matchText);
    } catch (error) {
      return fail(
        key,
        `invalid match: ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    }
  }

  if (k === "threshold") {
    const count = o.count;
    if (
      typeof count !== "number" || !Number.isInteger(count) || count < 1 ||
      count > MAX_THRESHOLD_COUNT
    ) {
      fail(
        "count",
        `${
          count === undefined
            ? "missing"
            : `invalid count ${JSON.stringify(count)}`
        }: use a whole number of lines from 1 to ${MAX_THRESHOLD_COUNT}`,
      );
    }
    const windowMs = duration("window", true)!;
    return {
      kind: "threshold",
      name,
      matchText,
      match,
      count: count as number,
      windowMs,
      cooldownMs: duration("cooldown", false) ?? windowMs,
    };
  }

  let perSecond: number;
  const r = o.rate;
  if (typeof r === "number" && Number.isFinite(r) && r >= 0) {
    perSecond = r;
  } else {
    const parsed = typeof r === "string"
      ? /^(\d+(?:\.\d+)?)\/(s|sec|m|min|h)$/.exec(r)
      : null;
    if (parsed === null) {
      return fail(
        "rate",
        `${
          r === undefined ? "missing" : `invalid rate ${JSON.stringify(r)}`
        }: use lines per second (a number such as 5) or a string such as "100/m"`,
      );
    }
    const per = parsed[2].startsWith("s")
      ? 1
      : parsed[2].startsWith("m")
      ? 60
      : 3600;
    perSecond = Number(parsed[1]) / per;
  }
  const windowMs = duration("window", false) ?? DEFAULT_RATE_WINDOW_MS;
  return {
    kind: "rate",
    name,
    matchText,
    match,
    perSecond,
    windowMs,
    cooldownMs: duration("cooldown", false) ?? windowMs,
  };
}

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
 * import { assertEquals, assertMatch, assertThrows, fail } from "@std/assert";
 * import { AlertEngine, type Alert, parseRule } from "./alerts.ts";
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
