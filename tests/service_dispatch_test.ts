/**
 * The dispatcher of the service (src/service.ts), in-process: a run without
 * a server (`--no-server`) on temp files, stdout a WritableStream the test
 * reads, and a subscriber on the hub that records every message in publish
 * order. What becomes a journal batch, where alerts and notices go between
 * them, what the metrics count, and which cursor `--state` keeps.
 */
import { assert, assertEquals, assertGreater } from "@std/assert";
import type { Message } from "../src/sink/hub.ts";
import { fileId, sameFile } from "../src/source/identity.ts";
import type { FileId } from "../src/types.ts";
import { LogDir } from "./_fixtures/log_dir.ts";
import { startService } from "./_fixtures/service.ts";
import { waitFor, within } from "./_fixtures/wait.ts";

const decoder = new TextDecoder();

/** A service started in `dir`, its stdout, its log, and every hub message in publish order. */
async function start(
  dir: LogDir,
  args: string[],
  options: { file?: string; stdout?: WritableStream<Uint8Array> } = {},
) {
  const messages: Message[] = [];
  let draining: Promise<void> = Promise.resolve();
  const { service, out, log } = await startService(dir, args, {
    ...options,
    onStart: (s) => {
      const sub = s.hub.subscribe({
        capacity: 1_000_000,
        policy: "drop-oldest",
      });
      draining = (async () => {
        for (let m = await sub.next(); m; m = await sub.next()) {
          messages.push(...m);
        }
      })();
    },
  });
  return {
    service,
    out,
    log,
    messages,
    /** Stops the service and waits for the recorder to see the hub close. */
    stop: async () => {
      const flushed = await within(service.stop(), 5000, "the stop");
      await draining;
      return flushed;
    },
  };
}

/** The NDJSON lines written to stdout. */
function lines(out: Uint8Array[]): string[] {
  return out.flatMap((chunk) =>
    decoder.decode(chunk).split("\n").filter(Boolean).map((l) =>
      JSON.parse(l).line
    )
  );
}

/** The batches among the messages. */
function batches(messages: Message[]) {
  return messages.flatMap((m) => m.type === "batch" ? [m.batch] : []);
}

/** Each message in short: `batch:<lines>`, `notice:<kind>`, `alert:<rule>`. */
function outline(messages: Message[]): string[] {
  return messages.map((m) =>
    m.type === "batch"
      ? `batch:${m.batch.events.map((e) => e.line).join(",")}`
      : m.type === "notice"
      ? `notice:${m.notice.kind}`
      : `alert:${m.alert.rule}`
  );
}

const idOf = async (path: string): Promise<FileId> =>
  fileId(await Deno.stat(path));

Deno.test("dispatcher: events of two files of one path, flushed together, become two journal batches, the rotated file's first", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", "START old\n  more old\n");
  const s = await start(
    dir,
    ["--no-server", "--output", "ndjson", "--from", "start"],
    {
      file: JSON.stringify({
        // Events held until the stop: the stop flushes both files' at once.
        sources: [{
          path: "app.log",
          multiline: { start: "^START", flushMs: 3_600_000 },
        }],
      }),
    },
  );
  await s.service.tail.ready;
  const old = await idOf(path);
  await dir.rename("app.log", "app.log.1");
  await dir.append("app.log", "START new\n  more new\n");
  const fresh = await idOf(path);
  await waitFor(
    () =>
      s.service.tail.sources.some((x) =>
        x.position !== null && sameFile(x.position.file, fresh) &&
        x.position.offset === 21
      ),
    "the new file read to its end",
  );
  assertEquals(batches(s.messages), [], "nothing is published before the stop");
  assert(await s.stop());
  const got = batches(s.messages);
  assertEquals(
    got.map((b) => [b.source, b.file, b.events.map((e) => e.line)]),
    [
      [path, old, ["START old\n  more old"]],
      [path, fresh, ["START new\n  more new"]],
    ],
  );
  assertGreater(got[1].seq, got[0].seq);
  assertEquals(lines(s.out), [
    "START old\n  more old",
    "START new\n  more new",
  ]);
});

