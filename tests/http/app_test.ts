/**
 * The Hono apps (src/app.ts) without a server: requests go to `app.fetch`
 * with the client address Deno.serve would give, over small real parts (a
 * Tail on a temp dir, an SseRoute over a Hub, a Journal). What the guards
 * let through, and where each route's answer comes from.
 */
import {
  assert,
  assertEquals,
  assertFalse,
  assertMatch,
  assertStringIncludes,
} from "@std/assert";
import { createApp, createWorkerApp, MAX_URL_BYTES } from "../../src/app.ts";
import type { AppParts, Subscribers } from "../../src/app.ts";
import { SseRoute } from "../../src/http/route.ts";
import { Hub } from "../../src/sink/hub.ts";
import { Journal } from "../../src/sink/journal.ts";
import { Metrics } from "../../src/sink/metrics.ts";
import { fileId } from "../../src/source/identity.ts";
import { Tail } from "../../src/source/tail.ts";
import type { FileId } from "../../src/types.ts";
import { LogDir } from "../_fixtures/log_dir.ts";

const ORIGIN = "http://127.0.0.1:8787";
const TOKEN = "s3cret-token";
const CONTENT = "l1\nl2\nl3\n";

type Fetch = (
  path: string,
  init?: RequestInit & { client?: string },
) => Promise<Response>;

/** Makes the requests Deno.serve would hand the app: a URL, headers, the client's address. */
function fetcher(
  app: { fetch: (r: Request, env: unknown) => Response | Promise<Response> },
): Fetch {
  return async (path, init = {}) => {
    const { client = "127.0.0.1", ...rest } = init;
    const url = path.startsWith("http") ? path : `${ORIGIN}${path}`;
    return await app.fetch(new Request(url, rest), {
      remoteAddr: { hostname: client },
    });
  };
}

/** The reader's app over a Tail following `app.log` in a temp dir. */
async function readerApp(
  options: Partial<
    Pick<
      AppParts,
      | "token"
      | "corsOrigin"
      | "listen"
      | "allowedHosts"
      | "ingest"
      | "ingestTarget"
      | "metrics"
      | "subscribers"
    >
  > = {},
) {
  const dir = await LogDir.create();
  await dir.append("app.log", CONTENT);
  const path = dir.file("app.log");
  const abort = new AbortController();
  const tail = await Tail.start({
    paths: [path],
    startAt: { kind: "end" },
    pollMs: null,
    signal: abort.signal,
  });
  await tail.ready;
  const hub = new Hub();
  const sse = new SseRoute(hub, { heartbeatMs: 60_000, maxClientsPerIp: 1 });
  const journal = new Journal({ epoch: "e" });
  const app = createApp({
    tail,
    sse,
    journal,
    version: "9.9.9-test",
    ...options,
  });
  return {
    path,
    file: fileId(await Deno.stat(path)) as FileId,
    tail,
    sse,
    journal,
    fetch: fetcher(app),
    [Symbol.asyncDispose]: async () => {
      abort.abort();
      await sse.close(0);
      hub.close();
      await tail.done;
      await dir[Symbol.asyncDispose]();
    },
  };
}

const host = (h: string) => ({ headers: { host: h } });
const local = host("127.0.0.1:8787");

// The token.

Deno.test("app with a token: Bearer in any case, or ?token=, opens the routes", async () => {
  await using a = await readerApp({ token: TOKEN });
  for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"]) {
    const res = await a.fetch("/sources", {
      headers: { authorization: `${scheme} ${TOKEN}` },
    });
    assertEquals(res.status, 200, scheme);
    await res.body?.cancel();
  }
  const tabbed = await a.fetch("/sources", {
    headers: { authorization: `Bearer\t${TOKEN} ` },
  });
  assertEquals(
    tabbed.status,
    200,
    "tab after the scheme, blank after the token",
  );
  await tabbed.body?.cancel();
  const query = await a.fetch(`/sources?token=${TOKEN}`);
  assertEquals(query.status, 200);
  await query.body?.cancel();
});

