/**
 * The command line: argv → a frozen Config, or help/version. Every bad value
 * is a ConfigError naming the flag and what would be accepted.
 */
import { parseArgs } from "node:util";
import type { FileConfig } from "./config_file.ts";
import { ConfigError } from "./errors.ts";
import type { SourceRules, StartAt } from "./types.ts";

/** Everything a run of tailcast needs to know from its command line. */
export interface Config {
  /** Path, glob and `-` arguments as typed. */
  readonly paths: readonly string[];
  readonly startAt: StartAt;
  /** Write every event to stdout as NDJSON. */
  readonly stdout: boolean;
  /** Serve HTTP. */
  readonly server: boolean;
  readonly host: string;
  readonly port: number;
  /** Poll interval in ms when polling is forced; null to watch filesystem events. */
  readonly pollMs: number | null;
  readonly maxLineBytes: number;
  /** Write a synthetic log and follow it. */
  readonly demo: boolean;
  /** Messages one SSE subscriber may have queued. */
  readonly queue: number;
  readonly maxClients: number;
  /** Bearer token required on every HTTP request; null for none. */
  readonly token: string | null;
  /** Origin allowed by CORS; null sends no CORS headers. */
  readonly corsOrigin: string | null;
  /** Idle time before an SSE heartbeat comment, ms. */
  readonly heartbeatMs: number;
  /** A client write taking longer than this ends the subscriber, ms. */
  readonly writeTimeoutMs: number;
  /** Where cursors are kept across restarts; null keeps none. */
  readonly state: string | null;
  /** Start without the saved cursors (and overwrite the state file). */
  readonly stateReset: boolean;
  /** Per-source rules: format, multiline, filters; the first whose pattern matches applies. */
  readonly sources: readonly SourceRules[];
  /** Filters for every event. */
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  readonly where: string | null;
  /** Alert rules as written (flags or config file). */
  readonly alerts: readonly (string | Record<string, unknown>)[];
  readonly alertWebhook: string | null;
}

/** What the command line asks for. */
export type Command =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  /** `--config FILE` was given: read it, then parse again with its content. */
  | { readonly kind: "load"; readonly path: string }
  | { readonly kind: "run"; readonly config: Config };

export const DEFAULT_PORT = 8787;
export const DEFAULT_POLL_MS = 250;
export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;
export const DEFAULT_QUEUE = 2048;
export const DEFAULT_MAX_CLIENTS = 10_000;