Deno.test("dispatcher: events of two paths flushed together become one journal batch per path, in the order they came", async () => {
  await using dir = await LogDir.create();
  await dir.append("a.log", "START a\n  more a\n");
  await dir.append("b.log", "START b\n  more b\n");
  const multiline = { start: "^START", flushMs: 3_600_000 };
  const s = await start(
    dir,
    ["--no-server", "--output", "ndjson", "--from", "start"],
    {
      file: JSON.stringify({
        sources: [
          { path: "a.log", multiline },
          { path: "b.log", multiline },
        ],
      }),
    },
  );
  await s.service.tail.ready;
  assert(await s.stop());
  const got = batches(s.messages);
  assertEquals(got.length, 2);
  assertEquals(
    got.map((b) => b.source).sort(),
    [dir.file("a.log"), dir.file("b.log")],
  );
  for (const b of got) {
    assertEquals(b.count, 1, "one event, of one file, per batch");
    assertEquals(b.events[0].source, b.source);
  }
  assertGreater(got[1].seq, got[0].seq);
  // stdout took them in the same order.
  assertEquals(lines(s.out), got.map((b) => b.events[0].line));
});

Deno.test("dispatcher: a run longer than stdout's queue is published as batches of at most 8192 events, every line once and in order", async () => {
  await using dir = await LogDir.create();
  const n = 20_000;
  await dir.append("app.log", "x\n".repeat(n));
  const s = await start(dir, [
    "--no-server",
    "--output",
    "ndjson",
    "--from",
    "start",
    "app.log",
  ]);
  await s.service.tail.ready;
  await waitFor(
    () => batches(s.messages).reduce((t, b) => t + b.count, 0) === n,
    "every line published",
  );
  assert(await s.stop());
  const got = batches(s.messages);
  for (const b of got) assert(b.count <= 8192, `a batch of ${b.count}`);
  const offsets = got.flatMap((b) => b.events.map((e) => e.offset));
  assertEquals(offsets, Array.from({ length: n }, (_, i) => i * 2));
  assertEquals(lines(s.out).length, n);
});

Deno.test("dispatcher: an alert a batch fires is published after that whole batch, never before its lines", async () => {
  await using dir = await LogDir.create();
  await dir.append("app.log", "before\nBOOM here\nafter\n");
  const s = await start(dir, [
    "--no-server",
    "--output",
    "ndjson",
    "--from",
    "start",
    "--alert",
    "boom: grep BOOM 1 in 1m",
    "app.log",
  ]);
  await s.service.tail.ready;
  await waitFor(
    () => s.messages.some((m) => m.type === "alert"),
    "the alert",
  );
  assert(await s.stop());
  const shown = outline(s.messages).filter((x) => !x.startsWith("notice:"));
  assertEquals(shown, ["batch:before,BOOM here,after", "alert:boom"]);
  const batch = batches(s.messages)[0];
  const alert = s.messages.find((m) => m.type === "alert")!;
  assert(alert.type === "alert");
  assertEquals(alert.seq, batch.seq + 1, "the journal entry right after it");
  assert(
    s.log.some((l) => l.startsWith("tailcast: alert: ")),
    s.log.join("\n"),
  );
});

Deno.test("dispatcher: a notice is published between the lines read before it and the lines after it", async () => {
  await using dir = await LogDir.create();
  await dir.append("app.log", "aaaa\nbbbb\n");
  const s = await start(dir, [
    "--no-server",
    "--output",
    "ndjson",
    "--from",
    "start",
    "app.log",
  ]);
  await waitFor(() => batches(s.messages).length === 1, "the first lines");
  // Truncated and written again, shorter than before: the follower tells the
  // truncation, then reads the new line, in one stream.
  await dir.truncate("app.log");
  await dir.append("app.log", "c\n");
  await waitFor(() => batches(s.messages).length === 2, "the line after");
  assert(await s.stop());
  const shown = outline(s.messages).filter((x) =>
    x.startsWith("batch:") || x === "notice:truncate"
  );
  assertEquals(shown, ["batch:aaaa,bbbb", "notice:truncate", "batch:c"]);
  const seqs = s.messages.flatMap((m) =>
    m.type === "batch"
      ? [m.batch.seq]
      : m.type === "notice" && m.notice.kind === "truncate"
      ? [m.seq]
      : []
  );
  assertEquals(seqs, [...seqs].sort((a, b) => a - b), "journal order");
  const truncated = s.log.findIndex((l) => /truncated/.test(l));
  assert(truncated !== -1, s.log.join("\n"));
  assertEquals(lines(s.out), ["aaaa", "bbbb", "c"]);
});