Deno.test("app with a token: a wrong or missing one is 401 with www-authenticate, whatever its length", async () => {
  await using a = await readerApp({ token: TOKEN });
  const cases: [string, RequestInit][] = [
    ["no token", {}],
    ["wrong bearer", { headers: { authorization: "Bearer nope" } }],
    // The lengths differ: compared as digests, this is a 401, not a throw.
    ["longer", { headers: { authorization: `Bearer ${TOKEN}${TOKEN}` } }],
    ["prefix", { headers: { authorization: `Bearer ${TOKEN.slice(0, 5)}` } }],
    ["non-ASCII", { headers: { authorization: "Bearer ünïcødé" } }],
    ["another scheme", { headers: { authorization: `Basic ${TOKEN}` } }],
    ["no space", { headers: { authorization: `Bearer${TOKEN}` } }],
    ["empty ?token=", {}],
  ];
  for (const [what, init] of cases) {
    const res = await a.fetch(
      what === "empty ?token=" ? "/sources?token=" : "/sources",
      init,
    );
    assertEquals(res.status, 401, what);
    assertEquals(
      res.headers.get("www-authenticate"),
      'Bearer realm="tailcast"',
      what,
    );
    assertMatch(await res.text(), /^Unauthorized: send Authorization: Bearer/);
  }
  const wrongQuery = await a.fetch("/sources?token=x");
  assertEquals(wrongQuery.status, 401);
  await wrongQuery.body?.cancel();
});

Deno.test("app with a token: a Bearer header is the token given, so a right ?token= does not rescue a wrong header", async () => {
  await using a = await readerApp({ token: TOKEN });
  const wrong = await a.fetch(`/sources?token=${TOKEN}`, {
    headers: { authorization: "Bearer wrong" },
  });
  assertEquals(wrong.status, 401);
  await wrong.body?.cancel();
  // A header of another scheme is no Bearer token: the query is used.
  const basic = await a.fetch(`/sources?token=${TOKEN}`, {
    headers: { authorization: "Basic dXNlcjpwdw==" },
  });
  assertEquals(basic.status, 200);
  await basic.body?.cancel();
});

Deno.test("app with a token guards every route but the page: /events, /healthz, /metrics, /context, unknown paths", async () => {
  await using a = await readerApp({ token: TOKEN, metrics: new Metrics() });
  for (const path of ["/events", "/healthz", "/metrics", "/context", "/nope"]) {
    const res = await a.fetch(path);
    assertEquals(res.status, 401, path);
    await res.body?.cancel();
  }
  assertEquals(a.sse.clients, 0, "no subscription was made without the token");
});

Deno.test("app serves the viewer page at / without the token, as HTML", async () => {
  await using a = await readerApp({ token: TOKEN });
  const res = await a.fetch("/");
  assertEquals(res.status, 200);
  assertMatch(res.headers.get("content-type") ?? "", /^text\/html/);
  assertMatch(await res.text(), /^<!doctype html>/i);
});

Deno.test("app with a token answers any Host: the token, not the name, is the guard", async () => {
  await using a = await readerApp({ token: TOKEN });
  const res = await a.fetch("/sources", {
    headers: { host: "logs.example.com", authorization: `Bearer ${TOKEN}` },
  });
  assertEquals(res.status, 200);
  await res.body?.cancel();
});

// Host checks without a token.

/** Status of GET /sources for each Host value, on an app without a token. */
async function hostStatuses(
  options: { listen?: string; allowedHosts?: string[] },
  hosts: (string | null)[],
): Promise<Record<string, number>> {
  await using a = await readerApp(options);
  const out: Record<string, number> = {};
  for (const h of hosts) {
    const res = await a.fetch(
      "/sources",
      h === null ? {} : { headers: { host: h } },
    );
    out[h ?? "(none)"] = res.status;
    await res.body?.cancel();
  }
  return out;
}

