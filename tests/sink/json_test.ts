import { assert, assertEquals } from "@std/assert";
import { mulberry32 } from "../_fixtures/random.ts";
import { eventJson, eventsBytes, eventsJson } from "../../src/sink/json.ts";
import { Hub } from "../../src/sink/hub.ts";
import { Journal } from "../../src/sink/journal.ts";
import {
  ndjsonOf,
  ndjsonOfFrames,
  writeNdjson,
} from "../../src/sink/ndjson.ts";
import { type Format, parseFormat } from "../../src/stage/formats.ts";
import { toEvents } from "../../src/stage/parse.ts";
import {
  CRLF,
  END,
  type Event,
  FILE,
  type FileId,
  type Line,
  NOTICED,
} from "../../src/types.ts";

const FILE_ID: FileId = { dev: 2049, ino: 1234567 };
const TIME = "2026-11-27T10:20:30.456Z";

/** Every control character, DEL, the JSON-special ones and the separators JavaScript treats as newlines. */
const CONTROLS = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i))
  .join("") + "\x7f\u2028\u2029";

const LINES = [
  "",
  "plain",
  'say "hi"',
  "back\\slash \\n \\u0000",
  CONTROLS,
  "tab\there\r\nand\rthere",
  "naïve €😀 ünïcødé",
  "\uFEFFbom",
  "\uFFFD replacement",
  // Lone surrogates: JSON.stringify escapes them.
  "\uD800",
  "x\uDC00y",
  "\uDBFF\uDFFF",
  "</script><!--",
  '{"json":"looking",\n"line":1}',
  'level=error msg="db down" ts=2026-11-27T10:20:30Z',
  "x".repeat(100_000),
];

const SOURCES = [
  "/logs/app.log",
  "-",
  '/we"ird\\path\n.log',
  "/ünï/😀.log",
  "/logs/\u0001ctl.log",
];

/** A line as the splitter makes it. */
function line(
  text: string,
  flags: Partial<Line> = {},
  source = SOURCES[0],
): Line {
  return {
    source,
    file: FILE_ID,
    offset: 100,
    end: 100 + new TextEncoder().encode(text).length + 1,
    text,
    noticed: 5,
    ...flags,
  };
}

/** The flag combinations a line can have. */
const FLAGS: Partial<Line>[] = [];
for (const truncated of [false, true]) {
  for (const partial of [false, true]) {
    for (const invalidUtf8 of [false, true]) {
      for (const crlf of [false, true]) {
        const f: { -readonly [K in keyof Line]?: Line[K] } = {};
        if (truncated) f.truncated = true;
        if (partial) f.partial = true;
        if (invalidUtf8) f.invalidUtf8 = true;
        if (crlf) f.crlf = true;
        FLAGS.push(f);
      }
    }
  }
}

const FORMATS: (Format | null)[] = [
  null,
  { kind: "raw" },
  { kind: "json" },
  { kind: "logfmt" },
  { kind: "auto" },
  parseFormat("regex:^(?<level>\\w+) (?<msg>.*)$"),
];

function assertSame(e: Event, what: string): void {
  const want = JSON.stringify(e);
  assertEquals(eventJson(e), want, what);
  assertEquals(eventJson(e, JSON.stringify(e.source)), want, what);
  assertEquals(eventsJson([e]), [want], what);
}

Deno.test("eventJson is JSON.stringify for every line text, source and flag combination", () => {
  let n = 0;
  for (const source of SOURCES) {
    for (const text of LINES) {
      for (const flags of FLAGS) {
        const [e] = toEvents([line(text, flags, source)], TIME);
        assertSame(
          e,
          `${JSON.stringify(text.slice(0, 40))} ${source} ${
            JSON.stringify(flags)
          }`,
        );
        n++;
      }
    }
  }
  assertEquals(n, SOURCES.length * LINES.length * 16);
});

