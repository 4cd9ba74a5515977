/**
 * tailcast entry point: parse the command line, start the service and the
 * HTTP server, stop cleanly on SIGINT/SIGTERM. Exit codes: 0 after a signal,
 * 2 for a bad command line or a source, port or permission problem at start.
 */
import meta from "./deno.json" with { type: "json" };
import { createApp } from "./src/app.ts";
import { type Config, parseCommandLine, USAGE } from "./src/config.ts";
import { type FileConfig, parseConfigFile } from "./src/config_file.ts";
import { startDemo } from "./src/demo.ts";
import { ConfigError, SourceError } from "./src/errors.ts";
import { Service } from "./src/service.ts";
import { SseRoute, SubscriberEnded } from "./src/sink/sse.ts";
import { StateError } from "./src/source/state.ts";

/** tailcast's version and the runtime's. */
export const VERSION = `tailcast ${meta.version} (deno ${Deno.version.deno})`;

/** Everything must be closed within this long after a signal. */
const STOP_DEADLINE_MS = 1800;

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
  try {
    const env = { TAILCAST_TOKEN: envToken() };
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
    sse = new SseRoute(service.hub, {
      queue: config.queue,
      maxClients: config.maxClients,
      heartbeatMs: config.heartbeatMs || Infinity,
      writeTimeoutMs: config.writeTimeoutMs,
      replay: {
        positions: service.positions,
        events: (chunks) => service.events(chunks),
      },
      log,
      stdin: config.paths.includes("-"),
    });
    const app = createApp({
      metrics: service.metrics,
      state: service.state,
      tail: service.tail,
      sse,
      positions: service.positions,
      version: VERSION,
      token: config.token,
      corsOrigin: config.corsOrigin,
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

  const stopped = Promise.withResolvers<string>();
  const onSignal = (name: string) => () => stopped.resolve(name);
  const onInt = onSignal("SIGINT");
  const onTerm = onSignal("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  await stopped.promise;
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);

  // Whatever is still stuck (a client that reads nothing, a stdout nobody
  // drains) must not keep the process alive past the deadline.
  const deadline = setTimeout(() => Deno.exit(0), STOP_DEADLINE_MS);
  demoAbort.abort();
  await service.stop();
  await stopDemo(demo, demoAbort);
  await sse?.close(300);
  // A connection whose socket is full never finishes; do not wait for it.
  if (server) await Promise.race([server.shutdown(), sleep(200)]);
  clearTimeout(deadline);
  return 0;
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
