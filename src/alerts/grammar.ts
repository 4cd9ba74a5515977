/**
 * The alert rule language: a `--alert` string (or a string in the config
 * file) → an {@link AlertRule}.
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
 */
import { compilePattern } from "../pattern.ts";
import {
  type AlertRule,
  AlertRuleError,
  type CompileMatch,
  DEFAULT_RATE_WINDOW_MS,
  lower,
  type Matcher,
  MAX_THRESHOLD_COUNT,
  NAME,
  parseDuration,
} from "./rule.ts";

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
 * import { parseRule } from "./grammar.ts";
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
      re = compilePattern(rest[0].text, { what: "grep", flags });
    } catch (error) {
      fail(rest[0].start, lower((error as Error).message));
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