Deno.test("eventJson is JSON.stringify for parsed events: fields, level, msg, logTime, parseError", () => {
  const texts = [
    ...LINES,
    '{"level":"WARN","msg":"slow \\"query\\"","time":1700000000,"n":[1,{"a":null}],"u":"é\\u0000"}',
    '{"message":"m","severity":"error","ts":"2026-01-01T00:00:00Z"}',
    "[1,2,3]",
    '"just a string"',
    'lvl=info message=ok t=5 key="quoted value" empty=',
    "ERROR something broke",
    "not parseable at all {",
  ];
  const seen = new Set<string>();
  for (const format of FORMATS) {
    for (const text of texts) {
      for (
        const flags of [{}, { truncated: true as const, crlf: true as const }]
      ) {
        const [e] = toEvents(
          [line(text, flags)],
          TIME,
          () => format ?? { kind: "raw" },
        );
        for (const key of ["fields", "level", "msg", "logTime", "parseError"]) {
          if (key in e) seen.add(key);
        }
        assertSame(e, `${format?.kind} ${JSON.stringify(text.slice(0, 60))}`);
      }
    }
  }
  // The shapes above did reach every parsed part.
  assertEquals([...seen].sort(), [
    "fields",
    "level",
    "logTime",
    "msg",
    "parseError",
  ]);
});

Deno.test("eventJson leaves out the symbol-keyed parts: file, end, noticed, CRLF", () => {
  const e: Event = {
    id: "1.2:9",
    source: "/a.log",
    offset: 0,
    line: "x",
    time: TIME,
    [FILE]: FILE_ID,
    [END]: 9,
    [NOTICED]: 1,
    [CRLF]: true,
  };
  assertEquals(
    eventJson(e),
    `{"id":"1.2:9","source":"/a.log","offset":0,"line":"x","time":"${TIME}"}`,
  );
  assertSame(e, "symbols");
});

Deno.test("eventsJson is JSON.stringify of each event of a batch whose sources change", () => {
  const lines = SOURCES.flatMap((source, i) =>
    LINES.slice(i, i + 3).map((text) => line(text, {}, source))
  );
  // Back and forth between sources, and runs of the same one.
  const mixed = [...lines, ...lines.slice().reverse(), lines[0], lines[0]];
  const events = toEvents(mixed, TIME);
  assertEquals(eventsJson(events), events.map((e) => JSON.stringify(e)));
  assertEquals(eventsJson([]), []);
});

Deno.test("eventsJson quotes an empty source, even as the batch's first", () => {
  const events = toEvents(
    [line("a", {}, ""), line("b", {}, "/x"), line("c", {}, "")],
    TIME,
  );
  assertEquals(eventsJson(events), events.map((e) => JSON.stringify(e)));
});

Deno.test("eventJson is JSON.stringify for random lines of awkward characters", () => {
  const random = mulberry32(0x15011);
  const pool = [
    ...CONTROLS,
    '"',
    "\\",
    "/",
    "a",
    " ",
    "é",
    "€",
    "😀",
    "\uD800",
    "\uDFFF",
    "\uFFFD",
    "\uFEFF",
    "{",
    "}",
    "=",
  ];
  const pick = () => pool[Math.floor(random() * pool.length)];
  const text = (max: number) =>
    Array.from({ length: Math.floor(random() * max) }, pick).join("");
  for (let i = 0; i < 2000; i++) {
    const flags = FLAGS[Math.floor(random() * FLAGS.length)];
    const format = FORMATS[Math.floor(random() * FORMATS.length)];
    const lines = [line(text(30), flags, "/" + text(8)), line(text(30), flags)];
    const events = toEvents(lines, TIME, () => format ?? { kind: "raw" });
    assertEquals(
      eventsJson(events),
      events.map((e) => JSON.stringify(e)),
      JSON.stringify(lines.map((l) => l.text)),
    );
  }
});

