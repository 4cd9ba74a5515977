/**
 * The command line: argv → a frozen Config, or help/version. Every bad value
 * is a ConfigError naming the flag and what would be accepted.
 */
import { basename } from "node:path";
import { parseArgs } from "@std/cli/parse-args";
import { type FileConfig, LIMITS } from "./config_file.ts";
import { ConfigError } from "./errors.ts";
import { isGlob } from "./pattern.ts";
import { SOURCE_NAME, type SourceRules, type StartAt } from "./types.ts";
import { parseDuration } from "./alerts/rule.ts";
import type { LinkOptions } from "./nats/link.ts";
import {
  DEFAULT_DEDUPE_WINDOW_MS,
  DEFAULT_MAX_AGE_MS,
  DEFAULT_MAX_BYTES,
  DEFAULT_PREFIX,
  DEFAULT_STREAM,
  type StreamSettings,
} from "./nats/settings.ts";

/** A command whose output is a source (`--exec [name=]CMD`). */
export interface ExecConfig {
  /** The name in its events' source, `exec:<name>`. */
  readonly name: string;
  /** The program and its arguments, split as a shell splits words. */
  readonly argv: readonly string[];
  /** The flag as given, for messages. */
  readonly flag: string;
}

/** `POST /ingest/<name>` (`--ingest`). */
export interface IngestConfig {
  /** The bearer token a POST must carry (`--ingest-token`, else `--token`); null on loopback without one. */
  readonly token: string | null;
  /** Where each name's spool files are kept; null keeps lines in memory. */
  readonly spool: string | null;
  /** A spool file is rotated once it reaches this size. */
  readonly segmentBytes: number;
  /** Bytes one name's spool keeps at most (retention, and the bound on what is not read yet). */
  readonly maxBytes: number;
  /** Without a spool: bytes one name holds in memory until they are read. */
  readonly memoryBytes: number;
  /** Longest request body, bytes (413 beyond). */
  readonly maxBody: number;
}

/** Everything a run of tailcast needs to know from its command line. */
export interface Config {
  /** Path, glob and `-` arguments as typed. */
  readonly paths: readonly string[];
  readonly startAt: StartAt;
  /** Write every event to stdout. */
  readonly stdout: boolean;
  /** How stdout shows events: the lines as in the file, or NDJSON. */
  readonly output: "text" | "ndjson";
  /** Text output: a `==> name <==` header whenever the lines' file changes. */
  readonly headers: boolean;
  /** Text output: colour lines by their level (a terminal without NO_COLOR). */
  readonly color: boolean;
  /** Stop once this process has ended (`--pid`); null runs until a signal. */
  readonly pid: number | null;
  /** How often `--pid` is checked, ms. */
  readonly pidCheckMs: number;
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
  /** Subscribers at most; null derives it from the open-file limit at start-up. */
  readonly maxClients: number | null;
  /** Connections one client address may hold at once. */
  readonly maxClientsPerIp: number;
  /** Lines per file a `backlog=` may ask for. */
  readonly maxBacklog: number;
  /** Replays (resumes, backlogs, catch-ups) running at once. */
  readonly maxReplays: number;
  /**
   * Threads that serve subscribers (the reader's and pool workers); 1 turns
   * the pool off; null takes the machine's cores.
   */
  readonly workers: number | null;
  /** Journal entries kept: how far back an id resumes exactly. */
  readonly resumeWindow: number;
  /** Host names (as in the Host header) accepted besides the listen address and loopback names. */
  readonly allowedHosts: readonly string[];
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
  /** Commands whose output is a source. */
  readonly exec: readonly ExecConfig[];
  /** HTTP ingest, or null when off. */
  readonly ingest: IngestConfig | null;
  /** `--publish`: also publish every event to NATS JetStream (an agent). */
  readonly publish: AgentConfig | null;
  /** `--subscribe`: follow no file; serve a NATS JetStream stream (a gateway). */
  readonly subscribe: GatewayConfig | null;
}

/** What an agent publishes to, and as which host. */
export interface AgentConfig {
  readonly link: LinkOptions;
  readonly stream: StreamSettings;
  /** The host name in subjects and in the sources gateways show (`host:path`). */
  readonly host: string;
}

