import { assert, assertEquals } from "@std/assert";
import { locate } from "../../src/source/replay.ts";
import { Tail } from "../../src/source/tail.ts";
import { type Chunk, isMark, type Notice, UNSTORED } from "../../src/types.ts";
import { LogDir } from "../_fixtures/log_dir.ts";
import { settle, waitFor } from "../_fixtures/wait.ts";

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

Deno.test("Tail.follow reads a file under a name of its own: chunks and notices carry the name, known files and locate find it through its path", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("spool.log");
  await Deno.writeTextFile(path, "first\n");
  const abort = new AbortController();
  const tail = await Tail.start({
    paths: [],
    startAt: { kind: "start" },
    pollMs: null,
    notice: () => {},
    signal: abort.signal,
  });
  tail.follow(path, "ingest:web", { kind: "start" });
  const items: (Chunk | Notice)[] = [];
  const reading = (async () => {
    for await (const item of tail.readable) items.push(item);
  })();
  await waitFor(
    () => items.some((i) => !isMark(i)),
    "the first chunk of the named file",
  );
  const chunk = items.find((i) => !isMark(i)) as Chunk;
  assertEquals(
    [chunk.source, new TextDecoder().decode(chunk.bytes)],
    ["ingest:web", "first\n"],
  );
  const appear = items.find((i) => isMark(i) && i.kind === "appear");
  assertEquals(appear && "source" in appear && appear.source, "ingest:web");
  assertEquals(tail.sources.map((s) => [s.source, s.path]), [
    ["ingest:web", path],
  ]);
  assertEquals(tail.known.pathOf("ingest:web"), path);
  assertEquals(tail.known.has(path, chunk.file), false, "known by its name");
  const found = await locate("ingest:web", chunk.file, tail.known);
  assertEquals(found?.path, path);
  abort.abort();
  await reading;
  await tail.done;
});

Deno.test("Tail.add merges a stream of a source on no disk, lists it, and waits for it to finish when stopping", async () => {
  const abort = new AbortController();
  const tail = await Tail.start({
    paths: [],
    startAt: { kind: "start" },
    pollMs: null,
    notice: () => {},
    signal: abort.signal,
  });
  const finished = Promise.withResolvers<void>();
  let closed = false;
  tail.add("exec:x", {
    readable: ReadableStream.from([{
      source: "exec:x",
      file: UNSTORED,
      offset: 0,
      bytes: new TextEncoder().encode("a\n"),
      noticed: 0,
    }]),
    done: finished.promise.then(() => {
      closed = true;
    }),
  });
  assertEquals(tail.sources, [{
    source: "exec:x",
    path: null,
    position: null,
    buffered: 0,
  }]);
  const reader = tail.readable.getReader();
  let item = (await reader.read()).value;
  while (item && isMark(item)) item = (await reader.read()).value;
  assertEquals((item as Chunk).source, "exec:x");
  abort.abort();
  let done = false;
  const stopping = tail.done.then(() => done = true);
  while (!(await reader.read()).done);
  await settle();
  assertEquals(done, false, "Tail waits for the source to finish");
  finished.resolve();
  await stopping;
  assertEquals(closed, true);
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
