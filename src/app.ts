/**
 * The HTTP app: routes only, no logic of its own. `/events` streams (see
 * sse.ts), `/healthz` and `/sources` report the followers.
 */
import { Hono } from "hono";
import type { SseRoute } from "./sink/sse.ts";
import type { Tail } from "./source/tail.ts";

export interface AppParts {
  tail: Tail;
  sse: SseRoute;
  version: string;
}

/** Builds the Hono app over the running parts. */
export function createApp(parts: AppParts): Hono {
  const app = new Hono();
  app.get("/events", (c) => parts.sse.handle(c.req.raw));
  app.get("/sources", (c) => c.json({ sources: sources(parts.tail) }));
  app.get("/healthz", (c) => {
    const { mode, reason } = parts.tail.mode;
    return c.json({
      status: mode === "events" ? "ok" : "degraded",
      version: parts.version,
      watch: { mode, reason },
      subscribers: parts.sse.clients,
      sources: sources(parts.tail),
    });
  });
  app.get(
    "/",
    (c) =>
      c.text(
        "tailcast: GET /events (SSE; ?format=ndjson for NDJSON), /healthz, /sources\n",
      ),
  );
  return app;
}

function sources(tail: Tail) {
  return tail.sources.map(({ path, position }) => ({
    path,
    identity: position
      ? { dev: position.file.dev, ino: position.file.ino }
      : null,
    offset: position?.offset ?? null,
    size: position?.size ?? null,
    lag: position ? Math.max(0, position.size - position.offset) : null,
  }));
}
