import { assert, assertEquals, assertThrows } from "@std/assert";
import { mulberry32 } from "../_fixtures/random.ts";
import { LineStream, type SkippedBytes } from "../../src/stage/lines.ts";
import {
  type Chunk,
  type FileId,
  isMark,
  type Line,
  type Mark,
} from "../../src/types.ts";

const encoder = new TextEncoder();
const FILE: FileId = { dev: 1, ino: 2 };
const SOURCE = "/logs/app.log";

/** A line reduced to plain data, so deepEqual shows readable differences. */
interface Seen {
  source: string;
  file: string;
  offset: number;
  end: number;
  text: string;
  truncated: boolean;
  partial: boolean;
  invalidUtf8: boolean;
  crlf: boolean;
  /** `noticed` of the chunk that completed the line: tells which chunk emitted it. */
  noticed: number;
}

function seen(line: Line): Seen {
  return {
    source: line.source,
    file: `${line.file.dev}.${line.file.ino}`,
    offset: line.offset,
    end: line.end,
    text: line.text,
    truncated: line.truncated ?? false,
    partial: line.partial ?? false,
    invalidUtf8: line.invalidUtf8 ?? false,
    crlf: line.crlf ?? false,
    noticed: line.noticed,
  };
}

/** What came out of a LineStream: lines, gap notices and the onSkip calls, and all of it in order. */
interface Output {
  lines: Seen[];
  skips: SkippedBytes[];
  gaps: Mark[];
  items: (Line[] | Mark)[];
}

async function run(
  chunks: (Chunk | Mark)[],
  maxLineBytes?: number,
): Promise<Output> {
  const skips: SkippedBytes[] = [];
  const items = await Array.fromAsync(
    ReadableStream.from(chunks).pipeThrough(
      new LineStream({ maxLineBytes, onSkip: (s) => skips.push({ ...s }) }),
    ),
  );
  const lines: Seen[] = [];
  const gaps: Mark[] = [];
  for (const item of items) {
    if (Array.isArray(item)) {
      assert(item.length > 0, "empty batch");
      lines.push(...item.map(seen));
    } else if (item.kind === "gap") {
      gaps.push(item);
    }
  }
  return { lines, skips, gaps, items };
}

/** The gap notice the stream carries for a skip reported to onSkip. */
function gapOf(skip: SkippedBytes): Mark {
  return { kind: "gap", ...skip };
}

/**
 * Cuts `bytes` at `cuts` into chunks with continuous offsets, then adds an
 * empty `end: true` chunk. Non-end chunks have noticed 0, the end chunk 1.
 */
function chunked(bytes: Uint8Array, cuts: number[], end = true): Chunk[] {
  const points = [0, ...cuts, bytes.length];
  const chunks: Chunk[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    chunks.push({
      source: SOURCE,
      file: FILE,
      offset: points[i],
      bytes: bytes.slice(points[i], points[i + 1]),
      noticed: 0,
    });
  }
  if (end) {
    chunks.push({
      source: SOURCE,
      file: FILE,
      offset: bytes.length,
      bytes: new Uint8Array(0),
      noticed: 1,
      end: true,
    });
  }
  return chunks;
}

/** Deterministic PRNG so random splits are reproducible. */
const prng = mulberry32;

function randomCuts(length: number, random: () => number): number[] {
  const cuts: number[] = [];
  let at = 0;
  while (true) {
    // Pieces of 0 to 7 bytes: empty chunks are legal too.
    at += Math.floor(random() * 8);
    if (at >= length) return cuts;
    cuts.push(at);
  }
}

function expectLine(
  text: string,
  offset: number,
  end: number,
  flags: Partial<Omit<Seen, "text" | "offset" | "end">> = {},
): Seen {
  return {
    source: SOURCE,
    file: "1.2",
    offset,
    end,
    text,
    truncated: false,
    partial: false,
    invalidUtf8: false,
    crlf: false,
    noticed: flags.partial ? 1 : 0,
    ...flags,
  };
}

const lenient = new TextDecoder("utf-8", { ignoreBOM: true });
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * What the splitter must make of a whole file, worked out line by line with
 * no chunks at all: the reference the chunked runs are compared with.
 */
