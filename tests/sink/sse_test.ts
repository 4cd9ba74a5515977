import assert from "node:assert/strict";
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
  assert.deepEqual(
    { source: q.source, grep: q.grep, policy: q.policy, format: q.format },
    { source: null, grep: null, policy: "drop-oldest", format: "sse" },
  );
  const empty = query("source=&grep=");
  assert.equal(empty.source, null);
  assert.equal(empty.grep, null);
});

Deno.test("parseQuery reads source, grep and policy", () => {
  const q = query(
    `source=${
      encodeURIComponent("/var/log/*.log")
    }&grep=err(or)?&policy=disconnect`,
  );
  assert.equal(q.source, "/var/log/*.log");
  assert.ok(q.grep instanceof RegExp);
  assert.equal(q.grep.source, "err(or)?");
  assert.equal(q.policy, "disconnect");
});

Deno.test("parseQuery rejects a bad grep regex with QueryError giving the reason", () => {
  let reason = "";
  try {
    new RegExp("(");
  } catch (error) {
    reason = (error as Error).message;
  }
  assert.throws(() => query("grep=("), (error: unknown) => {
    assert.ok(error instanceof QueryError);
    assert.equal(error.name, "QueryError");
    assert.match(error.message, /^Invalid grep regex "\(": /);
    assert.ok(error.message.includes(reason), error.message);
    return true;
  });
});

Deno.test("parseQuery rejects a policy other than drop-oldest or disconnect", () => {
  // block is for stdout only: an HTTP client must never stall the service.
  for (const policy of ["block", "drop-newest", ""]) {
    assert.throws(
      () => query(`policy=${policy}`),
      (error: unknown) =>
        error instanceof QueryError &&
        error.message.includes(`Invalid policy "${policy}"`),
    );
  }
});

Deno.test("parseQuery picks NDJSON from format=ndjson or Accept: application/x-ndjson", () => {
  assert.equal(query("format=ndjson").format, "ndjson");
  assert.equal(query("", "application/x-ndjson").format, "ndjson");
  assert.equal(
    query("", "text/plain, application/x-ndjson;q=0.9").format,
    "ndjson",
  );
  assert.equal(query("", "text/event-stream").format, "sse");
  // An explicit format wins over the Accept header.
  assert.equal(query("format=sse", "application/x-ndjson").format, "sse");
  assert.throws(() => query("format=xml"), QueryError);
});

// selects

Deno.test("selects filters lines by source glob", () => {
  const accept = selects(query(`source=${encodeURIComponent("/logs/*.log")}`));
  assert.equal(accept(line(1, "/logs/app.log")), true);
  assert.equal(accept(line(1, "/logs/sub/app.log")), false);
  assert.equal(accept(line(1, "/other/app.log")), false);
  assert.equal(accept(line(1, "/logs/app.txt")), false);
  const exact = selects(query(`source=${encodeURIComponent("/logs/app.log")}`));
  assert.equal(exact(line(1, "/logs/app.log")), true);
  assert.equal(exact(line(1, "/logs/app.log.1")), false);
});

Deno.test("selects filters lines by grep and keeps notices in SSE only", () => {
  const accept = selects(query("grep=ERROR"));
  assert.equal(accept(line(1, undefined, "an ERROR here")), true);
  assert.equal(accept(line(1, undefined, "all fine")), false);
  const rotate = notice({
    kind: "rotate",
    source: "/logs/app.log",
    how: "renamed",
  });
  assert.equal(accept(rotate), true);
  assert.equal(accept({ type: "dropped", count: 3, stdin: 0 }), true);
  const nd = selects(query("format=ndjson"));
  assert.equal(nd(rotate), false);
  assert.equal(nd(line(1)), true);
  assert.equal(nd({ type: "dropped", count: 3, stdin: 0 }), true);
});

Deno.test("selects applies the source glob to notices; mode notices have no source", () => {
  const accept = selects(query(`source=${encodeURIComponent("/logs/*.log")}`));
  const mode = notice({ kind: "mode", mode: "polling", reason: "asked" });
  assert.equal(accept(mode), false);
  assert.equal(accept(notice({ kind: "vanish", source: "/logs/a.log" })), true);
  assert.equal(accept(notice({ kind: "vanish", source: "/x/a.log" })), false);
  assert.equal(selects(query(""))(mode), true);
});

