/**
 * The config file (`--config tailcast.json`, JSONC: comments and trailing
 * commas allowed): sources with their own format, multiline and filters,
 * alert rules, and the same options as the command line. Unknown keys and
 * wrong types are errors that name the key path; flags override the file.
 */
import { parse as parseJsonc } from "@std/jsonc";
import { ConfigError } from "./errors.ts";

/** One `sources[]` entry. */
export interface SourceSpec {
  readonly path: string;
  readonly format?: string;
  readonly multiline?: {
    readonly start: string;
    readonly maxBytes?: number;
    readonly flushMs?: number;
  };
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  readonly where?: string;
}

/** The file's content, checked. Options mirror the flags of the same name. */
export interface FileConfig {
  readonly sources?: readonly SourceSpec[];
  readonly alerts?: readonly (string | Record<string, unknown>)[];
  readonly alertWebhook?: string;
  readonly from?: "start" | "end";
  readonly lines?: number;
  readonly stdout?: boolean;
  readonly poll?: number;
  readonly maxLineBytes?: number;
  readonly format?: string;
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  readonly where?: string;
  readonly state?: string;
  readonly server?: {
    readonly enabled?: boolean;
    readonly host?: string;
    readonly port?: number;
    readonly queue?: number;
    readonly maxClients?: number;
    readonly token?: string;
    readonly corsOrigin?: string;
    readonly heartbeat?: number;
    readonly writeTimeout?: number;
  };
}

/**
 * Bounds of the options that are whole numbers, for the file and the flags
 * of the same name alike, so a value that passes is one the service takes.
 */
export const LIMITS = {
  lines: { min: 0, max: 1_000_000_000, unit: "lines" },
  poll: { min: 10, max: 3_600_000, unit: "milliseconds" },
  maxLineBytes: { min: 1, max: 256 * 1024 * 1024, unit: "bytes" },
  port: { min: 0, max: 65535, unit: "" },
  queue: { min: 1, max: 1_000_000, unit: "events" },
  maxClients: { min: 1, max: 1_000_000, unit: "subscribers" },
  heartbeat: { min: 0, max: 86_400, unit: "seconds" },
  writeTimeout: { min: 1, max: 86_400, unit: "seconds" },
} as const;

/** Largest multi-line event, in bytes (as --max-line-bytes). */
const MAX_MULTILINE_BYTES = LIMITS.maxLineBytes.max;
/** Longest wait before a pending multi-line event is flushed. */
const MAX_FLUSH_MS = 3_600_000;

type Kind = "string" | "number" | "boolean" | "strings" | "object";

/** The bounds of one whole-number option. */
interface Limit {
  readonly min: number;
  readonly max: number;
  /** What it counts, for messages; empty for a plain number. */
  readonly unit: string;
}

const TOP: Record<string, Kind | "sources" | "alerts" | "server"> = {
  sources: "sources",
  alerts: "alerts",
  alertWebhook: "string",
  from: "string",
  lines: "number",
  stdout: "boolean",
  poll: "number",
  maxLineBytes: "number",
  format: "string",
  include: "strings",
  exclude: "strings",
  where: "string",
  state: "string",
  server: "server",
};

const SOURCE: Record<string, Kind> = {
  path: "string",
  format: "string",
  multiline: "object",
  include: "strings",
  exclude: "strings",
  where: "string",
};

const MULTILINE: Record<string, Kind> = {
  start: "string",
  maxBytes: "number",
  flushMs: "number",
};

const SERVER: Record<string, Kind> = {
  enabled: "boolean",
  host: "string",
  port: "number",
  queue: "number",
  maxClients: "number",
  token: "string",
  corsOrigin: "string",
  heartbeat: "number",
  writeTimeout: "number",
};

/**
 * Parses and checks a config file's text; `path` names it in errors.
 *
 * @example
 * ```ts
 * import { assertEquals, fail } from "@std/assert";
 * import { parseConfigFile } from "./config_file.ts";
 * const config = parseConfigFile("t.json", `{
 *   // JSONC
 *   "sources": [{ "path": "/var/log/app.log", "format": "json" },],
 * }`);
 * assertEquals(config.sources?.[0].format, "json");
 * ```
 */
