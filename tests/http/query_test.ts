import { assert, assertEquals, assertThrows } from "@std/assert";
import type { Message } from "../../src/sink/hub.ts";
import { parseQuery, QueryError, selects } from "../../src/http/query.ts";
import { END, type Event, FILE, type Notice } from "../../src/types.ts";

const TIME = "2026-11-27T10:20:30.456Z";

function event(n: number, source = "/logs/app.log", line = `line ${n}`): Event {
  return {
    id: `1.2:${n.toString(36)}`,
    source,
    offset: n,
    line,
    time: TIME,
    [FILE]: { dev: 1, ino: 2 },
    [END]: n,
  };
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

/** Reads chunks until the text read so far has at least `length` characters. */

/** Reads one chunk of the body as text. */

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
  const error = assertThrows(() => query("grep=("), QueryError);
  assertEquals(error.name, "QueryError");
  assertEquals(error.message, 'Invalid grep regex "(": Unterminated group');
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
