import { assert, assertEquals, assertRejects } from "@std/assert";
import { ConfigError } from "../../src/errors.ts";
import {
  type AppendResult,
  Ingest,
  type IngestOptions,
  MAX_INGEST_NAMES,
} from "../../src/source/ingest.ts";
import { locate } from "../../src/source/replay.ts";
import { Tail } from "../../src/source/tail.ts";
import { type Chunk, isMark, type Mark, UNSTORED } from "../../src/types.ts";
import { LogDir } from "../_fixtures/log_dir.ts";
import { waitFor } from "../_fixtures/wait.ts";

const decoder = new TextDecoder();

/** An Ingest attached to a Tail whose output is read through `reading()` into `chunks`. */
async function running(
  options: Partial<IngestOptions>,
): Promise<{
  ingest: Ingest;
  tail: Tail;
  chunks: Chunk[];
  marks: Mark[];
  text: (source: string) => string;
  stop: () => Promise<void>;
}> {
  const abort = new AbortController();
  const ingest = await Ingest.open({
    spool: null,
    segmentBytes: 1 << 20,
    maxBytes: 1 << 22,
    memoryBytes: 1 << 20,
    startAt: { kind: "end" },
    signal: abort.signal,
    ...options,
  });
  const tail = await Tail.start({
    paths: [],
    startAt: { kind: "end" },
    pollMs: null,
    signal: abort.signal,
  });
  ingest.attach(tail);
  const chunks: Chunk[] = [];
  const marks: Mark[] = [];
  const reading = (async () => {
    for await (const item of tail.readable.pipeThrough(ingest.reading())) {
      if (isMark(item)) marks.push(item);
      else chunks.push(item);
    }
  })();
  return {
    ingest,
    tail,
    chunks,
    marks,
    text: (source) =>
      chunks.filter((c) => c.source === source)
        .map((c) => decoder.decode(c.bytes)).join(""),
    stop: async () => {
      abort.abort();
      await reading;
      await tail.done;
      await ingest.close();
    },
  };
}

const accepted = (lines: number, duplicate = false): AppendResult => ({
  kind: "accepted",
  lines,
  duplicate,
});

Deno.test("Ingest with a spool: the first post to a name makes DIR/<name>/spool.log, followed from its first byte as ingest:<name>", async () => {
  await using dir = await LogDir.create();
  const run = await running({ spool: dir.file("spool") });
  try {
    assertEquals(await run.ingest.append("web", ["a", "b"], null), accepted(2));
    assertEquals(
      await Deno.readTextFile(dir.file("spool/web/spool.log")),
      "a\nb\n",
    );
    assertEquals(await run.ingest.append("web", ["c"], null), accepted(1));
    await waitFor(() => run.text("ingest:web") === "a\nb\nc\n", "the lines");
    const chunk = run.chunks.find((c) => c.source === "ingest:web")!;
    assert(chunk.file !== UNSTORED, "on disk");
    const found = await locate("ingest:web", chunk.file, run.tail.known);
    assertEquals(found?.path, dir.file("spool/web/spool.log"));
    assertEquals(run.tail.sources.map((s) => [s.source, s.path]), [
      ["ingest:web", dir.file("spool/web/spool.log")],
    ]);
  } finally {
    await run.stop();
  }
});

Deno.test("Ingest answers a retry with the same Idempotency-Key as the first post, without appending; another body with it is a conflict", async () => {
  await using dir = await LogDir.create();
  const run = await running({ spool: dir.file("spool") });
  try {
    const key = { key: "batch-1", digest: "aaa" };
    // Two at once (a client that timed out and retried), then one later.
    const [first, second] = await Promise.all([
      run.ingest.append("web", ["x", "y"], key),
      run.ingest.append("web", ["x", "y"], key),
    ]);
    assertEquals([first, second], [accepted(2), accepted(2, true)]);
    assertEquals(
      await run.ingest.append("web", ["x", "y"], key),
      accepted(2, true),
    );
    const other = await run.ingest.append("web", ["z"], {
      key: "batch-1",
      digest: "bbb",
    });
    assertEquals(other.kind, "conflict");
    assertEquals(
      await Deno.readTextFile(dir.file("spool/web/spool.log")),
      "x\ny\n",
    );
  } finally {
    await run.stop();
  }
  // After a restart, the key is still known.
  const again = await running({ spool: dir.file("spool") });
  try {
    assertEquals(
      await again.ingest.append("web", ["x", "y"], {
        key: "batch-1",
        digest: "aaa",
      }),
      accepted(2, true),
    );
  } finally {
    await again.stop();
  }
});

Deno.test("Ingest refuses with busy once what the spool holds unread would pass its bound, and takes posts again once it is read", async () => {
  await using dir = await LogDir.create();
  const abort = new AbortController();
  const ingest = await Ingest.open({
    spool: dir.file("spool"),
    segmentBytes: 4096,
    maxBytes: 8192,
    memoryBytes: 0,
    startAt: { kind: "end" },
    signal: abort.signal,
  });
  // Nobody reads: the pipeline is behind.
  const line = "x".repeat(1023);
  for (let i = 0; i < 8; i++) {
    assertEquals(await ingest.append("web", [line], null), accepted(1));
  }
  const busy = await ingest.append("web", [line], null);
  assertEquals(busy.kind, "busy");
  assert(busy.kind === "busy" && busy.retryAfter > 0);
  assert(
    busy.kind === "busy" && /spool of ingest:web is full/.test(busy.message),
  );
  // The reader catches up: room again.
  const { readable, writable } = ingest.reading();
  const writer = writable.getWriter();
  const spoolDir = dir.file("spool/web");
  for await (const e of Deno.readDir(spoolDir)) {
    if (!e.name.startsWith("spool.log")) continue;
    const path = `${spoolDir}/${e.name}`;
    const info = await Deno.stat(path);
    writer.write({
      source: "ingest:web",
      file: { dev: info.dev!, ino: info.ino! },
      offset: 0,
      bytes: await Deno.readFile(path),
      noticed: 0,
    });
  }
  writer.close();
  await readable.pipeTo(new WritableStream());
  assertEquals(await ingest.append("web", [line], null), accepted(1));
  abort.abort();
  await ingest.close();
});

