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
import { SseRoute, SubscriberEnded } from "./src/http/route.ts";
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
      TAILCAST_TOKEN: envToken(),
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

  let server: Listening | null = null;
  let sse: SseRoute | null = null;
  if (config.server) {
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
    sse = new SseRoute(service.hub, {
      queue: config.queue,
      maxClients: await maxClients(config, log),
      maxClientsPerIp: config.maxClientsPerIp,
      maxReplays: config.maxReplays,
      limits: { maxBacklog: config.maxBacklog },
      heartbeatMs: config.heartbeatMs || Infinity,
      writeTimeoutMs: config.writeTimeoutMs,
      replay: {
        journal: service.journal,
        known: service.tail.known,
        events: (chunks) => service.events(chunks),
      },
      log,
      stdin: STDIN_ID,
    });
    const app = createApp({
      metrics: service.metrics,
      state: service.state,
      tail: service.tail,
      sse,
      journal: service.journal,
      version: VERSION,
      token: config.token,
      corsOrigin: config.corsOrigin,
      listen: config.host,
      allowedHosts: config.allowedHosts,
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
  const onSignal = () => stopped.resolve(0);
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
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
  service.stdoutLost.then((why) =>
    stopped.resolve(
      why === "closed" ? EXIT_STDOUT_CLOSED : EXIT_UNWRITTEN,
    )
  );
  let code = await stopped.promise;
  watching.abort();
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);

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
      `tailcast: stdout did not take the last lines before the stop deadline; exiting without them${
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

/** TAILCAST_TOKEN, if the environment may be read (a sandbox may not allow it). */
function envToken(): string | undefined {
  try {
    return Deno.env.get("TAILCAST_TOKEN");
  } catch {
    return undefined;
  }
}

/** The HTTP server: what main needs of it once it listens. */
interface Listening {
  /** Stops accepting and lets the open connections finish. */
  shutdown(): Promise<void>;
}

/**
 * Serves `handler` on the configured address, and keeps serving it.
 * Deno.serve's accept loop ends at the first accept that fails (EMFILE,
 * once a flood of connections holds every file descriptor the open-file
 * limit allows) and its `finished` then rejects: unhandled, that would end
 * the process, stdout and every subscriber with it. Instead it is said on
 * stderr, and the same address is listened on again as soon as a
 * descriptor is free; meanwhile new connections are refused, and those
 * already open go on.
 */
async function listen(
  config: Config,
  handler: (request: Request) => Response | Promise<Response>,
  demo: boolean,
): Promise<Listening> {
  const servers = new Set<Deno.HttpServer>();
  let stopping = false;
  const serve = (port: number, first: boolean): Promise<string> => {
    const listening = Promise.withResolvers<string>();
    let bound = port;
    const server = Deno.serve({
      hostname: config.host,
      port,
      onListen: ({ hostname, port }) => {
        const host = hostname.includes(":") ? `[${hostname}]` : hostname;
        const address = `http://${host}:${port}`;
        bound = port;
        if (first) {
          log(`tailcast: serving ${address}/events`);
          if (demo) log(`tailcast: try: curl -N ${address}/events`);
        }
        listening.resolve(address);
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
    servers.add(server);
    server.finished.then(
      () => servers.delete(server),
      (error) => {
        if (stopping) return;
        log(
          `tailcast: the HTTP server stopped accepting connections (${
            error instanceof Error ? error.message : error
          }); listening again as soon as it can (open connections go on)`,
        );
        listenAgain(bound);
      },
    );
    return listening.promise;
  };
  const listenAgain = async (port: number) => {
    for (let delay = 10; !stopping; delay = Math.min(2 * delay, 1000)) {
      await sleep(delay);
      if (stopping) return;
      try {
        log(`tailcast: listening again: ${await serve(port, false)}/events`);
        return;
      } catch {
        // No descriptor free yet (or the port was taken): try again.
      }
    }
  };
  await serve(config.port, true);
  return {
    async shutdown() {
      stopping = true;
      await Promise.all([...servers].map((s) => s.shutdown()));
    },
  };
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
