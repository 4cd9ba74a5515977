/**
 * Prints how many bytes of memory one queued event holds, built the way
 * tailcast's pipeline builds it (chunks split by LineStream, whose decoded
 * text the events keep, then ParseStream's events published as journal
 * batches, src/service.ts) and encoded the way the HTTP layer encodes it
 * once for every subscriber (its JSON, its SSE frame and the batch's shared
 * SSE bytes, src/http/format.ts), for benchmark lines. A subscriber's queue
 * holds whole batches and counts its capacity in events, so this times the
 * capacity bounds what a stalled subscriber pins. Run with
 * `--v8-flags=--expose-gc`: the stalled-subscriber scenario uses it to state
 * the queue's memory bound. V8 heap plus the memory of array buffers (the
 * encoded bytes live there).
 */
import { batchBytes } from "../../src/http/format.ts";
import { Journal } from "../../src/sink/journal.ts";
import { LineStream } from "../../src/stage/lines.ts";
import { ParseStream } from "../../src/stage/parse.ts";
import { FILE, isMark } from "../../src/types.ts";
import { chunks, MIB } from "./stage_fixtures.ts";

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
// The file's bytes are read before the count starts: they are not queued.
const input = chunks(4 * MIB);
// The journal's ring is allocated once, whatever is queued: not counted.
const journal = new Journal({ epoch: "bench" });
const used = () => {
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
};
gc();
gc();
const before = used();
const kept: unknown[] = [];
let events = 0;
const parsed = ReadableStream.from(input)
  .pipeThrough(new LineStream())
  .pipeThrough(new ParseStream());
for await (const run of parsed) {
  if (isMark(run)) continue;
  const batch = journal.batch(run[0].source, run[0][FILE], run);
  if (batchBytes(batch, "sse", null) === null) throw new Error("empty");
  kept.push({ type: "batch", batch });
  events += run.length;
}
gc();
gc();
const after = used();
await Deno.stdout.write(
  new TextEncoder().encode(`${Math.round((after - before) / events)}\n`),
);