Deno.test("Ingest without a spool holds posts in a ring per name, on no disk", async () => {
  const run = await running({ spool: null, memoryBytes: 4096 });
  try {
    assertEquals(await run.ingest.append("api", ["m1"], null), accepted(1));
    assertEquals(await run.ingest.append("api", ["m2", ""], null), accepted(2));
    await waitFor(() => run.text("ingest:api") === "m1\nm2\n\n", "the lines");
    assert(run.chunks.every((c) => c.file === UNSTORED));
    assertEquals(run.tail.sources.map((s) => [s.source, s.path]), [
      ["ingest:api", null],
    ]);
  } finally {
    await run.stop();
  }
  const after = await run.ingest.append("api", ["late"], null);
  assertEquals(after.kind, "unavailable");
});

Deno.test(`Ingest takes posts for at most ${MAX_INGEST_NAMES} names, each a name safe in a path`, async () => {
  const run = await running({ spool: null, memoryBytes: 4096 });
  try {
    for (let i = 0; i < MAX_INGEST_NAMES; i++) {
      assertEquals(await run.ingest.append(`n${i}`, ["x"], null), accepted(1));
    }
    const refused = await run.ingest.append("one-more", ["x"], null);
    assertEquals(refused.kind, "refused");
    // A name that is not one is refused whatever the count.
    assertEquals(
      (await run.ingest.append("../n0", ["x"], null)).kind,
      "refused",
    );
    assertEquals(await run.ingest.append("n0", ["x"], null), accepted(1));
  } finally {
    await run.stop();
  }
});

Deno.test("Ingest after a restart follows the names spooled before and knows every spool file for resumes", async () => {
  await using dir = await LogDir.create();
  const options = { spool: dir.file("spool"), segmentBytes: 4096 };
  const first = await running(options);
  for (let i = 0; i < 3; i++) {
    await first.ingest.append("web", ["y".repeat(3000)], null);
  }
  await waitFor(
    () => first.text("ingest:web").length === 3 * 3001,
    "the first run's lines",
  );
  const files = [...new Set(first.chunks.map((c) => JSON.stringify(c.file)))];
  assertEquals(files.length, 3, "three spool files");
  await first.stop();
  const second = await running(options);
  try {
    await waitFor(
      () => second.marks.some((m) => m.kind === "appear"),
      "the spool followed again",
    );
    // From the end: what is there was read by the first run.
    assertEquals(second.text("ingest:web"), "");
    // But every byte of every spool file can be replayed: it was acknowledged.
    assertEquals(
      second.tail.known.of("ingest:web").map((k) => k.from),
      [0, 0, 0],
    );
    for (const f of files) {
      const found = await locate(
        "ingest:web",
        JSON.parse(f),
        second.tail.known,
      );
      assert(found !== null, `spool file ${f} can be read back`);
    }
    await second.ingest.append("web", ["z"], null);
    await waitFor(() => second.text("ingest:web") === "z\n", "a new line");
  } finally {
    await second.stop();
  }
});

Deno.test("Ingest.attach hands the cursors the previous run saved (--state) to the spool: what they did not deliver counts as unread", async () => {
  await using dir = await LogDir.create();
  const options = {
    spool: dir.file("spool"),
    segmentBytes: 1 << 20,
    maxBytes: 8192,
    memoryBytes: 0,
    startAt: { kind: "end" as const },
  };
  const abort = new AbortController();
  const line = "x".repeat(1023);
  const first = await Ingest.open({ ...options, signal: abort.signal });
  for (let i = 0; i < 4; i++) await first.append("web", [line], null);
  await first.close();
  const second = await Ingest.open({ ...options, signal: abort.signal });
  const tail = await Tail.start({
    paths: [],
    startAt: { kind: "end" },
    pollMs: null,
    signal: abort.signal,
  });
  const info = await Deno.stat(dir.file("spool/web/spool.log"));
  const file = { dev: info.dev!, ino: info.ino! };
  // The first line was delivered, the other three were not.
  second.attach(
    tail,
    (source) =>
      source === "ingest:web"
        ? [{ source, file, head: new Uint8Array(0), offset: 1024 }]
        : [],
  );
  const big = await second.append("web", ["y".repeat(6000)], null);
  assertEquals(big.kind, "busy");
  assert(
    big.kind === "busy" &&
      big.message.includes("3072 bytes posted are not read"),
    big.kind === "busy" ? big.message : big.kind,
  );
  abort.abort();
  await tail.done;
  await second.close();
});

Deno.test("Ingest.open refuses a spool directory it cannot write, naming --spool", async () => {
  await using dir = await LogDir.create();
  await Deno.writeTextFile(dir.file("file"), "");
  const error = await assertRejects(
    () =>
      Ingest.open({
        spool: dir.file("file/spool"),
        segmentBytes: 4096,
        maxBytes: 8192,
        memoryBytes: 0,
        startAt: { kind: "end" },
        signal: new AbortController().signal,
      }),
    ConfigError,
  );
  assertEquals(error.flag, "--spool");
  assert(error.message.includes("leave --spool out"), error.message);
});