function model(
  bytes: Uint8Array,
  max: number,
): { lines: Seen[]; skips: SkippedBytes[] } {
  const lines: Seen[] = [];
  const skips: SkippedBytes[] = [];
  let start = 0;
  while (start < bytes.length) {
    const nl = bytes.indexOf(0x0a, start);
    const partial = nl === -1;
    const stop = partial ? bytes.length : nl;
    let content = bytes.subarray(start, stop);
    const crlf = !partial && content.length > 0 &&
      content[content.length - 1] === 0x0d;
    if (crlf) content = content.subarray(0, content.length - 1);
    const truncated = content.length > max;
    if (truncated) {
      skips.push({
        source: SOURCE,
        offset: start,
        bytes: content.length - max,
        cause: "line-too-long",
      });
      content = content.subarray(0, max);
    }
    let invalidUtf8 = false;
    try {
      strict.decode(content);
    } catch {
      invalidUtf8 = true;
    }
    const end = partial ? bytes.length : nl + 1;
    lines.push(
      expectLine(lenient.decode(content), start, end, {
        truncated,
        partial,
        invalidUtf8,
        crlf,
      }),
    );
    start = end;
  }
  return { lines, skips };
}

// CRLF, bare LF, empty lines, a CR not before LF, multi-byte UTF-8 (2, 3 and
// 4 bytes), and a last line with no newline.
const MIXED = encoder.encode(
  "alpha\r\nbeta\n\n\r\nnaïve €😀\r\n\na\rb\nlast",
);
const MIXED_LINES: Seen[] = [
  expectLine("alpha", 0, 7, { crlf: true }),
  expectLine("beta", 7, 12),
  expectLine("", 12, 13),
  expectLine("", 13, 15, { crlf: true }),
  expectLine("naïve €😀", 15, 31, { crlf: true }),
  expectLine("", 31, 32),
  expectLine("a\rb", 32, 36),
  expectLine("last", 36, 40, { partial: true }),
];

// With maxLineBytes 8: over-long lines with CRLF and LF, a line of exactly
// 8 bytes with CRLF (not truncated), and an over-long unterminated last line.
const CAP = 8;
const CAPPED = encoder.encode(
  "short\n0123456789ABCDEF\r\nexactly8\r\n123456789\nx\r\nABCDEFGHIJ",
);
const CAPPED_LINES: Seen[] = [
  expectLine("short", 0, 6),
  expectLine("01234567", 6, 24, { truncated: true, crlf: true }),
  expectLine("exactly8", 24, 34, { crlf: true }),
  expectLine("12345678", 34, 44, { truncated: true }),
  expectLine("x", 44, 47, { crlf: true }),
  expectLine("ABCDEFGH", 47, 57, { truncated: true, partial: true }),
];
const CAPPED_SKIPS: SkippedBytes[] = [
  { source: SOURCE, offset: 6, bytes: 8, cause: "line-too-long" },
  { source: SOURCE, offset: 34, bytes: 1, cause: "line-too-long" },
  { source: SOURCE, offset: 47, bytes: 2, cause: "line-too-long" },
];

// Invalid UTF-8 among valid lines: a stray byte, a sequence cut short at the
// end of its line, an overlong encoding, and a lone surrogate's encoding.
const BAD = new Uint8Array([
  ...encoder.encode("ok é\n"),
  0x61,
  0xff,
  0x62,
  0x0a,
  0x78,
  0xe2,
  0x82,
  0x0d,
  0x0a,
  ...encoder.encode("fine €\n"),
  0xc0,
  0xaf,
  0x0a,
  0xed,
  0xa0,
  0x80,
  0x0a,
  ...encoder.encode("end"),
]);
const BAD_LINES: Seen[] = [
  expectLine("ok é", 0, 6),
  expectLine("a\uFFFDb", 6, 10, { invalidUtf8: true }),
  expectLine("x\uFFFD", 10, 15, { invalidUtf8: true, crlf: true }),
  expectLine("fine €", 15, 24),
  expectLine("\uFFFD\uFFFD", 24, 27, { invalidUtf8: true }),
  expectLine("\uFFFD\uFFFD\uFFFD", 27, 31, { invalidUtf8: true }),
  expectLine("end", 31, 34, { partial: true }),
];

Deno.test("LineStream splits one chunk into lines with text, exact offsets and CRLF flags", async () => {
  const { lines, skips, gaps } = await run(chunked(MIXED, []));
  assertEquals(lines, MIXED_LINES);
  assertEquals(skips, []);
  assertEquals(gaps, []);
});

