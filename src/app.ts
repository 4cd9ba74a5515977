/**
 * The HTTP app: routes and the security defaults, no logic of its own.
 * `/events` streams (http/route.ts); `/healthz` and `/sources` report the
 * followers; `/context` gives the lines around one event (http/context.ts);
 * `/` is the viewer page. With a token, every route but the page requires
 * `Authorization: Bearer <token>` (the scheme in any case, RFC 7235; or
 * `?token=` for EventSource, which cannot set headers), compared in constant
 * time; the page holds no data and asks for the token itself. Without a
 * token, only requests for this server's own address, a loopback name or an
 * `--allowed-host` are answered (no DNS rebinding). CORS headers are sent
 * only for the origin given with --cors-origin. A request URL beyond 8 KiB
 * is refused before routing. With `--ingest`, `POST /ingest/<name>` takes
 * lines (http/ingest.ts); it is guarded by its own token (the ingest token,
 * which may differ from the read token), and, when it has none, by the Host
 * check.
 */
import { Hono } from "hono";
import page from "./page.html" with { type: "text" };
import { bearerCheck, hostCheck } from "./http/guard.ts";
import { contextHandler } from "./http/context.ts";
import { ingestHandler, type IngestTarget } from "./http/ingest.ts";
import type { Metrics } from "./sink/metrics.ts";
import type { Journal } from "./sink/journal.ts";
import type { SseRoute } from "./http/route.ts";
import type { StateStore } from "./source/state.ts";
import type { Tail } from "./source/tail.ts";
import type { Chunk, Event, Mark } from "./types.ts";

/** What every server of tailcast has: the stream route and the guards' settings. */
export interface ServerParts {
  sse: SseRoute;
  version: string;
  token?: string | null;
  corsOrigin?: string | null;
  /** The listen address, and names also accepted in `Host` (without a token). @default loopback only */
  listen?: string;
  allowedHosts?: readonly string[];
  /** `POST /ingest/<name>`: its token (null: none, loopback only) and body limit; absent when off. */
  ingest?: {
    readonly token: string | null;
    readonly maxBody: number;
  } | null;
}

/** The reader's app: the stream and every report on the running parts. */
export interface AppParts extends ServerParts {
  /** The followers; none on a gateway (`--subscribe`), which reads no file. */
  tail?: Tail;
  /** What was published, for `/sources`; none on a gateway. */
  journal?: Journal;
  /** An agent's or a gateway's link to NATS: `/healthz` is degraded while it does not work. */
  nats?: NatsView;
  state?: StateStore | null;
  metrics?: Metrics;
  /** Chunks → events through the live stages, for `/context`. @default raw lines */
  events?: (
    chunks: ReadableStream<Chunk | Mark>,
  ) => ReadableStream<Event[] | Mark>;
  /**
   * The subscribers of the whole server, when other threads serve some
   * (a pool): their count and queue depths. @default this route's
   */
  subscribers?: () => Promise<Subscribers>;
  /** Where `POST /ingest/<name>` puts lines; absent when ingest is off. */
  ingestTarget?: IngestTarget | null;
}

/** The subscribers of the whole server. */
export interface Subscribers {
  readonly clients: number;
  /** Every subscriber's queue depth. */
  readonly depths: number[];
  /** Subscribers per thread serving them, the reader's first. */
  readonly threads: number[];
}

/** A pool worker's app: the stream here; every other request answered by the reader. */
export interface WorkerAppParts extends ServerParts {
  forward: (request: Request, client: string) => Promise<Response>;
}

/** Whether a request is for `POST /ingest/…`, which guards itself with the ingest token. */
function isIngest(path: string): boolean {
  return path.startsWith("/ingest/");
}

/** What the app shows of an agent or a gateway. */
export interface NatsView {
  /** For `/healthz`: whether it works, and whatever else it tells. */
  health(): { readonly ok: boolean };
  /** Whether a NATS server is connected now (`/metrics`). */
  readonly connected: boolean;
  /** A gateway: messages of the stream not read yet (`/metrics`). */
  readonly lag?: number;
  /** A gateway: the sources seen in the stream (`/sources`). */
  sources?(): readonly { readonly path: string }[];
}