// formatSse / formatNdjson

Deno.test("formatSse writes a line event as event, id and one data line", () => {
  const e = event(3, "/x.log", "hi");
  assert.equal(
    formatSse([{ type: "line", event: e }]),
    'event: line\nid: 1.2:3\ndata: {"id":"1.2:3","source":"/x.log","offset":3,' +
      `"line":"hi","time":"${TIME}"}\n\n`,
  );
  // Newlines in a line cannot break the frame: JSON escapes them.
  const tricky = event(4, "/x.log", "a\r\nb\nc\rd");
  const frame = formatSse([{ type: "line", event: tricky }]);
  assert.equal(frame.split("\n").length, 5);
  assert.equal(
    frame,
    `event: line\nid: 1.2:4\ndata: ${JSON.stringify(tricky)}\n\n`,
  );
});

Deno.test("formatSse writes a dropped gap and notices", () => {
  assert.equal(
    formatSse([{ type: "dropped", count: 7, stdin: 0 }]),
    'event: gap\ndata: {"cause":"slow-subscriber","lines":7,' +
      '"message":"7 events were dropped because this client read too slowly"}\n\n',
  );
  assert.equal(
    formatSse([notice({ kind: "truncate", source: "/a", offset: 9, size: 0 })]),
    'event: truncate\ndata: {"kind":"truncate","source":"/a","offset":9,"size":0}\n\n',
  );
  assert.equal(formatSse([]), "");
  assert.equal(
    formatSse([line(1), { type: "dropped", count: 1, stdin: 0 }, line(2)]),
    sseLine(event(1)) + formatSse([{ type: "dropped", count: 1, stdin: 0 }]) +
      sseLine(event(2)),
  );
});

Deno.test("formatNdjson writes lines as JSON records and gaps as type gap; notices are left out", () => {
  const e = event(1, "/x.log", "hi");
  assert.equal(
    formatNdjson([
      { type: "line", event: e },
      { type: "dropped", count: 2, stdin: 0 },
      notice({ kind: "vanish", source: "/x.log" }),
    ]),
    `${JSON.stringify(e)}\n` +
      '{"type":"gap","cause":"slow-subscriber","lines":2}\n',
  );
  assert.equal(formatNdjson([]), "");
});

// SseRoute

Deno.test("SseRoute streams retry first, then each published line as an SSE frame", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { retryMs: 1500, heartbeatMs: 60_000 });
  const response = route.handle(request());
  assert.equal(response.status, 200);
  assert.equal(hub.size, 1);
  assert.equal(route.clients, 1);
  const reader = response.body!.getReader();
  assert.equal(await readChunk(reader), "retry: 1500\n: tailcast\n\n");
  hub.publish([line(1)]);
  assert.equal(await readChunk(reader), sseLine(event(1)));
  hub.publish([line(2), line(3)]);
  const expected = sseLine(event(2)) + sseLine(event(3));
  assert.equal(await readText(reader, expected.length), expected);
  await reader.cancel();
  assert.equal(hub.size, 0, "the subscription outlived the client");
  assert.equal(route.clients, 0);
  await route.close(0);
});

Deno.test("SseRoute sets the event-stream headers", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub);
  const response = route.handle(request());
  assert.equal(
    response.headers.get("content-type"),
    "text/event-stream; charset=utf-8",
  );
  assert.equal(response.headers.get("cache-control"), "no-cache");
  assert.equal(response.headers.get("x-accel-buffering"), "no");
  await response.body!.cancel();
  assert.equal(hub.size, 0);
  await route.close(0);
});

Deno.test("SseRoute answers 503 beyond maxClients", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { maxClients: 2 });
  const a = route.handle(request());
  const b = route.handle(request());
  const c = route.handle(request());
  assert.deepEqual([a.status, b.status, c.status], [200, 200, 503]);
  assert.match(await c.text(), /Too many subscribers: the limit is 2/);
  assert.equal(hub.size, 2);
  await a.body!.cancel();
  const d = route.handle(request());
  assert.equal(d.status, 200, "a freed slot is not reused");
  await b.body!.cancel();
  await d.body!.cancel();
  assert.equal(hub.size, 0);
  await route.close(0);
});