Deno.test("eventsBytes is the UTF-8 of each event's JSON between its pieces, and marks where each starts", () => {
  const random = mulberry32(0xb17e5);
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  for (let round = 0; round < 40; round++) {
    // Batches past one group of events, mostly ASCII, now and then not.
    const count = 1 + Math.floor(random() * 400);
    const lines = Array.from({ length: count }, (_, i) => {
      const text = random() < 0.05
        ? LINES[Math.floor(random() * LINES.length)].slice(0, 200)
        : `line ${i} ${"x".repeat(Math.floor(random() * 50))}`;
      const flags = FLAGS[Math.floor(random() * FLAGS.length)];
      const source = random() < 0.1 ? SOURCES[i % SOURCES.length] : SOURCES[0];
      return line(text, flags, source);
    });
    const format = FORMATS[round % FORMATS.length];
    const events = toEvents(lines, TIME, () => format ?? { kind: "raw" });
    const json = events.map((e) => JSON.stringify(e));
    assertEquals(
      decoder.decode(eventsBytes(events, null, "\n")),
      json.map((j) => j + "\n").join(""),
    );
    const before = (i: number) => `event: line\nid: ${i}\ndata: `;
    const marks = {
      at: new Uint32Array(count + 1),
      json: new Uint32Array(count),
    };
    const bytes = eventsBytes(events, before, "\n\n", marks);
    assertEquals(
      decoder.decode(bytes),
      json.map((j, i) => before(i) + j + "\n\n").join(""),
    );
    assertEquals(marks.at[count], bytes.length);
    for (let i = 0; i < count; i++) {
      assertEquals(
        decoder.decode(bytes.subarray(marks.at[i], marks.at[i + 1])),
        before(i) + json[i] + "\n\n",
      );
      assertEquals(
        marks.json[i] - marks.at[i],
        encoder.encode(before(i)).length,
      );
    }
  }
});

// NDJSON: the same JSON, one record per line, made once per batch.

function batchOf(journal: Journal, texts: string[]) {
  const lines = texts.map((text, i) => ({
    ...line(text),
    offset: i * 10,
    end: i * 10 + 10,
  }));
  return journal.batch(SOURCES[0], FILE_ID, toEvents(lines, TIME));
}

Deno.test("ndjsonOf makes a batch's NDJSON once, the same from its events as from its frames", () => {
  const journal = new Journal({ epoch: "e" });
  const batch = batchOf(journal, ["a", 'b "q"', "c\nd", "é"]);
  const want = batch.events.map((e) => JSON.stringify(e) + "\n").join("");
  const bytes = ndjsonOf(batch);
  assertEquals(new TextDecoder().decode(bytes), want);
  assert(ndjsonOf(batch) === bytes, "encoded again");
  // A batch whose frames were made first: its NDJSON is sliced out of them.
  const framed = batchOf(journal, ["a", 'b "q"', "c\nd", "é"]);
  framed.frames;
  assertEquals(
    new TextDecoder().decode(ndjsonOf(framed)),
    framed.events.map((e) => JSON.stringify(e) + "\n").join(""),
  );
  assertEquals(
    new TextDecoder().decode(ndjsonOfFrames(framed, (i) => i % 2 === 1)!),
    [1, 3].map((i) => JSON.stringify(framed.events[i]) + "\n").join(""),
  );
  assertEquals(ndjsonOfFrames(framed, () => false), null);
});

Deno.test("writeNdjson writes each batch as NDJSON, skips notices, and closes at the end", async () => {
  const journal = new Journal({ epoch: "e" });
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 100, policy: "block" });
  const first = batchOf(journal, ["one", "two"]);
  hub.publish({ type: "batch", batch: first });
  const { seq, id } = journal.message({
    type: "notice",
    notice: { kind: "vanish", source: SOURCES[0] },
  });
  hub.publish({
    type: "notice",
    seq,
    id,
    notice: { kind: "vanish", source: SOURCES[0] },
  });
  const second = batchOf(journal, ["three"]);
  hub.publish({ type: "batch", batch: second });
  hub.close();
  const chunks: Uint8Array[] = [];
  let closed = false;
  const written: number[] = [];
  await writeNdjson(
    sub,
    new WritableStream({
      write: (chunk) => void chunks.push(chunk),
      close: () => void (closed = true),
    }),
    (batch) => written.push(batch.seq),
  );
  // One write per batch: the shared bytes themselves.
  assertEquals(chunks.length, 2);
  assert(chunks[0] === ndjsonOf(first) && chunks[1] === ndjsonOf(second));
  assertEquals(
    chunks.map((c) => new TextDecoder().decode(c)).join(""),
    [...first.events, ...second.events].map((e) => JSON.stringify(e) + "\n")
      .join(""),
  );
  assertEquals(written, [first.seq, second.seq]);
  assert(closed);
});
