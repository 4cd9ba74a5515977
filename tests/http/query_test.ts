import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import type { Message } from "../../src/sink/hub.ts";
import { Journal } from "../../src/sink/journal.ts";
import { encodeCursor, positionId } from "../../src/sink/cursor.ts";
import {
  DEFAULT_MAX_BACKLOG,
  lineFilter,
  MAX_GREP,
  MAX_SOURCE,
  MAX_WHERE,
  parseQuery,
  QueryError,
  selects,
  selectsSource,
  type SubscriberQuery,
} from "../../src/http/query.ts";
import {
  type Alert,
  END,
  type Event,
  FILE,
  type Notice,
} from "../../src/types.ts";

const TIME = "2026-11-27T10:20:30.456Z";
const journal = new Journal({ epoch: "e" });

function event(
  n: number,
  source = "/logs/app.log",
  line = `line ${n}`,
  extra: Partial<Event> = {},
): Event {
  return {
    id: `1.2:${n.toString(36)}`,
    source,
    offset: n,
    line,
    time: TIME,
    [FILE]: { dev: 1, ino: 2 },
    [END]: n + 1,
    ...extra,
  };
}

/** A published batch of one event of `source`. */
function batch(source = "/logs/app.log", line?: string): Message {
  return {
    type: "batch",
    batch: journal.batch(source, { dev: 1, ino: 2 }, [event(1, source, line)]),
  };
}

function notice(n: Notice): Message {
  return { type: "notice", seq: 1, id: "2.e.1.0", notice: n };
}

const ALERT: Message = {
  type: "alert",
  seq: 2,
  id: "2.e.2.0",
  alert: {
    rule: "r",
    kind: "rate",
    message: "m",
    window: "1m",
    time: TIME,
  } satisfies Alert,
};

function query(
  params: string,
  accept: string | null = null,
  lastEventId: string | null = null,
  limits = {},
): SubscriberQuery {
  return parseQuery(
    new URL(`http://localhost/events?${params}`),
    accept,
    lastEventId,
    limits,
  );
}

const enc = encodeURIComponent;

Deno.test("parseQuery defaults to all sources, no filters, drop-oldest, SSE, no resume and no backlog", () => {
  const q = query("");
  assertEquals(
    {
      source: q.source,
      sourceRegex: q.sourceRegex,
      grep: q.grep,
      policy: q.policy,
      format: q.format,
      since: q.since,
      backlog: q.backlog,
      where: q.where,
      level: q.level,
      alertsOnly: q.alertsOnly,
    },
    {
      source: null,
      sourceRegex: null,
      grep: null,
      policy: "drop-oldest",
      format: "sse",
      since: null,
      backlog: null,
      where: null,
      level: null,
      alertsOnly: false,
    },
  );
  const empty = query("source=&grep=&where=&level=&backlog=&type=");
  assertEquals(
    [empty.source, empty.grep, empty.where, empty.level, empty.backlog],
    [null, null, null, null, null],
  );
});

Deno.test("parseQuery reads source, grep and policy", () => {
  const q = query(
    `source=${enc("/var/log/*.log")}&grep=err(or)?&policy=disconnect`,
  );
  assertEquals(q.source, "/var/log/*.log");
  assert(q.sourceRegex instanceof RegExp);
  assert(q.grep instanceof RegExp);
  assertEquals(q.grep.source, "err(or)?");
  assertEquals(q.policy, "disconnect");
});

Deno.test("parseQuery rejects a bad grep regex with QueryError giving the reason", () => {
  const error = assertThrows(() => query("grep=("), QueryError);
  assertEquals(error.name, "QueryError");
  assertEquals(error.message, 'Invalid grep regex "(": Unterminated group');
});

Deno.test("parseQuery rejects a grep the linear-time engine cannot run", () => {
  assertThrows(
    () => query(`grep=${enc("(a)\\1")}`),
    QueryError,
    "backreference",
  );
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
  assertThrows(() => query("format=xml"), QueryError, 'Invalid format "xml"');
});

