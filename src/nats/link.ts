/**
 * Link: one connection to NATS, owned from the first attempt to the last
 * close. Until a server answers it tries again (with backoff, until its
 * signal aborts); once connected, the client reconnects by itself, to any
 * server of the list or of the cluster. Every change of state is one line
 * on the log and is kept for `/healthz`: an agent whose NATS is gone stops
 * reading, and says so there.
 *
 * Authentication: user and password, a token, or a `.creds` file (read at
 * every attempt, so a renewed file is picked up); TLS when a URL says
 * `tls://` (the system's trusted roots, or Deno's `--cert`/`DENO_CERT`).
 */
import {
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from "@nats-io/transport-node";
import { retry } from "@std/async/retry";

/** Where NATS is and how to log in. */
export interface LinkOptions {
  /** `nats://HOST:PORT` or `tls://HOST:PORT`, as given. */
  readonly servers: readonly string[];
  /** A user name (with `password`). */
  readonly user: string | null;
  /** The user's password. */
  readonly password: string | null;
  /** A token. */
  readonly token: string | null;
  /** A `.creds` file (JWT and NKey seed). */
  readonly creds: string | null;
}

/** What `/healthz` tells about the link. */
export interface LinkStatus {
  /** Where the connection is. */
  readonly state: "connecting" | "connected" | "reconnecting" | "closed";
  /** The server connected to, when connected. */
  readonly server: string | null;
  /** The last problem, while there is one. */
  readonly problem: string | null;
  /** When the state last changed (ISO). */
  readonly since: string;
}

/**
 * How failed attempts are retried, forever: 100 ms, doubling up to 2 s,
 * with some jitter so that agents do not come back all at once.
 */
export const BACKOFF = {
  maxAttempts: Number.MAX_SAFE_INTEGER,
  minTimeout: 100,
  maxTimeout: 2000,
  multiplier: 2,
  jitter: 0.5,
} as const;

/**
 * How publishes are retried: sooner, since a leader election answers "no
 * responders" quickly until it is over (seconds), and every 500 ms is
 * cheap; the pause seen is then the election's and at most that more.
 */
export const PUBLISH_BACKOFF = {
  ...BACKOFF,
  minTimeout: 50,
  maxTimeout: 500,
} as const;

/** Owns one NATS connection. */
export class Link {
  readonly #options: LinkOptions;
  readonly #name: string;
  readonly #log: (line: string) => void;
  #nc: NatsConnection | null = null;
  #state: LinkStatus["state"] = "connecting";
  #server: string | null = null;
  #problem: string | null = null;
  #since = new Date();
  #told = "";
  #dropped = Promise.withResolvers<void>();

  /** A link, not connected yet; `name` is the connection's name on the server. */
  constructor(
    options: LinkOptions,
    name: string,
    log: (line: string) => void,
  ) {
    this.#options = options;
    this.#name = name;
    this.#log = log;
  }

  /** The state, for health reports. */
  get status(): LinkStatus {
    return {
      state: this.#state,
      server: this.#server,
      problem: this.#problem,
      since: this.#since.toISOString(),
    };
  }

  /**
   * Resolves when the connection drops (the client then reconnects by
   * itself): a request in flight on it will get no answer.
   */
  get dropped(): Promise<void> {
    return this.#dropped.promise;
  }

  /** Whether a server is connected now. */
  get connected(): boolean {
    return this.#state === "connected";
  }

  /** The servers as given, for messages. */
  get where(): string {
    return this.#options.servers.join(",");
  }

  /**
   * Connects, trying again until a server answers; null when `signal`
   * aborted first. The connection then belongs to this link.
   */
  async open(signal: AbortSignal): Promise<NatsConnection | null> {
    let nc: NatsConnection;
    try {
      nc = await retry(async () => {
        try {
          return await connect(await this.#connectOptions());
        } catch (error) {
          this.problem(`cannot connect to ${this.where}: ${describe(error)}`);
          throw error;
        }
      }, { ...BACKOFF, signal });
    } catch (error) {
      // Only an abort ends the retries.
      if (signal.aborted) return null;
      throw error;
    }
    if (signal.aborted) {
      await nc.close();
      return null;
    }
    this.#nc = nc;
    this.#set("connected", nc.getServer(), null);
    this.#watch(nc);
    return nc;
  }

  /**
   * Records a problem the user should know about (said once until it
   * changes); null clears it.
   */
  problem(text: string | null): void {
    this.#problem = text;
    if (text !== null && text !== this.#told) {
      this.#told = text;
      this.#log(`tailcast: NATS: ${text}; retrying`);
    }
    if (text === null && this.#told !== "") {
      this.#told = "";
      this.#log(
        `tailcast: NATS: working again (${this.#server ?? this.where})`,
      );
    }
  }

  /** Closes the connection: `drain` lets what is in flight finish first. */
  async close(drain = false): Promise<void> {
    const nc = this.#nc;
    this.#nc = null;
    this.#set("closed", null, null);
    if (!nc || nc.isClosed()) return;
    try {
      if (drain) await nc.drain();
      else await nc.close();
    } catch {
      await nc.close().catch(() => {});
    }
  }

  async #connectOptions(): Promise<NodeConnectionOptions> {
    const o = this.#options;
    const options: NodeConnectionOptions = {
      servers: [...o.servers],
      name: this.#name,
      // After the first connection the client keeps trying by itself.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 5000,
      // An Error (with its stack) made for every request costs more than the
      // request: 5-7 % of a gateway's time, measured.
      noAsyncTraces: true,
    };
    if (o.servers.some((s) => s.startsWith("tls://"))) options.tls = {};
    if (o.user !== null) {
      options.user = o.user;
      options.pass = o.password ?? "";
    }
    if (o.token !== null) options.token = o.token;
    if (o.creds !== null) {
      options.authenticator = credsAuthenticator(
        await Deno.readFile(o.creds),
      );
    }
    return options;
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.#nc !== nc) return;
      if (s.type === "disconnect") {
        this.#dropped.resolve();
        this.#dropped = Promise.withResolvers<void>();
        this.#set("reconnecting", null, `disconnected from ${s.server}`);
        this.problem(`disconnected from ${s.server}; reconnecting`);
      } else if (s.type === "reconnect") {
        this.#set("connected", s.server, null);
      } else if (s.type === "error") {
        this.problem(describe(s.error));
      }
    }
  }

  #set(
    state: LinkStatus["state"],
    server: string | null,
    problem: string | null,
  ): void {
    if (state !== this.#state) this.#since = new Date();
    if (state === "connected" && this.#state !== "connected") {
      // Saying so ends whatever problem was told before.
      this.#told = "";
      this.#log(`tailcast: NATS: connected to ${server}`);
    }
    this.#state = state;
    this.#server = server;
    this.#problem = problem;
  }
}

/** An error in a few words a user can act on. */
export function describe(error: unknown): string {
  if (error instanceof Deno.errors.NotCapable) {
    return `Deno permission denied (${error.message}; allow it with --allow-net or --allow-read)`;
  }
  if (error instanceof Error) {
    const cause = error.cause instanceof Error
      ? `: ${error.cause.message}`
      : "";
    return error.message + (error.message.includes(cause) ? "" : cause);
  }
  return String(error);
}