/** What a gateway reads. */
export interface GatewayConfig {
  readonly link: LinkOptions;
  readonly stream: string;
  readonly prefix: string;
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
export const DEFAULT_MAX_CLIENTS_PER_IP = 256;
export const DEFAULT_MAX_BACKLOG = 10_000;
export const DEFAULT_MAX_REPLAYS = 16;
export const DEFAULT_RESUME_WINDOW = 262_144;
export const DEFAULT_SPOOL_SEGMENT_BYTES = 16 * 1024 * 1024;
export const DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024;
export const DEFAULT_INGEST_MEMORY_BYTES = 8 * 1024 * 1024;
export const DEFAULT_INGEST_MAX_BODY = 1024 * 1024;

/** Default of `-s` for `--pid` checks: tail's 1 s. */
export const DEFAULT_PID_CHECK_MS = 1000;

/** How a flag is written and what it takes. */
export interface OptionSpec {
  /** `string` takes a value; `boolean` takes none and `--no-<name>` negates it. */
  readonly type: "string" | "boolean";
  /** One-letter form; letters cluster as in tail (`-qn 20`, `-Fn5`). */
  readonly short?: string;
  /** The value may be left out; a value must then be attached: `--poll=100`. */
  readonly optional?: true;
  /** Repeatable: every value is kept. */
  readonly multiple?: true;
}

const OPTIONS: Readonly<Record<string, OptionSpec>> = {
  from: { type: "string" },
  lines: { type: "string", short: "n" },
  bytes: { type: "string", short: "c" },
  stdout: { type: "boolean" },
  output: { type: "string" },
  server: { type: "boolean" },
  port: { type: "string" },
  host: { type: "string" },
  poll: { type: "string", optional: true },
  "max-line-bytes": { type: "string" },
  demo: { type: "boolean" },
  queue: { type: "string" },
  "max-clients": { type: "string" },
  "max-clients-per-ip": { type: "string" },
  "max-backlog": { type: "string" },
  "max-replays": { type: "string" },
  workers: { type: "string" },
  "resume-window": { type: "string" },
  "allowed-host": { type: "string", multiple: true },
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
  exec: { type: "string", multiple: true },
  ingest: { type: "boolean" },
  "ingest-token": { type: "string" },
  "ingest-max-body": { type: "string" },
  "ingest-memory": { type: "string" },
  spool: { type: "string" },
  "spool-segment-bytes": { type: "string" },
  "spool-max-bytes": { type: "string" },
  // NATS JetStream: agents and gateways.
  publish: { type: "string" },
  subscribe: { type: "string" },
  "subject-prefix": { type: "string" },
  stream: { type: "string" },
  replicas: { type: "string" },
  "max-age": { type: "string" },
  "max-bytes": { type: "string" },
  "dedupe-window": { type: "string" },
  "nats-user": { type: "string" },
  "nats-password": { type: "string" },
  "nats-token": { type: "string" },
  "nats-creds": { type: "string" },
  "host-name": { type: "string" },
  // tail's flags.
  follow: { type: "string", short: "f", optional: true },
  retry: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  silent: { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
  "sleep-interval": { type: "string", short: "s" },
  pid: { type: "string" },
  "max-unchanged-stats": { type: "string" },
  "zero-terminated": { type: "boolean", short: "z" },
  // tail's undocumented `---disable-inotify`: the name has a leading dash.
  "-disable-inotify": { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
};

/** The long name of each short flag. */
const BY_LETTER = new Map(
  Object.entries(OPTIONS).flatMap(([name, spec]) =>
    spec.short === undefined ? [] : [[spec.short, name] as const]
  ),
);

/** Short flags that stand for several long ones: tail's `-F` is `--follow=name --retry`. */
const SHORTHANDS: Readonly<Record<string, readonly string[]>> = {
  F: ["--follow=name", "--retry"],
};

export const USAGE = `Usage: tailcast [options] <path|glob|->...
       tailcast [options] --exec [NAME=]CMD... | --ingest [--spool DIR]
       tailcast --publish nats://HOST:PORT[,…] [options] <path|glob|->...
       tailcast --subscribe nats://HOST:PORT[,…] [server options]
       tailcast --demo

Follows files like tail -F and streams every new line as an event: over
Server-Sent Events at http://HOST:PORT/events and, with --stdout, as NDJSON
or as the plain lines (--output).

Sources:
  <path>               a file; waited for if it does not exist yet
  <glob>               e.g. '/var/log/*.log' or 'logs/**/*.log' (quote it);
                       files that start to match later are picked up
  -                    standard input (source "-"); at its end the server
                       keeps serving until stopped
  --exec [NAME=]CMD    a command's output (source "exec:NAME"; NAME defaults
                       to the program's name); its stderr lines are notices;
                       restarted with backoff when it exits; split like shell
                       words, run without a shell; needs --allow-run=PROGRAM
                       (repeatable)
  --ingest             accept POST /ingest/NAME (text/plain, NDJSON, JSON
                       arrays): events of source "ingest:NAME"

Options:
  --from start|end     where to start in files that exist now (default: end)
  -n, --lines [+]N     start with the last N lines of each file, or at line N
                       with +N, like tail -n (suffixes as tail: 10K = 10240)
  -c, --bytes [+]N     start with the last N bytes, or at byte N with +N
  --stdout             write every event to stdout
  --output text|ndjson how stdout shows events: the lines as in the file, or
                       NDJSON (default: text on a terminal with --no-server,
                       else ndjson); implies --stdout
  -q, --quiet, --silent
                       text output: no ==> file <== headers
  -v, --verbose        text output: headers even for one file
  --no-server          serve no HTTP (implies --stdout, except with --publish)
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
  --pid PID            stop (as on SIGTERM) once process PID has ended
  -s, --sleep-interval S
                       seconds between --pid checks (default: 1) and between
                       polls with --poll or ---disable-inotify

tail's flags:
  -f, -F, --follow[=name], --retry
                       accepted: tailcast always follows names and waits for
                       missing files (--follow=descriptor is refused)
  ---disable-inotify   the same as --poll
  --max-unchanged-stats N
                       accepted, no effect: every check compares file identity
  -z, --zero-terminated
                       refused: lines end with a newline

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
  --max-clients N      subscribers at most; more get 503 (default: ${DEFAULT_MAX_CLIENTS},
                       or fewer so that the open-file limit is never reached)
  --max-clients-per-ip N
                       connections one client address may hold (default: ${DEFAULT_MAX_CLIENTS_PER_IP})
  --max-backlog N      lines per file a backlog= may ask for (default: ${DEFAULT_MAX_BACKLOG})
  --max-replays N      resumes and backlogs read from disk at once; more wait
                       (default: ${DEFAULT_MAX_REPLAYS})
  --workers N          threads serving subscribers, each on the same port
                       (default: the machine's cores; 1 turns the pool off;
                       needs --unstable-net, which deno task start and the
                       compiled binary have)
  --resume-window N    published batches remembered for exact resumes
                       (default: ${DEFAULT_RESUME_WINDOW})
  --allowed-host HOST  also accept requests for HOST (behind a reverse proxy);
                       without a token, only the listen address and loopback
                       names are (repeatable)
  --token SECRET       require "Authorization: Bearer SECRET" (or ?token=);
                       also read from TAILCAST_TOKEN
  --cors-origin ORIGIN allow browsers on ORIGIN (default: no CORS headers)
  --heartbeat SECONDS  comment sent to idle subscribers (default: 15; 0 = off)
  --write-timeout SECONDS
                       a subscriber whose write stalls this long is ended
                       (default: 30)

Ingest (with --ingest):
  --ingest-token SECRET
                       the token a POST must carry (default: --token); one
                       is required unless --host is a loopback address; also
                       read from TAILCAST_INGEST_TOKEN
  --spool DIR          keep what is posted in files under DIR/NAME/, written
                       and fsynced before the 202; without it, lines are
                       kept in memory until read (lost on restart)
  --spool-segment-bytes N
                       rotate a spool file at N bytes (default: ${DEFAULT_SPOOL_SEGMENT_BYTES})
  --spool-max-bytes N  bytes one name's spool keeps (older files read are
                       deleted) and holds unread at most (429 beyond)
                       (default: ${DEFAULT_SPOOL_MAX_BYTES})
  --ingest-memory N    without --spool: bytes one name holds in memory until
                       read; the oldest are dropped beyond it, with a gap
                       (default: ${DEFAULT_INGEST_MEMORY_BYTES})
  --ingest-max-body N  longest request body in bytes; 413 beyond (default: ${DEFAULT_INGEST_MAX_BODY})

NATS JetStream (many hosts, many readers):
  --publish URLS       an agent: also publish every event to the stream at
                       nats://HOST:PORT or tls://HOST:PORT (comma-separated);
                       reading pauses while NATS does not take it, and the
                       --state cursors move only once it stored the lines
  --subscribe URLS     a gateway: follow no file; serve /events, /metrics and
                       /healthz from the stream (needs only --allow-net)
  --host-name NAME     the agent's host in subjects and sources (NAME:path);
                       default: TAILCAST_HOST_NAME, else the machine's name
                       when --allow-sys=hostname is granted
  --stream NAME        the stream (default: ${DEFAULT_STREAM})
  --subject-prefix P   subjects are P.events.<host>.<source> (default: ${DEFAULT_PREFIX})
  --replicas N         copies of the stream in a cluster (default: 1)
  --max-age DURATION   messages older than this are removed, e.g. 12h; 0 keeps
                       them (default: 24h)
  --max-bytes N        the stream's size at most, e.g. 512M (default: 1G)
  --dedupe-window DURATION
                       how long a message id is remembered (default: 2m)
  --nats-user USER, --nats-password PASSWORD
                       log in with a user and password (the password also
                       from TAILCAST_NATS_PASSWORD)
  --nats-token TOKEN   log in with a token (also TAILCAST_NATS_TOKEN)
  --nats-creds FILE    log in with a .creds file (JWT and NKey seed)
  The stream flags apply when the agent makes the stream (if it is missing).

  -h, --help           show this help
  -V, --version        show the version

Rotation, truncation and skipped bytes are reported on stderr.
Exit status: 0 after SIGINT/SIGTERM or once the --pid process ended, 141
once stdout's reader went away (as tail | head), 1 when lines read were not
all written to stdout, 2 for a bad command line, a path that cannot be
followed, an --exec program that may not run, or a --spool that cannot be
written.`;

/** What the command line is read against, besides argv. */
export interface Environment {
  readonly TAILCAST_TOKEN?: string;
  /** The ingest token, instead of --ingest-token. */
  readonly TAILCAST_INGEST_TOKEN?: string;
  readonly TAILCAST_HOST_NAME?: string;
  readonly TAILCAST_NATS_PASSWORD?: string;
  readonly TAILCAST_NATS_TOKEN?: string;
  /** The machine's name, when tailcast may read it (`--allow-sys=hostname`). */
  readonly hostname?: string;
  /** Standard output is a terminal: text output with --no-server, and colours. */
  readonly terminal?: boolean;
  /** NO_COLOR is set (`Deno.noColor`). */
  readonly noColor?: boolean;
}

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
  env: Environment = {},
  file: FileConfig | null = null,
): Command {
  const names = Object.keys(OPTIONS);
  const booleans = names.filter((n) => OPTIONS[n].type === "boolean");
  const parsed = parseArgs(normalizeArgs(args), {
    string: names.filter((n) => OPTIONS[n].type === "string"),
    boolean: booleans,
    collect: names.filter((n) => OPTIONS[n].multiple),
    negatable: booleans,
    // A flag not given stays undefined (not false or []): the file fills it.
    default: Object.fromEntries(names.map((n) => [n, undefined])),
  });
  // normalizeArgs let through only the flags of OPTIONS, typed as declared.
  const value = (name: string) => parsed[name] as string | undefined;
  const flag = (name: string) => parsed[name] as boolean | undefined;
  const list = (name: string) => parsed[name] as string[] | undefined;
  const positionals = parsed._ as string[];
  if (flag("help")) return { kind: "help" };
  if (flag("version")) return { kind: "version" };
  const configPath = value("config");
  if (configPath !== undefined && file === null) {
    return { kind: "load", path: configPath };
  }
  const f = file ?? {};
  const num = (v: number | undefined) =>
    v === undefined ? undefined : String(v);
  const fromFile = <T>(flag: T | undefined, inFile: T | undefined) =>
    flag ?? inFile;

  const demo = flag("demo") ?? false;
  const fileSources = f.sources ?? [];
  const paths = [
    ...positionals,
    ...fileSources.map((s) => s.path).filter((p) => !positionals.includes(p)),
  ];
  const exec = execs(list("exec") ?? []);
  const nats = natsRoles(
    value,
    (name) => parsed[name] !== undefined,
    paths,
    flag("server") ?? f.server?.enabled ?? true,
    env,
  );
  if (
    paths.length === 0 && !demo && exec.length === 0 && !flag("ingest") &&
    nats.subscribe === null
  ) {
    throw new ConfigError(
      "",
      "No file to follow: give a path, a glob or -, a command with --exec, or --ingest; or try --demo (see --help)",
    );
  }
  refuseUnhonoured(value("follow"), flag("zero-terminated"));
  const maxUnchanged = value("max-unchanged-stats");
  if (maxUnchanged !== undefined) {
    integer("--max-unchanged-stats", maxUnchanged, {
      min: 0,
      max: 1_000_000_000,
    });
  }
  const srv = f.server ?? {};
  const server = flag("server") ?? srv.enabled ?? true;
  const port = fromFile(value("port"), num(srv.port));
  const maxLine = fromFile(value("max-line-bytes"), num(f.maxLineBytes));
  const queue = fromFile(value("queue"), num(srv.queue));
  const maxClients = fromFile(value("max-clients"), num(srv.maxClients));
  const perIp = value("max-clients-per-ip");
  const maxBacklog = value("max-backlog");
  const maxReplays = value("max-replays");
  const workers = value("workers");
  const resumeWindow = value("resume-window");
  const heartbeat = fromFile(value("heartbeat"), num(srv.heartbeat));
  const writeTimeout = fromFile(value("write-timeout"), num(srv.writeTimeout));
  // A start position on the command line replaces the file's.
  const startFlags = ["from", "lines", "bytes"].map(value);
  const sleep = value("sleep-interval");
  const sleepMs = sleep === undefined ? undefined : seconds(sleep);
  const output = outputOf(value("output"), server, env);
  // Plain lines are for eyes at a terminal, where tail starts with the last
  // 10 lines; a server or a pipe starts at the end, as it always has.
  const [from, lines, bytes] = startFlags.some((v) => v !== undefined)
    ? startFlags
    : f.from !== undefined || f.lines !== undefined
    ? [f.from, num(f.lines), undefined]
    : [undefined, output === "text" ? "10" : undefined, undefined];
  const format = fromFile(value("format"), f.format) ?? "raw";
  const multilineStart = value("multiline-start");
  const globalRules: SourceRules = {
    pattern: "",
    format,
    multiline: multilineStart === undefined ? null : { start: multilineStart },
    include: [],
    exclude: [],
    where: null,
  };
  let config: Config = {
    paths,
    startAt: startAt(from, lines, bytes),
    // Without a server, an agent's events go to NATS, anyone else's to stdout.
    stdout: (flag("stdout") ?? f.stdout ?? false) ||
      (!server && nats.publish === null) || value("output") !== undefined,
    output,
    headers: headers(
      flag("quiet") || flag("silent") || false,
      flag("verbose") ?? false,
      [...paths, ...exec.map((e) => `exec:${e.name}`)],
    ),
    color: output === "text" && env.terminal === true && env.noColor !== true,
    pid: fromPid(value("pid")),
    pidCheckMs: sleepMs ?? DEFAULT_PID_CHECK_MS,
    server,
    host: host(fromFile(value("host"), srv.host)),
    port: port === undefined
      ? DEFAULT_PORT
      : integer("--port", port, LIMITS.port),
    pollMs: pollMs(
      value("poll") ?? (flag("-disable-inotify") ? "" : num(f.poll)),
      sleepMs,
      value("poll") !== undefined && value("poll") !== "",
    ),
    maxLineBytes: maxLine === undefined
      ? DEFAULT_MAX_LINE_BYTES
      : integer("--max-line-bytes", maxLine, LIMITS.maxLineBytes),
    demo,
    queue: queue === undefined
      ? DEFAULT_QUEUE
      : integer("--queue", queue, LIMITS.queue),
    maxClients: maxClients === undefined
      ? null
      : integer("--max-clients", maxClients, LIMITS.maxClients),
    maxClientsPerIp: perIp === undefined
      ? DEFAULT_MAX_CLIENTS_PER_IP
      : integer("--max-clients-per-ip", perIp, { min: 1, max: 1_000_000 }),
    maxBacklog: maxBacklog === undefined
      ? DEFAULT_MAX_BACKLOG
      : integer("--max-backlog", maxBacklog, { min: 0, max: 1_000_000_000 }),
    maxReplays: maxReplays === undefined
      ? DEFAULT_MAX_REPLAYS
      : integer("--max-replays", maxReplays, { min: 1, max: 10_000 }),
    workers: workers === undefined
      ? null
      : integer("--workers", workers, { min: 1, max: 256 }),
    resumeWindow: resumeWindow === undefined
      ? DEFAULT_RESUME_WINDOW
      : integer("--resume-window", resumeWindow, { min: 1, max: 16_777_216 }),
    allowedHosts: (list("allowed-host") ?? []).map(allowedHost),
    token: token(value("token") ?? env.TAILCAST_TOKEN ?? srv.token),
    corsOrigin: corsOrigin(fromFile(value("cors-origin"), srv.corsOrigin)),
    heartbeatMs: heartbeat === undefined
      ? 15_000
      : integer("--heartbeat", heartbeat, LIMITS.heartbeat) * 1000,
    writeTimeoutMs: writeTimeout === undefined
      ? 30_000
      : integer("--write-timeout", writeTimeout, LIMITS.writeTimeout) * 1000,
    state: statePath(fromFile(value("state"), f.state)),
    stateReset: flag("state-reset") ?? false,
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
    include: list("include") ?? f.include ?? [],
    exclude: list("exclude") ?? f.exclude ?? [],
    where: fromFile(value("where"), f.where) ?? null,
    alerts: list("alert") ?? f.alerts ?? [],
    alertWebhook: webhook(fromFile(value("alert-webhook"), f.alertWebhook)),
    exec,
    ingest: null,
    ...nats,
  };
  config = {
    ...config,
    ingest: ingest(value, flag("ingest") ?? false, env, config),
  };
  if (config.stateReset && config.state === null) {
    throw new ConfigError(
      "--state-reset",
      "Option --state-reset needs --state PATH: it resets that file",
    );
  }
  return { kind: "run", config: Object.freeze(config) };
}

/**
 * Rewrites argv, read the way tail's getopt reads it, into the one form
 * std's parseArgs reads without guessing: every flag long with its value
 * attached (`--lines=20`), then `--`, then the paths. Clusters of short flags
 * are expanded (`-qn 20`, `-Fn5`: the first letter that takes a value takes
 * the rest of the cluster, or else the next argument). Unknown flags, missing
 * values and values given to flags that take none are refused, each with a
 * ConfigError naming the flag.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { normalizeArgs } from "./config.ts";
 * assertEquals(
 *   normalizeArgs(["-Fn5", "a.log", "--port", "0"]),
 *   ["--follow=name", "--retry", "--lines=5", "--port=0", "--", "a.log"],
 * );
 * ```
 */
export function normalizeArgs(args: readonly string[]): string[] {
  const flags: string[] = [];
  const paths: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      paths.push(...args.slice(i + 1));
      break;
    }
    if (arg === "-" || !arg.startsWith("-")) {
      paths.push(arg);
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const typed = eq < 0 ? arg : arg.slice(0, eq);
      const name = typed.slice(2);
      const negated = name.startsWith("no-") ? specOf(name.slice(3)) : null;
      const spec = specOf(name) ??
        (negated?.type === "boolean" ? negated : undefined);
      if (spec === undefined) throw unknownOption(typed);
      if (spec.type === "boolean") {
        if (eq >= 0) {
          throw new ConfigError(
            typed,
            `Option ${typed} takes no value: see tailcast --help`,
          );
        }
        flags.push(arg);
      } else if (eq >= 0) {
        flags.push(arg);
      } else if (spec.optional) {
        flags.push(`${arg}=`);
      } else {
        flags.push(`${arg}=${valueFor(arg, args[++i])}`);
      }
      continue;
    }
    if (/^-\d+$/.test(arg)) {
      const n = arg.slice(1);
      throw new ConfigError(
        arg,
        `Unknown option '${arg}': write -n ${n} for the last ${n} lines (see tailcast --help)`,
      );
    }
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j];
      if (SHORTHANDS[letter]) {
        flags.push(...SHORTHANDS[letter]);
        continue;
      }
      const name = BY_LETTER.get(letter);
      if (name === undefined) throw unknownOption(`-${letter}`);
      const spec = OPTIONS[name];
      if (spec.type === "boolean") {
        flags.push(`--${name}`);
        continue;
      }
      if (spec.optional) {
        flags.push(`--${name}=`);
        continue;
      }
      const rest = arg.slice(j + 1);
      const value = rest !== "" ? rest : valueFor(`--${name}`, args[++i]);
      flags.push(`--${name}=${value}`);
      break;
    }
  }
  return [...flags, "--", ...paths];
}