Deno.test("parseQuery caps grep at MAX_GREP characters, with a QueryError naming the cap", () => {
  assertEquals(
    query(`grep=${"a".repeat(MAX_GREP)}`).grep?.source.length,
    MAX_GREP,
  );
  const error = assertThrows(
    () => query(`grep=${"a".repeat(MAX_GREP + 1)}`),
    QueryError,
  );
  assertMatch(error.message, /grep/);
  assertMatch(
    error.message,
    new RegExp(`${MAX_GREP + 1} characters long; the limit is ${MAX_GREP}`),
  );
});

Deno.test("parseQuery caps where at MAX_WHERE characters, with a QueryError naming the cap", () => {
  const clause = "level=error or ";
  let where = "level=error";
  while (where.length + clause.length <= MAX_WHERE) where = clause + where;
  where = " ".repeat(MAX_WHERE - where.length) + where;
  assertEquals(where.length, MAX_WHERE);
  assert(query(`where=${enc(where)}`).where !== null);
  const error = assertThrows(
    () => query(`where=${enc(" " + where)}`),
    QueryError,
  );
  assertMatch(error.message, /^Invalid where/);
  assertMatch(
    error.message,
    new RegExp(`${MAX_WHERE + 1} characters long; the limit is ${MAX_WHERE}`),
  );
});

Deno.test("parseQuery caps source at MAX_SOURCE characters, with a QueryError naming the cap", () => {
  const at = "/" + "d".repeat(MAX_SOURCE - 1);
  assertEquals(query(`source=${enc(at)}`).source, at);
  const error = assertThrows(
    () => query(`source=${enc(at + "x")}`),
    QueryError,
  );
  assertMatch(error.message, /source/);
  assertMatch(error.message, new RegExp(`the limit is ${MAX_SOURCE}`));
});

Deno.test("parseQuery caps backlog at the server's --max-backlog", () => {
  assertEquals(
    query(`backlog=${DEFAULT_MAX_BACKLOG}`).backlog,
    DEFAULT_MAX_BACKLOG,
  );
  assertThrows(
    () => query(`backlog=${DEFAULT_MAX_BACKLOG + 1}`),
    QueryError,
    `at most ${DEFAULT_MAX_BACKLOG} lines per file (its --max-backlog)`,
  );
  assertEquals(query("backlog=5", null, null, { maxBacklog: 5 }).backlog, 5);
  assertThrows(
    () => query("backlog=6", null, null, { maxBacklog: 5 }),
    QueryError,
    "at most 5 lines per file (its --max-backlog)",
  );
  assertEquals(query("backlog=0").backlog, 0);
});

Deno.test("parseQuery rejects a backlog that is not a whole number", () => {
  for (const bad of ["-1", "1.5", "ten", "1e3", " 1", "0x10", "1".repeat(16)]) {
    assertThrows(
      () => query(`backlog=${enc(bad)}`),
      QueryError,
      "use a whole number of lines",
      bad,
    );
  }
});

Deno.test("parseQuery reads the cursor from Last-Event-ID, else from since=", () => {
  const id = positionId("e", 7, 12);
  assertEquals(query("", null, id).since?.at, { epoch: "e", seq: 7, end: 12 });
  assertEquals(query(`since=${enc(id)}`).since?.at, {
    epoch: "e",
    seq: 7,
    end: 12,
  });
  // The header wins over the parameter.
  assertEquals(
    query(`since=${enc(positionId("e", 1, 1))}`, null, id).since?.at?.seq,
    7,
  );
  const files = encodeCursor(
    new Map([["/a.log", [{ file: { dev: 1, ino: 2 }, offset: 3 }]]]),
  );
  const decoded = query("", null, files).since;
  assertEquals(decoded?.at, null);
  assertEquals(decoded?.files?.size, 1);
});

