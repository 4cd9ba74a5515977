import { assert, assertEquals, assertThrows } from "@std/assert";
import { mulberry32 } from "../_fixtures/random.ts";
import { LineStream, type SkippedBytes } from "../../src/stage/lines.ts";
import type { Chunk, FileId, Line } from "../../src/types.ts";

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
  bytes: number[];
  truncated: boolean;
  partial: boolean;
  /** `noticed` of the chunk that completed the line: tells which chunk emitted it. */
  noticed: number;
}

function seen(line: Line): Seen {
  return {
    source: line.source,
    file: `${line.file.dev}.${line.file.ino}`,
    offset: line.offset,
    end: line.end,
    text: new TextDecoder().decode(line.bytes),
    bytes: [...line.bytes],
    truncated: line.truncated ?? false,
    partial: line.partial ?? false,
    noticed: line.noticed,
  };
}

async function run(
  chunks: Chunk[],
  maxLineBytes?: number,
): Promise<{ lines: Seen[]; skips: SkippedBytes[] }> {
  const skips: SkippedBytes[] = [];
  const batches = await Array.fromAsync(
    ReadableStream.from(chunks).pipeThrough(
      new LineStream({ maxLineBytes, onSkip: (s) => skips.push({ ...s }) }),
    ),
  );
  for (const batch of batches) assert(batch.length > 0, "empty batch");
  return { lines: batches.flat().map(seen), skips };
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
  flags: { truncated?: boolean; partial?: boolean; bytes?: number[] } = {},
): Seen {
  const bytes = flags.bytes ?? [...encoder.encode(text)];
  return {
    source: SOURCE,
    file: "1.2",
    offset,
    end,
    text: new TextDecoder().decode(new Uint8Array(bytes)),
    bytes,
    truncated: flags.truncated ?? false,
    partial: flags.partial ?? false,
    noticed: flags.partial ? 1 : 0,
  };
}

// CRLF, bare LF, empty lines, a CR not before LF, multi-byte UTF-8 (2, 3 and
// 4 bytes), and a last line with no newline.
const MIXED = encoder.encode(
  "alpha\r\nbeta\n\n\r\nnaïve €😀\r\n\na\rb\nlast",
);
const MIXED_LINES: Seen[] = [
  expectLine("alpha", 0, 7),
  expectLine("beta", 7, 12),
  expectLine("", 12, 13),
  expectLine("", 13, 15),
  expectLine("naïve €😀", 15, 31),
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
  expectLine("01234567", 6, 24, { truncated: true }),
  expectLine("exactly8", 24, 34),
  expectLine("12345678", 34, 44, { truncated: true }),
  expectLine("x", 44, 47),
  expectLine("ABCDEFGH", 47, 57, { truncated: true, partial: true }),
];
const CAPPED_SKIPS: SkippedBytes[] = [
  { source: SOURCE, offset: 6, bytes: 8, cause: "line-too-long" },
  { source: SOURCE, offset: 34, bytes: 1, cause: "line-too-long" },
  { source: SOURCE, offset: 47, bytes: 2, cause: "line-too-long" },
];

Deno.test("LineStream splits one chunk into lines with exact offsets", async () => {
  const { lines, skips } = await run(chunked(MIXED, []));
  assertEquals(lines, MIXED_LINES);
  assertEquals(skips, []);
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
  assertEquals(lines, [expectLine("one", 0, 5), expectLine("two", 5, 10)]);
});