/** Whether `host` (a --host value) is a loopback address or name. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/** The `--exec` flags: `[NAME=]CMD` each, names unique. */
function execs(values: readonly string[]): ExecConfig[] {
  const out: ExecConfig[] = [];
  for (const value of values) {
    const flag = `--exec ${value}`;
    const named = /^([^\s=]+)=/.exec(value);
    const argv = splitCommand(
      named ? value.slice(named[0].length) : value,
      flag,
    );
    if (argv.length === 0) {
      throw new ConfigError(
        "--exec",
        `Invalid --exec "${value}": give a command, e.g. --exec 'journalctl -f -o cat' or --exec web='kubectl logs -f deploy/web'`,
      );
    }
    const name = named ? named[1] : basename(argv[0]);
    if (!SOURCE_NAME.test(name)) {
      throw new ConfigError(
        "--exec",
        `Invalid name "${name}" for ${flag}: use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit), as in --exec NAME=CMD`,
      );
    }
    if (out.some((e) => e.name === name)) {
      throw new ConfigError(
        "--exec",
        `Two --exec commands are named "${name}": name them apart with --exec NAME=CMD`,
      );
    }
    out.push({ name, argv, flag });
  }
  return out;
}

/**
 * Splits a command into words as a POSIX shell does, without running one:
 * blanks separate words; single quotes keep everything; double quotes keep
 * all but `\"`, `\\`, `\$` and `` \` ``; a backslash outside quotes keeps
 * the next character. No variables, globs, pipes or redirections: for those,
 * run a shell (`--exec 'sh -c "…"'`, with --allow-run=sh).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { splitCommand } from "./config.ts";
 * assertEquals(
 *   splitCommand(`journalctl -f -o cat -u 'my unit' --grep="a b"`, "--exec"),
 *   ["journalctl", "-f", "-o", "cat", "-u", "my unit", "--grep=a b"],
 * );
 * ```
 */
