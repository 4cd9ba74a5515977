/**
 * tailcast entry point: parse the command line, start the service and the
 * HTTP server, stop cleanly on SIGINT/SIGTERM, once the --pid process has
 * ended, or once stdout's reader went away. Exit codes: 0 after a signal or
 * --pid, 141 after stdout closed (as a shell reports tail killed by SIGPIPE),
 * 1 when lines read were not all written to stdout (a write failed, or it
 * did not take them before the stop deadline), 2 for a bad command line or a
 * source, port or permission problem at start.
 */
import meta from "./deno.json" with { type: "json" };
import { createApp } from "./src/app.ts";
import {
  type Config,
  DEFAULT_MAX_CLIENTS,
  type GatewayConfig,
  parseCommandLine,
  USAGE,
} from "./src/config.ts";
import { clientsWithin, openFileLimit } from "./src/http/guard.ts";
import { linearEngine, V8_FLAGS } from "./src/pattern.ts";
import { STDIN_ID } from "./src/source/stdin.ts";
import { type FileConfig, parseConfigFile } from "./src/config_file.ts";
import { startDemo } from "./src/demo.ts";
import { ConfigError, SourceError } from "./src/errors.ts";
import { WatchedProcess } from "./src/pid.ts";
import { Service } from "./src/service.ts";
import {
  type SseOptions,
  SseRoute,
  SubscriberEnded,
} from "./src/http/route.ts";
import { Gateway } from "./src/nats/gateway.ts";
import type { Hub } from "./src/sink/hub.ts";
import { StateError } from "./src/source/state.ts";

/** tailcast's version and the runtime's. */
export const VERSION = `tailcast ${meta.version} (deno ${Deno.version.deno})`;

/** Everything must be closed within this long after a signal. */
const STOP_DEADLINE_MS = 1800;
/**
 * Exit status once the reader of stdout went away (`| head -1`): tail is
 * killed by SIGPIPE then, which a shell reports as 128 + 13. Quietly, as
 * tail: the reader left on purpose.
 */
const EXIT_STDOUT_CLOSED = 141;
/**
 * Exit status when lines read were not all written to stdout: a write
 * failed, or stdout did not take them before the stop deadline (a pipe nobody
 * reads). The cursors saved are those of what it took.
 */
const EXIT_UNWRITTEN = 1;

const encoder = new TextEncoder();

function log(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // stderr is gone; nothing else to tell.
  }
}

