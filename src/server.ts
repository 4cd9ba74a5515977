/**
 * The HTTP server of a run, the same in the reader's thread and in every
 * pool worker: the stream route's settings from the config, and
 * `Deno.serve` (on a port shared with `reusePort` when a pool serves).
 */
import type { Config } from "./config.ts";
import { type SseOptions, SubscriberEnded } from "./http/route.ts";

/** The settings of `/events` a config gives (the replay parts come from the thread). */
export function routeOptions(
  config: Config,
  maxClients: number,
): Omit<SseOptions, "replay" | "log" | "stdin" | "doorkeeper"> {
  return {
    queue: config.queue,
    maxClients,
    maxClientsPerIp: config.maxClientsPerIp,
    maxReplays: config.maxReplays,
    limits: { maxBacklog: config.maxBacklog },
    heartbeatMs: config.heartbeatMs || Infinity,
    writeTimeoutMs: config.writeTimeoutMs,
  };
}

export interface ListenOptions {
  /** The port, when not the config's (a pool worker joins the reader's). */
  port?: number;
  /** Share the port with the other threads of a pool (Linux: `SO_REUSEPORT`). */
  reusePort?: boolean;
  log: (line: string) => void;
}

/** A server that listens: its address, and how to stop it. */
export interface Listening {
  readonly addr: Deno.NetAddr;
  /** Stops accepting and lets the open connections finish. */
  shutdown(): Promise<void>;
}

/**
 * Serves `handler` on the config's address, and keeps serving it; resolves
 * once listening. Deno.serve's accept loop ends at the first accept that
 * fails (EMFILE, once a flood of connections holds every file descriptor
 * the open-file limit allows) and its `finished` then rejects: unhandled,
 * that would end the process, stdout and every subscriber with it. Instead
 * it is said on stderr, and the same address is listened on again as soon
 * as a descriptor is free; meanwhile new connections are refused, and those
 * already open go on.
 */
export async function listen(
  config: Config,
  handler: Deno.ServeHandler,
  options: ListenOptions,
): Promise<Listening> {
  const servers = new Set<Deno.HttpServer>();
  let stopping = false;
  const serve = (port: number): Promise<Deno.NetAddr> => {
    const listening = Promise.withResolvers<Deno.NetAddr>();
    // The port bound: listening again (after --port 0) must take the same one.
    let bound = port;
    const server = Deno.serve({
      hostname: config.host,
      port,
      ...(options.reusePort ? { reusePort: true } : {}),
      onListen: (addr) => {
        bound = (addr as Deno.NetAddr).port;
        listening.resolve(addr as Deno.NetAddr);
      },
      onError: (error) => {
        // A subscriber ended on purpose (write timeout, shutdown) is not a failure.
        if (error instanceof SubscriberEnded) {
          return new Response(null, { status: 499 });
        }
        options.log(`tailcast: request failed: ${error}`);
        return new Response("internal error\n", { status: 500 });
      },
    }, handler);
    servers.add(server);
    server.finished.then(
      () => servers.delete(server),
      (error) => {
        servers.delete(server);
        if (stopping) return;
        options.log(
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
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (stopping) return;
      try {
        const again = await serve(port);
        options.log(
          `tailcast: listening again on ${again.hostname}:${again.port}`,
        );
        return;
      } catch {
        // No descriptor free yet (or the port was taken): try again.
      }
    }
  };
  const addr = await serve(options.port ?? config.port);
  return {
    addr,
    async shutdown() {
      stopping = true;
      await Promise.all([...servers].map((s) => s.shutdown()));
    },
  };
}

/** Why listening failed, with what to do about it. */
export function listenProblem(config: Config, error: unknown): string {
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

/** Whether this runtime lets threads share a port (`--unstable-net`; asking without it ends the process). */
export function canSharePort(): boolean {
  return typeof (Deno as { listenDatagram?: unknown }).listenDatagram ===
      "function" && Deno.build.os === "linux";
}