export function splitCommand(text: string, flag: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote === "'") {
      if (ch === "'") quote = null;
      else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = null;
      else if (
        ch === "\\" && i + 1 < text.length && `"\\$\``.includes(text[i + 1])
      ) {
        word += text[++i];
      } else word += ch;
    } else if (/\s/.test(ch)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      word ??= "";
    } else if (ch === "\\" && i + 1 < text.length) {
      word = (word ?? "") + text[++i];
    } else {
      word = (word ?? "") + ch;
    }
  }
  if (quote !== null) {
    throw new ConfigError(
      "--exec",
      `Invalid ${flag}: a ${quote} quote is not closed`,
    );
  }
  if (word !== null) words.push(word);
  return words;
}

/** `--ingest` and its flags, checked against the rest of the configuration. */
function ingest(
  value: (name: string) => string | undefined,
  on: boolean,
  env: Environment,
  config: Config,
): IngestConfig | null {
  const flags = [
    "ingest-token",
    "ingest-max-body",
    "ingest-memory",
    "spool",
    "spool-segment-bytes",
    "spool-max-bytes",
  ];
  if (!on) {
    const given = flags.find((f) => value(f) !== undefined);
    if (given !== undefined) {
      throw new ConfigError(
        `--${given}`,
        `Option --${given} needs --ingest: it configures POST /ingest`,
      );
    }
    return null;
  }
  if (!config.server) {
    throw new ConfigError(
      "--ingest",
      "Cannot use --ingest with --no-server: lines are posted to the HTTP server",
    );
  }
  const given = value("ingest-token") ?? env.TAILCAST_INGEST_TOKEN;
  const own = given === undefined || given === ""
    ? null
    : token(given, "--ingest-token (or TAILCAST_INGEST_TOKEN)");
  const bearer = own ?? config.token;
  if (bearer === null && !isLoopback(config.host)) {
    throw new ConfigError(
      "--ingest",
      `Cannot accept POST /ingest on ${config.host} without a token: anyone who can reach it could write these logs (set --ingest-token or --token, or listen on 127.0.0.1)`,
    );
  }
  const size = (flag: string, fallback: number, min: number, max: number) => {
    const v = value(flag);
    return v === undefined ? fallback : integer(`--${flag}`, v, { min, max });
  };
  const spool = value("spool");
  if (spool !== undefined && spool === "") {
    throw new ConfigError(
      "--spool",
      'Invalid --spool "": give a directory, e.g. /var/lib/tailcast/spool',
    );
  }
  const out: IngestConfig = {
    token: bearer,
    spool: spool ?? null,
    segmentBytes: size(
      "spool-segment-bytes",
      DEFAULT_SPOOL_SEGMENT_BYTES,
      4096,
      2 ** 40,
    ),
    maxBytes: size("spool-max-bytes", DEFAULT_SPOOL_MAX_BYTES, 4096, 2 ** 50),
    memoryBytes: size(
      "ingest-memory",
      DEFAULT_INGEST_MEMORY_BYTES,
      4096,
      2 ** 34,
    ),
    maxBody: size("ingest-max-body", DEFAULT_INGEST_MAX_BODY, 1, 2 ** 30),
  };
  if (out.spool === null) {
    for (const f of ["spool-segment-bytes", "spool-max-bytes"]) {
      if (value(f) !== undefined) {
        throw new ConfigError(
          `--${f}`,
          `Option --${f} needs --spool DIR: it sizes the spool files`,
        );
      }
    }
  } else if (value("ingest-memory") !== undefined) {
    throw new ConfigError(
      "--ingest-memory",
      "Cannot use --ingest-memory with --spool: posted lines are kept in the spool files, not in memory",
    );
  }
  if (out.spool !== null && out.segmentBytes > out.maxBytes) {
    throw new ConfigError(
      "--spool-segment-bytes",
      `Invalid --spool-segment-bytes ${out.segmentBytes}: a spool file cannot be larger than --spool-max-bytes (${out.maxBytes})`,
    );
  }
  const room = out.spool === null ? out.memoryBytes : out.maxBytes;
  if (out.maxBody > room) {
    throw new ConfigError(
      "--ingest-max-body",
      `Invalid --ingest-max-body ${out.maxBody}: a body cannot be larger than what one name keeps (${
        out.spool === null ? "--ingest-memory" : "--spool-max-bytes"
      } ${room})`,
    );
  }
  return out;
}

