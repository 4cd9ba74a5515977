import { assert, assertEquals } from "@std/assert";
import type { Message } from "../../src/sink/hub.ts";
import type { Batch } from "../../src/sink/batch.ts";
import { Journal } from "../../src/sink/journal.ts";
import {
  batchBytes,
  gapText,
  messageText,
  sseId,
  sseLine,
  unstoredGap,
} from "../../src/http/format.ts";
import { ndjsonOf } from "../../src/sink/ndjson.ts";
import { eventId } from "../../src/stage/parse.ts";
import {
  type Alert,
  END,
  type Event,
  FILE,
  type FileId,
  type Notice,
} from "../../src/types.ts";

const TIME = "2026-11-27T10:20:30.456Z";
const FILE_ID: FileId = { dev: 1, ino: 2 };
const decoder = new TextDecoder();

/** A batch of `/x.log` with one event per text, each line 10 bytes apart. */
function batchOf(
  texts: string[],
  journal = new Journal({ epoch: "e" }),
): Batch {
  const events: Event[] = texts.map((line, i) => ({
    id: eventId(FILE_ID, 10 * i + 10),
    source: "/x.log",
    offset: 10 * i,
    line,
    time: TIME,
    [FILE]: FILE_ID,
    [END]: 10 * i + 10,
  }));
  return journal.batch("/x.log", FILE_ID, events);
}

function text(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : decoder.decode(bytes);
}

/** The SSE frame of event `i` of `batch`, built by hand. */
function frame(batch: Batch, i: number): string {
  return `event: line\nid: ${batch.id(i)}\ndata: ${
    JSON.stringify(batch.events[i])
  }\n\n`;
}

Deno.test("batchBytes writes a batch as SSE: per line event, its journal id and its JSON on one data line", () => {
  const batch = batchOf(["hi", "there"]);
  assertEquals(
    text(batchBytes(batch, "sse", null)),
    `event: line\nid: ${
      batch.id(0)
    }\ndata: {"id":"1.2:a","source":"/x.log","offset":0,` +
      `"line":"hi","time":"${TIME}"}\n\n` + frame(batch, 1),
  );
  // The id is the journal's, not the event's own.
  assertEquals(batch.id(0).startsWith("2.e.1.a"), true);
});

Deno.test("batchBytes: newlines in a line cannot break an SSE frame", () => {
  const batch = batchOf(["a\r\nb\nc\rd\u2028e"]);
  const sse = text(batchBytes(batch, "sse", null))!;
  assertEquals(sse.split("\n").length, 5);
  assertEquals(sse, frame(batch, 0));
});

Deno.test("batchBytes writes a batch as NDJSON: one JSON record per line", () => {
  const batch = batchOf(["a", 'b "q"']);
  assertEquals(
    text(batchBytes(batch, "ndjson", null)),
    batch.events.map((e) => JSON.stringify(e) + "\n").join(""),
  );
});

Deno.test("batchBytes encodes a batch once and gives every subscriber without filters the same bytes", () => {
  const batch = batchOf(["a", "b"]);
  const sse = batchBytes(batch, "sse", null);
  assert(batchBytes(batch, "sse", null) === sse, "SSE encoded twice");
  const nd = batchBytes(batch, "ndjson", null);
  assert(batchBytes(batch, "ndjson", null) === nd, "NDJSON encoded twice");
  // NDJSON is the very bytes stdout writes.
  assert(nd === ndjsonOf(batch));
  assert(sse !== nd);
});

Deno.test("batchBytes with a line filter keeps the lines it accepts, with their own ids, or gives null", () => {
  const batch = batchOf(["keep 1", "drop", "keep 2", "drop"]);
  const keep = (e: Event) => e.line.startsWith("keep");
  assertEquals(
    text(batchBytes(batch, "sse", keep)),
    frame(batch, 0) + frame(batch, 2),
  );
  assertEquals(
    text(batchBytes(batch, "ndjson", keep)),
    JSON.stringify(batch.events[0]) + "\n" + JSON.stringify(batch.events[2]) +
      "\n",
  );
  assertEquals(batchBytes(batch, "sse", () => false), null);
  assertEquals(batchBytes(batch, "ndjson", () => false), null);
  // Keeping every line gives the same text as no filter.
  assertEquals(
    text(batchBytes(batch, "sse", () => true)),
    text(batchBytes(batch, "sse", null)),
  );
});

Deno.test("sseLine and sseId write a line frame and an id-only frame", () => {
  assertEquals(
    sseLine('{"a":1}', "2.e.1.2"),
    'event: line\nid: 2.e.1.2\ndata: {"a":1}\n\n',
  );
  assertEquals(sseLine('{"a":1}', null), 'event: line\ndata: {"a":1}\n\n');
  assertEquals(sseId("2.e.5.0"), "id: 2.e.5.0\n\n");
});

const rotate: Notice = { kind: "rotate", source: "/a", how: "renamed" };
const alert: Alert = {
  rule: "errors",
  kind: "rate",
  message: "10 lines matching level=error within 1m",
  count: 10,
  window: "1m",
  time: TIME,
};

Deno.test("messageText writes a notice as an SSE event named for its kind, with its id when it has one", () => {
  const m: Message = { type: "notice", seq: 3, id: "2.e.3.0", notice: rotate };
  assertEquals(
    messageText(m, "sse", "2.e.3.0"),
    'event: rotate\nid: 2.e.3.0\ndata: {"kind":"rotate","source":"/a","how":"renamed"}\n\n',
  );
  assertEquals(
    messageText(m, "sse", null),
    'event: rotate\ndata: {"kind":"rotate","source":"/a","how":"renamed"}\n\n',
  );
  // NDJSON carries no notices: they go to stderr there.
  assertEquals(messageText(m, "ndjson", "2.e.3.0"), "");
});

Deno.test("messageText writes an alert as an SSE alert event, or an NDJSON record of type alert", () => {
  const m: Message = { type: "alert", seq: 4, id: "2.e.4.0", alert };
  assertEquals(
    messageText(m, "sse", "2.e.4.0"),
    `event: alert\nid: 2.e.4.0\ndata: ${JSON.stringify(alert)}\n\n`,
  );
  assertEquals(
    messageText(m, "ndjson", null),
    JSON.stringify({ type: "alert", ...alert }) + "\n",
  );
});

Deno.test("gapText writes a gap as an SSE gap event without id, or an NDJSON record of type gap", () => {
  const data = { cause: "resume-expired", message: "gone" };
  assertEquals(
    gapText(data, "sse"),
    'event: gap\ndata: {"cause":"resume-expired","message":"gone"}\n\n',
  );
  assertEquals(
    gapText(data, "ndjson"),
    '{"type":"gap","cause":"resume-expired","message":"gone"}\n',
  );
});

Deno.test("unstoredGap says how many lines on no disk a slow client lost, naming standard input or the source", () => {
  const data = {
    cause: "slow-subscriber",
    source: "-",
    lines: 7,
    message:
      "7 lines of standard input were dropped because this client read too slowly",
  };
  assertEquals(unstoredGap("-", 7, "sse"), gapText(data, "sse"));
  assertEquals(
    JSON.parse(unstoredGap("-", 7, "ndjson")),
    { type: "gap", ...data },
  );
  assertEquals(JSON.parse(unstoredGap("exec:journal", 2, "ndjson")), {
    type: "gap",
    cause: "slow-subscriber",
    source: "exec:journal",
    lines: 2,
    message:
      "2 lines of exec:journal were dropped because this client read too slowly",
  });
});
