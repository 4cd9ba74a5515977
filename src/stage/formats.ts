/**
 * Log formats: the text of one line → structured fields. Pure functions, no
 * I/O. `parseFormat` reads the `--format` flag value; `parseLine` never throws:
 * a line that is not in its format gets a `parseError` saying why.
 *
 * Whatever the format, a few well-known keys are exposed the same way:
 * `level` (lower-cased and normalised), `msg` and `logTime`.
 */
import { compilePattern, PatternError } from "../pattern.ts";

/** How lines are parsed. */
export type Format =
  | { kind: "raw" }
  | { kind: "json" }
  | { kind: "logfmt" }
  | { kind: "regex"; pattern: RegExp }
  | { kind: "auto" };

/** A `--format` value that is not one tailcast knows. */
export class FormatError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = "FormatError";
  }
}

/** What was found in one line. Every member is absent when not found. */
export interface Parsed {
  /** All fields of the line: a JSON object, logfmt pairs or named groups. */
  fields?: Record<string, unknown>;
  /** From `level|lvl|severity|log.level`: lower-cased, `warn`, `error`, `fatal`… */
  level?: string;
  /** From `msg|message`. */
  msg?: string;
  /** From `time|ts|timestamp|@timestamp|t`; epoch numbers become ISO strings. */
  logTime?: string;
  /** Why the line is not in its format (no `fields` then). */
  parseError?: string;
}

const ACCEPTED = "raw, json, logfmt, auto or regex:<pattern with named groups>";

/**
 * Reads a `--format` value: `raw`, `json`, `logfmt`, `auto` or
 * `regex:<pattern>`, where the pattern has at least one named group
 * (`(?<name>…)`); each named group becomes a field.
 *
 * @throws {FormatError} for any other value, an invalid pattern, or a
 * pattern without named groups.
 *
 * @example
 * ```ts
 * import { assertEquals, assertMatch, assertThrows } from "@std/assert";
 * import { parseFormat } from "./formats.ts";
 * assertEquals(parseFormat("json"), { kind: "json" });
 * const format = parseFormat("regex:^(?<level>\\w+) (?<msg>.*)$");
 * assertEquals(format.kind, "regex");
 * assertMatch(String(assertThrows(() => parseFormat("xml"))), /raw, json, logfmt, auto or regex/);
 * ```
 */
export function parseFormat(text: string): Format {
  switch (text) {
    case "raw":
    case "json":
    case "logfmt":
    case "auto":
      return { kind: text };
  }
  if (!text.startsWith("regex:")) {
    throw new FormatError(
      `Unknown log format ${JSON.stringify(text)}: use ${ACCEPTED}`,
    );
  }
  const source = text.slice("regex:".length);
  if (source === "") {
    throw new FormatError(
      `Log format "regex:" has no pattern: write one after the colon, with named groups such as regex:^(?<level>\\w+) (?<msg>.*)$`,
    );
  }
  let pattern: RegExp;
  try {
    pattern = compilePattern(source, { what: "format" });
  } catch (error) {
    if (!(error instanceof PatternError)) throw error;
    const why = error.message;
    throw new FormatError(
      `Log format ${JSON.stringify(text)}: ${why[0].toLowerCase()}${
        why.slice(1)
      }`,
    );
  }
  // A match of the empty alternative still lists every named group.
  const groups = new RegExp(`(?:${source})|`).exec("")?.groups;
  if (groups === undefined) {
    throw new FormatError(
      `Log format ${
        JSON.stringify(text)
      } has no named groups, so it would find no fields: name what you capture, as in (?<level>\\w+)`,
    );
  }
  return { kind: "regex", pattern };
}

/**
 * Parses one line (without its terminator) in `format`. Never throws.
 *
 * - `json`: the line is one JSON object.
 * - `logfmt`: `key=value` pairs separated by spaces; values may be quoted
 *   (`"a b"`, with `\"`, `\\`, `\n`, `\t`, `\r`, `\uXXXX` escapes); a bare key
 *   is `true`. A line without any pair is an error (a blank line is not).
 * - `regex`: the named groups of the pattern's first match.
 * - `auto`: JSON if the line starts with `{` and is an object, else logfmt if
 *   at least one token is a pair and pairs outnumber bare words, else raw.
 * - `raw`: nothing.
 *
 * @example
 * ```ts
 * import { assertEquals, assertMatch, assertThrows } from "@std/assert";
 * import { parseLine } from "./formats.ts";
 * const parsed = parseLine(
 *   '{"level":50,"time":1700000000000,"msg":"disk full"}',
 *   { kind: "auto" },
 * );
 * assertEquals(parsed.level, "error");
 * assertEquals(parsed.msg, "disk full");
 * assertEquals(parsed.logTime, "2023-11-14T22:13:20.000Z");
 * assertEquals(
 *   parseLine('lvl=warning msg="low \\"disk\\""', { kind: "logfmt" }).msg,
 *   'low "disk"',
 * );
 * assertEquals(parseLine("plain text", { kind: "auto" }), {});
 * ```
 */