/** The spec of flag `name`, if there is one (`--toString` is not a flag). */
function specOf(name: string): OptionSpec | undefined {
  return Object.hasOwn(OPTIONS, name) ? OPTIONS[name] : undefined;
}

function unknownOption(flag: string): ConfigError {
  return new ConfigError(
    flag,
    `Unknown option '${flag}': see tailcast --help for the options (a path starting with - goes after --)`,
  );
}

/** The argument after `flag`, which must be its value. */
function valueFor(flag: string, next: string | undefined): string {
  if (next === undefined) {
    throw new ConfigError(
      flag,
      `Option ${flag} needs a value: see tailcast --help`,
    );
  }
  // Most likely a forgotten value before the next flag.
  if (next.length > 1 && next.startsWith("-")) {
    throw new ConfigError(
      flag,
      `Option ${flag} needs a value (write ${flag}=VALUE for a value that starts with -): see tailcast --help`,
    );
  }
  return next;
}

/** tail's flags that tailcast cannot honour: one line each saying why. */
function refuseUnhonoured(
  follow: string | undefined,
  zeroTerminated: boolean | undefined,
): void {
  if (follow === "descriptor") {
    throw new ConfigError(
      "--follow",
      "Cannot follow by descriptor: tailcast always follows the name, like tail -F (it reads a renamed file to its end, then the new file under the name); use -F or --follow=name",
    );
  }
  if (follow !== undefined && follow !== "" && follow !== "name") {
    throw new ConfigError(
      "--follow",
      `Invalid value "${follow}" for --follow: use --follow=name (tailcast always follows the name)`,
    );
  }
  if (zeroTerminated) {
    throw new ConfigError(
      "--zero-terminated",
      "Cannot read NUL-terminated lines (-z, --zero-terminated): tailcast splits lines on newlines, and its events, cursors and resumes are made of such lines",
    );
  }
}

