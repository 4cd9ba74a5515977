import { assert, assertEquals } from "@std/assert";
import { lastLinesOffset } from "../../src/source/bytes.ts";
import {
  Follower,
  type FollowerOptions,
  startOffset,
} from "../../src/source/follow.ts";
import { Holders } from "../../src/source/identity.ts";
import { Wakeup, Watcher } from "../../src/source/watch.ts";
import {
  type Chunk,
  type FileId,
  isMark,
  type Notice,
  type StartAt,
} from "../../src/types.ts";
import { LogDir } from "../_fixtures/log_dir.ts";
import { waitFor } from "../_fixtures/wait.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A follower read in the background, with everything it emitted. */
class Run implements AsyncDisposable {
  readonly chunks: Chunk[] = [];
  readonly notices: Notice[] = [];
  readonly follower: Follower;
  readonly #abort = new AbortController();
  readonly #reading: Promise<void>;

  constructor(
    path: string,
    startAt: StartAt,
    watcher: Watcher,
    holders = new Holders(),
    options: Partial<FollowerOptions> = {},
  ) {
    this.follower = new Follower({
      source: path,
      startAt,
      wakeup: watcher.file(path),
      holders,
      notice: (n) => this.notices.push(n),
      signal: this.#abort.signal,
      ...options,
    });
    const readable = this.follower.readable;
    this.#reading = (async () => {
      for await (const item of readable) {
        if (!isMark(item)) this.chunks.push(item);
      }
    })();
  }

  /** Everything read from the file `id` (every file if none), as text. */
  text(id?: FileId): string {
    return this.chunks
      .filter((c) => !id || (c.file.dev === id.dev && c.file.ino === id.ino))
      .map((c) => decoder.decode(c.bytes))
      .join("");
  }

  kinds(): string[] {
    return this.notices.map((n) => n.kind);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#abort.abort();
    await this.#reading;
    await this.follower.done;
  }
}

async function idOf(path: string): Promise<FileId> {
  const info = await Deno.stat(path);
  return { dev: info.dev!, ino: info.ino! };
}

/** Polling keeps these tests independent of filesystem events. */
function pollingWatcher(): Watcher {
  return new Watcher({ mode: "polling", pollMs: 20 });
}

// lastLinesOffset / startOffset

/** `tail -n` by the definition: where the last `n` lines start. */
function reference(bytes: Uint8Array, n: number): number {
  if (n <= 0) return bytes.length;
  if (bytes.length === 0) return 0;
  const starts = [0];
  for (let i = 0; i < bytes.length - 1; i++) {
    if (bytes[i] === 0x0a) starts.push(i + 1);
  }
  return n >= starts.length ? 0 : starts[starts.length - n];
}

/** Writes `bytes` to a file and asks where to start in it. */
async function offsetIn(
  dir: LogDir,
  bytes: Uint8Array,
  startAt: StartAt,
): Promise<number> {
  const path = dir.file("table.log");
  await Deno.writeFile(path, bytes);
  using file = await Deno.open(path, { read: true });
  return await startOffset(file, bytes.length, startAt);
}

async function lastLines(
  dir: LogDir,
  bytes: Uint8Array,
  count: number,
): Promise<number> {
  const path = dir.file("table.log");
  await Deno.writeFile(path, bytes);
  using file = await Deno.open(path, { read: true });
  return await lastLinesOffset(file, bytes.length, count);
}