export function parseLine(text: string, format: Format): Parsed {
  switch (format.kind) {
    case "raw":
      return {};
    case "json":
      return parseJson(text);
    case "logfmt":
      return parseLogfmt(text);
    case "regex":
      return parseRegex(text, format.pattern);
    case "auto":
      return parseAuto(text);
    default:
      return {
        parseError: `unknown format kind ${
          JSON.stringify((format as { kind: unknown }).kind)
        }`,
      };
  }
}

const OPEN_BRACE = 0x7b; // {
const EQUALS = 0x3d; // =

function parseAuto(text: string): Parsed {
  // Fast path: plain text is told by its first character and one scan.
  if (text.charCodeAt(0) === OPEN_BRACE) {
    const value = tryJson(text);
    if (isObject(value)) return recognise(value);
  }
  if (text.indexOf("=") === -1) return {};
  // Count pairs and bare words without building any string first.
  if (scanLogfmt(text, undefined) !== undefined) return {};
  if (scanPairs === 0 || scanPairs <= scanBare) return {};
  const fields: Record<string, unknown> = {};
  scanLogfmt(text, fields);
  return recognise(fields);
}

const NOT_JSON = Symbol("not JSON");
let jsonError = "";

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    jsonError = error instanceof Error ? error.message : String(error);
    return NOT_JSON;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseJson(text: string): Parsed {
  const value = tryJson(text);
  if (value === NOT_JSON) return { parseError: `invalid JSON: ${jsonError}` };
  if (!isObject(value)) {
    const what = value === null
      ? "null"
      : Array.isArray(value)
      ? "an array"
      : `a ${typeof value}`;
    return { parseError: `expected a JSON object per line, got ${what}` };
  }
  return recognise(value);
}

function parseLogfmt(text: string): Parsed {
  const fields: Record<string, unknown> = {};
  const error = scanLogfmt(text, fields);
  if (error !== undefined) return { parseError: `invalid logfmt: ${error}` };
  if (scanPairs === 0) {
    if (scanBare === 0) return {};
    return { parseError: "invalid logfmt: no key=value pairs" };
  }
  return recognise(fields);
}

function parseRegex(text: string, pattern: RegExp): Parsed {
  pattern.lastIndex = 0;
  const match = pattern.exec(text);
  if (match === null) return { parseError: `does not match ${pattern}` };
  const fields: Record<string, unknown> = {};
  if (match.groups) {
    for (const [name, value] of Object.entries(match.groups)) {
      if (value !== undefined) fields[name] = value;
    }
  }
  return recognise(fields);
}

// Results of the last scanLogfmt call (single-threaded, never re-entered).
let scanPairs = 0;
let scanBare = 0;

/**
 * Scans logfmt, counting pairs and bare keys into `scanPairs`/`scanBare`, and
 * fills `fields` when given. Returns why the text is not logfmt, if it is not.
 */
function scanLogfmt(
  text: string,
  fields: Record<string, unknown> | undefined,
): string | undefined {
  scanPairs = 0;
  scanBare = 0;
  const n = text.length;
  let i = 0;
  while (true) {
    while (i < n && text.charCodeAt(i) <= 0x20) i++;
    if (i >= n) return undefined;
    const keyStart = i;
    let c = text.charCodeAt(i);
    while (i < n && c > 0x20 && c !== EQUALS && c !== QUOTE) {
      c = text.charCodeAt(++i);
    }
    if (i === keyStart) {
      return c === EQUALS
        ? `a key is missing before "=" at column ${i + 1}`
        : `unexpected quote at column ${i + 1}`;
    }
    if (i < n && c === QUOTE) {
      return `unexpected quote in key at column ${i + 1}`;
    }
    if (i >= n || c !== EQUALS) {
      scanBare++;
      if (fields) fields[text.slice(keyStart, i)] = true;
      continue;
    }
    const keyEnd = i++;
    let value: string | undefined;
    if (i < n && text.charCodeAt(i) === QUOTE) {
      const closed = scanQuoted(text, i, fields !== undefined);
      if (closed < 0) {
        return `unterminated quoted value for key ${
          JSON.stringify(text.slice(keyStart, keyEnd))
        }`;
      }
      value = quoted;
      i = closed + 1;
      if (i < n && text.charCodeAt(i) > 0x20) {
        return `expected a space after the quoted value of ${
          JSON.stringify(text.slice(keyStart, keyEnd))
        } at column ${i + 1}`;
      }
    } else {
      const valueStart = i;
      while (i < n && (c = text.charCodeAt(i)) > 0x20) {
        if (c === QUOTE) {
          return `unexpected quote in the value of ${
            JSON.stringify(text.slice(keyStart, keyEnd))
          } at column ${i + 1}: quote the whole value`;
        }
        i++;
      }
      if (fields) value = text.slice(valueStart, i);
    }
    scanPairs++;
    if (fields) fields[text.slice(keyStart, keyEnd)] = value;
  }
}