function startAt(
  from: string | undefined,
  lines: string | undefined,
  bytes: string | undefined,
): StartAt {
  if (from !== undefined && from !== "start" && from !== "end") {
    throw new ConfigError(
      "--from",
      `Cannot start from "${from}": --from takes start or end`,
    );
  }
  if (lines !== undefined && from !== undefined) {
    throw new ConfigError(
      "--lines",
      "Cannot use --lines with --from: pick one start position",
    );
  }
  if (bytes !== undefined && (from ?? lines) !== undefined) {
    throw new ConfigError(
      "--bytes",
      `Cannot use --bytes with ${
        from === undefined ? "--lines" : "--from"
      }: pick one start position`,
    );
  }
  if (lines !== undefined) {
    const { plus, n } = count("--lines", lines, "line", LIMITS.lines.max);
    return plus
      ? { kind: "fromLine", line: Math.max(1, n) }
      : { kind: "lines", count: n };
  }
  if (bytes !== undefined) {
    const { plus, n } = count(
      "--bytes",
      bytes,
      "byte",
      Number.MAX_SAFE_INTEGER,
    );
    return plus
      ? { kind: "fromByte", byte: Math.max(1, n) }
      : { kind: "bytes", count: n };
  }
  return from === "start" ? { kind: "start" } : { kind: "end" };
}

/** tail's size suffixes: b is 512; K, M, G, T, P, E alone or with iB are powers of 1024, with B powers of 1000. */
const COUNT = /^([+-]?)(\d+)(b|[kKmMgGtTpPeE](?:B|iB)?)?$/;

/**
 * A count as tail reads `-n` and `-c`: N is the last N, +N starts at the
 * Nth (+0 is +1, as in tail), -N is N, with tail's size suffixes.
 */
function count(
  flag: string,
  value: string,
  unit: string,
  max: number,
): { plus: boolean; n: number } {
  const m = COUNT.exec(value);
  const n = m ? suffixed(m[2], m[3]) : NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new ConfigError(
      flag,
      `Invalid value "${value}" for ${flag}: use N for the last N ${unit}s or +N to start at ${unit} N, N a whole number from 0 to ${max} (or with a suffix, as tail takes: 10K is 10240)`,
    );
  }
  return { plus: m![1] === "+", n };
}

/** `digits` times tail's size `suffix` (b is 512; K, KiB 1024; KB 1000; M, G, … likewise). */
function suffixed(digits: string, suffix = ""): number {
  const multiplier = suffix === ""
    ? 1
    : suffix === "b"
    ? 512
    : (suffix.endsWith("B") && !suffix.endsWith("iB") ? 1000 : 1024) **
      ("KMGTPE".indexOf(suffix[0].toUpperCase()) + 1);
  return Number(digits) * multiplier;
}

