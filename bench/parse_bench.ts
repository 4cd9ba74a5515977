/**
 * Parsing (src/stage/parse.ts): 8,738 lines of 120 B (1 MiB) in four batches,
 * through ParseStream: ids, event objects (the lines come decoded from the
 * splitter). The baseline only builds a plain object per line with the same
 * fields, the least any parser must do; toEvents is the parser without the
 * stream around it.
 */
import { ParseStream, toEvents } from "../src/stage/parse.ts";
import { lineBatches, sink } from "./harness/stage_fixtures.ts";

const batches = lineBatches();
const time = new Date(0).toISOString();

Deno.bench({
  name: "one plain object per line (lower bound)",
  group: "parse 8,738 lines",
  baseline: true,
  fn() {
    let n = 0;
    for (const batch of batches) {
      const out = new Array(batch.length);
      for (let i = 0; i < batch.length; i++) {
        const l = batch[i];
        out[i] = {
          id: "",
          source: l.source,
          offset: l.offset,
          line: l.text,
          time,
        };
      }
      n += out.length;
    }
    if (n === 0) throw new Error("nothing built");
  },
});

Deno.bench({
  name: "toEvents",
  group: "parse 8,738 lines",
  fn() {
    let n = 0;
    for (const batch of batches) n += toEvents(batch, time).length;
    if (n === 0) throw new Error("nothing parsed");
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