Deno.test("LineStream gives the same lines and offsets whatever the chunk boundaries", async () => {
  for (let cut = 0; cut <= MIXED.length; cut++) {
    const { lines, skips } = await run(chunked(MIXED, [cut]));
    assertEquals(lines, MIXED_LINES, `split at byte ${cut}`);
    assertEquals(skips, [], `split at byte ${cut}`);
  }
  const oneByte = [...Array(MIXED.length).keys()].slice(1);
  assertEquals((await run(chunked(MIXED, oneByte))).lines, MIXED_LINES);
});

Deno.test("LineStream gives the same lines for random pieces from a fixed seed", async () => {
  const random = prng(0x7a11ca57);
  for (let i = 0; i < 300; i++) {
    const cuts = randomCuts(MIXED.length, random);
    const { lines } = await run(chunked(MIXED, cuts));
    assertEquals(lines, MIXED_LINES, `cuts ${cuts.join(",")}`);
  }
});

Deno.test("LineStream joins a CR at the end of one chunk with the LF starting the next", async () => {
  const bytes = encoder.encode("one\r\ntwo\r\n");
  const { lines } = await run(chunked(bytes, [4, 9]));
  assertEquals(lines, [
    expectLine("one", 0, 5, { crlf: true }),
    expectLine("two", 5, 10, { crlf: true }),
  ]);
});

Deno.test("LineStream keeps a CR that ends a file without LF in the partial line's text", async () => {
  const bytes = encoder.encode("a\nb\r");
  for (let cut = 0; cut <= bytes.length; cut++) {
    const { lines } = await run(chunked(bytes, [cut]));
    assertEquals(lines, [
      expectLine("a", 0, 2),
      expectLine("b\r", 2, 4, { partial: true }),
    ], `split at ${cut}`);
  }
});

Deno.test("LineStream keeps a multi-byte character split across chunks whole", async () => {
  const bytes = encoder.encode("😀€\n");
  for (let cut = 1; cut < 7; cut++) {
    const { lines } = await run(chunked(bytes, [cut]));
    assertEquals(lines, [expectLine("😀€", 0, 8)], `split at ${cut}`);
  }
});

Deno.test("LineStream gives exact byte offsets after multi-byte characters in one chunk", async () => {
  // 2-, 3- and 4-byte characters: a character is not a byte here.
  const bytes = encoder.encode("ï\n€€\n😀x\n\n🎉\r\nz\n");
  const { lines } = await run(chunked(bytes, []));
  assertEquals(lines, [
    expectLine("ï", 0, 3),
    expectLine("€€", 3, 10),
    expectLine("😀x", 10, 16),
    expectLine("", 16, 17),
    expectLine("🎉", 17, 23, { crlf: true }),
    expectLine("z", 23, 25),
  ]);
});

Deno.test("LineStream flags only the lines that hold invalid UTF-8, with U+FFFD where it was", async () => {
  const { lines } = await run(chunked(BAD, []));
  assertEquals(lines, BAD_LINES);
});

Deno.test("LineStream does not flag a line that spells U+FFFD itself: it is valid UTF-8", async () => {
  // Alone in its chunk, then beside an invalid line (the chunk is decoded again line by line).
  const valid = new TextEncoder().encode("a\uFFFDb\nok\n");
  assertEquals((await run(chunked(valid, []))).lines, [
    expectLine("a\uFFFDb", 0, 6),
    expectLine("ok", 6, 9),
  ]);
  const mixed = new Uint8Array([...valid, 0x78, 0xff, 0x0a]);
  assertEquals((await run(chunked(mixed, []))).lines, [
    expectLine("a\uFFFDb", 0, 6),
    expectLine("ok", 6, 9),
    expectLine("x\uFFFD", 9, 12, { invalidUtf8: true }),
  ]);
});

Deno.test("LineStream decodes invalid UTF-8 the same way whatever the chunk boundaries", async () => {
  for (let cut = 0; cut <= BAD.length; cut++) {
    const { lines } = await run(chunked(BAD, [cut]));
    assertEquals(lines, BAD_LINES, `split at byte ${cut}`);
  }
  const random = prng(0xbad);
  for (let i = 0; i < 200; i++) {
    const cuts = randomCuts(BAD.length, random);
    assertEquals(
      (await run(chunked(BAD, cuts))).lines,
      BAD_LINES,
      `cuts ${cuts.join(",")}`,
    );
  }
});