Deno.test("lastLinesOffset finds where the last n lines start", async () => {
  await using dir = await LogDir.create();
  const table: [string, number, number][] = [
    // [content, n, offset]
    ["", 3, 0],
    ["", 0, 0],
    ["a\nb\nc\n", 0, 6],
    ["a\nb\nc\n", 1, 4],
    ["a\nb\nc\n", 2, 2],
    ["a\nb\nc\n", 3, 0],
    ["a\nb\nc\n", 10, 0],
    // No trailing newline: the unterminated last line counts as a line.
    ["a\nb\nc", 1, 4],
    ["a\nb\nc", 2, 2],
    ["a\nb\nc", 5, 0],
    ["abc", 1, 0],
    // Only newlines: each is an empty line.
    ["\n\n\n", 1, 2],
    ["\n\n\n", 2, 1],
    ["\n\n\n", 3, 0],
    ["\n\n\n", 4, 0],
    ["\n", 1, 0],
    // Empty lines in the middle.
    ["a\n\n\nb\n", 2, 3],
    ["a\r\nb\r\n", 1, 3],
  ];
  for (const [content, n, expected] of table) {
    const bytes = encoder.encode(content);
    const got = await lastLines(dir, bytes, n);
    assertEquals(got, expected, `${JSON.stringify(content)} n=${n}`);
    assertEquals(reference(bytes, n), expected, "reference disagrees");
  }
});

