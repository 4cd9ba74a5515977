import { assertEquals, assertMatch, assertRejects } from "@std/assert";
import { Hub } from "../../src/sink/hub.ts";
import type { Batch } from "../../src/sink/batch.ts";
import { Journal } from "../../src/sink/journal.ts";
import { SseRoute } from "../../src/http/route.ts";
import { END, type Event, FILE, type Notice } from "../../src/types.ts";
import { waitFor, within } from "../_fixtures/wait.ts";

const decoder = new TextDecoder();
const TIME = "2026-11-27T10:20:30.456Z";
const ID = { dev: 1, ino: 2 };

function event(n: number, source = "/logs/app.log", line = `line ${n}`): Event {
  return {
    id: `1.2:${n.toString(36)}`,
    source,
    offset: n,
    line,
    time: TIME,
    [FILE]: ID,
    [END]: n + 1,
  };
}

/** A hub and the journal that numbers what is published to it. */
class Pub {
  readonly hub = new Hub();
  readonly journal = new Journal({ epoch: "e" });
  readonly batches: Batch[] = [];

  /** Publishes one batch of the events (one source). */
  lines(...events: Event[]): Batch {
    const batch = this.journal.batch(events[0].source, ID, events);
    this.batches.push(batch);
    this.hub.publish({ type: "batch", batch });
    return batch;
  }

  notice(notice: Notice): void {
    const { seq, id } = this.journal.message({ type: "notice", notice });
    this.hub.publish({ type: "notice", seq, id, notice });
  }
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

/** The SSE frames of a published batch's events. */
function frames(batch: Batch): string {
  return batch.events.map((e, i) =>
    `event: line\nid: ${batch.id(i)}\ndata: ${JSON.stringify(e)}\n\n`
  ).join("");
}

Deno.test("SseRoute streams retry first, then each published line as an SSE frame", async () => {
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub, { retryMs: 1500, heartbeatMs: 60_000 });
  const response = await route.handle(request());
  assertEquals(response.status, 200);
  assertEquals(hub.size, 1);
  assertEquals(route.clients, 1);
  const reader = response.body!.getReader();
  assertEquals(await readChunk(reader), "retry: 1500\n: tailcast\n\n");
  const one = pub.lines(event(1));
  assertEquals(await readChunk(reader), frames(one));
  const two = pub.lines(event(2), event(3));
  const expected = frames(two);
  assertEquals(await readText(reader, expected.length), expected);
  // Every subscriber is sent the same bytes: journal ids, not cursors of its own.
  assertMatch(expected, /^event: line\nid: 2\.e\.2\.3~/);
  await reader.cancel();
  assertEquals(hub.size, 0, "the subscription outlived the client");
  assertEquals(route.clients, 0);
  await route.close(0);
});

Deno.test("SseRoute sets the event-stream headers", async () => {
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub);
  const response = await route.handle(request());
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
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub, { maxClients: 2 });
  const a = await route.handle(request());
  const b = await route.handle(request());
  const c = await route.handle(request());
  assertEquals([a.status, b.status, c.status], [200, 200, 503]);
  assertMatch(await c.text(), /Too many subscribers: the limit is 2/);
  assertEquals(hub.size, 2);
  await a.body!.cancel();
  const d = await route.handle(request());
  assertEquals(d.status, 200, "a freed slot is not reused");
  await b.body!.cancel();
  await d.body!.cancel();
  assertEquals(hub.size, 0);
  await route.close(0);
});

Deno.test("SseRoute answers 400 with the reason for a bad regex or policy", async () => {
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub);
  const bad = await route.handle(request("grep=%5B"));
  assertEquals(bad.status, 400);
  assertMatch(await bad.text(), /^Invalid grep regex "\[": .+\n$/);
  const policy = await route.handle(request("policy=block"));
  assertEquals(policy.status, 400);
  assertMatch(await policy.text(), /Invalid policy "block"/);
  assertEquals(hub.size, 0);
  assertEquals(route.clients, 0);
  await route.close(0);
});

