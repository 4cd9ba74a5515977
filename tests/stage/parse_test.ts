import { assert, assertEquals } from "@std/assert";
import { eventId, ParseStream, toEvents } from "../../src/stage/parse.ts";
import { type Format, parseLine } from "../../src/stage/formats.ts";
import { LINE_MARK } from "../../src/source/state.ts";
import {
  CRLF,
  END,
  type Event,
  FILE,
  type FileId,
  LAST_LINE,
  type Line,
  type Mark,
  NOTICED,
} from "../../src/types.ts";

const FILE_ID: FileId = { dev: 2049, ino: 1234567 };
const TIME = new Date("2026-11-27T10:20:30.456Z");

function line(text: string, extra: Partial<Line> = {}): Line {
  return {
    source: "/logs/app.log",
    file: FILE_ID,
    offset: 10,
    end: 10 + new TextEncoder().encode(text).length + 1,
    text,
    noticed: 0,
    ...extra,
  };
}

async function parse(
  input: (Line[] | Mark)[],
  formatFor?: (source: string) => Format,
): Promise<(Event[] | Mark)[]> {
  return await Array.fromAsync(
    ReadableStream.from(input).pipeThrough(
      new ParseStream({ now: () => TIME, formatFor }),
    ),
  );
}

/** The events of the first batch that comes out. */
async function parseOne(lines: Line[]): Promise<Event[]> {
  const [batch] = await parse([lines]);
  assert(Array.isArray(batch), "expected a batch of events");
  return batch;
}

Deno.test("ParseStream makes an event with the line's text, source, offset and read time", async () => {
  const [event] = await parseOne([line("héllo wörld €😀")]);
  // What the sinks see: the JSON form (file, end and noticed are symbol keys).
  assertEquals(JSON.parse(JSON.stringify(event)), {
    id: event.id,
    source: "/logs/app.log",
    offset: 10,
    line: "héllo wörld €😀",
    time: "2026-11-27T10:20:30.456Z",
  });
});

Deno.test("ParseStream gives each event the id <dev36>.<ino36>:<end36>, as eventId does", async () => {
  const [a, b] = await parseOne([
    line("a", { end: 0 }),
    line("b", { file: { dev: 0, ino: 35 }, end: 36 * 36 }),
  ]);
  assertEquals(a.id, `${(2049).toString(36)}.${(1234567).toString(36)}:0`);
  assertEquals(a.id, "1kx.qglj:0");
  assertEquals(b.id, "0.z:100");
  assertEquals(eventId(FILE_ID, 0), a.id);
  assertEquals(eventId({ dev: 0, ino: 35 }, 36 * 36), b.id);
});

Deno.test("ParseStream gives each line of a batch that mixes files its own file's id", async () => {
  const other: FileId = { dev: 7, ino: 8 };
  const copy: FileId = { dev: 2049, ino: 1234567 };
  const events = await parseOne([
    line("a", { end: 5 }),
    line("b", { file: other, end: 6 }),
    line("c", { file: copy, end: 7 }),
    line("d", { end: 8 }),
  ]);
  assertEquals(events.map((e) => e.id), [
    eventId(FILE_ID, 5),
    "7.8:6",
    eventId(FILE_ID, 7),
    eventId(FILE_ID, 8),
  ]);
  assertEquals(events.map((e) => e[FILE]), [FILE_ID, other, copy, FILE_ID]);
});

Deno.test("ParseStream carries file, end, noticed and CRLF under symbol keys, out of the JSON", async () => {
  const [event] = await parseOne([
    line("x", { offset: 4, end: 7, noticed: 12.5, crlf: true }),
  ]);
  assertEquals(event[FILE], FILE_ID);
  assertEquals(event[END], 7);
  assertEquals(event[NOTICED], 12.5);
  assertEquals(event[CRLF], true);
  const [plain] = await parseOne([line("y")]);
  assertEquals(CRLF in plain, false);
  assertEquals(
    JSON.stringify(event),
    `{"id":"1kx.qglj:7","source":"/logs/app.log","offset":4,"line":"x","time":"2026-11-27T10:20:30.456Z"}`,
  );
});

Deno.test("ParseStream takes the line's text as is: no decoding of its own", async () => {
  const [bad, bom, nul] = await parseOne([
    line("a\uFFFDb", { invalidUtf8: true }),
    line("\uFEFFx"),
    line("a\u0000b"),
  ]);
  assertEquals(bad.line, "a\uFFFDb");
  assertEquals(bad.invalidUtf8, true);
  assertEquals(bom.line, "\uFEFFx");
  assertEquals(nul.line, "a\u0000b");
  assertEquals("invalidUtf8" in nul, false);
});