Deno.test("app without a token answers loopback names and its own address, in any case, with or without a port", async () => {
  assertEquals(
    await hostStatuses({}, [
      "127.0.0.1:8787",
      "127.0.0.1",
      "localhost:8787",
      "LocalHost",
      "[::1]:8787",
      "[::1]",
    ]),
    {
      "127.0.0.1:8787": 200,
      "127.0.0.1": 200,
      "localhost:8787": 200,
      "LocalHost": 200,
      "[::1]:8787": 200,
      "[::1]": 200,
    },
  );
  assertEquals(
    await hostStatuses({ listen: "192.168.1.5" }, [
      "192.168.1.5:8787",
      "localhost:8787",
      "192.168.1.6:8787",
    ]),
    { "192.168.1.5:8787": 200, "localhost:8787": 200, "192.168.1.6:8787": 403 },
  );
});

Deno.test("app without a token refuses a foreign Host, or none, with 403 and connection: close, naming the Host", async () => {
  await using a = await readerApp();
  for (
    const h of [
      "evil.example",
      "evil.example:8787",
      "127.0.0.1.evil.example",
      "localhost.evil.example:8787",
      "10.0.0.1:8787",
    ]
  ) {
    const res = await a.fetch("/sources", host(h));
    assertEquals(res.status, 403, h);
    assertEquals(res.headers.get("connection"), "close", h);
    const text = await res.text();
    assertStringIncludes(text, JSON.stringify(h), h);
    assertStringIncludes(text, "--allowed-host");
  }
  const none = await a.fetch("/sources");
  assertEquals(none.status, 403);
  await none.body?.cancel();
  // The page too: a rebinding page must not even learn that tailcast is there.
  const page = await a.fetch("/", host("evil.example"));
  assertEquals(page.status, 403);
  await page.body?.cancel();
  // Nor a stream.
  const events = await a.fetch("/events", host("evil.example"));
  assertEquals(events.status, 403);
  await events.body?.cancel();
  assertEquals(a.sse.clients, 0);
});

Deno.test("app without a token answers every --allowed-host, in any case and with any port, and nothing else", async () => {
  assertEquals(
    await hostStatuses(
      { allowedHosts: ["logs.example.com", "Proxy.Internal:8443"] },
      [
        "logs.example.com",
        "LOGS.EXAMPLE.COM:443",
        "proxy.internal",
        "other.example.com",
      ],
    ),
    {
      "logs.example.com": 200,
      "LOGS.EXAMPLE.COM:443": 200,
      "proxy.internal": 200,
      "other.example.com": 403,
    },
  );
});

Deno.test("app listening on every address accepts any IP literal as its own, but no DNS name", async () => {
  for (const listen of ["0.0.0.0", "::"]) {
    assertEquals(
      await hostStatuses({ listen }, [
        "10.1.2.3:8787",
        "192.168.0.7",
        "[fe80::1]:8787",
        "localhost:8787",
        "evil.example",
        "10.1.2.3.nip.io",
      ]),
      {
        "10.1.2.3:8787": 200,
        "192.168.0.7": 200,
        "[fe80::1]:8787": 200,
        "localhost:8787": 200,
        "evil.example": 403,
        "10.1.2.3.nip.io": 403,
      },
      listen,
    );
  }
});

// CORS.