Deno.test("SseRoute applies the source and grep of the request", async () => {
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub, { heartbeatMs: 60_000 });
  const response = await route.handle(
    request(`source=${encodeURIComponent("/logs/a*.log")}&grep=keep`),
  );
  const reader = response.body!.getReader();
  await readChunk(reader);
  pub.lines(event(0, "/logs/b.log", "keep but wrong file"));
  const batch = pub.lines(
    event(1, "/logs/app.log", "drop me"),
    event(3, "/logs/app.log", "keep me"),
  );
  const kept = batch.events[1];
  assertEquals(
    await readChunk(reader),
    `event: line\nid: ${batch.id(1)}\ndata: ${JSON.stringify(kept)}\n\n`,
  );
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute without a journal to replay from sends a slow client a gap frame, then the newest lines", async () => {
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub, { queue: 2, heartbeatMs: 60_000 });
  const reader = (await route.handle(request())).body!.getReader();
  await readChunk(reader);
  const batches = [1, 2, 3, 4, 5].map((n) => pub.lines(event(n)));
  const expected = `event: gap\ndata: ${
    JSON.stringify({
      cause: "slow-subscriber",
      lines: 3,
      message: "3 events were dropped because this client read too slowly",
    })
  }\n\n` + frames(batches[3]) + frames(batches[4]);
  assertEquals(await readText(reader, expected.length), expected);
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute says bye with queue-full to a disconnect-policy client that overflows", async () => {
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub, { queue: 2, heartbeatMs: 60_000 });
  const reader = (await route.handle(request("policy=disconnect"))).body!
    .getReader();
  await readChunk(reader);
  const batches = [1, 2, 3].map((n) => pub.lines(event(n)));
  assertEquals(hub.size, 0);
  const expected = frames(batches[0]) + frames(batches[1]) +
    'event: bye\ndata: {"reason":"queue-full"}\n\n';
  assertEquals(await readText(reader, expected.length), expected);
  assertEquals((await reader.read()).done, true);
  await route.close(0);
});

Deno.test("SseRoute sends event: bye and ends the stream when the hub closes", async () => {
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub, { heartbeatMs: 60_000 });
  const reader = (await route.handle(request())).body!.getReader();
  await readChunk(reader);
  const one = pub.lines(event(1));
  hub.close();
  const expected = frames(one) +
    'event: bye\ndata: {"reason":"shutdown"}\n\n';
  assertEquals(await readText(reader, expected.length), expected);
  assertEquals((await within(reader.read(), 5000, "end")).done, true);
  assertEquals(route.clients, 0);
  await route.close(0);
  const late = await route.handle(request());
  assertEquals(late.status, 503);
  await late.text();
});

Deno.test("SseRoute sends a : ping heartbeat to an idle client", async () => {
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub, { heartbeatMs: 60, writeTimeoutMs: 60_000 });
  const reader = (await route.handle(request())).body!.getReader();
  await readChunk(reader);
  assertEquals(await readChunk(reader), ": ping\n\n");
  assertEquals(await readChunk(reader), ": ping\n\n");
  const one = pub.lines(event(1));
  // A heartbeat may come first if the timer fired in between.
  let text = await readChunk(reader);
  while (text?.startsWith(": ping\n")) text = await readChunk(reader);
  assertEquals(text, frames(one));
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute ends a subscriber whose body is not read after the first chunk", async () => {
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub, { heartbeatMs: 60_000, writeTimeoutMs: 100 });
  const reader = (await route.handle(request())).body!.getReader();
  const sub = [...hub.subscriptions][0];
  assertEquals(await readChunk(reader), "retry: 2000\n: tailcast\n\n");
  // The client stalls: it never reads again.
  pub.lines(event(1));
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
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub, { heartbeatMs: 60_000, writeTimeoutMs: 100 });
  const reader = (await route.handle(request())).body!.getReader();
  const sub = [...hub.subscriptions][0];
  await readChunk(reader);
  const next = reader.read();
  const one = pub.lines(event(1));
  assertEquals(decoder.decode((await next).value), frames(one));
  pub.lines(event(2));
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
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub, { heartbeatMs: 60_000, writeTimeoutMs: 100 });
  const reader = (await route.handle(request())).body!.getReader();
  await readChunk(reader);
  for (let n = 1; n <= 3; n++) {
    const next = readChunk(reader);
    // Idle for longer than the write timeout while its read is waiting.
    await new Promise((resolve) => setTimeout(resolve, 150));
    assertEquals(hub.size, 1, "an idle client was taken for a stalled one");
    const batch = pub.lines(event(n));
    assertEquals(await next, frames(batch));
  }
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute streams NDJSON without preamble, with ping records as heartbeats and no notices", async () => {
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub, { heartbeatMs: 60, writeTimeoutMs: 60_000 });
  const response = await route.handle(
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
  assertEquals(await readChunk(reader), '{"type":"ping"}\n');
  assertEquals(pokes >= 1, true);
  pub.lines(event(1));
  pub.notice({ kind: "vanish", source: "/logs/app.log" });
  let text = await readChunk(reader);
  while (text === '{"type":"ping"}\n') text = await readChunk(reader);
  assertEquals(text, JSON.stringify(event(1)) + "\n");
  hub.close();
  assertEquals((await within(reader.read(), 3000, "end")).done, true);
  await route.close(0);
});

Deno.test("SseRoute close() cuts clients that do not take their bye within the grace time", async () => {
  const pub = new Pub();
  const hub = pub.hub;
  const route = new SseRoute(hub, { heartbeatMs: 60_000 });
  const reader = (await route.handle(request())).body!.getReader();
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