Deno.test("lastLinesOffset handles lines spanning the 64 KiB block boundary", async () => {
  await using dir = await LogDir.create();
  const block = 64 * 1024;
  // Newlines right before and right at the start of the last block, then one
  // line filling the rest of it.
  const head = "x\n".repeat(100) + "y".repeat(block + 17) + "\n" + "\n";
  const tail = "z".repeat(block - 2) + "\n";
  const text = head + tail;
  const bytes = encoder.encode(text);
  assertEquals(bytes[bytes.length - block - 1], 0x0a);
  assertEquals(bytes[bytes.length - block], 0x0a);
  assertEquals(bytes[bytes.length - block + 1], 0x7a);
  for (const n of [0, 1, 2, 3, 4, 50, 101, 102, 103, 200]) {
    const got = await lastLines(dir, bytes, n);
    assertEquals(got, reference(bytes, n), `n=${n}`);
  }
  // Several blocks of lines of varied length, from a fixed seed.
  let seed = 12345;
  const random = () =>
    (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  let varied = "";
  while (varied.length < 5 * block) {
    varied += "v".repeat(Math.floor(random() * 3000)) + "\n";
  }
  const variedBytes = encoder.encode(varied + "unterminated");
  const lines = varied.split("\n").length;
  for (let n = 0; n <= lines + 1; n += 7) {
    const got = await lastLines(dir, variedBytes, n);
    assertEquals(got, reference(variedBytes, n), `varied n=${n}`);
  }
});

Deno.test("startOffset reads from 0 for start and from the size for end", async () => {
  await using dir = await LogDir.create();
  const bytes = encoder.encode("one\ntwo\n");
  assertEquals(await offsetIn(dir, bytes, { kind: "start" }), 0);
  assertEquals(await offsetIn(dir, bytes, { kind: "end" }), 8);
  assertEquals(await offsetIn(dir, bytes, { kind: "lines", count: 1 }), 4);
});

Deno.test("startOffset starts at line N, the last N bytes or byte N, like tail -n +N, -c N and -c +N", async () => {
  await using dir = await LogDir.create();
  const table: [string, StartAt, number][] = [
    // tail -n +N: after the (N-1)th newline; past the last line, nothing.
    ["a\nb\nc\n", { kind: "fromLine", line: 1 }, 0],
    ["a\nb\nc\n", { kind: "fromLine", line: 2 }, 2],
    ["a\nb\nc\n", { kind: "fromLine", line: 3 }, 4],
    ["a\nb\nc\n", { kind: "fromLine", line: 4 }, 6],
    ["a\nb\nc\n", { kind: "fromLine", line: 9 }, 6],
    ["a\nb\nc", { kind: "fromLine", line: 3 }, 4],
    ["a\nb\nc", { kind: "fromLine", line: 4 }, 5],
    ["\n\n\n", { kind: "fromLine", line: 3 }, 2],
    ["", { kind: "fromLine", line: 2 }, 0],
    // tail -c N: the last N bytes, or all of a shorter file.
    ["a\nb\nc\n", { kind: "bytes", count: 0 }, 6],
    ["a\nb\nc\n", { kind: "bytes", count: 3 }, 3],
    ["a\nb\nc\n", { kind: "bytes", count: 6 }, 0],
    ["a\nb\nc\n", { kind: "bytes", count: 100 }, 0],
    // tail -c +N: from byte N, counted from 1.
    ["a\nb\nc\n", { kind: "fromByte", byte: 1 }, 0],
    ["a\nb\nc\n", { kind: "fromByte", byte: 4 }, 3],
    ["a\nb\nc\n", { kind: "fromByte", byte: 7 }, 6],
    ["a\nb\nc\n", { kind: "fromByte", byte: 100 }, 6],
  ];
  for (const [content, startAt, expected] of table) {
    const got = await offsetIn(dir, encoder.encode(content), startAt);
    assertEquals(
      got,
      expected,
      `${JSON.stringify(content)} ${JSON.stringify(startAt)}`,
    );
  }
});

Deno.test("startOffset finds line N of a file several 64 KiB blocks long", async () => {
  await using dir = await LogDir.create();
  // Lines of varied length from a fixed seed, several blocks long.
  let seed = 777;
  const random = () =>
    (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const lines: string[] = [];
  let size = 0;
  while (size < 5 * 64 * 1024) {
    const line = "w".repeat(Math.floor(random() * 4000)) + "\n";
    lines.push(line);
    size += line.length;
  }
  const bytes = encoder.encode(lines.join(""));
  for (let n = 1; n <= lines.length + 1; n += 13) {
    const expected = lines.slice(0, n - 1).join("").length;
    const got = await offsetIn(dir, bytes, { kind: "fromLine", line: n });
    assertEquals(got, expected, `line ${n}`);
  }
});

// Follower

Deno.test("Follower reads an existing file from the start, then what is appended", async () => {
  await using dir = await LogDir.create();
  await dir.append("app.log", "one\ntwo\n");
  const watcher = pollingWatcher();
  try {
    await using run = new Run(dir.file("app.log"), { kind: "start" }, watcher);
    await waitFor(() => run.text() === "one\ntwo\n", "the existing lines");
    await dir.append("app.log", "three\n");
    await waitFor(
      () => run.text() === "one\ntwo\nthree\n",
      "the appended line",
    );
    const id = await idOf(dir.file("app.log"));
    assertEquals(run.chunks.map((c) => [c.offset, c.file, c.source]), [
      [0, id, dir.file("app.log")],
      [8, id, dir.file("app.log")],
    ]);
    assertEquals(run.notices, [
      { kind: "appear", source: dir.file("app.log"), file: id, from: 0 },
    ]);
  } finally {
    await watcher.close();
  }
});

Deno.test("Follower starts at the end, or at the last n lines, of a file that exists", async () => {
  await using dir = await LogDir.create();
  await dir.append("end.log", "old\n");
  await dir.append("last.log", "a\nb\nc\n");
  const watcher = pollingWatcher();
  try {
    await using end = new Run(dir.file("end.log"), { kind: "end" }, watcher);
    await using last = new Run(
      dir.file("last.log"),
      { kind: "lines", count: 2 },
      watcher,
    );
    await waitFor(() => last.text() === "b\nc\n", "the last two lines");
    await waitFor(() => end.kinds().includes("appear"), "end.log opened");
    await dir.append("end.log", "new\n");
    await waitFor(() => end.text() === "new\n", "the appended line");
    assertEquals(end.chunks[0].offset, 4);
    assertEquals(
      end.notices.map((n) => n.kind === "appear" ? n.from : -1),
      [4],
    );
  } finally {
    await watcher.close();
  }
});

Deno.test("Follower drains a renamed file, then reads the new one from 0", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", "one\n");
  const watcher = pollingWatcher();
  try {
    await using run = new Run(path, { kind: "start" }, watcher, new Holders(), {
      rotateWaitMs: 200,
    });
    await waitFor(() => run.text() === "one\n", "the first line");
    const oldId = await idOf(path);
    await dir.rename("app.log", "app.log.1");
    // The writer was still flushing into the file under its new name.
    await dir.append("app.log.1", "two\n");
    await dir.append("app.log", "three\n");
    const newId = await idOf(path);
    await waitFor(
      () => run.text(oldId) === "one\ntwo\n" && run.text(newId) === "three\n",
      "both files read",
    );
    const fresh = run.chunks.filter((c) => c.file.ino === newId.ino);
    assertEquals(fresh[0].offset, 0);
    assert(
      run.notices.some((n) => n.kind === "rotate" && n.how === "renamed"),
      JSON.stringify(run.notices),
    );
    // Once quiet, the old file is finished with an end chunk at its last offset.
    await waitFor(
      () => run.chunks.some((c) => c.end && c.file.ino === oldId.ino),
      "the end chunk of the old file",
    );
    const end = run.chunks.find((c) => c.end)!;
    assertEquals(end.offset, 8);
    assertEquals(end.bytes.length, 0);
    assertEquals(run.follower.position?.file, newId);
  } finally {
    await watcher.close();
  }
});

Deno.test("Follower reads a file rotated away unseen even when it starts as the file before it did", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  // Every file starts the same (a spool of identical lines, a banner): only
  // a file truncated in place has a copy that starts as it did.
  const line = "y".repeat(100) + "\n";
  await dir.append("app.log", line);
  // Woken only when the test says: nothing is seen between two wake-ups.
  const watcher = new Watcher({ mode: "polling", pollMs: 3_600_000 });
  const wakeup = new Wakeup(() => {});
  try {
    await using run = new Run(path, { kind: "start" }, watcher, new Holders(), {
      rotateWaitMs: 50,
      wakeup,
    });
    wakeup.wake();
    await waitFor(() => run.text() === line, "the first file");
    const first = await idOf(path);
    await dir.rename("app.log", "app.log.1");
    await dir.append("app.log", line + "second\n");
    const second = await idOf(path);
    await dir.rename("app.log", "app.log.2");
    await dir.append("app.log", line + "third\n");
    const third = await idOf(path);
    wakeup.wake();
    await waitFor(
      () => run.text(third) === line + "third\n",
      "the file now under the path",
    );
    assertEquals(run.text(first), line);
    assertEquals(run.text(second), line + "second\n");
  } finally {
    await watcher.close();
  }
});

