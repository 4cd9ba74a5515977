import { assert, assertEquals } from "@std/assert";
import { waitFor } from "../_fixtures/wait.ts";
import { Tail } from "../../src/source/tail.ts";
import { isMark } from "../../src/types.ts";
import { LogDir } from "../_fixtures/log_dir.ts";

Deno.test("Tail reads the files named at start-up in the order given, each to its end before the next, and ready says when", async () => {
  await using dir = await LogDir.create();
  const names = Array.from({ length: 6 }, (_, i) => `f${i}.log`);
  // The first files are the biggest (several reads each): read all at once,
  // the small ones would come first.
  const sizes = new Map<string, number>();
  for (const [i, name] of names.entries()) {
    const text = `${name} line\n`.repeat(12_000 * (names.length - i));
    await Deno.writeTextFile(dir.file(name), text);
    sizes.set(dir.file(name), text.length);
  }
  const abort = new AbortController();
  const tail = await Tail.start({
    paths: names.map((n) => dir.file(n)),
    startAt: { kind: "start" },
    pollMs: null,
    notice: () => {},
    signal: abort.signal,
  });
  const order: string[] = [];
  const read = new Map<string, number>();
  const reading = (async () => {
    for await (const chunk of tail.readable) {
      if (isMark(chunk)) continue;
      if (order.at(-1) !== chunk.source) order.push(chunk.source);
      read.set(
        chunk.source,
        (read.get(chunk.source) ?? 0) + chunk.bytes.length,
      );
    }
  })();
  await tail.ready;
  // Stopping now must still deliver everything read before ready.
  abort.abort();
  await reading;
  await tail.done;
  assertEquals(order, names.map((n) => dir.file(n)));
  assertEquals(read, sizes);
});

Deno.test("Tail.ready resolves for a missing file and for a glob's first matches", async () => {
  await using dir = await LogDir.create();
  await Deno.mkdir(dir.file("logs"));
  await Deno.writeTextFile(dir.file("logs/a.log"), "a\n");
  await Deno.writeTextFile(dir.file("logs/b.log"), "b\n");
  const abort = new AbortController();
  const tail = await Tail.start({
    paths: [dir.file("missing.log"), dir.file("logs/*.log")],
    startAt: { kind: "start" },
    pollMs: null,
    notice: () => {},
    signal: abort.signal,
  });
  const sources: string[] = [];
  const reading = (async () => {
    for await (const chunk of tail.readable) {
      if (!isMark(chunk)) sources.push(chunk.source);
    }
  })();
  await tail.ready;
  abort.abort();
  await reading;
  await tail.done;
  assertEquals(sources, [dir.file("logs/a.log"), dir.file("logs/b.log")]);
});

Deno.test("Tail retires the follower of a glob's file that vanished and no longer matches; a literal path is kept waiting", async () => {
  await using dir = await LogDir.create();
  await Deno.writeTextFile(dir.file("a.log"), "a\n");
  await Deno.writeTextFile(dir.file("b.log"), "b\n");
  await Deno.writeTextFile(dir.file("kept.txt"), "k\n");
  const abort = new AbortController();
  const tail = await Tail.start({
    paths: [dir.file("*.log"), dir.file("kept.txt")],
    startAt: { kind: "start" },
    pollMs: null,
    safetyPollMs: 50,
    rotateWaitMs: 50,
    signal: abort.signal,
  });
  const reading = (async () => {
    for await (const _ of tail.readable);
  })();
  const paths = () => tail.sources.map((s) => s.path).sort();
  await waitFor(() => paths().length === 3, "three followers");
  await Deno.remove(dir.file("a.log"));
  await Deno.remove(dir.file("kept.txt"));
  await waitFor(
    () => !paths().includes(dir.file("a.log")),
    "the vanished match to be retired",
  );
  assertEquals(paths(), [dir.file("b.log"), dir.file("kept.txt")]);
  // An idle follower holds a small read buffer, not the read size.
  for (const s of tail.sources) {
    assert(s.buffered <= 16 * 1024, `${s.buffered}`);
  }
  abort.abort();
  await reading;
  await tail.done;
});