Deno.test("parseQuery turns a malformed or too long cursor into a QueryError", () => {
  assertThrows(
    () => query("", null, "garbage"),
    QueryError,
    "not a tailcast cursor",
  );
  assertThrows(
    () => query(`since=${"1".repeat(300)}`),
    QueryError,
    "300 characters long",
  );
  assertThrows(
    () => query("", null, "1~abc.1.2"),
    QueryError,
    "malformed cursor entry",
  );
});

Deno.test("parseQuery reads level and type, and rejects unknown ones", () => {
  assertEquals(query("level=WARN").level, query("level=warn").level);
  assert(query("level=error").level! > query("level=warn").level!);
  assertThrows(() => query("level=loud"), QueryError, 'Invalid level "loud"');
  assertEquals(query("type=alert").alertsOnly, true);
  assertEquals(query("type=all").alertsOnly, false);
  assertThrows(() => query("type=line"), QueryError, 'Invalid type "line"');
});

Deno.test("parseQuery reports where's syntax error with its column", () => {
  assertThrows(() => query(`where=${enc("level=")}`), QueryError, "at column");
});

// selects: per message, cheap

Deno.test("selects takes batches by source glob", () => {
  const accept = selects(query(`source=${enc("/logs/*.log")}`));
  assertEquals(accept(batch("/logs/app.log")), true);
  assertEquals(accept(batch("/logs/sub/app.log")), false);
  assertEquals(accept(batch("/other/app.log")), false);
  assertEquals(accept(batch("/logs/app.txt")), false);
  const exact = selects(query(`source=${enc("/logs/app.log")}`));
  assertEquals(exact(batch("/logs/app.log")), true);
  assertEquals(exact(batch("/logs/app.log.1")), false);
});

Deno.test("selects matches a glob without / against the file name", () => {
  const accept = selects(query(`source=${enc("app*.log")}`));
  assertEquals(accept(batch("/var/log/app.log")), true);
  assertEquals(accept(batch("/deep/dir/app-2.log")), true);
  assertEquals(accept(batch("/app/other.log")), false);
});

Deno.test("selects takes every batch whatever the line filters: those apply per line", () => {
  const accept = selects(query("grep=ERROR&level=error&where=status%3E=500"));
  assertEquals(accept(batch("/logs/app.log", "all fine")), true);
});

Deno.test("selects keeps notices in SSE only, and alerts everywhere", () => {
  const rotate = notice({
    kind: "rotate",
    source: "/logs/app.log",
    how: "renamed",
  });
  const sse = selects(query("grep=ERROR"));
  assertEquals(sse(rotate), true);
  assertEquals(sse(ALERT), true);
  const nd = selects(query("format=ndjson"));
  assertEquals(nd(rotate), false);
  assertEquals(nd(batch()), true);
  assertEquals(nd(ALERT), true);
});

Deno.test("selects applies the source glob to notices; mode notices have no source; alerts pass", () => {
  const accept = selects(query(`source=${enc("/logs/*.log")}`));
  const mode = notice({ kind: "mode", mode: "polling", reason: "asked" });
  assertEquals(accept(mode), false);
  assertEquals(accept(notice({ kind: "vanish", source: "/logs/a.log" })), true);
  assertEquals(accept(notice({ kind: "vanish", source: "/x/a.log" })), false);
  assertEquals(accept(ALERT), true);
  assertEquals(selects(query(""))(mode), true);
});

Deno.test("selects with type=alert takes alerts only", () => {
  const accept = selects(query("type=alert"));
  assertEquals(accept(ALERT), true);
  assertEquals(accept(batch()), false);
  assertEquals(
    accept(notice({ kind: "vanish", source: "/logs/a.log" })),
    false,
  );
});

// lineFilter: per line event

Deno.test("lineFilter is null without grep, where or level: the subscriber takes whole batches", () => {
  assertEquals(lineFilter(query("")), null);
  assertEquals(lineFilter(query(`source=${enc("/a/*")}&type=all`)), null);
});

