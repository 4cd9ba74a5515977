import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { Hub, type Message } from "../../src/sink/hub.ts";
import {
  formatNdjson,
  formatSse,
  parseQuery,
  QueryError,
  selects,
  SseRoute,
} from "../../src/sink/sse.ts";
import type { Event, Notice } from "../../src/types.ts";
import { waitFor, within } from "../_fixtures/wait.ts";

const decoder = new TextDecoder();
const TIME = "2026-11-27T10:20:30.456Z";

function event(n: number, source = "/logs/app.log", line = `line ${n}`): Event {
  return { id: `1.2:${n.toString(36)}`, source, offset: n, line, time: TIME };
}

function line(n: number, source?: string, text?: string): Message {
  return { type: "line", event: event(n, source, text) };
}

function notice(n: Notice): Message {
  return { type: "notice", notice: n };
}

function query(params: string, accept: string | null = null) {
  return parseQuery(new URL(`http://localhost/events?${params}`), accept);
}

function request(params = "", headers: Record<string, string> = {}): Request {
  return new Request(`http://localhost/events?${params}`, { headers });
}

/** Reads chunks until the text read so far has at least `length` characters. */
async function readText(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  length: number,
): Promise<string> {
  let text = "";
  while (text.length < length) {
    const { done, value } = await within(reader.read(), 5000, "a body chunk");
    if (done) break;
    text += decoder.decode(value);
  }
  return text;
}