const OPTIONS = {
  from: { type: "string" },
  lines: { type: "string", short: "n" },
  stdout: { type: "boolean" },
  server: { type: "boolean" },
  port: { type: "string" },
  host: { type: "string" },
  poll: { type: "string" },
  "max-line-bytes": { type: "string" },
  demo: { type: "boolean" },
  queue: { type: "string" },
  "max-clients": { type: "string" },
  token: { type: "string" },
  "cors-origin": { type: "string" },
  heartbeat: { type: "string" },
  "write-timeout": { type: "string" },
  state: { type: "string" },
  "state-reset": { type: "boolean" },
  config: { type: "string" },
  format: { type: "string" },
  "multiline-start": { type: "string" },
  include: { type: "string", multiple: true },
  exclude: { type: "string", multiple: true },
  where: { type: "string" },
  alert: { type: "string", multiple: true },
  "alert-webhook": { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

export const USAGE = `Usage: tailcast [options] <path|glob|->...
       tailcast --demo

Follows files like tail -F and streams every new line as an event: over
Server-Sent Events at http://HOST:PORT/events and, with --stdout, as NDJSON.

Sources:
  <path>               a file; waited for if it does not exist yet
  <glob>               e.g. '/var/log/*.log' or 'logs/**/*.log' (quote it);
                       files that start to match later are picked up
  -                    standard input (source "-"); at its end the server
                       keeps serving until stopped

Options:
  --from start|end     where to start in files that exist now (default: end)
  -n, --lines N        start with the last N lines of each file, like tail -n
  --stdout             write every event to stdout as NDJSON
  --no-server          serve no HTTP (implies --stdout)
  --port N             HTTP port (default: ${DEFAULT_PORT}; 0 = any free port)
  --host HOST          HTTP address (default: 127.0.0.1)
  --poll[=MS]          poll with stat every MS ms (default: ${DEFAULT_POLL_MS}) instead
                       of watching filesystem events
  --max-line-bytes N   cut longer lines, flagged truncated (default: ${DEFAULT_MAX_LINE_BYTES})
  --demo               write a synthetic log to a temporary directory and follow it
  --state PATH         keep each file's cursor in PATH and resume from it after a
                       restart (saved every second and at shutdown)
  --state-reset        start without the saved cursors (a corrupted state file is
                       otherwise an error)
  --config FILE        read sources, alerts and options from a JSON(C) file;
                       flags override it

Events:
  --format F           raw (default), json, logfmt, auto, or regex:<pattern with
                       named groups>; parsed values land in "fields"
  --multiline-start RE a line matching RE starts an event; others continue it
  --include RE         keep only lines matching RE (repeatable)
  --exclude RE         drop lines matching RE (repeatable)
  --where EXPR         keep events matching EXPR, e.g. 'level=error' or
                       'status>=500 and path~"^/api"'
  --alert RULE         e.g. 'errors: level=error 10 in 1m' (repeatable)
  --alert-webhook URL  POST every alert there as JSON (retried, never blocking)

Server:
  --queue N            events queued per subscriber before its policy applies
                       (default: ${DEFAULT_QUEUE})
  --max-clients N      subscribers at most; more get 503 (default: ${DEFAULT_MAX_CLIENTS})
  --token SECRET       require "Authorization: Bearer SECRET" (or ?token=);
                       also read from TAILCAST_TOKEN
  --cors-origin ORIGIN allow browsers on ORIGIN (default: no CORS headers)
  --heartbeat SECONDS  comment sent to idle subscribers (default: 15; 0 = off)
  --write-timeout SECONDS
                       a subscriber whose write stalls this long is ended
                       (default: 30)
  -h, --help           show this help
  -V, --version        show the version

Rotation, truncation and skipped bytes are reported on stderr.
Exit status: 0 after SIGINT/SIGTERM, 2 for a bad command line or a path
that cannot be followed.`;

/**
 * Parses argv (without the program name).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseCommandLine } from "./config.ts";
 * const command = parseCommandLine(["--no-server", "-n", "5", "app.log"]);
 * assertEquals(command.kind, "run");
 * if (command.kind === "run") {
 *   assertEquals(command.config.startAt, { kind: "lines", count: 5 });
 *   assertEquals(command.config.stdout, true);
 * }
 * ```
 */
export function parseCommandLine(
  args: readonly string[],
  env: { readonly TAILCAST_TOKEN?: string } = {},
  file: FileConfig | null = null,
): Command {
  // `--poll` takes an optional value; parseArgs needs it written as `--poll=`.
  const normalized = args.map((a) => a === "--poll" ? "--poll=" : a);
  let parsed;
  try {
    parsed = parseArgs({
      args: normalized,
      options: OPTIONS,
      allowPositionals: true,
      allowNegative: true,
      strict: true,
    });
  } catch (error) {
    throw fromParseError(error);
  }
  const values = parsed.values;
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  if (values.config !== undefined && file === null) {
    return { kind: "load", path: values.config };
  }
  const f = file ?? {};
  const num = (v: number | undefined) =>
    v === undefined ? undefined : String(v);
  const fromFile = <T>(flag: T | undefined, inFile: T | undefined) =>
    flag ?? inFile;

  const demo = values.demo ?? false;
  const fileSources = f.sources ?? [];
  const paths = [
    ...parsed.positionals,
    ...fileSources.map((s) => s.path).filter((p) =>
      !parsed.positionals.includes(p)
    ),
  ];
  if (paths.length === 0 && !demo) {
    throw new ConfigError(
      "",
      "No file to follow: give a path, a glob or -, or try --demo (see --help)",
    );
  }
  const srv = f.server ?? {};
  const server = values.server ?? srv.enabled ?? true;
  const port = fromFile(values.port, num(srv.port));
  const poll = fromFile(values.poll, num(f.poll));
  const maxLine = fromFile(values["max-line-bytes"], num(f.maxLineBytes));
  const queue = fromFile(values.queue, num(srv.queue));
  const maxClients = fromFile(values["max-clients"], num(srv.maxClients));
  const heartbeat = fromFile(values.heartbeat, num(srv.heartbeat));
  const writeTimeout = fromFile(values["write-timeout"], num(srv.writeTimeout));
  const from = values.lines === undefined
    ? fromFile(values.from, f.from)
    : values.from;
  const lines = values.from === undefined
    ? fromFile(values.lines, num(f.lines))
    : values.lines;
  const format = fromFile(values.format, f.format) ?? "raw";
  const multilineStart = values["multiline-start"];
  const globalRules: SourceRules = {
    pattern: "",
    format,
    multiline: multilineStart === undefined ? null : { start: multilineStart },
    include: [],
    exclude: [],
    where: null,
  };
  const config: Config = {
    paths,
    startAt: startAt(from, lines),
    stdout: (values.stdout ?? f.stdout ?? false) || !server,
    server,
    host: host(fromFile(values.host, srv.host)),
    port: port === undefined ? DEFAULT_PORT : integer("--port", port, 0, 65535),
    pollMs: poll === undefined
      ? null
      : poll === ""
      ? DEFAULT_POLL_MS
      : integer("--poll", poll, 10, 3_600_000),
    maxLineBytes: maxLine === undefined
      ? DEFAULT_MAX_LINE_BYTES
      : integer("--max-line-bytes", maxLine, 1, 256 * 1024 * 1024),
    demo,
    queue: queue === undefined
      ? DEFAULT_QUEUE
      : integer("--queue", queue, 1, 1_000_000),
    maxClients: maxClients === undefined
      ? DEFAULT_MAX_CLIENTS
      : integer("--max-clients", maxClients, 1, 1_000_000),
    token: token(values.token ?? env.TAILCAST_TOKEN ?? srv.token),
    corsOrigin: corsOrigin(fromFile(values["cors-origin"], srv.corsOrigin)),
    heartbeatMs: heartbeat === undefined
      ? 15_000
      : integer("--heartbeat", heartbeat, 0, 86_400) * 1000,
    writeTimeoutMs: writeTimeout === undefined
      ? 30_000
      : integer("--write-timeout", writeTimeout, 1, 86_400) * 1000,
    state: statePath(fromFile(values.state, f.state)),
    stateReset: values["state-reset"] ?? false,
    sources: [
      // Sources of the file first: their own rules win over the global ones.
      ...fileSources.map((s): SourceRules => ({
        pattern: s.path,
        format: s.format ?? format,
        multiline: s.multiline ?? globalRules.multiline,
        include: s.include ?? [],
        exclude: s.exclude ?? [],
        where: s.where ?? null,
      })),
      globalRules,
    ],
    include: values.include ?? f.include ?? [],
    exclude: values.exclude ?? f.exclude ?? [],
    where: fromFile(values.where, f.where) ?? null,
    alerts: values.alert ?? f.alerts ?? [],
    alertWebhook: webhook(fromFile(values["alert-webhook"], f.alertWebhook)),
  };
  if (config.stateReset && config.state === null) {
    throw new ConfigError(
      "--state-reset",
      "Option --state-reset needs --state PATH: it resets that file",
    );
  }
  return { kind: "run", config: Object.freeze(config) };
}

function startAt(from: string | undefined, lines: string | undefined): StartAt {
  if (from !== undefined && from !== "start" && from !== "end") {
    throw new ConfigError(
      "--from",
      `Cannot start from "${from}": --from takes start or end`,
    );
  }
  if (lines !== undefined) {
    if (from !== undefined) {
      throw new ConfigError(
        "--lines",
        "Cannot use --lines with --from: pick one start position",
      );
    }
    return {
      kind: "lines",
      count: integer("--lines", lines, 0, 1_000_000_000),
    };
  }
  return from === "start" ? { kind: "start" } : { kind: "end" };
}

function webhook(value: string | undefined): string | null {
  if (value === undefined) return null;
  try {
    const url = new URL(value);
    if (url.protocol === "http:" || url.protocol === "https:") return value;
  } catch {
    // Reported below.
  }
  throw new ConfigError(
    "--alert-webhook",
    `Invalid --alert-webhook "${value}": give an http:// or https:// URL`,
  );
}

function statePath(value: string | undefined): string | null {
  if (value === undefined) return null;
  if (value === "" || value.endsWith("/")) {
    throw new ConfigError(
      "--state",
      `Invalid --state "${value}": give a file path, e.g. /var/lib/tailcast/state.json`,
    );
  }
  return value;
}

function token(value: string | undefined): string | null {
  if (value === undefined || value === "") return null;
  if (value.length < 8 || /\s/.test(value)) {
    throw new ConfigError(
      "--token",
      "Invalid --token (or TAILCAST_TOKEN): use at least 8 characters with no spaces",
    );
  }
  return value;
}

function corsOrigin(value: string | undefined): string | null {
  if (value === undefined) return null;
  if (value !== "*" && !/^https?:\/\/[^/\s]+$/.test(value)) {
    throw new ConfigError(
      "--cors-origin",
      `Invalid --cors-origin "${value}": use an origin such as https://example.com, or *`,
    );
  }
  return value;
}

function host(value: string | undefined): string {
  if (value === undefined) return "127.0.0.1";
  if (value.length === 0 || /[\s/]/.test(value)) {
    throw new ConfigError(
      "--host",
      `Cannot listen on host "${value}": --host takes an address such as 127.0.0.1 or 0.0.0.0`,
    );
  }
  return value;
}

function integer(
  flag: string,
  value: string,
  min: number,
  max: number,
): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(
      flag,
      `Invalid value "${value}" for ${flag}: use a whole number from ${min} to ${max}`,
    );
  }
  return n;
}

function fromParseError(error: unknown): ConfigError {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const flag = /'([^']+)'/.exec(message)?.[1] ?? "";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    return new ConfigError(
      flag,
      `Unknown option '${flag}': see tailcast --help for the options (a path starting with - goes after --)`,
    );
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const name = /--[\w-]+/.exec(message)?.[0] ?? flag;
    if (/argument missing/.test(message)) {
      return new ConfigError(
        name,
        `Option ${name} needs a value: see tailcast --help`,
      );
    }
    if (/ambiguous/.test(message)) {
      return new ConfigError(
        name,
        `Option ${name} needs a value (write ${name}=VALUE for a value that starts with -): see tailcast --help`,
      );
    }
    return new ConfigError(
      name,
      `Option ${name} takes no value: see tailcast --help`,
    );
  }
  return new ConfigError(flag, `${message} (see tailcast --help)`);
}