const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \
const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

/** The value of the last scanQuoted call, when asked for. */
let quoted = "";

/**
 * Scans a quoted value whose opening quote is at `open`. Returns the index of
 * the closing quote, or -1 if there is none; the unescaped value goes to
 * `quoted` when `build` is set.
 */
function scanQuoted(text: string, open: number, build: boolean): number {
  const n = text.length;
  let out = "";
  let from = open + 1;
  let i = from;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      if (build) quoted = out + text.slice(from, i);
      return i;
    }
    if (c !== BACKSLASH) {
      i++;
      continue;
    }
    if (i + 1 >= n) return -1;
    if (build) out += text.slice(from, i);
    const next = text[i + 1];
    const hex = next === "u" ? text.slice(i + 2, i + 6) : "";
    if (next in ESCAPES) {
      if (build) out += ESCAPES[next];
      i += 2;
    } else if (/^[0-9a-fA-F]{4}$/.test(hex)) {
      if (build) out += String.fromCharCode(parseInt(hex, 16));
      i += 6;
    } else {
      // An unknown escape is kept as written.
      if (build) out += text.slice(i, i + 2);
      i += 2;
    }
    from = i;
  }
  return -1;
}

const LEVEL_KEYS = ["level", "lvl", "severity", "log.level"] as const;
const MSG_KEYS = ["msg", "message"] as const;
const TIME_KEYS = ["time", "ts", "timestamp", "@timestamp", "t"] as const;

const LEVEL_NAMES: Record<string, string> = {
  warning: "warn",
  err: "error",
  crit: "fatal",
  critical: "fatal",
  fatal: "fatal",
  panic: "fatal",
};

/** pino and bunyan numeric levels. */
const LEVEL_NUMBERS: Record<number, string> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

function recognise(fields: Record<string, unknown>): Parsed {
  const parsed: Parsed = { fields };
  for (const key of LEVEL_KEYS) {
    let value = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (value === undefined && key === "log.level") {
      // Elastic Common Schema, nested: {"log": {"level": "info"}}
      const log = fields.log;
      if (isObject(log) && Object.hasOwn(log, "level")) value = log.level;
    }
    const level = normaliseLevel(value);
    if (level !== undefined) {
      parsed.level = level;
      break;
    }
  }
  for (const key of MSG_KEYS) {
    const value = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (
      typeof value === "string" || typeof value === "number" ||
      typeof value === "boolean"
    ) {
      parsed.msg = String(value);
      break;
    }
  }
  for (const key of TIME_KEYS) {
    const value = Object.hasOwn(fields, key) ? fields[key] : undefined;
    const time = normaliseTime(value);
    if (time !== undefined) {
      parsed.logTime = time;
      break;
    }
  }
  return parsed;
}

const DIGITS = /^\d+$/;

function normaliseLevel(value: unknown): string | undefined {
  if (typeof value === "number") {
    return LEVEL_NUMBERS[value] ?? String(value);
  }
  if (typeof value !== "string" || value === "") return undefined;
  if (DIGITS.test(value)) return LEVEL_NUMBERS[Number(value)] ?? value;
  const lower = value.toLowerCase();
  return LEVEL_NAMES[lower] ?? lower;
}

/** An epoch number in logfmt or regex fields: at least 9 digits. */
const EPOCH = /^\d{9,}(?:\.\d+)?$/;

function normaliseTime(value: unknown): string | undefined {
  if (typeof value === "number") return epochToIso(value);
  if (typeof value !== "string" || value === "") return undefined;
  if (EPOCH.test(value)) return epochToIso(Number(value));
  return value;
}

/**
 * Epoch seconds, milliseconds, microseconds or nanoseconds → ISO, told apart
 * by magnitude (seconds below 1e11, i.e. until the year 5138).
 */
function epochToIso(n: number): string {
  const abs = Math.abs(n);
  const ms = abs < 1e11
    ? n * 1000
    : abs < 1e14
    ? n
    : abs < 1e17
    ? n / 1e3
    : n / 1e6;
  const date = new Date(ms);
  return Number.isFinite(date.getTime()) ? date.toISOString() : String(n);
}