/** Longest request URL accepted, in bytes. */
export const MAX_URL_BYTES = 8192;

/** The address of the client behind a request, as Deno.serve gives it. */
function clientOf(env: unknown): string {
  const addr = (env as { remoteAddr?: { hostname?: string } } | undefined)
    ?.remoteAddr;
  return addr?.hostname ?? "unknown";
}

/**
 * The guards every request passes, the page (which holds no data), and
 * `POST /ingest/…` (`routeIngest`), which checks its own token.
 */
function guarded(
  parts: ServerParts,
  routeIngest: (app: Hono) => void,
): Hono {
  const app = new Hono();
  app.use("*", async (c, next) => {
    if (c.req.url.length > MAX_URL_BYTES) {
      return c.text(
        `URI Too Long: tailcast takes request URLs of at most ${MAX_URL_BYTES} bytes\n`,
        414,
        { connection: "close" },
      );
    }
    await next();
  });
  const token = parts.token ?? null;
  const ingest = parts.ingest ?? null;
  if (token === null) {
    const hostOk = hostCheck(
      parts.listen ?? "127.0.0.1",
      parts.allowedHosts ?? [],
    );
    // A POST that must carry the ingest token is not a browser's to forge.
    const guarded = ingest?.token != null;
    app.use("*", async (c, next) => {
      const host = c.req.header("host") ?? null;
      if (!hostOk(host) && !(guarded && isIngest(c.req.path))) {
        return c.text(
          `Forbidden: this tailcast answers requests for its own address only, not ${
            JSON.stringify(host ?? "")
          } (behind a proxy, start it with --allowed-host NAME; or set a --token)\n`,
          403,
          { connection: "close" },
        );
      }
      await next();
    });
  }
  const cors = parts.corsOrigin ?? null;
  if (cors !== null) {
    app.use("*", async (c, next) => {
      if (c.req.method === "OPTIONS") {
        return new Response(null, {
          status: 204,
          headers: corsHeaders(cors, true),
        });
      }
      await next();
      for (const [k, v] of Object.entries(corsHeaders(cors, false))) {
        c.res.headers.set(k, v);
      }
    });
  }
  // The viewer page is embedded in the module graph: nothing is read from
  // disk. It is served without the token so that it can ask for it.
  app.get("/", (c) => c.html(page));
  // Before the read token's check, as the page: it checks its own token.
  if (ingest !== null) routeIngest(app);
  if (token !== null) {
    const carries = bearerCheck(token);
    app.use("*", async (c, next) => {
      const given = carries(
        c.req.header("authorization"),
        c.req.query("token"),
      );
      if (!given) {
        return c.text(
          "Unauthorized: send Authorization: Bearer <token> (or ?token=<token>)\n",
          401,
          { "www-authenticate": 'Bearer realm="tailcast"' },
        );
      }
      await next();
    });
  }
  return app;
}