Deno.test("lineFilter keeps lines that match grep", () => {
  const keep = lineFilter(query("grep=ERROR"))!;
  assertEquals(keep(event(1, undefined, "an ERROR here")), true);
  assertEquals(keep(event(1, undefined, "all fine")), false);
});

Deno.test("lineFilter keeps lines at level= or above, and none without a level", () => {
  const keep = lineFilter(query("level=warn"))!;
  const at = (level?: string) =>
    keep(event(1, undefined, "x", level ? { level } : {}));
  assertEquals(
    ["trace", "debug", "info", "warn", "error", "fatal"].map(at),
    [false, false, false, true, true, true],
  );
  assertEquals(at(undefined), false);
  assertEquals(at("weird"), false);
});

Deno.test("lineFilter applies where to the parsed fields, and every filter together", () => {
  const keep = lineFilter(query(`where=${enc("status>=500")}&grep=GET`))!;
  const e = (line: string, status: number) =>
    event(1, undefined, line, { fields: { status } });
  assertEquals(keep(e("GET /a", 503)), true);
  assertEquals(keep(e("GET /a", 200)), false);
  assertEquals(keep(e("POST /a", 503)), false);
});

// selectsSource: the glob once per path

/** A RegExp that counts its tests. */
class CountingRegExp extends RegExp {
  calls = 0;
  override test(text: string): boolean {
    this.calls++;
    return super.test(text);
  }
}

/** `q` with its source glob's RegExp replaced by one that counts. */
function counting(q: SubscriberQuery): {
  q: SubscriberQuery;
  regex: CountingRegExp;
} {
  const regex = new CountingRegExp(q.sourceRegex!);
  return { q: { ...q, sourceRegex: regex }, regex };
}

Deno.test("selectsSource runs the glob once per path and remembers the answer", () => {
  const { q, regex } = counting(query(`source=${enc("/logs/*.log")}`));
  const inSource = selectsSource(q);
  for (let i = 0; i < 100; i++) {
    assertEquals(inSource("/logs/app.log"), true);
    assertEquals(inSource("/other/app.log"), false);
  }
  assertEquals(regex.calls, 2);
  inSource("/logs/new.log");
  assertEquals(regex.calls, 3);
});

Deno.test("selects asks the glob once per path however many batches and notices come", () => {
  const { q, regex } = counting(query(`source=${enc("*.log")}`));
  const accept = selects(q);
  for (let i = 0; i < 50; i++) {
    assertEquals(accept(batch("/var/log/a.log")), true);
    assertEquals(accept(batch("/var/log/b.txt")), false);
    accept(notice({ kind: "vanish", source: "/var/log/a.log" }));
  }
  assertEquals(regex.calls, 2);
});

Deno.test("selectsSource gives the right answers after forgetting, past its bound of remembered paths", () => {
  const { q, regex } = counting(query(`source=${enc("/logs/*.log")}`));
  const inSource = selectsSource(q);
  for (let i = 0; i < 5000; i++) {
    assertEquals(inSource(`/logs/${i}.log`), true);
    assertEquals(inSource(`/else/${i}.log`), false);
  }
  assertEquals(regex.calls, 10_000);
  assertEquals(inSource("/logs/0.log"), true);
  assertEquals(inSource("/else/0.log"), false);
});

Deno.test("selectsSource takes every path when no source was asked for, and the glob itself as a path", () => {
  const all = selectsSource(query(""));
  assertEquals(all("/anything"), true);
  // A path that is the glob's own text (brackets and all) is selected.
  const { q, regex } = counting(query(`source=${enc("/logs/[ab].log")}`));
  const inSource = selectsSource(q);
  assertEquals(inSource("/logs/[ab].log"), true);
  assertEquals(inSource("/logs/a.log"), true);
  assertEquals(regex.calls, 1);
});
