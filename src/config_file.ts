/**
 * The config file (`--config tailcast.json`, JSONC: comments and trailing
 * commas allowed): sources with their own format, multiline and filters,
 * alert rules, and the same options as the command line. Unknown keys and
 * wrong types are errors that name the key path; flags override the file.
 */
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

type Kind = "string" | "number" | "boolean" | "strings" | "object";

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

/** Removes comments and trailing commas from JSONC, leaving strings alone. */
export function stripJsonc(text: string): string {
  return dropTrailingCommas(dropComments(text));
}

/** Length of the string literal starting at `i` (a `"`), quotes included. */
function stringAt(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
  return j + 1 - i;
}

function dropComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      const n = stringAt(text, i);
      out += text.slice(i, i + n);
      i += n;
    } else if (ch === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (ch === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end === -1 ? text.length : end + 2;
      // Keep line breaks so JSON.parse positions still point at the right line.
      out += text.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

function dropTrailingCommas(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      const n = stringAt(text, i);
      out += text.slice(i, i + n);
      i += n;
      continue;
    }
    if (ch === ",") {
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j])) j++;
      out += text[j] === "}" || text[j] === "]" ? " " : ",";
    } else {
      out += ch;
    }
    i++;
  }
  return out;
}

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
    data = JSON.parse(stripJsonc(text));
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
        if (typeof (spec.multiline as { start?: unknown }).start !== "string") {
          throw fail(`${at}.multiline.start`, "is required (a regex)");
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
  if (root.server !== undefined) check(root.server, SERVER, "server", fail);
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