export function parseConfigFile(path: string, text: string): FileConfig {
  let data: unknown;
  try {
    data = parseJsonc(text);
  } catch (error) {
    throw new ConfigError(
      "--config",
      `Cannot read the config file "${path}": ${(error as Error).message}`,
    );
  }
  const fail = (key: string, why: string) =>
    new ConfigError("--config", `Invalid config file "${path}": ${key} ${why}`);
  check(data, TOP, "", fail);
  const root = data as Record<string, unknown>;
  if (root.sources !== undefined) {
    if (!Array.isArray(root.sources)) throw fail("sources", "must be an array");
    root.sources.forEach((s, i) => {
      const at = `sources[${i}]`;
      check(s, SOURCE, at, fail);
      const spec = s as Record<string, unknown>;
      if (typeof spec.path !== "string" || spec.path === "") {
        throw fail(`${at}.path`, "is required (a file path or glob)");
      }
      if (spec.multiline !== undefined) {
        check(spec.multiline, MULTILINE, `${at}.multiline`, fail);
        const m = spec.multiline as Record<string, unknown>;
        if (typeof m.start !== "string") {
          throw fail(`${at}.multiline.start`, "is required (a regex)");
        }
        if (
          m.maxBytes !== undefined &&
          !(Number.isInteger(m.maxBytes) && (m.maxBytes as number) >= 1 &&
            (m.maxBytes as number) <= MAX_MULTILINE_BYTES)
        ) {
          throw fail(
            `${at}.multiline.maxBytes`,
            `must be a whole number of bytes from 1 to ${MAX_MULTILINE_BYTES}, not ${
              JSON.stringify(m.maxBytes)
            }`,
          );
        }
        if (
          m.flushMs !== undefined &&
          !((m.flushMs as number) <= MAX_FLUSH_MS)
        ) {
          throw fail(
            `${at}.multiline.flushMs`,
            `must be a number of milliseconds from 0 to ${MAX_FLUSH_MS}, not ${
              JSON.stringify(m.flushMs)
            }`,
          );
        }
      }
    });
  }
  if (root.alerts !== undefined) {
    if (!Array.isArray(root.alerts)) throw fail("alerts", "must be an array");
    root.alerts.forEach((a, i) => {
      if (typeof a !== "string" && (typeof a !== "object" || a === null)) {
        throw fail(`alerts[${i}]`, "must be a rule string or an object");
      }
    });
  }
  const whole = (value: unknown, key: string, limit: Limit) => {
    if (value === undefined) return;
    const n = value as number;
    if (!Number.isInteger(n) || n < limit.min || n > limit.max) {
      throw fail(
        key,
        `must be a whole number${
          limit.unit === "" ? "" : ` of ${limit.unit}`
        } from ${limit.min} to ${limit.max}, not ${JSON.stringify(value)}`,
      );
    }
  };
  whole(root.lines, "lines", LIMITS.lines);
  whole(root.poll, "poll", LIMITS.poll);
  whole(root.maxLineBytes, "maxLineBytes", LIMITS.maxLineBytes);
  if (root.server !== undefined) {
    check(root.server, SERVER, "server", fail);
    const server = root.server as Record<string, unknown>;
    for (
      const key of [
        "port",
        "queue",
        "maxClients",
        "heartbeat",
        "writeTimeout",
      ] as const
    ) {
      whole(server[key], `server.${key}`, LIMITS[key]);
    }
  }
  if (root.from !== undefined && root.from !== "start" && root.from !== "end") {
    throw fail("from", 'must be "start" or "end"');
  }
  return root as FileConfig;
}

function check(
  value: unknown,
  shape: Record<string, string>,
  at: string,
  fail: (key: string, why: string) => ConfigError,
): void {
  const where = (key: string) => at === "" ? key : `${at}.${key}`;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw fail(at === "" ? "the top level" : at, "must be an object");
  }
  for (const [key, v] of Object.entries(value)) {
    const kind = shape[key];
    if (kind === undefined) {
      throw fail(
        where(key),
        `is not a known key (known: ${Object.keys(shape).join(", ")})`,
      );
    }
    const ok = kind === "string"
      ? typeof v === "string"
      : kind === "number"
      ? typeof v === "number" && Number.isFinite(v) && v >= 0
      : kind === "boolean"
      ? typeof v === "boolean"
      : kind === "strings"
      ? Array.isArray(v) && v.every((x) => typeof x === "string")
      : kind === "object" || kind === "server"
      ? typeof v === "object" && v !== null && !Array.isArray(v)
      : true;
    if (!ok) {
      const want = kind === "strings"
        ? "an array of strings"
        : kind === "number"
        ? "a number of at least 0"
        : kind === "object" || kind === "server"
        ? "an object"
        : `a ${kind}`;
      throw fail(where(key), `must be ${want}, not ${JSON.stringify(v)}`);
    }
  }
}
