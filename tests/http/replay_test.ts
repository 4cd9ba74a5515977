/**
 * The resume seams of the SSE route, without a server: a real file, the
 * journal, the known files and the live stages, and a subscriber that comes
 * back with an id, falls behind, or names a file tailcast never followed.
 */
import { assert, assertEquals } from "@std/assert";
import { SseRoute } from "../../src/http/route.ts";
import { Hub } from "../../src/sink/hub.ts";
import type { Batch } from "../../src/sink/batch.ts";
import { Journal } from "../../src/sink/journal.ts";
import { fileId } from "../../src/source/identity.ts";
import { KnownFiles } from "../../src/source/known.ts";
import { LineStream } from "../../src/stage/lines.ts";
import { ParseStream, toEvents } from "../../src/stage/parse.ts";
import type { Chunk, FileId, Line, Mark, Notice } from "../../src/types.ts";
import { LogDir } from "../_fixtures/log_dir.ts";
import { within } from "../_fixtures/wait.ts";
import { StreamLog } from "../../src/nats/log.ts";
import { encodeBatch } from "../../src/nats/wire.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** What the live pipeline would do for one followed file: write, then publish as batches. */
class Live {
  readonly hub = new Hub();
  readonly journal: Journal;
  readonly known = new KnownFiles();
  readonly path: string;
  file!: FileId;
  #size = 0;

  /** Follows `path` (from byte `size`: what is there was read by an earlier process). */
  constructor(path: string, epoch = "e1", size = 0) {
    this.path = path;
    this.journal = new Journal({ epoch });
    this.#size = size;
  }

  /** Appends lines to the file and publishes them as one batch. */
  async write(...texts: string[]): Promise<Batch> {
    const f = await Deno.open(this.path, {
      append: true,
      create: true,
      write: true,
    });
    try {
      const text = texts.map((t) => t + "\n").join("");
      await f.write(encoder.encode(text));
      this.file ??= fileId(await f.stat());
    } finally {
      f.close();
    }
    const lines: Line[] = [];
    for (const t of texts) {
      const end = this.#size + encoder.encode(t).length + 1;
      lines.push({
        source: this.path,
        file: this.file,
        offset: this.#size,
        end,
        text: t,
        noticed: 0,
      });
      this.#size = end;
    }
    this.known.head(
      this.path,
      this.file,
      (await Deno.readFile(this.path)).slice(0, 64),
    );
    const batch = this.journal.batch(
      this.path,
      this.file,
      toEvents(lines, "t"),
    );
    this.hub.publish({ type: "batch", batch });
    return batch;
  }

  notice(notice: Notice): void {
    const { seq, id } = this.journal.message({ type: "notice", notice });
    this.hub.publish({ type: "notice", seq, id, notice });
  }

  route(options: { queue?: number } = {}): SseRoute {
    return new SseRoute(this.hub, {
      heartbeatMs: 60_000,
      queue: options.queue,
      replay: {
        journal: this.journal,
        known: this.known,
        events: (chunks: ReadableStream<Chunk | Mark>) =>
          chunks.pipeThrough(new LineStream()).pipeThrough(new ParseStream()),
      },
    });
  }
}

/** The `line` events and other event types of an SSE text, in order. */
function parse(
  text: string,
): { lines: string[]; ids: string[]; kinds: string[] } {
  const lines: string[] = [];
  const ids: string[] = [];
  const kinds: string[] = [];
  for (const frame of text.split("\n\n")) {
    const kind = /^event: (.*)$/m.exec(frame)?.[1];
    const data = /^data: (.*)$/m.exec(frame)?.[1];
    const id = /^id: (.*)$/m.exec(frame)?.[1];
    if (kind === undefined) continue;
    kinds.push(kind);
    if (kind === "line" && data) lines.push(JSON.parse(data).line);
    if (id) ids.push(id);
  }
  return { lines, ids, kinds };
}

/** Reads the body until `done(text)` holds. */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  done: (text: string) => boolean,
): Promise<string> {
  let text = "";
  while (!done(text)) {
    const r = await within(reader.read(), 5000, "a body chunk");
    if (r.done) break;
    text += decoder.decode(r.value);
  }
  return text;
}

