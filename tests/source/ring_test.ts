import { assertEquals, assertThrows } from "@std/assert";
import { IngestRing, RingClosed } from "../../src/source/ring.ts";
import { type Chunk, isMark, type Notice, UNSTORED } from "../../src/types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("IngestRing drops the oldest posts beyond its capacity and says so with a gap where they were", async () => {
  const abort = new AbortController();
  const ring = new IngestRing({
    source: "ingest:web",
    capacity: 10,
    signal: abort.signal,
    highWaterMark: 0,
  });
  ring.append(encoder.encode("aaaa\n")); // 0-5
  ring.append(encoder.encode("bbbb\n")); // 5-10
  ring.append(encoder.encode("cc\n")); // 10-13: "aaaa" goes
  ring.append(encoder.encode("dd\n")); // 13-16: fits (5 + 3 + 3 = 11 > 10): "bbbb" goes
  assertEquals(ring.held, 6);
  const reader = ring.readable.getReader();
  const items: (Chunk | Notice)[] = [];
  for (let i = 0; i < 3; i++) items.push((await reader.read()).value!);
  abort.abort();
  while (!(await reader.read()).done);
  await ring.done;
  assertEquals(items[0], {
    kind: "gap",
    source: "ingest:web",
    offset: 0,
    bytes: 10,
    cause: "ingest-memory-full",
  });
  const chunks = items.filter((i): i is Chunk => !isMark(i));
  assertEquals(
    chunks.map((c) => [c.offset, decoder.decode(c.bytes), c.source]),
    [[10, "cc\n", "ingest:web"], [13, "dd\n", "ingest:web"]],
  );
  assertEquals(chunks.every((c) => c.file === UNSTORED), true);
});

Deno.test("IngestRing takes no more lines once stopped, and its stream ends", async () => {
  const abort = new AbortController();
  const ring = new IngestRing({
    source: "ingest:web",
    capacity: 100,
    signal: abort.signal,
  });
  const reader = ring.readable.getReader();
  const waiting = reader.read();
  abort.abort();
  assertEquals((await waiting).done, true);
  await ring.done;
  assertThrows(() => ring.append(encoder.encode("x\n")), RingClosed);
});
