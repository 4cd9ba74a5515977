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
  isLoopback,
  parseCommandLine,
  USAGE,
} from "./src/config.ts";
import { Admission, clientsWithin, openFileLimit } from "./src/http/guard.ts";
import { linearEngine, V8_FLAGS } from "./src/pattern.ts";
import { type FileConfig, parseConfigFile } from "./src/config_file.ts";
import { startDemo } from "./src/demo.ts";
import { ConfigError, SourceError } from "./src/errors.ts";
import { WatchedProcess } from "./src/pid.ts";
import { Service } from "./src/service.ts";
import { type SseOptions, SseRoute } from "./src/http/route.ts";
import { Pool } from "./src/pool/pool.ts";
import { inWorker, runWorker } from "./src/pool/worker.ts";
import {
  canSharePort,
  listen,
  type Listening,
  listenProblem,
  routeOptions,
} from "./src/server.ts";
import type { Hub } from "./src/sink/hub.ts";
import { StateError } from "./src/source/state.ts";
import { UNSTORED } from "./src/types.ts";

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
      TAILCAST_INGEST_TOKEN: envValue("TAILCAST_INGEST_TOKEN"),
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

  // The subscriber places are counted once for every thread that serves.
  const admission = config.server
    ? new Admission(await maxClients(config, log), config.maxClientsPerIp)
    : null;
  const threads = config.server ? poolThreads(config, log) : 0;
  let pool: Pool | null = null;
  let service: Service;
  try {
    service = await Service.start({
      config,
      stdout: Deno.stdout.writable,
      log,
      journalCapacity: config.resumeWindow,
      onStart: (service) => {
        if (threads === 0) return;
        try {
          pool = new Pool({
            workers: threads,
            entry: new URL(import.meta.url),
            config,
            cwd: Deno.cwd(),
            version: VERSION,
            maxClients: admission!.maxClients,
            hub: service.hub,
            journal: service.journal,
            known: service.tail.known,
            admission: admission!,
            log,
            onDrop: (n) => service.metrics.dropped("slow-subscriber", n),
          });
        } catch (error) {
          log(
            `tailcast: serving subscribers on one thread: cannot start the worker pool (${
              error instanceof Error ? error.message : error
            })`,
          );
        }
      },
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

  let server: Listening | null = null;
  let sse: SseRoute | null = null;
  const started = pool as Pool | null;
  if (config.server) {
    warnServing(config);
    sse = sseRoute(config, service.hub, admission!, {
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
      subscribers: started
        ? async () => {
          const others = await started.gauges();
          return {
            clients: sse!.clients + others.clients,
            depths: [...sse!.depths, ...others.depths],
            threads: [sse!.clients, ...others.threads],
          };
        }
        : undefined,
      ingest: config.ingest
        ? { token: config.ingest.token, maxBody: config.ingest.maxBody }
        : null,
      ingestTarget: service.ingest,
    });
    if (config.ingest && config.ingest.spool === null) {
      log(
        `tailcast: ingest: without --spool, posted lines are held in memory until read (up to ${config.ingest.memoryBytes} bytes per name, the oldest dropped with a gap beyond it) and are lost when tailcast stops; give --spool DIR to keep them on disk`,
      );
    }
    try {
      server = await listen(config, app.fetch, {
        reusePort: started !== null,
        log,
      });
    } catch (error) {
      log(`tailcast: ${listenProblem(config, error)}`);
      await service.stop();
      await Promise.all([sse.close(0), started?.close(0)]);
      await stopDemo(demo, demoAbort);
      return 2;
    }
    if (started) {
      const port = server.addr.port;
      const serving = await started.listen(
        port,
        (request, client) =>
          Promise.resolve(
            app.fetch(request, { remoteAddr: { hostname: client } }),
          ),
      );
      if (serving < threads) {
        log(
          `tailcast: ${serving + 1} of ${
            threads + 1
          } threads serve subscribers`,
        );
      }
    }
    // Said once every thread listens: a client that comes now may be served by any.
    const { hostname, port } = server.addr;
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    log(`tailcast: serving http://${host}:${port}/events`);
    if (demo) log(`tailcast: try: curl -N http://${host}:${port}/events`);
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
  await Promise.all([sse?.close(300), started?.close(700)]);
  // A connection whose socket is full never finishes; do not wait for it.
  if (server) await Promise.race([server.shutdown(), sleep(200)]);
  clearTimeout(deadline);
  return code;
}

/**
 * Pool workers to start: `--workers` (default: the machine's cores) less
 * the reader's thread, which serves too; none when threads cannot share a
 * port here (said in one line).
 */
function poolThreads(config: Config, log: (line: string) => void): number {
  const wanted = config.workers ?? navigator.hardwareConcurrency ?? 1;
  if (wanted <= 1) return 0;
  const alone = `tailcast: serving subscribers on one thread, not ${wanted}:`;
  if (!canSharePort()) {
    log(
      `${alone} threads sharing a port take Linux and --unstable-net (deno task start and the compiled binary have it; --workers 1 says one thread is meant)`,
    );
    return 0;
  }
  // A worker loads this program again: from its file, which must be readable.
  const entry = new URL(import.meta.url);
  if (
    entry.protocol === "file:" &&
    Deno.permissions.querySync({ name: "read", path: entry }).state !==
      "granted"
  ) {
    const path = decodeURIComponent(entry.pathname);
    log(
      `${alone} each worker loads ${path} again, which takes --allow-read=${path} (--workers 1 says one thread is meant)`,
    );
    return 0;
  }
  return wanted - 1;
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
  // Only a gateway loads the NATS client.
  const { Gateway } = await import("./src/nats/gateway.ts");
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
  let server: Listening | null = null;
  let sse: SseRoute | null = null;
  if (replay !== null) {
    warnServing(config);
    const door = new Admission(
      await maxClients(config, log),
      config.maxClientsPerIp,
    );
    sse = sseRoute(config, gateway.hub, door, replay);
    const app = createApp({
      ...appParts(config, sse),
      metrics: gateway.metrics,
      nats: gateway,
    });
    try {
      server = await listen(config, app.fetch, { log });
      const { hostname, port } = server.addr;
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      log(`tailcast: serving http://${host}:${port}/events`);
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
function sseRoute(
  config: Config,
  hub: Hub,
  door: Admission,
  replay: NonNullable<SseOptions["replay"]>,
): SseRoute {
  return new SseRoute(hub, {
    ...routeOptions(config, door.maxClients),
    doorkeeper: door,
    replay,
    log,
    unstored: UNSTORED,
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

async function stopDemo(
  demo: { done: Promise<void>; dir: string } | null,
  abort: AbortController,
): Promise<void> {
  if (!demo) return;
  abort.abort();
  await demo.done;
  await Deno.remove(demo.dir, { recursive: true }).catch(() => {});
}

if (inWorker()) {
  runWorker();
} else if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