Deno.test("LineStream keeps NUL bytes and a byte order mark as text", async () => {
  const bytes = new Uint8Array([
    0xef,
    0xbb,
    0xbf,
    0x78,
    0x0a,
    0x61,
    0x00,
    0x62,
    0x00,
    0x0a,
    0xef,
    0xbb,
    0xbf,
    0x0a,
  ]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const { lines } = await run(chunked(bytes, [cut]));
    assertEquals(lines, [
      expectLine("\uFEFFx", 0, 5),
      expectLine("a\u0000b\u0000", 5, 10),
      expectLine("\uFEFF", 10, 14),
    ], `split at ${cut}`);
  }
});

Deno.test("LineStream holds back a line without newline until an end chunk, then flags it partial", async () => {
  const stream = new LineStream();
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const chunk = (offset: number, text: string, end = false): Chunk => ({
    source: SOURCE,
    file: FILE,
    offset,
    bytes: encoder.encode(text),
    noticed: 0,
    ...(end ? { end: true } : {}),
  });
  await writer.write(chunk(0, "abc\nhalf"));
  const first = await reader.read();
  assertEquals(lineBatch(first.value), [expectLine("abc", 0, 4)]);
  // No newline: nothing may come out for this chunk.
  await writer.write(chunk(8, "more"));
  await writer.write(chunk(12, "", true));
  const second = await reader.read();
  assertEquals(lineBatch(second.value), [
    { ...expectLine("halfmore", 4, 12, { partial: true }), noticed: 0 },
  ]);
  await writer.close();
  assertEquals((await reader.read()).done, true);
});

Deno.test("LineStream emits nothing at an end chunk when no line is pending", async () => {
  const { lines, items } = await run(chunked(encoder.encode("a\nb\n"), [2]));
  assertEquals(lines, [expectLine("a", 0, 2), expectLine("b", 2, 4)]);
  assertEquals(items.length, 2);
});

Deno.test("LineStream leaves flags absent rather than false", async () => {
  const { items } = await run(chunked(encoder.encode("plain\n"), [], false));
  const [line] = items[0] as Line[];
  assertEquals(Object.keys(line).sort(), [
    "end",
    "file",
    "noticed",
    "offset",
    "source",
    "text",
  ]);
});

Deno.test("LineStream cuts a line over maxLineBytes, flags it truncated and reports the skipped bytes", async () => {
  const { lines, skips, gaps } = await run(chunked(CAPPED, []), CAP);
  assertEquals(lines, CAPPED_LINES);
  assertEquals(skips, CAPPED_SKIPS);
  assertEquals(gaps, CAPPED_SKIPS.map(gapOf));
});

Deno.test("LineStream truncates the same way whatever the chunk boundaries", async () => {
  for (let cut = 0; cut <= CAPPED.length; cut++) {
    const { lines, skips, gaps } = await run(chunked(CAPPED, [cut]), CAP);
    assertEquals(lines, CAPPED_LINES, `split at byte ${cut}`);
    assertEquals(skips, CAPPED_SKIPS, `split at byte ${cut}`);
    assertEquals(gaps, CAPPED_SKIPS.map(gapOf), `split at byte ${cut}`);
  }
  const random = prng(42);
  for (let i = 0; i < 300; i++) {
    const cuts = randomCuts(CAPPED.length, random);
    const { lines, skips } = await run(chunked(CAPPED, cuts), CAP);
    assertEquals(lines, CAPPED_LINES, `cuts ${cuts.join(",")}`);
    assertEquals(skips, CAPPED_SKIPS, `cuts ${cuts.join(",")}`);
  }
});

Deno.test("LineStream counts the bytes skipped from an over-long CRLF line without its CR when CR and LF are in different chunks", async () => {
  // 16 bytes + CRLF with a cap of 8: 8 bytes are skipped, whether the CR
  // arrives with the LF or at the end of the previous chunk.
  const bytes = encoder.encode("0123456789ABCDEF\r\n");
  const together = await run(chunked(bytes, [10]), CAP);
  const apart = await run(chunked(bytes, [17]), CAP);
  assertEquals(together.skips.map((s) => s.bytes), [8]);
  assertEquals(apart.skips.map((s) => s.bytes), [8]);
  assertEquals(apart.lines, together.lines);
});

