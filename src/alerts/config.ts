/**
 * Alert rules written as objects in the config file → {@link AlertRule}s,
 * with errors that name the key path.
 */
import { compilePattern } from "../pattern.ts";
import { parseRule } from "./grammar.ts";
import type { AlertKind } from "../types.ts";
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
 * import { ruleFromObject } from "./config.ts";
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
      re = compilePattern(matchText, { what: "grep" });
    } catch (error) {
      return fail(key, lower((error as Error).message));
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