Deno.test("Follower hands a rotated file to the follower of its new name at the offset it stopped", async () => {
  await using dir = await LogDir.create();
  await dir.append("app.log", "a1\n");
  const watcher = pollingWatcher();
  const holders = new Holders();
  try {
    await using current = new Run(
      dir.file("app.log"),
      { kind: "start" },
      watcher,
      holders,
      { rotateWaitMs: 100 },
    );
    await using rotated = new Run(
      dir.file("app.log.1"),
      { kind: "start" },
      watcher,
      holders,
    );
    await waitFor(() => current.text() === "a1\n", "the first line");
    await waitFor(
      () => rotated.kinds().includes("vanish"),
      "app.log.1 missing",
    );
    const id = await idOf(dir.file("app.log"));
    await dir.rename("app.log", "app.log.1");
    await dir.append("app.log.1", "a2\n");
    await waitFor(
      () => current.chunks.some((c) => c.end),
      "the first follower to finish the rotated file",
    );
    await waitFor(() => rotated.kinds().includes("appear"), "the hand-over");
    await dir.append("app.log.1", "a3\n");
    await waitFor(() => rotated.text(id).includes("a3\n"), "the line after");
    // Every byte of the file was read exactly once, by one follower or the other.
    assertEquals(current.text(id) + rotated.text(id), "a1\na2\na3\n");
    const appear = rotated.notices.find((n) => n.kind === "appear");
    assertEquals(appear, {
      kind: "appear",
      source: dir.file("app.log.1"),
      file: id,
      from: 6,
    });
  } finally {
    await watcher.close();
  }
});