function request(params: string, lastEventId?: string): Request {
  return new Request(`http://localhost/events?${params}`, {
    headers: lastEventId ? { "last-event-id": lastEventId } : {},
  });
}

Deno.test("SseRoute resumes from a journal id exactly once: the rest of its batch, later batches and notices in order, then live", async () => {
  await using dir = await LogDir.create();
  const live = new Live(dir.file("app.log"));
  const route = live.route();
  const first = await live.write("a1", "a2", "a3");
  await live.write("b1");
  live.notice({ kind: "vanish", source: live.path });
  await live.write("c1", "c2");
  // The client had a2: it resumes after it.
  const reader = (await route.handle(request("", first.id(1)))).body!
    .getReader();
  const text = await readUntil(reader, (t) => parse(t).lines.length >= 4);
  assertEquals(parse(text).lines, ["a3", "b1", "c1", "c2"]);
  assertEquals(parse(text).kinds, ["line", "line", "vanish", "line", "line"]);
  // The replayed ids are the ones the events had live.
  assertEquals(parse(text).ids.at(-1)!.split("~")[0], "2.e1.4.i");
  const more = await live.write("d1");
  const next = await readUntil(reader, (t) => t.includes("d1"));
  assertEquals(parse(next).lines, ["d1"]);
  assertEquals(parse(next).ids, [more.id(0)]);
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute catches a subscriber whose queue overflowed up from the journal and the file: every line once, in order", async () => {
  await using dir = await LogDir.create();
  const live = new Live(dir.file("app.log"));
  const route = live.route({ queue: 2 });
  const reader = (await route.handle(request(""))).body!.getReader();
  await readUntil(reader, (t) => t.includes(": tailcast"));
  // It reads nothing while ten batches are published: its queue of two overflows.
  const pending = reader.read();
  const wrote: string[] = [];
  for (let i = 0; i < 10; i++) {
    const text = `line ${i}`;
    wrote.push(text);
    await live.write(text);
  }
  live.notice({ kind: "vanish", source: live.path });
  const firstChunk = decoder.decode(
    (await within(pending, 5000, "first")).value,
  );
  const text = firstChunk +
    await readUntil(
      reader,
      (t) => parse(firstChunk + t).kinds.includes("vanish"),
    );
  const got = parse(text);
  assertEquals(got.lines, wrote);
  assertEquals(
    got.kinds.at(-1),
    "vanish",
    "the notice kept its place after the lines",
  );
  assert(!got.kinds.includes("gap"), "no gap: the file held what was dropped");
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute resumes from the file positions an id carries when its journal is gone (a restart)", async () => {
  await using dir = await LogDir.create();
  const before = new Live(dir.file("app.log"), "old");
  const first = await before.write("a1", "a2");
  // A new process: a new journal, the file known again (it follows it).
  const after = new Live(
    dir.file("app.log"),
    "new",
    (await Deno.stat(dir.file("app.log"))).size,
  );
  after.file = before.file;
  await after.write("b1");
  const route = after.route();
  const id = first.id(0);
  assert(id.includes("~"), "the id carries the file entries");
  const reader = (await route.handle(request("", id))).body!.getReader();
  const text = await readUntil(reader, (t) => parse(t).lines.length >= 2);
  assertEquals(parse(text).lines, ["a2", "b1"]);
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute never reads a file the cursor names but tailcast did not follow: a gap, and the secret stays unread", async () => {
  await using dir = await LogDir.create();
  const live = new Live(dir.file("app.log"));
  await live.write("public");
  // A sibling whose name starts like the followed file, never followed.
  await Deno.writeTextFile(dir.file("app-secrets.env"), "PASSWORD=hunter2\n");
  const secret = fileId(await Deno.stat(dir.file("app-secrets.env")));
  const route = live.route();
  const hash = (await import("../../src/sink/cursor.ts")).pathHash(live.path);
  const cursor = `1~${hash}.${secret.dev.toString(36)}.${
    secret.ino.toString(36)
  }.0`;
  const reader = (await route.handle(request("", cursor))).body!.getReader();
  await live.write("after");
  const text = await readUntil(reader, (t) => t.includes("after"));
  assert(!text.includes("hunter2"), text);
  assertEquals(parse(text).kinds[0], "gap");
  assert(text.includes('"cause":"unknown-file"'), text);
  await reader.cancel();
  await route.close(0);
});