Deno.test("LineStream does not flag a line of exactly maxLineBytes ending in CRLF", async () => {
  const bytes = encoder.encode("12345678\r\n");
  for (let cut = 0; cut <= bytes.length; cut++) {
    const { lines, skips } = await run(chunked(bytes, [cut]), CAP);
    assertEquals(
      lines,
      [expectLine("12345678", 0, 10, { crlf: true })],
      `split ${cut}`,
    );
    assertEquals(skips, [], `split at ${cut}`);
  }
});

Deno.test("LineStream matches a line-by-line reference on random bytes, caps and chunk boundaries", async () => {
  // Pieces that meet every path: ASCII, multi-byte, invalid bytes, CR, LF.
  const pieces = [
    [0x61],
    [0x62],
    [0x20],
    [0x0a],
    [0x0a],
    [0x0d],
    [0x0d, 0x0a],
    [...encoder.encode("é")],
    [...encoder.encode("€")],
    [...encoder.encode("😀")],
    [0xff],
    [0xe2, 0x82],
    [0x00],
  ];
  const random = prng(0x5eed);
  for (let round = 0; round < 400; round++) {
    const parts: number[] = [];
    const count = 5 + Math.floor(random() * 40);
    for (let i = 0; i < count; i++) {
      parts.push(...pieces[Math.floor(random() * pieces.length)]);
    }
    const bytes = new Uint8Array(parts);
    const max = round % 2 === 0 ? 1024 : 1 + Math.floor(random() * 10);
    const want = model(bytes, max);
    const cuts = round % 5 === 0 ? [] : randomCuts(bytes.length, random);
    const got = await run(chunked(bytes, cuts), max);
    const what = `bytes [${[...bytes]}], cap ${max}, cuts ${cuts}`;
    assertEquals(got.lines, want.lines, what);
    assertEquals(got.skips, want.skips, what);
    assertEquals(got.gaps, want.skips.map(gapOf), what);
  }
});

Deno.test("LineStream puts each gap notice just before the lines of its chunk", async () => {
  const stream = ReadableStream.from<Chunk | Mark>([
    chunk(0, "ok\n0123456789"),
    chunk(13, "AB\nnext\n"),
  ]);
  const items = await Array.fromAsync(
    stream.pipeThrough(new LineStream({ maxLineBytes: 4 })),
  );
  assertEquals(items.map(describe), [
    "ok",
    "gap 3+8 line-too-long",
    "0123(truncated) next",
  ]);
});

Deno.test("LineStream drops the carry and reports file-restarted when a chunk does not continue its file", async () => {
  const { lines, skips, items } = await run([
    chunk(0, "abc\npart"),
    // Truncated and rewritten: the next chunk starts again at 0.
    chunk(0, "new\n"),
    chunk(4, "next\n"),
  ]);
  assertEquals(lines.map((l) => [l.text, l.offset, l.end]), [
    ["abc", 0, 4],
    ["new", 0, 4],
    ["next", 4, 9],
  ]);
  const lost: SkippedBytes = {
    source: SOURCE,
    offset: 4,
    bytes: 4,
    cause: "file-restarted",
  };
  assertEquals(skips, [lost]);
  // The gap goes out with the restarted chunk, before its lines.
  assertEquals(items.map(describe), [
    "abc",
    "gap 4+4 file-restarted",
    "new",
    "next",
  ]);
});

Deno.test("LineStream reports no skip for a restart with nothing carried", async () => {
  const { lines, skips, gaps } = await run([
    chunk(0, "abc\n"),
    chunk(0, "x\n"),
  ]);
  assertEquals(lines.map((l) => [l.text, l.offset, l.end]), [
    ["abc", 0, 4],
    ["x", 0, 2],
  ]);
  assertEquals(skips, []);
  assertEquals(gaps, []);
});

Deno.test("LineStream keeps separate carries for interleaved files", async () => {
  const other: FileId = { dev: 1, ino: 3 };
  const { lines } = await run([
    chunk(0, "hel"),
    chunk(10, "wor", other),
    chunk(3, "lo\n"),
    chunk(13, "ld\n", other),
    { ...chunk(0, "other source\n"), source: "/logs/b.log" },
  ]);
  assertEquals(lines.map((l) => [l.source, l.file, l.text, l.offset, l.end]), [
    [SOURCE, "1.2", "hello", 0, 6],
    [SOURCE, "1.3", "world", 10, 16],
    ["/logs/b.log", "1.2", "other source", 0, 13],
  ]);
});

