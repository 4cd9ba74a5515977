/**
 * Prints how many bytes of V8 heap one queued line message holds, built the
 * way tailcast's dispatcher builds it (ParseStream's event plus its JSON,
 * src/service.ts), for benchmark lines. Run with `--v8-flags=--expose-gc`:
 * the stalled-subscriber scenario uses it to state the queue's memory bound.
 */
import { ParseStream } from "../../src/stage/parse.ts";
import { lineBatches } from "./stage_fixtures.ts";

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const batches = lineBatches(4 * 1024 * 1024);
gc();
gc();
const before = Deno.memoryUsage().heapUsed;
const kept: unknown[] = [];
const events = ReadableStream.from(batches).pipeThrough(new ParseStream());
for await (const batch of events) {
  for (const event of batch) {
    kept.push({ type: "line", event, json: JSON.stringify(event) });
  }
}
gc();
gc();
const after = Deno.memoryUsage().heapUsed;
await Deno.stdout.write(
  new TextEncoder().encode(`${Math.round((after - before) / kept.length)}\n`),
);