Deno.test("app with --cors-origin answers a preflight with 204 and the CORS headers, before the token", async () => {
  await using a = await readerApp({
    token: TOKEN,
    corsOrigin: "https://app.example",
  });
  const res = await a.fetch("/events", {
    method: "OPTIONS",
    headers: {
      origin: "https://app.example",
      "access-control-request-method": "GET",
      "access-control-request-headers": "authorization",
    },
  });
  assertEquals(res.status, 204);
  assertEquals(
    Object.fromEntries(
      [...res.headers].filter(([k]) =>
        k.startsWith("access-control-") || k === "vary"
      ),
    ),
    {
      "access-control-allow-origin": "https://app.example",
      "access-control-allow-methods": "GET, OPTIONS",
      "access-control-allow-headers": "Authorization, Last-Event-ID",
      "access-control-max-age": "600",
      "vary": "Origin",
    },
  );
  assertEquals(await res.text(), "");
});

Deno.test("app with --cors-origin puts the origin on every answer, a 401 and the page included, and no preflight headers", async () => {
  await using a = await readerApp({
    token: TOKEN,
    corsOrigin: "https://app.example",
  });
  const answers = [
    await a.fetch("/sources", {
      headers: { authorization: `Bearer ${TOKEN}` },
    }),
    await a.fetch("/sources"),
    await a.fetch("/"),
  ];
  assertEquals(answers.map((r) => r.status), [200, 401, 200]);
  for (const res of answers) {
    assertEquals(
      res.headers.get("access-control-allow-origin"),
      "https://app.example",
    );
    assertEquals(res.headers.get("vary"), "Origin");
    assertEquals(res.headers.get("access-control-allow-methods"), null);
    await res.body?.cancel();
  }
});

Deno.test("app without --cors-origin sends no CORS header, and a preflight is not answered as one", async () => {
  await using a = await readerApp({ token: TOKEN });
  const answers = [
    await a.fetch("/events", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "GET",
      },
    }),
    await a.fetch("/sources", {
      headers: {
        origin: "https://app.example",
        authorization: `Bearer ${TOKEN}`,
      },
    }),
    await a.fetch("/", { headers: { origin: "https://app.example" } }),
  ];
  assertEquals(answers[0].status, 401, "a preflight is a request like another");
  for (const res of answers) {
    assertEquals(
      [...res.headers.keys()].filter((k) => k.startsWith("access-control-")),
      [],
    );
    await res.body?.cancel();
  }
});

// Long URLs.

Deno.test("app refuses a URL longer than 8 KiB with 414 and connection: close, before the Host check and the token", async () => {
  await using a = await readerApp({ token: TOKEN });
  const base = `${ORIGIN}/sources?token=${TOKEN}&pad=`;
  const at = (length: number) => base + "x".repeat(length - base.length);
  const fits = await a.fetch(at(MAX_URL_BYTES));
  assertEquals(fits.status, 200, "exactly 8 KiB is taken");
  await fits.body?.cancel();
  const long = await a.fetch(at(MAX_URL_BYTES + 1));
  assertEquals(long.status, 414);
  assertEquals(long.headers.get("connection"), "close");
  assertMatch(await long.text(), /^URI Too Long: .* at most 8192 bytes/);
  // Without a token and with a foreign Host: still 414, not 403.
  await using b = await readerApp();
  const foreign = await b.fetch(
    `${ORIGIN}/events?pad=${"x".repeat(MAX_URL_BYTES)}`,
    host("evil.example"),
  );
  assertEquals(foreign.status, 414);
  await foreign.body?.cancel();
  assertEquals(b.sse.clients, 0);
});

// /healthz, /metrics, /sources.

const pool: Subscribers = { clients: 7, depths: [3, 0, 5], threads: [4, 3] };

Deno.test("app /healthz reports the subscribers the subscribers part gives (a pool's), with their queues", async () => {
  await using a = await readerApp({ subscribers: () => Promise.resolve(pool) });
  const res = await a.fetch("/healthz", local);
  assertEquals(res.status, 200);
  const body = await res.json();
  assertEquals(body.status, "ok");
  assertEquals(body.version, "9.9.9-test");
  assertEquals(body.subscribers, 7);
  assertEquals(body.threads, [4, 3]);
  assertEquals(body.queues, { max: 5, total: 8 });
  assertEquals(body.watch.mode, a.tail.mode.mode);
  assertEquals(body.state, null);
  assert(body.memory.rss > 0);
  assertEquals(body.sources.length, 1);
});

