/**
 * Parsing (src/stage/parse.ts): 8,738 lines of 120 B (1 MiB) in four batches,
 * through ParseStream: UTF-8 decoding, ids, event objects. The baseline only
 * decodes the bytes.
 */
import { ParseStream } from "../src/stage/parse.ts";
import { lineBatches, sink } from "./harness/stage_fixtures.ts";

const batches = lineBatches();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

Deno.bench({
  name: "TextDecoder.decode only (lower bound)",
  group: "parse 8,738 lines",
  baseline: true,
  fn() {
    let n = 0;
    for (const batch of batches) {
      for (const l of batch) n += decoder.decode(l.bytes).length;
    }
    if (n === 0) throw new Error("nothing decoded");
  },
});

Deno.bench({
  name: "ParseStream",
  group: "parse 8,738 lines",
  async fn() {
    await ReadableStream.from(batches).pipeThrough(new ParseStream()).pipeTo(
      sink(),
    );
  },
});