Deno.test("LineStream passes notices, flush marks and carried values through untouched, in order", async () => {
  const rotate: Mark = { kind: "rotate", source: SOURCE, how: "renamed" };
  const flush: Mark = { kind: "flush", source: SOURCE };
  const carried = { range: 7 };
  const carry: Mark = { kind: "carry", value: carried };
  const mode: Mark = { kind: "mode", mode: "polling", reason: "asked" };
  const { items } = await run([
    carry,
    chunk(0, "a\nb"),
    rotate,
    chunk(3, "\nc\n"),
    flush,
    mode,
  ]);
  assertEquals(items.map(describe), [
    "carry",
    "a",
    "rotate",
    "b c",
    "flush",
    "mode",
  ]);
  // The very objects, not copies: a carried value is for whoever put it there.
  assert(items[0] === carry);
  assert((items[0] as { value: unknown }).value === carried);
  assert(items[2] === rotate);
  assert(items[4] === flush);
  assert(isMark(items[5] as object));
});

Deno.test("LineStream keeps memory bounded on a 50 MB line without newline", async () => {
  const max = 1024 * 1024;
  const piece = new Uint8Array(64 * 1024).fill(0x61);
  const total = 50 * 1024 * 1024;
  const skips: SkippedBytes[] = [];
  let offset = 0;
  let baseline = 0;
  let growth = 0;
  const source = new ReadableStream<Chunk>({
    start() {
      baseline = Deno.memoryUsage().external;
    },
    pull(controller) {
      if (offset < total) {
        controller.enqueue({
          source: SOURCE,
          file: FILE,
          offset,
          bytes: piece,
          noticed: 0,
        });
        offset += piece.length;
      } else {
        growth = Math.max(growth, Deno.memoryUsage().external - baseline);
        controller.enqueue({
          source: SOURCE,
          file: FILE,
          offset,
          bytes: encoder.encode("\nok\n"),
          noticed: 0,
        });
        controller.close();
      }
    },
  });
  const items = await Array.fromAsync(
    source.pipeThrough(
      new LineStream({ maxLineBytes: max, onSkip: (s) => skips.push(s) }),
    ),
  );
  const lines = items.filter((i) => Array.isArray(i)).flat();
  assertEquals(lines.length, 2);
  assertEquals(lines[0].text.length, max);
  assertEquals(lines[0].truncated, true);
  assertEquals(lines[0].end, total + 1);
  assertEquals([lines[1].offset, lines[1].end], [total + 1, total + 4]);
  assertEquals(skips, [
    { source: SOURCE, offset: 0, bytes: total - max, cause: "line-too-long" },
  ]);
  // The carry holds at most maxLineBytes + 1 bytes: far less than the line.
  assert(growth < 16 * 1024 * 1024, `external memory grew ${growth} bytes`);
});

Deno.test("LineStream rejects an invalid maxLineBytes with RangeError", () => {
  for (const bad of [0, -1, 1.5, NaN, Infinity]) {
    assertThrows(() => new LineStream({ maxLineBytes: bad }), RangeError);
  }
  new LineStream({ maxLineBytes: 1 });
});

function chunk(offset: number, text: string, file: FileId = FILE): Chunk {
  return {
    source: SOURCE,
    file,
    offset,
    bytes: encoder.encode(text),
    noticed: 0,
  };
}

/** The lines of one item read from the stream (which must be a batch of lines). */
function lineBatch(item: Line[] | Mark | undefined): Seen[] {
  assert(Array.isArray(item), `expected a batch of lines, got ${item}`);
  return item.map(seen);
}

/** An item of the stream in a word or two: a batch's texts, or a mark's kind. */
function describe(item: Line[] | Mark): string {
  if (Array.isArray(item)) {
    return item.map((l) => l.text + (l.truncated ? "(truncated)" : "")).join(
      " ",
    );
  }
  return item.kind === "gap"
    ? `gap ${item.offset}+${item.bytes} ${item.cause}`
    : item.kind;
}