/** Runs tailcast with `args`; resolves to the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  let config: Config;
  let watched: WatchedProcess | null = null;
  try {
    const env = {
      TAILCAST_TOKEN: envValue("TAILCAST_TOKEN"),
      TAILCAST_HOST_NAME: envValue("TAILCAST_HOST_NAME"),
      TAILCAST_NATS_PASSWORD: envValue("TAILCAST_NATS_PASSWORD"),
      TAILCAST_NATS_TOKEN: envValue("TAILCAST_NATS_TOKEN"),
      hostname: machineName(),
      terminal: Deno.stdout.isTerminal(),
      noColor: Deno.noColor,
    };
    let command = parseCommandLine(args, env);
    if (command.kind === "load") {
      command = parseCommandLine(args, env, await loadConfig(command.path));
    }
    if (command.kind === "help") {
      await Deno.stdout.write(encoder.encode(USAGE + "\n"));
      return 0;
    }
    if (command.kind === "version") {
      await Deno.stdout.write(encoder.encode(VERSION + "\n"));
      return 0;
    }
    if (command.kind !== "run") throw new TypeError("unreachable");
    config = command.config;
    // Found now, so a process that ends while tailcast starts still counts.
    if (config.pid !== null) watched = await WatchedProcess.find(config.pid);
  } catch (error) {
    if (error instanceof ConfigError) {
      // Nothing to follow: show how to give something.
      if (error.flag === "") log(USAGE);
      log(`tailcast: ${error.message}`);
      return 2;
    }
    throw error;
  }

  if (config.subscribe) return await serveGateway(config, config.subscribe);

  const demoAbort = new AbortController();
  let demo: { path: string; done: Promise<void>; dir: string } | null = null;
  if (config.demo) {
    let dir: string;
    try {
      dir = await Deno.makeTempDir({ prefix: "tailcast-demo-" });
    } catch (error) {
      log(
        `tailcast: Cannot start the demo: it writes its log to a temporary directory, which is not allowed here (${
          error instanceof Error ? error.message : error
        }); run it with deno task start`,
      );
      return 2;
    }
    const writer = startDemo({ dir, signal: demoAbort.signal });
    demo = { ...writer, dir };
    config = {
      ...config,
      paths: [...config.paths, writer.path],
      startAt: { kind: "start" },
    };
  }

  let service: Service;
  try {
    service = await Service.start({
      config,
      stdout: Deno.stdout.writable,
      log,
      journalCapacity: config.resumeWindow,
    });
  } catch (error) {
    await stopDemo(demo, demoAbort);
    if (
      error instanceof SourceError || error instanceof ConfigError ||
      error instanceof StateError
    ) {
      log(`tailcast: ${error.message}`);
      return 2;
    }
    throw error;
  }

  let server: Deno.HttpServer | null = null;
  let sse: SseRoute | null = null;
  if (config.server) {
    warnServing(config);
    sse = await sseRoute(config, service.hub, {
      journal: service.journal,
      known: service.tail.known,
      events: (chunks) => service.events(chunks),
    });
    const app = createApp({
      ...appParts(config, sse),
      metrics: service.metrics,
      state: service.state,
      tail: service.tail,
      journal: service.journal,
      nats: service.agent ?? undefined,
      events: (chunks) => service.events(chunks),
    });
    try {
      server = await listen(config, app.fetch, demo !== null);
    } catch (error) {
      log(`tailcast: ${listenProblem(config, error)}`);
      await service.stop();
      await sse.close(0);
      await stopDemo(demo, demoAbort);
      return 2;
    }
  }

  // Resolves with the exit status the reason to stop calls for.
  const stopped = Promise.withResolvers<number>();
  const unlisten = onStopSignals(() => stopped.resolve(0));
  // The end of the --pid process stops tailcast as a signal does, once the
  // files there at start-up were read (tail prints them even for a dead PID).
  const watching = new AbortController();
  const target = watched;
  if (target) {
    service.tail.ready
      .then(() => target.waitForEnd(config.pidCheckMs, watching.signal))
      .then((ended) => ended && stopped.resolve(0));
  }
  // With nobody to write to, following is pointless: stop as tail does.
  service.sinkLost.then((why) =>
    stopped.resolve(
      why === "closed" ? EXIT_STDOUT_CLOSED : EXIT_UNWRITTEN,
    )
  );
  let code = await stopped.promise;
  watching.abort();
  unlisten();

  // Whatever is still stuck (a client that reads nothing, a connection that
  // will not close) must not keep the process alive past the deadline; a
  // service that did not even finish stopping did not stop cleanly.
  let serviceStopped = false;
  const deadline = setTimeout(
    () => Deno.exit(serviceStopped ? code : EXIT_UNWRITTEN),
    STOP_DEADLINE_MS,
  );
  demoAbort.abort();
  // The service gives up on a stuck stdout well before the deadline, and
  // saves the cursors of what it took first.
  if (!await service.stop()) {
    log(
      `tailcast: ${
        config.publish ? "NATS did not store" : "stdout did not take"
      } the last lines before the stop deadline; exiting without them${
        config.state === null
          ? ""
          : " (the state file has the cursors of what it took: the next start resumes there)"
      }`,
    );
    code = EXIT_UNWRITTEN;
  }
  serviceStopped = true;
  await stopDemo(demo, demoAbort);
  await sse?.close(300);
  // A connection whose socket is full never finishes; do not wait for it.
  if (server) await Promise.race([server.shutdown(), sleep(200)]);
  clearTimeout(deadline);
  return code;
}

/**
 * A gateway (`--subscribe`): no file, no service; the HTTP API over a
 * NATS JetStream stream. It listens once the stream is found, and stops
 * as the rest does: on a signal, within the deadline.
 */
async function serveGateway(
  config: Config,
  options: GatewayConfig,
): Promise<number> {
  const gateway = new Gateway({ ...options, log });
  const stopped = Promise.withResolvers<number>();
  const unlisten = onStopSignals(() => stopped.resolve(0));
  gateway.done.catch((error) => {
    log(`tailcast: ${error instanceof Error ? error.message : error}`);
    stopped.resolve(EXIT_UNWRITTEN);
  });
  const replay = await Promise.race([
    gateway.ready,
    stopped.promise.then(() => null),
  ]);
  let server: Deno.HttpServer | null = null;
  let sse: SseRoute | null = null;
  if (replay !== null) {
    warnServing(config);
    sse = await sseRoute(config, gateway.hub, replay);
    const app = createApp({
      ...appParts(config, sse),
      metrics: gateway.metrics,
      nats: gateway,
    });
    try {
      server = await listen(config, app.fetch, false);
    } catch (error) {
      log(`tailcast: ${listenProblem(config, error)}`);
      stopped.resolve(2);
    }
  }
  const code = await stopped.promise;
  unlisten();
  const deadline = setTimeout(() => Deno.exit(code), STOP_DEADLINE_MS);
  // Ends every subscription (they are sent bye), then the connection.
  await gateway.stop();
  await sse?.close(300);
  if (server) await Promise.race([server.shutdown(), sleep(200)]);
  clearTimeout(deadline);
  return code;
}

/** Calls `stop` on SIGINT or SIGTERM; returns what removes the listeners. */
function onStopSignals(stop: () => void): () => void {
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  return () => {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  };
}

/** What is worth knowing before serving: the regex engine, an open address without a token. */
function warnServing(config: Config): void {
  if (!linearEngine()) {
    log(
      `tailcast: started without V8's linear-time regex engine: grep=, where= with ~ and source= are refused (start with --v8-flags=${V8_FLAGS}; deno task start and the compiled binary do)`,
    );
  }
  if (!isLoopback(config.host) && config.token === null) {
    log(
      `tailcast: warning: listening on ${config.host} with no token: anyone who can reach it reads these logs (set --token or TAILCAST_TOKEN)`,
    );
  }
}