/** Reads one chunk of the body as text. */
async function readChunk(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<string | null> {
  const { done, value } = await within(reader.read(), 5000, "a body chunk");
  return done ? null : decoder.decode(value);
}

function sseLine(e: Event): string {
  return `event: line\nid: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`;
}

// parseQuery

Deno.test("parseQuery defaults to all sources, no grep, drop-oldest and SSE", () => {
  const q = query("");
  assertEquals(
    { source: q.source, grep: q.grep, policy: q.policy, format: q.format },
    { source: null, grep: null, policy: "drop-oldest", format: "sse" },
  );
  const empty = query("source=&grep=");
  assertEquals(empty.source, null);
  assertEquals(empty.grep, null);
});

Deno.test("parseQuery reads source, grep and policy", () => {
  const q = query(
    `source=${
      encodeURIComponent("/var/log/*.log")
    }&grep=err(or)?&policy=disconnect`,
  );
  assertEquals(q.source, "/var/log/*.log");
  assert(q.grep instanceof RegExp);
  assertEquals(q.grep.source, "err(or)?");
  assertEquals(q.policy, "disconnect");
});

Deno.test("parseQuery rejects a bad grep regex with QueryError giving the reason", () => {
  let reason = "";
  try {
    new RegExp("(");
  } catch (error) {
    reason = (error as Error).message;
  }
  const error = assertThrows(() => query("grep=("), QueryError);
  assertEquals(error.name, "QueryError");
  assertMatch(error.message, /^Invalid grep regex "\(": /);
  assertStringIncludes(error.message, reason);
});

Deno.test("parseQuery rejects a policy other than drop-oldest or disconnect", () => {
  // block is for stdout only: an HTTP client must never stall the service.
  for (const policy of ["block", "drop-newest", ""]) {
    assertThrows(
      () => query(`policy=${policy}`),
      QueryError,
      `Invalid policy "${policy}"`,
    );
  }
});

Deno.test("parseQuery picks NDJSON from format=ndjson or Accept: application/x-ndjson", () => {
  assertEquals(query("format=ndjson").format, "ndjson");
  assertEquals(query("", "application/x-ndjson").format, "ndjson");
  assertEquals(
    query("", "text/plain, application/x-ndjson;q=0.9").format,
    "ndjson",
  );
  assertEquals(query("", "text/event-stream").format, "sse");
  // An explicit format wins over the Accept header.
  assertEquals(query("format=sse", "application/x-ndjson").format, "sse");
  assertThrows(() => query("format=xml"), QueryError);
});

// selects

Deno.test("selects filters lines by source glob", () => {
  const accept = selects(query(`source=${encodeURIComponent("/logs/*.log")}`));
  assertEquals(accept(line(1, "/logs/app.log")), true);
  assertEquals(accept(line(1, "/logs/sub/app.log")), false);
  assertEquals(accept(line(1, "/other/app.log")), false);
  assertEquals(accept(line(1, "/logs/app.txt")), false);
  const exact = selects(query(`source=${encodeURIComponent("/logs/app.log")}`));
  assertEquals(exact(line(1, "/logs/app.log")), true);
  assertEquals(exact(line(1, "/logs/app.log.1")), false);
});

Deno.test("selects filters lines by grep and keeps notices in SSE only", () => {
  const accept = selects(query("grep=ERROR"));
  assertEquals(accept(line(1, undefined, "an ERROR here")), true);
  assertEquals(accept(line(1, undefined, "all fine")), false);
  const rotate = notice({
    kind: "rotate",
    source: "/logs/app.log",
    how: "renamed",
  });
  assertEquals(accept(rotate), true);
  assertEquals(accept({ type: "dropped", count: 3, stdin: 0 }), true);
  const nd = selects(query("format=ndjson"));
  assertEquals(nd(rotate), false);
  assertEquals(nd(line(1)), true);
  assertEquals(nd({ type: "dropped", count: 3, stdin: 0 }), true);
});

Deno.test("selects applies the source glob to notices; mode notices have no source", () => {
  const accept = selects(query(`source=${encodeURIComponent("/logs/*.log")}`));
  const mode = notice({ kind: "mode", mode: "polling", reason: "asked" });
  assertEquals(accept(mode), false);
  assertEquals(accept(notice({ kind: "vanish", source: "/logs/a.log" })), true);
  assertEquals(accept(notice({ kind: "vanish", source: "/x/a.log" })), false);
  assertEquals(selects(query(""))(mode), true);
});

// formatSse / formatNdjson

Deno.test("formatSse writes a line event as event, id and one data line", () => {
  const e = event(3, "/x.log", "hi");
  assertEquals(
    formatSse([{ type: "line", event: e }]),
    'event: line\nid: 1.2:3\ndata: {"id":"1.2:3","source":"/x.log","offset":3,' +
      `"line":"hi","time":"${TIME}"}\n\n`,
  );
  // Newlines in a line cannot break the frame: JSON escapes them.
  const tricky = event(4, "/x.log", "a\r\nb\nc\rd");
  const frame = formatSse([{ type: "line", event: tricky }]);
  assertEquals(frame.split("\n").length, 5);
  assertEquals(
    frame,
    `event: line\nid: 1.2:4\ndata: ${JSON.stringify(tricky)}\n\n`,
  );
});

Deno.test("formatSse writes a dropped gap and notices", () => {
  assertEquals(
    formatSse([{ type: "dropped", count: 7, stdin: 0 }]),
    'event: gap\ndata: {"cause":"slow-subscriber","lines":7,' +
      '"message":"7 events were dropped because this client read too slowly"}\n\n',
  );
  assertEquals(
    formatSse([notice({ kind: "truncate", source: "/a", offset: 9, size: 0 })]),
    'event: truncate\ndata: {"kind":"truncate","source":"/a","offset":9,"size":0}\n\n',
  );
  assertEquals(formatSse([]), "");
  assertEquals(
    formatSse([line(1), { type: "dropped", count: 1, stdin: 0 }, line(2)]),
    sseLine(event(1)) + formatSse([{ type: "dropped", count: 1, stdin: 0 }]) +
      sseLine(event(2)),
  );
});

Deno.test("formatNdjson writes lines as JSON records and gaps as type gap; notices are left out", () => {
  const e = event(1, "/x.log", "hi");
  assertEquals(
    formatNdjson([
      { type: "line", event: e },
      { type: "dropped", count: 2, stdin: 0 },
      notice({ kind: "vanish", source: "/x.log" }),
    ]),
    `${JSON.stringify(e)}\n` +
      '{"type":"gap","cause":"slow-subscriber","lines":2}\n',
  );
  assertEquals(formatNdjson([]), "");
});

// SseRoute

Deno.test("SseRoute streams retry first, then each published line as an SSE frame", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { retryMs: 1500, heartbeatMs: 60_000 });
  const response = route.handle(request());
  assertEquals(response.status, 200);
  assertEquals(hub.size, 1);
  assertEquals(route.clients, 1);
  const reader = response.body!.getReader();
  assertEquals(await readChunk(reader), "retry: 1500\n: tailcast\n\n");
  hub.publish([line(1)]);
  assertEquals(await readChunk(reader), sseLine(event(1)));
  hub.publish([line(2), line(3)]);
  const expected = sseLine(event(2)) + sseLine(event(3));
  assertEquals(await readText(reader, expected.length), expected);
  await reader.cancel();
  assertEquals(hub.size, 0, "the subscription outlived the client");
  assertEquals(route.clients, 0);
  await route.close(0);
});

