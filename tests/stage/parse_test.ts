import { assertEquals } from "@std/assert";
import { ParseStream } from "../../src/stage/parse.ts";
import { LINE_MARK } from "../../src/source/state.ts";
import {
  type Event,
  type FileId,
  LAST_LINE,
  type Line,
} from "../../src/types.ts";

const FILE: FileId = { dev: 2049, ino: 1234567 };
const TIME = new Date("2026-11-27T10:20:30.456Z");

function line(bytes: number[] | string, extra: Partial<Line> = {}): Line {
  const data = typeof bytes === "string"
    ? new TextEncoder().encode(bytes)
    : new Uint8Array(bytes);
  return {
    source: "/logs/app.log",
    file: FILE,
    offset: 10,
    end: 10 + data.length + 1,
    bytes: data,
    noticed: 0,
    ...extra,
  };
}

async function parse(lines: Line[][]): Promise<Event[][]> {
  return await Array.fromAsync(
    ReadableStream.from(lines).pipeThrough(
      new ParseStream({ now: () => TIME }),
    ),
  );
}

Deno.test("ParseStream decodes valid UTF-8 into an event with source, offset and time", async () => {
  const [[event]] = await parse([[line("héllo wörld €😀")]]);
  // What the sinks see: the JSON form (the noticed time is a symbol key).
  assertEquals(JSON.parse(JSON.stringify(event)), {
    id: event.id,
    source: "/logs/app.log",
    offset: 10,
    line: "héllo wörld €😀",
    time: "2026-11-27T10:20:30.456Z",
  });
});

Deno.test("ParseStream gives each event the id <dev36>.<ino36>:<end36>", async () => {
  const [[a, b]] = await parse([[
    line("a", { end: 0 }),
    line("b", { file: { dev: 0, ino: 35 }, end: 36 * 36 }),
  ]]);
  assertEquals(a.id, `${(2049).toString(36)}.${(1234567).toString(36)}:0`);
  assertEquals(a.id, "1kx.qglj:0");
  assertEquals(b.id, "0.z:100");
});

Deno.test("ParseStream replaces invalid UTF-8 with U+FFFD and flags the event", async () => {
  const [events] = await parse([[
    line([0x61, 0xff, 0x62]),
    // A multi-byte character cut short at the end of the line.
    line([0x78, 0xe2, 0x82]),
    line("fine"),
  ]]);
  assertEquals(events[0].line, "a\uFFFDb");
  assertEquals(events[0].invalidUtf8, true);
  assertEquals(events[1].line, "x\uFFFD");
  assertEquals(events[1].invalidUtf8, true);
  // The decoder carries nothing from one line to the next.
  assertEquals(events[2].line, "fine");
  assertEquals("invalidUtf8" in events[2], false);
});

Deno.test("ParseStream preserves NUL bytes and a BOM as text", async () => {
  const [[nul, bom]] = await parse([[
    line([0x61, 0x00, 0x62, 0x00]),
    line([0xef, 0xbb, 0xbf, 0x78]),
  ]]);
  assertEquals(nul.line, "a\u0000b\u0000");
  assertEquals("invalidUtf8" in nul, false);
  assertEquals(bom.line, "\uFEFFx");
});

Deno.test("ParseStream sets truncated, partial and invalidUtf8 only when true", async () => {
  const [events] = await parse([[
    line("plain", { truncated: false, partial: false }),
    line("cut", { truncated: true }),
    line("half", { partial: true }),
  ]]);
  assertEquals(events.map((e) => Object.keys(e).sort()), [
    ["id", "line", "offset", "source", "time"],
    ["id", "line", "offset", "source", "time", "truncated"],
    ["id", "line", "offset", "partial", "source", "time"],
  ]);
  assertEquals(events[1].truncated, true);
  assertEquals(events[2].partial, true);
  // The JSON sent to clients has no false flags either.
  assertEquals(JSON.stringify(events[0]).includes("false"), false);
});

Deno.test("ParseStream keeps batches: one event batch per line batch, in order", async () => {
  const batches = await parse([
    [line("1"), line("2")],
    [line("3")],
  ]);
  assertEquals(batches.map((b) => b.map((e) => e.line)), [["1", "2"], [
    "3",
  ]]);
});

Deno.test("ParseStream keeps the start of a joined event's last line, out of the JSON", async () => {
  const long = "  " + "é".repeat(300);
  const [[joined, single]] = await parse([[
    line("E\n  at a\n" + long, { last: new TextEncoder().encode(long) }),
    line("one line"),
  ]]);
  // As much as the state file keeps of it (LINE_MARK characters).
  assertEquals(joined[LAST_LINE], long.slice(0, LINE_MARK));
  assertEquals(single[LAST_LINE], undefined);
  assertEquals("lastLine" in JSON.parse(JSON.stringify(joined)), false);
});