/** The /events route with the server flags, replaying from `replay`. */
async function sseRoute(
  config: Config,
  hub: Hub,
  replay: NonNullable<SseOptions["replay"]>,
): Promise<SseRoute> {
  return new SseRoute(hub, {
    queue: config.queue,
    maxClients: await maxClients(config, log),
    maxClientsPerIp: config.maxClientsPerIp,
    maxReplays: config.maxReplays,
    limits: { maxBacklog: config.maxBacklog },
    heartbeatMs: config.heartbeatMs || Infinity,
    writeTimeoutMs: config.writeTimeoutMs,
    replay,
    log,
    stdin: STDIN_ID,
  });
}

/** The app's parts every role has: the route and the security settings. */
function appParts(config: Config, sse: SseRoute) {
  return {
    sse,
    version: VERSION,
    token: config.token,
    corsOrigin: config.corsOrigin,
    listen: config.host,
    allowedHosts: config.allowedHosts,
  };
}

/** Whether `host` (a --host value) is a loopback address or name. */
function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/**
 * The subscriber limit: --max-clients, or as many as the open-file limit
 * allows with room kept for the files (said once at start when that is
 * fewer than the default).
 */
async function maxClients(
  config: Config,
  log: (line: string) => void,
): Promise<number> {
  const limit = await openFileLimit();
  const within = limit === null ? Infinity : clientsWithin(limit);
  if (config.maxClients !== null) {
    if (config.maxClients > within) {
      log(
        `tailcast: warning: --max-clients ${config.maxClients} is more than the open-file limit (${limit}) leaves room for (${within}); raise it with ulimit -n`,
      );
    }
    return config.maxClients;
  }
  if (within < DEFAULT_MAX_CLIENTS) {
    log(
      `tailcast: the open-file limit is ${limit}: serving at most ${within} subscribers (raise it with ulimit -n, or set --max-clients)`,
    );
    return within;
  }
  return DEFAULT_MAX_CLIENTS;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reads and checks the --config file; every problem is a ConfigError. */
async function loadConfig(path: string): Promise<FileConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.NotCapable
      ? "Deno read permission denied (allow reading it with --allow-read)"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new ConfigError(
      "--config",
      `Cannot read the config file "${path}": ${why}`,
    );
  }
  return parseConfigFile(path, text);
}

/**
 * An environment variable, if it may be read: asked of the permissions
 * first, so a run that was not given it is never prompted for it (a sandbox
 * may allow none).
 */
function envValue(name: string): string | undefined {
  try {
    if (
      Deno.permissions.querySync({ name: "env", variable: name }).state !==
        "granted"
    ) {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** The machine's name, only when reading it was allowed (`--allow-sys=hostname`). */
function machineName(): string | undefined {
  try {
    if (
      Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state !==
        "granted"
    ) {
      return undefined;
    }
    return Deno.hostname();
  } catch {
    return undefined;
  }
}

async function listen(
  config: Config,
  handler: (request: Request) => Response | Promise<Response>,
  demo: boolean,
): Promise<Deno.HttpServer> {
  const listening = Promise.withResolvers<void>();
  const server = Deno.serve({
    hostname: config.host,
    port: config.port,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      log(`tailcast: serving http://${host}:${port}/events`);
      if (demo) {
        log(`tailcast: try: curl -N http://${host}:${port}/events`);
      }
      listening.resolve();
    },
    onError: (error) => {
      // A subscriber ended on purpose (write timeout, shutdown) is not a failure.
      if (error instanceof SubscriberEnded) {
        return new Response(null, { status: 499 });
      }
      log(`tailcast: request failed: ${error}`);
      return new Response("internal error\n", { status: 500 });
    },
  }, handler);
  await listening.promise;
  return server;
}

function listenProblem(config: Config, error: unknown): string {
  const where = `${config.host}:${config.port}`;
  if (error instanceof Deno.errors.AddrInUse) {
    return `Cannot listen on ${where}: the address is in use (pick another with --port, or --port 0 for any free port)`;
  }
  if (error instanceof Deno.errors.NotCapable) {
    return `Cannot listen on ${where}: Deno net permission denied (run with --allow-net=${config.host}, or use --no-server)`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `Cannot listen on ${where}: permission denied (ports below 1024 need privileges; pick another with --port)`;
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return `Cannot listen on ${where}: no such local address (check --host)`;
  }
  return `Cannot listen on ${where}: ${
    error instanceof Error ? error.message : error
  }`;
}

async function stopDemo(
  demo: { done: Promise<void>; dir: string } | null,
  abort: AbortController,
): Promise<void> {
  if (!demo) return;
  abort.abort();
  await demo.done;
  await Deno.remove(demo.dir, { recursive: true }).catch(() => {});
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