Deno.test("SseRoute sets the event-stream headers", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub);
  const response = route.handle(request());
  assertEquals(
    response.headers.get("content-type"),
    "text/event-stream; charset=utf-8",
  );
  assertEquals(response.headers.get("cache-control"), "no-cache");
  assertEquals(response.headers.get("x-accel-buffering"), "no");
  await response.body!.cancel();
  assertEquals(hub.size, 0);
  await route.close(0);
});

Deno.test("SseRoute answers 503 beyond maxClients", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { maxClients: 2 });
  const a = route.handle(request());
  const b = route.handle(request());
  const c = route.handle(request());
  assertEquals([a.status, b.status, c.status], [200, 200, 503]);
  assertMatch(await c.text(), /Too many subscribers: the limit is 2/);
  assertEquals(hub.size, 2);
  await a.body!.cancel();
  const d = route.handle(request());
  assertEquals(d.status, 200, "a freed slot is not reused");
  await b.body!.cancel();
  await d.body!.cancel();
  assertEquals(hub.size, 0);
  await route.close(0);
});

Deno.test("SseRoute answers 400 with the reason for a bad regex or policy", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub);
  const bad = route.handle(request("grep=%5B"));
  assertEquals(bad.status, 400);
  assertMatch(await bad.text(), /^Invalid grep regex "\[": .+\n$/);
  const policy = route.handle(request("policy=block"));
  assertEquals(policy.status, 400);
  assertMatch(await policy.text(), /Invalid policy "block"/);
  assertEquals(hub.size, 0);
  assertEquals(route.clients, 0);
  await route.close(0);
});

Deno.test("SseRoute applies the source and grep of the request", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { heartbeatMs: 60_000 });
  const response = route.handle(
    request(`source=${encodeURIComponent("/logs/a*.log")}&grep=keep`),
  );
  const reader = response.body!.getReader();
  await readChunk(reader);
  hub.publish([
    line(1, "/logs/app.log", "drop me"),
    line(2, "/logs/b.log", "keep but wrong file"),
    line(3, "/logs/app.log", "keep me"),
  ]);
  assertEquals(
    await readChunk(reader),
    sseLine(event(3, "/logs/app.log", "keep me")),
  );
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute sends a gap frame to a slow client, then the newest lines", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { queue: 2, heartbeatMs: 60_000 });
  const reader = route.handle(request()).body!.getReader();
  await readChunk(reader);
  hub.publish([1, 2, 3, 4, 5].map((n) => line(n)));
  const expected = formatSse([{ type: "dropped", count: 3, stdin: 0 }]) +
    sseLine(event(4)) + sseLine(event(5));
  assertEquals(await readText(reader, expected.length), expected);
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute says bye with queue-full to a disconnect-policy client that overflows", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { queue: 2, heartbeatMs: 60_000 });
  const reader = route.handle(request("policy=disconnect")).body!.getReader();
  await readChunk(reader);
  hub.publish([1, 2, 3].map((n) => line(n)));
  assertEquals(hub.size, 0);
  const expected = sseLine(event(1)) + sseLine(event(2)) +
    'event: bye\ndata: {"reason":"queue-full"}\n\n';
  assertEquals(await readText(reader, expected.length), expected);
  assertEquals((await reader.read()).done, true);
  await route.close(0);
});

Deno.test("SseRoute sends event: bye and ends the stream when the hub closes", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { heartbeatMs: 60_000 });
  const reader = route.handle(request()).body!.getReader();
  await readChunk(reader);
  hub.publish([line(1)]);
  hub.close();
  const expected = sseLine(event(1)) +
    'event: bye\ndata: {"reason":"shutdown"}\n\n';
  assertEquals(await readText(reader, expected.length), expected);
  assertEquals((await within(reader.read(), 5000, "end")).done, true);
  assertEquals(route.clients, 0);
  await route.close(0);
  const late = route.handle(request());
  assertEquals(late.status, 503);
  await late.text();
});

