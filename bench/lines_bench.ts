/**
 * Line splitting (src/stage/lines.ts): 1 MiB of 120 B lines, as four 256 KiB
 * follower chunks, through LineStream. 8,738 lines per iteration: lines/s is
 * 8,738 / (time per iteration). The baseline only finds the newlines.
 */
import { LineStream } from "../src/stage/lines.ts";
import { chunks, sink } from "./harness/stage_fixtures.ts";

const input = chunks();

Deno.bench({
  name: "indexOf only (lower bound)",
  group: "split 1 MiB into lines",
  baseline: true,
  fn() {
    let n = 0;
    for (const c of input) {
      for (
        let at = c.bytes.indexOf(10);
        at !== -1;
        at = c.bytes.indexOf(10, at + 1)
      ) n++;
    }
    if (n === 0) throw new Error("no lines");
  },
});

Deno.bench({
  name: "LineStream",
  group: "split 1 MiB into lines",
  async fn() {
    await ReadableStream.from(input).pipeThrough(new LineStream()).pipeTo(
      sink(),
    );
  },
});

Deno.bench({
  name: "LineStream, lines capped at 64 B (truncation path)",
  group: "split 1 MiB into lines",
  async fn() {
    await ReadableStream.from(input)
      .pipeThrough(new LineStream({ maxLineBytes: 64 }))
      .pipeTo(sink());
  },
});

// Why LineStream decodes leniently first (src/stage/lines.ts `decode`): a
// fatal TextDecoder validates far slower than a lenient one decodes, and
// the lenient text holds U+FFFD wherever the bytes could have been invalid.
const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder("utf-8", { ignoreBOM: true });

Deno.bench({
  name: "fatal TextDecoder",
  group: "decode 1 MiB",
  baseline: true,
  fn() {
    let n = 0;
    for (const c of input) n += fatal.decode(c.bytes).length;
    if (n === 0) throw new Error("nothing decoded");
  },
});

Deno.bench({
  name: "lenient TextDecoder, then a search for U+FFFD",
  group: "decode 1 MiB",
  fn() {
    let n = 0;
    for (const c of input) {
      const text = lenient.decode(c.bytes);
      if (text.includes("\uFFFD")) fatal.decode(c.bytes);
      n += text.length;
    }
    if (n === 0) throw new Error("nothing decoded");
  },
});