Deno.test("LineStream keeps a multi-byte character split across chunks whole", async () => {
  const bytes = encoder.encode("😀€\n");
  for (let cut = 1; cut < 7; cut++) {
    const { lines } = await run(chunked(bytes, [cut]));
    assertEquals(lines, [expectLine("😀€", 0, 8)], `split at ${cut}`);
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
  assertEquals(first.value?.map(seen), [expectLine("abc", 0, 4)]);
  // No newline: nothing may come out for this chunk.
  await writer.write(chunk(8, "more"));
  await writer.write(chunk(12, "", true));
  const second = await reader.read();
  assertEquals(second.value?.map(seen), [
    { ...expectLine("halfmore", 4, 12, { partial: true }), noticed: 0 },
  ]);
  await writer.close();
  assertEquals((await reader.read()).done, true);
});

Deno.test("LineStream emits nothing at an end chunk when no line is pending", async () => {
  const { lines } = await run(chunked(encoder.encode("a\nb\n"), [2]));
  assertEquals(lines, [expectLine("a", 0, 2), expectLine("b", 2, 4)]);
});

Deno.test("LineStream cuts a line over maxLineBytes, flags it truncated and reports the skipped bytes", async () => {
  const { lines, skips } = await run(chunked(CAPPED, []), CAP);
  assertEquals(lines, CAPPED_LINES);
  assertEquals(skips, CAPPED_SKIPS);
});

Deno.test("LineStream truncates the same way whatever the chunk boundaries", async () => {
  for (let cut = 0; cut <= CAPPED.length; cut++) {
    const { lines, skips } = await run(chunked(CAPPED, [cut]), CAP);
    assertEquals(lines, CAPPED_LINES, `split at byte ${cut}`);
    assertEquals(skips, CAPPED_SKIPS, `split at byte ${cut}`);
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
    assertEquals(lines, [expectLine("12345678", 0, 10)], `split ${cut}`);
    assertEquals(skips, [], `split at ${cut}`);
  }
});

Deno.test("LineStream drops the carry and reports file-restarted when a chunk does not continue its file", async () => {
  const skips: SkippedBytes[] = [];
  const stream = new LineStream({ onSkip: (s) => skips.push({ ...s }) });
  const lines = (await Array.fromAsync(
    ReadableStream.from<Chunk>([
      chunk(0, "abc\npart"),
      // Truncated and rewritten: the next chunk starts again at 0.
      chunk(0, "new\n"),
      chunk(4, "next\n"),
    ]).pipeThrough(stream),
  )).flat().map(seen);
  assertEquals(lines.map((l) => [l.text, l.offset, l.end]), [
    ["abc", 0, 4],
    ["new", 0, 4],
    ["next", 4, 9],
  ]);
  assertEquals(skips, [
    { source: SOURCE, offset: 4, bytes: 4, cause: "file-restarted" },
  ]);
});

Deno.test("LineStream reports no skip for a restart with nothing carried", async () => {
  const skips: SkippedBytes[] = [];
  const lines = (await Array.fromAsync(
    ReadableStream.from<Chunk>([chunk(0, "abc\n"), chunk(0, "x\n")])
      .pipeThrough(new LineStream({ onSkip: (s) => skips.push(s) })),
  )).flat().map((l) => [seen(l).text, l.offset, l.end]);
  assertEquals(lines, [["abc", 0, 4], ["x", 0, 2]]);
  assertEquals(skips, []);
});

Deno.test("LineStream keeps separate carries for interleaved files", async () => {
  const other: FileId = { dev: 1, ino: 3 };
  const lines = (await Array.fromAsync(
    ReadableStream.from<Chunk>([
      chunk(0, "hel"),
      chunk(10, "wor", other),
      chunk(3, "lo\n"),
      chunk(13, "ld\n", other),
      { ...chunk(0, "other source\n"), source: "/logs/b.log" },
    ]).pipeThrough(new LineStream()),
  )).flat().map((l) => [l.source, l.file.ino, seen(l).text, l.offset, l.end]);
  assertEquals(lines, [
    [SOURCE, 2, "hello", 0, 6],
    [SOURCE, 3, "world", 10, 16],
    ["/logs/b.log", 2, "other source", 0, 13],
  ]);
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
  const started = performance.now();
  const lines = (await Array.fromAsync(
    source.pipeThrough(
      new LineStream({ maxLineBytes: max, onSkip: (s) => skips.push(s) }),
    ),
  )).flat();
  const elapsed = performance.now() - started;
  assertEquals(lines.length, 2);
  assertEquals(lines[0].bytes.length, max);
  assertEquals(lines[0].truncated, true);
  assertEquals(lines[0].end, total + 1);
  assertEquals([lines[1].offset, lines[1].end], [total + 1, total + 4]);
  assertEquals(skips, [
    { source: SOURCE, offset: 0, bytes: total - max, cause: "line-too-long" },
  ]);
  // The carry holds at most maxLineBytes + 1 bytes: far less than the line.
  assert(growth < 16 * 1024 * 1024, `external memory grew ${growth} bytes`);
  assert(elapsed < 10_000, `took ${elapsed} ms`);
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
