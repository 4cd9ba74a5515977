/**
 * The HTTP app: routes and the security defaults, no logic of its own.
 * `/events` streams (sse.ts); `/healthz` and `/sources` report the followers;
 * `/context` gives the lines around one event (context.ts); `/` is the
 * viewer page. With a token, every route but the page requires
 * `Authorization: Bearer <token>` (or `?token=` for EventSource, which cannot
 * set headers), compared in constant time; the page holds no data and asks
 * for the token itself. CORS headers are sent only for the origin given with
 * --cors-origin.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import page from "./page.html" with { type: "text" };
import { contextHandler } from "./http/context.ts";
import type { Metrics } from "./sink/metrics.ts";
import type { Positions } from "./sink/positions.ts";
import type { SseRoute } from "./sink/sse.ts";
import type { StateStore } from "./source/state.ts";
import type { Tail } from "./source/tail.ts";
import type { Chunk, Event } from "./types.ts";

export interface AppParts {
  tail: Tail;
  sse: SseRoute;
  positions: Positions;
  version: string;
  token?: string | null;
  corsOrigin?: string | null;
  state?: StateStore | null;
  metrics?: Metrics;
  /** Chunks → events through the live stages, for `/context`. @default raw lines */
  events?: (chunks: ReadableStream<Chunk>) => ReadableStream<Event[]>;
}

/** Builds the Hono app over the running parts. */
export function createApp(parts: AppParts): Hono {
  const app = new Hono();
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
  const token = parts.token ?? null;
  if (token !== null) {
    const expected = digest(token);
    app.use("*", async (c, next) => {
      const header = c.req.header("authorization");
      const given = header?.startsWith("Bearer ")
        ? header.slice(7)
        : c.req.query("token");
      if (given === undefined || !timingSafeEqual(digest(given), expected)) {
        return c.text(
          "Unauthorized: send Authorization: Bearer <token> (or ?token=<token>)\n",
          401,
          { "www-authenticate": 'Bearer realm="tailcast"' },
        );
      }
      await next();
    });
  }
  app.get("/events", (c) => parts.sse.handle(c.req.raw));
  const context = contextHandler({
    sources: () => parts.tail.sources.map((s) => s.path),
    events: parts.events,
  });
  app.get("/context", (c) => context(c.req.raw));
  app.get("/metrics", (c) => {
    const metrics = parts.metrics;
    if (!metrics) return c.text("metrics are off\n", 404);
    metrics.setGauges(() => ({
      depths: parts.sse.depths,
      subscribers: parts.sse.clients,
      mode: parts.tail.mode.mode,
      sources: parts.tail.sources.length,
    }));
    return c.body(metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });
  app.get(
    "/sources",
    (c) => c.json({ sources: sources(parts), state: state(parts) }),
  );
  app.get("/healthz", (c) => {
    const { mode, reason, degraded } = parts.tail.mode;
    return c.json({
      status: degraded ? "degraded" : "ok",
      version: parts.version,
      watch: { mode, reason },
      subscribers: parts.sse.clients,
      queues: queues(parts.sse.depths),
      memory: Deno.memoryUsage(),
      sources: sources(parts),
      state: state(parts),
    });
  });
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

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
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
  const published = parts.positions.snapshot();
  return parts.tail.sources.map(({ path, position }) => ({
    path,
    identity: position
      ? { dev: position.file.dev, ino: position.file.ino }
      : null,
    offset: position?.offset ?? null,
    size: position?.size ?? null,
    lag: position ? Math.max(0, position.size - position.offset) : null,
    published: (published.get(path) ?? []).map((p) => ({
      dev: p.file.dev,
      ino: p.file.ino,
      offset: p.offset,
    })),
  }));
}