Deno.test("app /healthz without a subscribers part counts this route's subscribers, on one thread", async () => {
  await using a = await readerApp();
  const stream = await a.fetch("/events", { ...local, client: "10.0.0.9" });
  assertEquals(stream.status, 200);
  const body = await (await a.fetch("/healthz", local)).json();
  assertEquals(body.subscribers, 1);
  assertEquals(body.threads, [1]);
  assertEquals(body.queues, { max: 0, total: 0 });
  await stream.body!.cancel();
});

Deno.test("app /metrics reads its gauges from the subscribers part and the tail at scrape time", async () => {
  await using a = await readerApp({
    metrics: new Metrics(),
    subscribers: () => Promise.resolve(pool),
  });
  const res = await a.fetch("/metrics", local);
  assertEquals(res.status, 200);
  assertEquals(
    res.headers.get("content-type"),
    "text/plain; version=0.0.4; charset=utf-8",
  );
  const text = await res.text();
  assertStringIncludes(text, "\ntailcast_subscribers 7\n");
  assertStringIncludes(
    text,
    '\ntailcast_subscriber_queue_depth{stat="max"} 5\n',
  );
  assertStringIncludes(
    text,
    '\ntailcast_subscriber_queue_depth{stat="total"} 8\n',
  );
  assertStringIncludes(text, "\ntailcast_sources 1\n");
  assertStringIncludes(
    text,
    `\ntailcast_watch_mode{mode="${a.tail.mode.mode}"} 1\n`,
  );
});

Deno.test("app /metrics is 404 when metrics are off", async () => {
  await using a = await readerApp();
  const res = await a.fetch("/metrics", local);
  assertEquals(res.status, 404);
  assertEquals(await res.text(), "metrics are off\n");
});

Deno.test("app /sources gives each source's file, identity, offsets, lag, buffer and what was published of it", async () => {
  await using a = await readerApp();
  a.journal.positions.advance(a.path, a.file, 6);
  const res = await a.fetch("/sources", local);
  assertEquals(res.status, 200);
  const body = await res.json();
  assertEquals(body.state, null);
  assertEquals(body.sources.length, 1);
  const [s] = body.sources;
  assertEquals(Object.keys(s).sort(), [
    "buffered",
    "identity",
    "lag",
    "offset",
    "path",
    "published",
    "size",
    "source",
  ]);
  assertEquals(s.source, a.path);
  assertEquals(s.path, a.path);
  assertEquals(s.identity, { dev: a.file.dev, ino: a.file.ino });
  assertEquals(s.offset, CONTENT.length, "started at the end");
  assertEquals(s.size, CONTENT.length);
  assertEquals(s.lag, 0);
  assertEquals(typeof s.buffered, "number");
  assertEquals(s.published, [{ dev: a.file.dev, ino: a.file.ino, offset: 6 }]);
});

// /events through the app.

Deno.test("app hands /events the client address Deno.serve gave: the per-address limit counts it", async () => {
  await using a = await readerApp();
  const first = await a.fetch("/events", { ...local, client: "10.0.0.1" });
  const same = await a.fetch("/events", { ...local, client: "10.0.0.1" });
  const other = await a.fetch("/events", { ...local, client: "10.0.0.2" });
  assertEquals([first.status, same.status, other.status], [200, 429, 200]);
  assertEquals(
    first.headers.get("content-type"),
    "text/event-stream; charset=utf-8",
  );
  await same.body?.cancel();
  await first.body!.cancel();
  await other.body!.cancel();
});

// The worker app.