Deno.test("SseRoute sends a : ping heartbeat to an idle client", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { heartbeatMs: 60, writeTimeoutMs: 60_000 });
  const reader = route.handle(request()).body!.getReader();
  await readChunk(reader);
  assertEquals(await readChunk(reader), ": ping\n\n");
  assertEquals(await readChunk(reader), ": ping\n\n");
  hub.publish([line(1)]);
  // A heartbeat may come first if the timer fired in between.
  let text = await readChunk(reader);
  while (text === ": ping\n\n") text = await readChunk(reader);
  assertEquals(text, sseLine(event(1)));
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute ends a subscriber whose body is not read after the first chunk", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { heartbeatMs: 60_000, writeTimeoutMs: 100 });
  const reader = route.handle(request()).body!.getReader();
  const sub = [...hub.subscriptions][0];
  assertEquals(await readChunk(reader), "retry: 2000\n: tailcast\n\n");
  // The client stalls: it never reads again.
  hub.publish([line(1)]);
  await waitFor(
    () => hub.size === 0,
    "the stalled subscriber to be ended",
    3000,
  );
  assertEquals(sub.reason, "write-timeout");
  assertEquals(route.clients, 0);
  assertMatch(
    String(await assertRejects(() => reader.read())),
    /write-timeout/,
  );
  await route.close(0);
});

Deno.test("SseRoute ends a subscriber that stops reading after a data chunk", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { heartbeatMs: 60_000, writeTimeoutMs: 100 });
  const reader = route.handle(request()).body!.getReader();
  const sub = [...hub.subscriptions][0];
  await readChunk(reader);
  const next = reader.read();
  hub.publish([line(1)]);
  assertEquals(decoder.decode((await next).value), sseLine(event(1)));
  hub.publish([line(2)]);
  await waitFor(
    () => hub.size === 0,
    "the stalled subscriber to be ended",
    3000,
  );
  assertEquals(sub.reason, "write-timeout");
  assertMatch(
    String(await assertRejects(() => reader.read())),
    /write-timeout/,
  );
  await route.close(0);
});

Deno.test("SseRoute keeps a client that is idle but reads every chunk it is sent", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { heartbeatMs: 60_000, writeTimeoutMs: 100 });
  const reader = route.handle(request()).body!.getReader();
  await readChunk(reader);
  for (let n = 1; n <= 3; n++) {
    const next = readChunk(reader);
    // Idle for longer than the write timeout while its read is waiting.
    await new Promise((resolve) => setTimeout(resolve, 150));
    assertEquals(hub.size, 1, "an idle client was taken for a stalled one");
    hub.publish([line(n)]);
    assertEquals(await next, sseLine(event(n)));
  }
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute streams NDJSON without preamble and is not stalled by heartbeats", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { heartbeatMs: 60, writeTimeoutMs: 60_000 });
  const response = route.handle(
    request("", { accept: "application/x-ndjson" }),
  );
  assertEquals(
    response.headers.get("content-type"),
    "application/x-ndjson; charset=utf-8",
  );
  const reader = response.body!.getReader();
  const sub = [...hub.subscriptions][0];
  let pokes = 0;
  const poke = sub.poke.bind(sub);
  sub.poke = () => {
    pokes++;
    poke();
  };
  const first = reader.read();
  await waitFor(() => pokes >= 2, "two heartbeats");
  hub.publish([line(1), notice({ kind: "vanish", source: "/logs/app.log" })]);
  const { value } = await within(first, 3000, "the line after heartbeats");
  assertEquals(decoder.decode(value), JSON.stringify(event(1)) + "\n");
  hub.close();
  assertEquals((await within(reader.read(), 3000, "end")).done, true);
  await route.close(0);
});

Deno.test("SseRoute close() cuts clients that do not take their bye within the grace time", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { heartbeatMs: 60_000 });
  const reader = route.handle(request()).body!.getReader();
  const sub = [...hub.subscriptions][0];
  hub.close();
  await route.close(30);
  assertEquals(route.clients, 0);
  assertEquals(sub.reason, "shutdown");
  assertMatch(
    String(
      await assertRejects(async () => {
        while (!(await reader.read()).done);
      }),
    ),
    /shutdown/,
  );
});