/** `-s`: seconds, fractions allowed, as tail takes them; in ms. */
function seconds(value: string): number {
  const s = /^(\d+(\.\d*)?|\.\d+)$/.test(value) ? Number(value) : NaN;
  const ms = Math.round(s * 1000);
  if (!(ms >= 10 && ms <= 3_600_000)) {
    throw new ConfigError(
      "--sleep-interval",
      `Invalid value "${value}" for --sleep-interval: use a number of seconds from 0.01 to 3600, such as 0.5`,
    );
  }
  return ms;
}

/**
 * The poll interval when polling (`--poll`, `---disable-inotify`, or the
 * config file), or null to watch filesystem events. `-s` sets it unless
 * `--poll=MS` does.
 */
function pollMs(
  poll: string | undefined,
  sleepMs: number | undefined,
  pollGiven: boolean,
): number | null {
  if (poll === undefined) return null;
  if (sleepMs !== undefined) {
    if (pollGiven) {
      throw new ConfigError(
        "--sleep-interval",
        "Cannot use --sleep-interval with --poll=MS: both set the poll interval; pick one",
      );
    }
    return sleepMs;
  }
  return poll === "" ? DEFAULT_POLL_MS : integer("--poll", poll, LIMITS.poll);
}

function outputOf(
  value: string | undefined,
  server: boolean,
  env: Environment,
): "text" | "ndjson" {
  if (value === undefined) {
    // Plain lines for eyes; NDJSON for programs, and beside the server.
    return env.terminal && !server ? "text" : "ndjson";
  }
  if (value !== "text" && value !== "ndjson") {
    throw new ConfigError(
      "--output",
      `Invalid value "${value}" for --output: use text or ndjson`,
    );
  }
  return value;
}

/** Headers as tail prints them: with several files, unless -q; always with -v. */
function headers(
  quiet: boolean,
  verbose: boolean,
  paths: readonly string[],
): boolean {
  if (quiet && verbose) {
    throw new ConfigError(
      "--verbose",
      "Cannot use --verbose with --quiet: one shows the file headers, the other hides them; pick one",
    );
  }
  if (quiet || verbose) return verbose;
  return paths.length > 1 || paths.some(isGlob);
}