Deno.test("ParseStream sets truncated, partial and invalidUtf8 only when true", async () => {
  const events = await parseOne([
    line("plain"),
    line("cut", { truncated: true }),
    line("half", { partial: true }),
    line("bad", { invalidUtf8: true }),
  ]);
  assertEquals(events.map((e) => Object.keys(e).sort()), [
    ["id", "line", "offset", "source", "time"],
    ["id", "line", "offset", "source", "time", "truncated"],
    ["id", "line", "offset", "partial", "source", "time"],
    ["id", "invalidUtf8", "line", "offset", "source", "time"],
  ]);
  assertEquals(events[1].truncated, true);
  assertEquals(events[2].partial, true);
  assertEquals(events[3].invalidUtf8, true);
  // The JSON sent to clients has no false flags either.
  assertEquals(JSON.stringify(events[0]).includes("false"), false);
});

Deno.test("ParseStream keeps batches: one event batch per line batch, in order", async () => {
  const batches = await parse([
    [line("1"), line("2")],
    [line("3")],
  ]);
  assertEquals(
    batches.map((b) => Array.isArray(b) ? b.map((e) => e.line) : b.kind),
    [["1", "2"], ["3"]],
  );
});

Deno.test("ParseStream passes marks through untouched, in order with the batches", async () => {
  const rotate: Mark = {
    kind: "rotate",
    source: "/logs/app.log",
    how: "renamed",
  };
  const carry: Mark = { kind: "carry", value: { n: 1 } };
  const flush: Mark = { kind: "flush", source: "/logs/app.log" };
  const out = await parse([carry, [line("1")], rotate, [line("2")], flush]);
  assertEquals(
    out.map((b) => Array.isArray(b) ? b.map((e) => e.line).join() : b.kind),
    ["carry", "1", "rotate", "2", "flush"],
  );
  assert(out[0] === carry && out[2] === rotate && out[4] === flush);
});

Deno.test("ParseStream reads the clock once per batch, so a batch shares one time", async () => {
  let calls = 0;
  const out = await Array.fromAsync(
    ReadableStream.from<Line[] | Mark>([
      [line("a"), line("b"), line("c")],
      { kind: "flush", source: "/logs/app.log" },
      [line("d")],
    ]).pipeThrough(
      new ParseStream({
        now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, ++calls)),
      }),
    ),
  );
  assertEquals(calls, 2);
  const times = out.flatMap((b) =>
    Array.isArray(b) ? b.map((e) => e.time) : []
  );
  assertEquals(times, [
    "2026-01-01T00:00:01.000Z",
    "2026-01-01T00:00:01.000Z",
    "2026-01-01T00:00:01.000Z",
    "2026-01-01T00:00:02.000Z",
  ]);
});

Deno.test("ParseStream parses each source's lines in that source's format", async () => {
  const json = '{"level":"ERROR","msg":"db down","n":1}';
  const out = await parse(
    [[
      line(json, { source: "/logs/app.json" }),
      line(json, { source: "/logs/raw.log" }),
      line("not json", { source: "/logs/app.json" }),
    ]],
    (source) => source.endsWith(".json") ? { kind: "json" } : { kind: "raw" },
  );
  const [parsed, raw, broken] = out[0] as Event[];
  const want = parseLine(json, { kind: "json" });
  assertEquals(parsed.fields, want.fields);
  assertEquals(parsed.level, "error");
  assertEquals(parsed.msg, "db down");
  // Raw lines get no parsed parts at all, not even undefined keys.
  assertEquals(Object.keys(raw).sort(), [
    "id",
    "line",
    "offset",
    "source",
    "time",
  ]);
  assertEquals(typeof broken.parseError, "string");
  assertEquals(broken.fields, undefined);
});

Deno.test("toEvents makes the events of a batch at the given time, raw without formatFor", () => {
  const lines = [line("a", { end: 12 }), line('{"x":1}', { end: 20 })];
  const events = toEvents(lines, "t0");
  assertEquals(events.map((e) => [e.id, e.line, e.time, e[END]]), [
    [eventId(FILE_ID, 12), "a", "t0", 12],
    [eventId(FILE_ID, 20), '{"x":1}', "t0", 20],
  ]);
  assertEquals(events[1].fields, undefined);
  const parsed = toEvents(lines, "t1", () => ({ kind: "json" }));
  assertEquals(parsed[1].fields, { x: 1 });
  assertEquals(typeof parsed[0].parseError, "string");
  assertEquals(toEvents([], "t"), []);
});

Deno.test("toEvents keeps the start of a joined event's last line, out of the JSON", () => {
  const long = "  " + "é".repeat(300);
  const [joined, single] = toEvents([
    line("E\n  at a\n" + long, { last: long }),
    line("one line"),
  ], "t");
  // As much as the state file keeps of it (LINE_MARK characters).
  assertEquals(joined[LAST_LINE], long.slice(0, LINE_MARK));
  assertEquals(single[LAST_LINE], undefined);
  assertEquals("lastLine" in JSON.parse(JSON.stringify(joined)), false);
});