/** The value of `name` (for `source` when it has that label) in a metrics text. */
function metric(text: string, name: string, source: string): number | null {
  const line = text.split("\n").find((l) =>
    l.startsWith(`${name}{source=${JSON.stringify(source)}} `) ||
    l.startsWith(`${name} `)
  );
  return line === undefined ? null : Number(line.split(" ").at(-1));
}

Deno.test("dispatcher: metrics count per batch the lines and bytes read and the events published", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", "line 1\nline 2\nline 3\n");
  const s = await start(dir, [
    "--no-server",
    "--output",
    "ndjson",
    "--from",
    "start",
    "app.log",
  ]);
  await waitFor(() => batches(s.messages).length === 1, "the first batch");
  await dir.append("app.log", "line 4\n");
  await waitFor(() => batches(s.messages).length === 2, "the second batch");
  assert(await s.stop());
  const text = s.service.metrics.render();
  assertEquals(metric(text, "tailcast_lines_read_total", path), 4);
  assertEquals(metric(text, "tailcast_bytes_read_total", path), 28);
  assertEquals(metric(text, "tailcast_events_published_total", path), 4);
});

Deno.test("dispatcher: metrics count a filtered line as read, not as published", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", "drop 0\nkeep 1\nkeep 2\n");
  const s = await start(dir, [
    "--no-server",
    "--output",
    "ndjson",
    "--from",
    "start",
    "--exclude",
    "drop",
    "app.log",
  ]);
  await waitFor(() => batches(s.messages).length === 1, "the batch");
  assert(await s.stop());
  const text = s.service.metrics.render();
  assertEquals(metric(text, "tailcast_lines_read_total", path), 3);
  assertEquals(metric(text, "tailcast_bytes_read_total", path), 21);
  assertEquals(metric(text, "tailcast_events_published_total", path), 2);
  assertEquals(lines(s.out), ["keep 1", "keep 2"]);
});

// A line the filters drop between two kept lines of one batch is counted
// once: by the stages as read; the dispatcher counts each kept event's own
// bytes, not the span from the batch's first offset to its last end.
Deno.test({
  name:
    "dispatcher: metrics count the bytes of a line filtered out between two kept lines once",
  fn: async () => {
    await using dir = await LogDir.create();
    const path = dir.file("app.log");
    await dir.append("app.log", "keep 1\ndrop 2\nkeep 3\nkeep 4\n");
    const s = await start(dir, [
      "--no-server",
      "--output",
      "ndjson",
      "--from",
      "start",
      "--exclude",
      "drop",
      "app.log",
    ]);
    await waitFor(() => batches(s.messages).length === 1, "the batch");
    assert(await s.stop());
    const text = s.service.metrics.render();
    assertEquals(metric(text, "tailcast_lines_read_total", path), 4);
    assertEquals(metric(text, "tailcast_bytes_read_total", path), 28);
  },
});

Deno.test("dispatcher with --state: the cursor kept is that of what stdout took, not of what was published", async () => {
  await using dir = await LogDir.create();
  const state = dir.file("state.json");
  const path = dir.file("app.log");
  await dir.append("app.log", "a\nb\n");
  // Takes the first write at once, then holds the next one until released.
  const taken: Uint8Array[] = [];
  const held = Promise.withResolvers<void>();
  let holding = false;
  const stdout = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (taken.length > 0) {
        holding = true;
        await held.promise;
      }
      taken.push(chunk);
    },
  });
  const s = await start(dir, [
    "--no-server",
    "--output",
    "ndjson",
    "--from",
    "start",
    "--state",
    state,
    "app.log",
  ], { stdout });
  const store = s.service.state!;
  const offset = () =>
    store.cursors.find((c) => c.source === path)?.offset ?? null;
  await waitFor(() => offset() === 4, "the cursor of the first write");
  await dir.append("app.log", "c\n");
  await waitFor(() => holding, "stdout holding the second write");
  // Published (the journal's seam moved), not delivered: the cursor stays.
  const published = s.service.journal.seam().get(path)!.at(-1)!.offset;
  assertEquals(published, 6);
  assertEquals(offset(), 4);
  held.resolve();
  await waitFor(() => offset() === 6, "the cursor of the second write");
  assert(await s.stop());
  assertEquals(lines(taken), ["a", "b", "c"]);
  const saved = JSON.parse(await Deno.readTextFile(state)).files;
  assertEquals(
    saved.map((f: { source: string; offset: number }) => [f.source, f.offset]),
    [[path, 6]],
  );
});