function fromPid(value: string | undefined): number | null {
  return value === undefined
    ? null
    : integer("--pid", value, { min: 1, max: 4_194_304 });
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

function token(
  value: string | undefined,
  what = "--token (or TAILCAST_TOKEN)",
): string | null {
  if (value === undefined || value === "") return null;
  if (value.length < 8 || /\s/.test(value)) {
    throw new ConfigError(
      what.split(" ")[0],
      `Invalid ${what}: use at least 8 characters with no spaces`,
    );
  }
  return value;
}

function allowedHost(value: string): string {
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(value)) {
    throw new ConfigError(
      "--allowed-host",
      `Invalid --allowed-host "${value}": give a host name as clients send it in Host, e.g. logs.example.com or logs.example.com:8443`,
    );
  }
  return value.toLowerCase();
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
  { min, max }: { readonly min: number; readonly max: number },
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

/** Flags about the NATS stream and login: they need --publish or --subscribe. */
const NATS_FLAGS = [
  "subject-prefix",
  "stream",
  "replicas",
  "max-age",
  "max-bytes",
  "dedupe-window",
  "nats-user",
  "nats-password",
  "nats-token",
  "nats-creds",
  "host-name",
] as const;

/** Flags about the stream an agent makes: they mean nothing to a gateway. */
const STREAM_FLAGS = [
  "replicas",
  "max-age",
  "max-bytes",
  "dedupe-window",
  "host-name",
] as const;

/** Flags about reading files and writing stdout: a gateway does neither. */
const READING_FLAGS = [
  "from",
  "lines",
  "bytes",
  "stdout",
  "output",
  "demo",
  "state",
  "state-reset",
  "poll",
  "-disable-inotify",
  "max-line-bytes",
  "format",
  "multiline-start",
  "include",
  "exclude",
  "where",
  "alert",
  "alert-webhook",
  "pid",
] as const;

const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const SIZE = /^(\d+)(b|[kKmMgGtTpPeE](?:B|iB)?)?$/;

/**
 * `--publish` (an agent) or `--subscribe` (a gateway), with the stream and
 * login flags; `given(name)` tells whether a flag was on the command line.
 */
function natsRoles(
  value: (name: string) => string | undefined,
  given: (name: string) => boolean,
  paths: readonly string[],
  server: boolean,
  env: Environment,
): { publish: AgentConfig | null; subscribe: GatewayConfig | null } {
  const publish = value("publish");
  const subscribe = value("subscribe");
  if (publish !== undefined && subscribe !== undefined) {
    throw new ConfigError(
      "--subscribe",
      "Cannot use --publish with --subscribe: an agent publishes the files it follows, a gateway serves the stream; run one of each",
    );
  }
  if (publish === undefined && subscribe === undefined) {
    const stray = NATS_FLAGS.find(given);
    if (stray !== undefined) {
      throw new ConfigError(
        `--${stray}`,
        `Option --${stray} needs --publish (an agent) or --subscribe (a gateway)`,
      );
    }
    return { publish: null, subscribe: null };
  }
  const role = publish !== undefined ? "--publish" : "--subscribe";
  const link = linkOptions(role, (publish ?? subscribe)!, value, env);
  const stream = value("stream") ?? DEFAULT_STREAM;
  if (!STREAM_NAME.test(stream)) {
    throw new ConfigError(
      "--stream",
      `Invalid --stream "${stream}": use up to 64 letters, digits, _ or -`,
    );
  }
  const prefix = value("subject-prefix") ?? DEFAULT_PREFIX;
  if (!SUBJECT_PREFIX.test(prefix)) {
    throw new ConfigError(
      "--subject-prefix",
      `Invalid --subject-prefix "${prefix}": use tokens of letters, digits, _ or - separated by dots, e.g. tailcast or logs.prod`,
    );
  }
  if (role === "--subscribe") {
    if (paths.length > 0) {
      throw new ConfigError(
        paths[0],
        `A gateway (--subscribe) follows no file: it serves what agents publish; follow "${
          paths[0]
        }" with an agent (--publish) on its host`,
      );
    }
    const reading = READING_FLAGS.find(given) ??
      STREAM_FLAGS.find(given) ?? (server ? undefined : "no-server");
    if (reading !== undefined) {
      throw new ConfigError(
        `--${reading}`,
        `Cannot use --${reading} with --subscribe: a gateway reads no file and only serves HTTP; ${
          (STREAM_FLAGS as readonly string[]).includes(reading)
            ? "give it to the agent (--publish), which makes the stream"
            : "give it to the agent (--publish) that reads the files"
        }`,
      );
    }
    return { publish: null, subscribe: { link, stream, prefix } };
  }
  if (given("stdout") || given("output")) {
    throw new ConfigError(
      given("stdout") ? "--stdout" : "--output",
      "Cannot write stdout with --publish: an agent's --state cursors move with what NATS stored; run a second tailcast for stdout",
    );
  }
  return {
    publish: {
      link,
      host: hostName(value("host-name"), env),
      stream: {
        name: stream,
        prefix,
        replicas: optional(
          value("replicas"),
          1,
          (v) => integer("--replicas", v, { min: 1, max: 5 }),
        ),
        maxAgeMs: optional(
          value("max-age"),
          DEFAULT_MAX_AGE_MS,
          (v) => v === "0" ? 0 : duration("--max-age", v),
        ),
        maxBytes: optional(value("max-bytes"), DEFAULT_MAX_BYTES, size),
        dedupeWindowMs: optional(
          value("dedupe-window"),
          DEFAULT_DEDUPE_WINDOW_MS,
          (v) => duration("--dedupe-window", v),
        ),
      },
    },
    subscribe: null,
  };
}

function optional<T>(
  text: string | undefined,
  fallback: T,
  parse: (text: string) => T,
): T {
  return text === undefined ? fallback : parse(text);
}

/** The NATS servers and login of `role`. */
function linkOptions(
  role: string,
  urls: string,
  value: (name: string) => string | undefined,
  env: Environment,
): LinkOptions {
  const servers = urls.split(",").map((u) => u.trim()).filter(Boolean)
    .map((u) => natsUrl(role, u));
  if (servers.length === 0) {
    throw new ConfigError(
      role,
      `Option ${role} needs a NATS server, e.g. ${role} nats://127.0.0.1:4222`,
    );
  }
  const user = value("nats-user") ?? null;
  const password = value("nats-password") ?? env.TAILCAST_NATS_PASSWORD ??
    null;
  const creds = value("nats-creds") ?? null;
  const token = value("nats-token") ??
    (user === null && creds === null ? env.TAILCAST_NATS_TOKEN : undefined) ??
    null;
  const ways = [user, token, creds].filter((w) => w !== null).length;
  if (ways > 1) {
    throw new ConfigError(
      user !== null ? "--nats-user" : "--nats-token",
      "Cannot log in to NATS two ways: give --nats-user and --nats-password, or --nats-token, or --nats-creds",
    );
  }
  if (user !== null && password === null) {
    throw new ConfigError(
      "--nats-user",
      "Option --nats-user needs --nats-password (or TAILCAST_NATS_PASSWORD)",
    );
  }
  if (user === null && value("nats-password") !== undefined) {
    throw new ConfigError(
      "--nats-password",
      "Option --nats-password needs --nats-user",
    );
  }
  if (creds === "") {
    throw new ConfigError(
      "--nats-creds",
      "Invalid --nats-creds: give the path of a .creds file",
    );
  }
  return {
    servers,
    user,
    password: user === null ? null : password,
    token,
    creds,
  };
}

/** One server of `--publish`/`--subscribe`, as `nats://HOST:PORT` or `tls://HOST:PORT`. */
function natsUrl(role: string, text: string): string {
  const fail = (why: string) =>
    new ConfigError(
      role,
      `Invalid NATS server "${text}" for ${role}: ${why}, e.g. nats://127.0.0.1:4222 or tls://nats.example.com:4222`,
    );
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw fail("not a URL");
  }
  if (url.protocol !== "nats:" && url.protocol !== "tls:") {
    throw fail("use nats:// or tls://");
  }
  if (url.hostname === "") throw fail("it names no host");
  if (url.username !== "" || url.password !== "") {
    throw fail(
      "give the login with --nats-user and --nats-password (or --nats-token), not in the URL",
    );
  }
  if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "") {
    throw fail("a server has no path");
  }
  return `${url.protocol}//${url.hostname}:${url.port || "4222"}`;
}

/** The agent's host name: the flag, TAILCAST_HOST_NAME, or the machine's name. */
function hostName(flag: string | undefined, env: Environment): string {
  const name = flag ?? env.TAILCAST_HOST_NAME ?? env.hostname;
  if (name === undefined) {
    throw new ConfigError(
      "--host-name",
      "An agent (--publish) needs a host name for its subjects and sources: give --host-name NAME, set TAILCAST_HOST_NAME, or allow reading the machine's name with --allow-sys=hostname",
    );
  }
  if (!/^[^\s:/]{1,255}$/.test(name)) {
    throw new ConfigError(
      "--host-name",
      `Invalid host name "${name}" (from ${
        flag !== undefined
          ? "--host-name"
          : env.TAILCAST_HOST_NAME !== undefined
          ? "TAILCAST_HOST_NAME"
          : "the machine"
      }): use up to 255 characters without spaces, ":" or "/", e.g. web-1`,
    );
  }
  return name;
}

/** A duration flag (`30s`, `12h`, `1h30m`), in ms. */
function duration(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (typeof ms === "string") {
    throw new ConfigError(flag, `Invalid value for ${flag}: ${ms}`);
  }
  return ms;
}

/** `--max-bytes`: bytes with tail's suffixes (512M, 1G), at least 1 MiB. */
function size(text: string): number {
  const m = SIZE.exec(text);
  const n = m ? suffixed(m[1], m[2]) : NaN;
  if (!Number.isSafeInteger(n) || n < 1024 * 1024) {
    throw new ConfigError(
      "--max-bytes",
      `Invalid value "${text}" for --max-bytes: use a number of bytes of at least 1M (1048576), with a suffix if you like: 512M, 10G`,
    );
  }
  return n;
}