Deno.test("SseRoute gives an id of another process with no file entries a resume-expired gap, then live", async () => {
  await using dir = await LogDir.create();
  const live = new Live(dir.file("app.log"));
  await live.write("one");
  const route = live.route();
  const reader = (await route.handle(request("since=2.zz.5.a"))).body!
    .getReader();
  const text = await readUntil(reader, (t) => t.includes("resume-expired"));
  assertEquals(parse(text).kinds, ["gap"]);
  await live.write("two");
  const next = await readUntil(reader, (t) => t.includes("two"));
  assertEquals(parse(next).lines, ["two"]);
  await reader.cancel();
  await route.close(0);
});

/** A gateway's route over a StreamLog that has read message 1 and 2 of a stream; `message(seq)` reads one more. */
function gatewayRoute(
  o: { heard: number; lastOfStream?: () => Promise<number> },
) {
  const log = new StreamLog({
    epoch: "ep",
    first: 1,
    memory: 100,
    read: async function* () {},
    lastOfStream: o.lastOfStream,
  });
  log.startAt(1);
  log.heard(1, o.heard);
  const hub = new Hub();
  const route = new SseRoute(hub, {
    replay: {
      journal: log,
      known: new KnownFiles(),
      events: (c) => c as never,
    },
  });
  const message = (seq: number) => {
    const ends = [seq * 10 + 1, seq * 10 + 2];
    const json = ends.map((end) =>
      JSON.stringify({
        id: "",
        source: "h:/a",
        line: `m${seq}@${end}`,
        time: "t",
      })
    );
    const m = log.append(
      seq,
      encodeBatch({
        host: "h",
        source: "/a",
        dev: 1,
        ino: 2,
        from: ends[0] - 1,
        to: ends[1],
        ends,
        files: [],
      }, json),
    );
    hub.publish(m!);
  };
  message(1);
  message(2);
  return {
    route,
    message,
    async [Symbol.asyncDispose]() {
      hub.close();
      await route.close(0);
    },
  };
}

for (
  const [what, heard, lastOfStream] of [
    ["heard of", 5, undefined],
    // Its wake-ups were lost in a failover: it asks the stream.
    ["not heard of but in the stream", 2, () => Promise.resolve(5)],
    [
      "not heard of, and the stream cannot be asked",
      2,
      () => Promise.reject(new Error("no leader")),
    ],
  ] as const
) {
  Deno.test(`SseRoute: a client whose position a gateway's log has not reached yet (${what}) is sent only what comes after it, live`, async () => {
    await using g = gatewayRoute({ heard, lastOfStream });
    // The client got the first line of message 4 from another gateway.
    const reader = (await g.route.handle(request("", "2.ep.4.15"))).body!
      .getReader();
    await readUntil(reader, (t) => t.includes(": tailcast"));
    for (const seq of [3, 4, 5]) g.message(seq);
    const text = await readUntil(reader, (t) => parse(t).lines.length >= 3);
    assertEquals(parse(text).lines, ["m4@42", "m5@51", "m5@52"]);
    assertEquals(parse(text).ids, ["2.ep.4.16", "2.ep.5.1f", "2.ep.5.1g"]);
    await reader.cancel();
  });
}

Deno.test("SseRoute: a position of the gateway's stream that was never published (a forged id) gets a resume-expired gap, then live", async () => {
  await using g = gatewayRoute({
    heard: 2,
    lastOfStream: () => Promise.resolve(5),
  });
  const reader = (await g.route.handle(request("", "2.ep.9.15"))).body!
    .getReader();
  const gap = await readUntil(reader, (t) => t.includes("resume-expired"));
  assertEquals(parse(gap).kinds, ["gap"]);
  g.message(3);
  const text = await readUntil(reader, (t) => parse(t).lines.length >= 2);
  assertEquals(parse(text).lines, ["m3@31", "m3@32"]);
  await reader.cancel();
});