/** Builds the reader's Hono app over the running parts. */
export function createApp(parts: AppParts): Hono {
  const app = guarded(parts, (app) => {
    const ingest = parts.ingest!;
    const handle = ingestHandler({
      target: parts.ingestTarget!,
      token: ingest.token,
      maxBody: ingest.maxBody,
      onAnswer: (status) => parts.metrics?.ingest(status),
    });
    app.post("/ingest/:name", (c) => handle(c.req.raw, c.req.param("name")));
  });
  app.get("/events", (c) => parts.sse.handle(c.req.raw, clientOf(c.env)));
  const tail = parts.tail;
  const context = tail
    ? contextHandler({
      // Sources read from a file: the others cannot be read back.
      sources: () =>
        tail.sources.flatMap((s) => s.path === null ? [] : [s.source]),
      known: tail.known,
      events: parts.events,
    })
    : () =>
      new Response(
        "Not Found: a gateway reads no file; ask the tailcast that follows it (the agent on its host) for /context\n",
        {
          status: 404,
          headers: { "content-type": "text/plain; charset=utf-8" },
        },
      );
  app.get("/context", (c) => context(c.req.raw));
  const subscribers = parts.subscribers ??
    (() =>
      Promise.resolve({
        clients: parts.sse.clients,
        depths: parts.sse.depths,
        threads: [parts.sse.clients],
      }));
  app.get("/metrics", async (c) => {
    const metrics = parts.metrics;
    if (!metrics) return c.text("metrics are off\n", 404);
    const { clients, depths } = await subscribers();
    metrics.setGauges(() => ({
      depths,
      subscribers: clients,
      mode: tail?.mode.mode,
      sources: tail?.sources.length ?? parts.nats?.sources?.().length ?? 0,
      natsConnected: parts.nats?.connected,
      natsLag: parts.nats?.lag,
    }));
    return c.body(metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });
  app.get(
    "/sources",
    (c) => c.json({ sources: sources(parts), state: state(parts) }),
  );
  app.get("/healthz", async (c) => {
    const nats = parts.nats?.health() ?? null;
    const watch = tail?.mode ?? null;
    const { clients, depths, threads } = await subscribers();
    return c.json({
      status: watch?.degraded || nats?.ok === false ? "degraded" : "ok",
      version: parts.version,
      watch: watch && { mode: watch.mode, reason: watch.reason },
      ...(nats ? { nats } : {}),
      subscribers: clients,
      threads,
      queues: queues(depths),
      memory: Deno.memoryUsage(),
      sources: sources(parts),
      state: state(parts),
    });
  });
  return app;
}

/** Builds a pool worker's Hono app: `/events` here, the rest forwarded to the reader. */
export function createWorkerApp(parts: WorkerAppParts): Hono {
  const app = guarded(
    parts,
    (app) =>
      app.post(
        "/ingest/:name",
        (c) => parts.forward(c.req.raw, clientOf(c.env)),
      ),
  );
  app.get("/events", (c) => parts.sse.handle(c.req.raw, clientOf(c.env)));
  app.all("*", (c) => parts.forward(c.req.raw, clientOf(c.env)));
  return app;
}

function state(parts: AppParts) {
  const store = parts.state;
  if (!store) return null;
  return {
    path: store.path,
    lastSaved: store.lastSaved?.toISOString() ?? null,
    cursors: store.cursors.map((c) => ({
      source: c.source,
      dev: c.file.dev,
      ino: c.file.ino,
      offset: c.offset,
    })),
  };
}

/** Subscriber queue depths in two numbers, whatever the number of subscribers. */
function queues(depths: number[]) {
  let max = 0;
  let total = 0;
  for (const d of depths) {
    max = Math.max(max, d);
    total += d;
  }
  return { max, total };
}

function corsHeaders(
  origin: string,
  preflight: boolean,
): Record<string, string> {
  const headers: Record<string, string> = {
    "access-control-allow-origin": origin,
    "vary": "Origin",
  };
  if (preflight) {
    headers["access-control-allow-methods"] = "GET, OPTIONS";
    headers["access-control-allow-headers"] = "Authorization, Last-Event-ID";
    headers["access-control-max-age"] = "600";
  }
  return headers;
}

function sources(parts: AppParts) {
  if (!parts.tail || !parts.journal) return parts.nats?.sources?.() ?? [];
  const published = parts.journal.seam();
  return parts.tail.sources.map(({ source, path, position, buffered }) => ({
    source,
    path,
    identity: position
      ? { dev: position.file.dev, ino: position.file.ino }
      : null,
    offset: position?.offset ?? null,
    size: position?.size ?? null,
    lag: position ? Math.max(0, position.size - position.offset) : null,
    buffered,
    published: (published.get(source) ?? []).map((p) => ({
      dev: p.file.dev,
      ino: p.file.ino,
      offset: p.offset,
    })),
  }));
}