/** A pool worker's app whose forward records what it was given. */
function workerApp(
  options: {
    token?: string | null;
    ingest?: { token: string | null; maxBody: number } | null;
    listen?: string;
  } = {},
) {
  const hub = new Hub();
  const sse = new SseRoute(hub, { heartbeatMs: 60_000 });
  const forwarded: { method: string; path: string; client: string }[] = [];
  const app = createWorkerApp({
    sse,
    version: "9.9.9-test",
    forward: (request, client) => {
      const url = new URL(request.url);
      forwarded.push({
        method: request.method,
        path: url.pathname + url.search,
        client,
      });
      return Promise.resolve(new Response("from the reader", { status: 299 }));
    },
    ...options,
  });
  return {
    sse,
    forwarded,
    fetch: fetcher(app),
    [Symbol.asyncDispose]: async () => {
      await sse.close(0);
      hub.close();
    },
  };
}

Deno.test("worker app forwards every route but /events and the page to the reader, with the client address", async () => {
  await using w = workerApp();
  const paths = [
    ["GET", "/healthz"],
    ["GET", "/sources"],
    ["GET", "/metrics"],
    ["GET", "/context?id=x"],
    ["GET", "/nope"],
    ["POST", "/sources"],
  ];
  for (const [method, path] of paths) {
    const res = await w.fetch(path, { method, ...local, client: "10.9.8.7" });
    assertEquals(res.status, 299, path);
    assertEquals(await res.text(), "from the reader");
  }
  assertEquals(
    w.forwarded,
    paths.map(([method, path]) => ({ method, path, client: "10.9.8.7" })),
  );
  const page = await w.fetch("/", local);
  assertEquals(page.status, 200);
  assertMatch(await page.text(), /^<!doctype html>/i);
  const events = await w.fetch("/events", local);
  assertEquals(events.status, 200);
  assertEquals(w.sse.clients, 1);
  await events.body!.cancel();
  assertEquals(w.forwarded.length, paths.length, "the page and /events stay");
});

Deno.test("worker app checks the read token and the Host before forwarding anything", async () => {
  {
    await using w = workerApp({ token: TOKEN });
    const denied = await w.fetch("/healthz");
    assertEquals(denied.status, 401);
    await denied.body?.cancel();
    const ok = await w.fetch("/healthz", {
      headers: { authorization: `bearer ${TOKEN}` },
    });
    assertEquals(ok.status, 299);
    await ok.body?.cancel();
    assertEquals(w.forwarded.map((f) => f.path), ["/healthz"]);
  }
  {
    await using w = workerApp();
    const foreign = await w.fetch("/healthz", host("evil.example"));
    assertEquals(foreign.status, 403);
    assertEquals(foreign.headers.get("connection"), "close");
    await foreign.body?.cancel();
    assertEquals(w.forwarded, []);
  }
});

Deno.test("worker app forwards POST /ingest/<name> before the read token is checked: the reader checks the ingest token", async () => {
  await using w = workerApp({
    token: TOKEN,
    ingest: { token: "post-secret", maxBody: 1024 },
  });
  const res = await w.fetch("/ingest/web", {
    method: "POST",
    headers: { "content-type": "text/plain", host: "logs.example.com" },
    body: "x\n",
    client: "10.1.1.1",
  });
  assertEquals(res.status, 299);
  await res.body?.cancel();
  assertEquals(w.forwarded, [
    { method: "POST", path: "/ingest/web", client: "10.1.1.1" },
  ]);
  // Only the POST: a GET of the same path needs the read token.
  const get = await w.fetch("/ingest/web");
  assertEquals(get.status, 401);
  await get.body?.cancel();
  assertEquals(w.forwarded.length, 1);
});

Deno.test("worker app without --ingest treats POST /ingest/<name> as any other route: the read token first", async () => {
  await using w = workerApp({ token: TOKEN });
  const res = await w.fetch("/ingest/web", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: "x\n",
  });
  assertEquals(res.status, 401);
  await res.body?.cancel();
  assertFalse(w.forwarded.length > 0);
});