Deno.test("Follower reports a truncation and reads again from 0", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", "aaaa\nbbbb\n");
  const watcher = pollingWatcher();
  try {
    await using run = new Run(path, { kind: "start" }, watcher);
    await waitFor(() => run.text() === "aaaa\nbbbb\n", "the first lines");
    await dir.truncate("app.log");
    await dir.append("app.log", "c\n");
    await waitFor(
      () => run.text().endsWith("c\n"),
      "the line after truncation",
    );
    const truncate = run.notices.find((n) => n.kind === "truncate");
    assert(truncate && truncate.kind === "truncate", run.kinds().join());
    assertEquals(truncate.offset, 10);
    assert(truncate.size < 10);
    const last = run.chunks.at(-1)!;
    assertEquals(last.offset + last.bytes.length, 2);
    assertEquals(run.text(), "aaaa\nbbbb\nc\n");
    assertEquals(run.follower.position?.offset, 2);
  } finally {
    await watcher.close();
  }
});

Deno.test("Follower waits for a missing file and reads it from 0 when it appears", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("later.log");
  const watcher = pollingWatcher();
  try {
    // Even from the end: a file that appears later is read whole.
    await using run = new Run(path, { kind: "end" }, watcher);
    await waitFor(() => run.kinds().includes("vanish"), "the vanish notice");
    assertEquals(run.follower.position, null);
    await Deno.writeTextFile(path, "hello\n");
    await waitFor(() => run.text() === "hello\n", "the new file");
    assertEquals(run.chunks[0].offset, 0);
    assertEquals(run.kinds(), ["vanish", "appear"]);
  } finally {
    await watcher.close();
  }
});

Deno.test("Follower notices a deleted file and follows the one created after it", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", "one\n");
  const watcher = pollingWatcher();
  try {
    await using run = new Run(path, { kind: "start" }, watcher, new Holders(), {
      rotateWaitMs: 50,
    });
    await waitFor(() => run.text() === "one\n", "the first line");
    await dir.remove("app.log");
    await waitFor(
      () => run.notices.some((n) => n.kind === "rotate" && n.how === "deleted"),
      "the rotate notice",
    );
    await dir.append("app.log", "two\n");
    await waitFor(() => run.text() === "one\ntwo\n", "the new file");
  } finally {
    await watcher.close();
  }
});

Deno.test("Follower position reflects the offset read and the file size", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", "0123456789\n");
  const watcher = pollingWatcher();
  const abort = new AbortController();
  const follower = new Follower({
    source: path,
    startAt: { kind: "start" },
    wakeup: watcher.file(path),
    holders: new Holders(),
    notice: () => {},
    signal: abort.signal,
    readBytes: 4,
    highWaterMark: 1,
  });
  const reader = follower.readable.getReader();
  try {
    const id = await idOf(path);
    // Nobody reads: the notice that the file is followed fills the queue,
    // and reading pauses before the first byte.
    await waitFor(() => follower.position !== null, "the file to be opened");
    assertEquals(follower.position, { file: id, offset: 0, size: 11 });
    const next = async () => {
      let item = (await reader.read()).value!;
      while (isMark(item)) item = (await reader.read()).value!;
      return decoder.decode((item as Chunk).bytes);
    };
    let text = "";
    while (text.length < 11) text += await next();
    assertEquals(text, "0123456789\n");
    await waitFor(() => follower.position?.offset === 11, "offset 11");
    assertEquals(follower.position, { file: id, offset: 11, size: 11 });
    await dir.append("app.log", "ab\n");
    while (text.length < 14) text += await next();
    await waitFor(() => follower.position?.size === 14, "size 14");
    assertEquals(follower.position, { file: id, offset: 14, size: 14 });
  } finally {
    abort.abort();
    while (!(await reader.read()).done);
    await follower.done;
    await watcher.close();
  }
});

Deno.test("Follower stops on abort, closes its file and ends its stream", async () => {
  await using dir = await LogDir.create();
  await dir.append("app.log", "x\n");
  const watcher = pollingWatcher();
  try {
    const run = new Run(dir.file("app.log"), { kind: "start" }, watcher);
    await waitFor(() => run.text() === "x\n", "the line");
    // Disposal aborts, waits for the stream to end and the file to close;
    // the resource sanitizer checks nothing stays open.
    await run[Symbol.asyncDispose]();
    assertEquals(run.follower.position, null);
  } finally {
    await watcher.close();
  }
});