Deno.test("SseRoute answers 400 with the reason for a bad regex or policy", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub);
  const bad = route.handle(request("grep=%5B"));
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /^Invalid grep regex "\[": .+\n$/);
  const policy = route.handle(request("policy=block"));
  assert.equal(policy.status, 400);
  assert.match(await policy.text(), /Invalid policy "block"/);
  assert.equal(hub.size, 0);
  assert.equal(route.clients, 0);
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
  assert.equal(
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
  assert.equal(await readText(reader, expected.length), expected);
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute says bye with queue-full to a disconnect-policy client that overflows", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { queue: 2, heartbeatMs: 60_000 });
  const reader = route.handle(request("policy=disconnect")).body!.getReader();
  await readChunk(reader);
  hub.publish([1, 2, 3].map((n) => line(n)));
  assert.equal(hub.size, 0);
  const expected = sseLine(event(1)) + sseLine(event(2)) +
    'event: bye\ndata: {"reason":"queue-full"}\n\n';
  assert.equal(await readText(reader, expected.length), expected);
  assert.equal((await reader.read()).done, true);
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
  assert.equal(await readText(reader, expected.length), expected);
  assert.equal((await within(reader.read(), 5000, "end")).done, true);
  assert.equal(route.clients, 0);
  await route.close(0);
  const late = route.handle(request());
  assert.equal(late.status, 503);
  await late.text();
});

Deno.test("SseRoute sends a : ping heartbeat to an idle client", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { heartbeatMs: 60, writeTimeoutMs: 60_000 });
  const reader = route.handle(request()).body!.getReader();
  await readChunk(reader);
  assert.equal(await readChunk(reader), ": ping\n\n");
  assert.equal(await readChunk(reader), ": ping\n\n");
  hub.publish([line(1)]);
  // A heartbeat may come first if the timer fired in between.
  let text = await readChunk(reader);
  while (text === ": ping\n\n") text = await readChunk(reader);
  assert.equal(text, sseLine(event(1)));
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute ends a subscriber whose body is not read after the first chunk", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { heartbeatMs: 60_000, writeTimeoutMs: 100 });
  const reader = route.handle(request()).body!.getReader();
  const sub = [...hub.subscriptions][0];
  assert.equal(await readChunk(reader), "retry: 2000\n: tailcast\n\n");
  // The client stalls: it never reads again.
  hub.publish([line(1)]);
  await waitFor(
    () => hub.size === 0,
    "the stalled subscriber to be ended",
    3000,
  );
  assert.equal(sub.reason, "write-timeout");
  assert.equal(route.clients, 0);
  await assert.rejects(reader.read(), /write-timeout/);
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
  assert.equal(decoder.decode((await next).value), sseLine(event(1)));
  hub.publish([line(2)]);
  await waitFor(
    () => hub.size === 0,
    "the stalled subscriber to be ended",
    3000,
  );
  assert.equal(sub.reason, "write-timeout");
  await assert.rejects(reader.read(), /write-timeout/);
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
    assert.equal(hub.size, 1, "an idle client was taken for a stalled one");
    hub.publish([line(n)]);
    assert.equal(await next, sseLine(event(n)));
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
  assert.equal(
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
  assert.equal(decoder.decode(value), JSON.stringify(event(1)) + "\n");
  hub.close();
  assert.equal((await within(reader.read(), 3000, "end")).done, true);
  await route.close(0);
});

Deno.test("SseRoute close() cuts clients that do not take their bye within the grace time", async () => {
  const hub = new Hub();
  const route = new SseRoute(hub, { heartbeatMs: 60_000 });
  const reader = route.handle(request()).body!.getReader();
  const sub = [...hub.subscriptions][0];
  hub.close();
  await route.close(30);
  assert.equal(route.clients, 0);
  assert.equal(sub.reason, "shutdown");
  await assert.rejects(async () => {
    while (!(await reader.read()).done);
  }, /shutdown/);
});
