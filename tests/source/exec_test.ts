import { assert, assertEquals, assertRejects } from "@std/assert";
import { SourceError } from "../../src/errors.ts";
import { ExecSource, MAX_STDERR_LINE } from "../../src/source/exec.ts";
import { type Chunk, isMark, type Notice, UNSTORED } from "../../src/types.ts";
import { within } from "../_fixtures/wait.ts";

const decoder = new TextDecoder();

/** Reads `exec` until `enough` says so, then stops it and reads to the end. */
async function collect(
  exec: ExecSource,
  abort: AbortController,
  enough: (items: (Chunk | Notice)[]) => boolean,
): Promise<(Chunk | Notice)[]> {
  const items: (Chunk | Notice)[] = [];
  const reader = exec.readable.getReader();
  await within(
    (async () => {
      while (!enough(items)) {
        const { done, value } = await reader.read();
        if (done) break;
        items.push(value);
      }
    })(),
    10_000,
    "the command's output",
  );
  abort.abort();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    items.push(value);
  }
  await exec.done;
  return items;
}

function chunks(items: (Chunk | Notice)[]): Chunk[] {
  return items.filter((i): i is Chunk => !isMark(i));
}

function text(items: (Chunk | Notice)[]): string {
  return chunks(items).map((c) => decoder.decode(c.bytes)).join("");
}

function notices<K extends Notice["kind"]>(
  items: (Chunk | Notice)[],
  kind: K,
): Extract<Notice, { kind: K }>[] {
  return items.filter((i): i is Extract<Notice, { kind: K }> =>
    isMark(i) && i.kind === kind
  );
}

Deno.test("ExecSource: standard output becomes chunks of exec:<name> on no disk, standard error lines become stderr notices", async () => {
  const abort = new AbortController();
  const exec = await ExecSource.start({
    source: "exec:both",
    argv: ["sh", "-c", "echo one; echo oops >&2; echo two; sleep 30"],
    flag: "--exec both=…",
    signal: abort.signal,
  });
  const items = await collect(
    exec,
    abort,
    (items) =>
      text(items) === "one\ntwo\n" && notices(items, "stderr").length === 1,
  );
  assertEquals(text(items), "one\ntwo\n");
  for (const c of chunks(items)) {
    assertEquals(c.source, "exec:both");
    assert(c.file === UNSTORED, "the identity of lines on no disk");
  }
  // Offsets count the bytes of the command's output.
  const offsets = chunks(items).filter((c) => c.bytes.length > 0);
  assertEquals(offsets[0].offset, 0);
  assertEquals(notices(items, "stderr"), [
    { kind: "stderr", source: "exec:both", line: "oops" },
  ]);
  // Stopped, not exited: no restart.
  assertEquals(notices(items, "restart"), []);
});

Deno.test("ExecSource: a command that exits is started again with a doubling delay, each restart a notice; offsets go on and a last line without newline is flushed", async () => {
  const abort = new AbortController();
  const exec = await ExecSource.start({
    source: "exec:short",
    argv: ["sh", "-c", "echo run; printf tail; exit 3"],
    flag: "--exec short=…",
    signal: abort.signal,
    minDelayMs: 10,
    maxDelayMs: 40,
  });
  const items = await collect(
    exec,
    abort,
    (items) => notices(items, "restart").length >= 4,
  );
  const restarts = notices(items, "restart").slice(0, 4);
  assertEquals(
    restarts.map((r) => [r.code, r.signal, r.restarts, r.delayMs]),
    [[3, null, 1, 10], [3, null, 2, 20], [3, null, 3, 40], [3, null, 4, 40]],
  );
  assert(text(items).startsWith("run\ntailrun\ntail"), text(items));
  // Each run ends with an end mark at the offset reached, which flushes
  // `tail` as a line of its own; the next run goes on from there.
  const all = chunks(items);
  for (let i = 1; i < all.length; i++) {
    assertEquals(
      all[i].offset,
      all[i - 1].offset + all[i - 1].bytes.length,
      `chunk ${i} continues the one before`,
    );
  }
  const ends = all.filter((c) => c.end);
  assertEquals(ends.slice(0, 3).map((c) => c.offset), [8, 16, 24]);
  // The restart is told after the run's last bytes and its end.
  const firstRestart = items.indexOf(restarts[0]);
  assert(items.slice(0, firstRestart).some((i) => !isMark(i) && i.end));
});

Deno.test("ExecSource: the delay goes back to the shortest after a run that lasted", async () => {
  const abort = new AbortController();
  const exec = await ExecSource.start({
    source: "exec:steady",
    argv: ["sh", "-c", "sleep 0.2; exit 0"],
    flag: "--exec steady=…",
    signal: abort.signal,
    minDelayMs: 10,
    maxDelayMs: 1000,
    stableMs: 100,
  });
  const items = await collect(
    exec,
    abort,
    (items) => notices(items, "restart").length >= 3,
  );
  assertEquals(
    notices(items, "restart").slice(0, 3).map((r) => [r.code, r.delayMs]),
    [[0, 10], [0, 10], [0, 10]],
  );
});

Deno.test("ExecSource: a standard error line longer than the cap is cut, once", async () => {
  const abort = new AbortController();
  const long = MAX_STDERR_LINE * 2 + 10;
  const exec = await ExecSource.start({
    source: "exec:loud",
    argv: [
      "sh",
      "-c",
      `head -c ${long} /dev/zero | tr '\\0' x >&2; echo >&2; echo after >&2; sleep 30`,
    ],
    flag: "--exec loud=…",
    signal: abort.signal,
  });
  const items = await collect(
    exec,
    abort,
    (items) => notices(items, "stderr").some((n) => n.line === "after"),
  );
  const lines = notices(items, "stderr").map((n) => n.line);
  assertEquals(lines.length, 2);
  assertEquals(lines[0], "x".repeat(MAX_STDERR_LINE) + "…");
  assertEquals(lines[1], "after");
});

Deno.test("ExecSource: stopping ends a command that ignores SIGTERM with SIGKILL", async () => {
  const abort = new AbortController();
  const exec = await ExecSource.start({
    source: "exec:stubborn",
    argv: [
      "sh",
      "-c",
      "trap '' TERM; echo ready; while :; do sleep 0.05; done",
    ],
    flag: "--exec stubborn=…",
    signal: abort.signal,
    killAfterMs: 50,
  });
  const items = await collect(
    exec,
    abort,
    (items) => text(items) === "ready\n",
  );
  assertEquals(text(items), "ready\n");
  assertEquals(notices(items, "restart"), []);
});

Deno.test("ExecSource.start refuses a program that does not exist, naming the flag", async () => {
  const abort = new AbortController();
  const error = await assertRejects(
    () =>
      ExecSource.start({
        source: "exec:nope",
        argv: ["tailcast-test-no-such-program"],
        flag: "--exec nope=tailcast-test-no-such-program",
        signal: abort.signal,
      }),
    SourceError,
  );
  assertEquals(
    error.message,
    'Cannot run "tailcast-test-no-such-program" for --exec nope=tailcast-test-no-such-program: no such program (check its name, or give its full path)',
  );
});
