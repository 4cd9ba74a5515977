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
  /** Told the address once listening. */
  onListen?: (address: { hostname: string; port: number }) => void;
  log: (line: string) => void;
}

/** Serves `handler` on the config's address; resolves once listening. */
export async function listen(
  config: Config,
  handler: Deno.ServeHandler,
  options: ListenOptions,
): Promise<Deno.HttpServer> {
  const listening = Promise.withResolvers<void>();
  const server = Deno.serve({
    hostname: config.host,
    port: options.port ?? config.port,
    ...(options.reusePort ? { reusePort: true } : {}),
    onListen: (address) => {
      options.onListen?.(address);
      listening.resolve();
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
  await listening.promise;
  return server;
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
