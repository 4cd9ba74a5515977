/**
 * End to end for `--state`: the real entry point as a subprocess, a real
 * writer process, tailcast killed (SIGKILL) at seeded random moments and
 * restarted, files rotated while it is down. The union of what every run
 * printed must hold every line (no loss); lines printed twice may only come
 * from the window since the last save.
 *
 * The seed of the kill moments is `TAILCAST_STATE_SEED` (default below);
 * measurements are printed on stderr as `[measured]`.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
} from "@std/assert";
import { LogDir } from "../_fixtures/log_dir.ts";
import {
  printed,
  type PrintedEvent,
  seeded,
  seqs,
  sleep,
  WriterProcess,
} from "../_fixtures/restart.ts";
import { TailcastProcess } from "../_fixtures/tailcast.ts";
import { track, waitFor, within } from "../_fixtures/wait.ts";
import { LINE_BYTES, lineText, parseSeq } from "../_fixtures/writer.ts";

/** Lines per second the writer appends. */
const RATE = 3000;
/** How often tailcast saves changed cursors (src/service.ts STATE_SAVE_MS). */
const SAVE_INTERVAL_MS = 1000;
/** Scheduling, fsync and the save's own latency. */
const SLACK_MS = 500;
/**
 * Lines a restart may print twice: those delivered after the last save,
 * i.e. at most what the writer wrote in one save interval plus slack (1.5 s).
 */
const DUPLICATE_BOUND = Math.ceil(RATE * (SAVE_INTERVAL_MS + SLACK_MS) / 1000);
/** A run lives at least this long before it is killed, so it saved after catching up. */
const MIN_LIFE_MS = 1500;

const SEED = Number(Deno.env.get("TAILCAST_STATE_SEED") ?? 20261127);

/** Measurements for the report, on stderr (not an assertion). */
function note(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`  [measured] ${text}\n`));
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A stderr regex for a notice about `path`. */
function about(path: string, rest: string): RegExp {
  return new RegExp(`^tailcast: ${escape(path)}: ${rest}`);
}

/** Lines the writer has put into `log` and its rotated siblings so far. */
async function linesOnDisk(dir: LogDir, name: string): Promise<number> {
  let bytes = 0;
  for await (const e of Deno.readDir(dir.path)) {
    if (e.name.startsWith(name)) {
      bytes += (await Deno.stat(dir.file(e.name))).size;
    }
  }
  return Math.floor(bytes / LINE_BYTES);
}

/** What one tailcast run printed. */
interface Run {
  events: PrintedEvent[];
  seqs: number[];
  stderr: string[];
  /** Lines on disk when the run was killed; null for the last run. */
  onDiskAtKill: number | null;
}

function runOf(
  tc: TailcastProcess,
  killed: boolean,
  onDisk: number | null,
): Run {
  const events = printed(tc, killed);
  return {
    events,
    seqs: seqs(events),
    stderr: tc.stderr,
    onDiskAtKill: onDisk,
  };
}

/** Starts tailcast and waits until it follows the log (its "following from byte" line). */
async function start(args: string[], log: string): Promise<TailcastProcess> {
  const tc = new TailcastProcess(args);
  try {
    await tc.waitForStderr(about(log, "following from byte \\d+$"), 15_000);
  } catch (error) {
    await tc.stop("SIGKILL");
    throw error;
  }
  return tc;
}

/**
 * Runs tailcast `cycles` times, each killed with `signal` after a seeded
 * random life; `whileDown(k)` runs between a kill and the next start.
 */
async function cycles(options: {
  args: string[];
  dir: LogDir;
  name: string;
  count: number;
  rand: () => number;
  signal?: "SIGKILL" | "SIGTERM";
  whileDown?: (k: number) => Promise<void>;
}): Promise<Run[]> {
  const log = options.dir.file(options.name);
  const runs: Run[] = [];
  for (let k = 1; k <= options.count; k++) {
    await using tc = await start(options.args, log);
    await sleep(MIN_LIFE_MS + options.rand() * 2000);
    const onDisk = await linesOnDisk(options.dir, options.name);
    const status = await tc.stop(options.signal ?? "SIGKILL");
    if ((options.signal ?? "SIGKILL") === "SIGTERM") {
      assertEquals(status.code, 0, `run ${k} exit: ${tc.stderr.join("\n")}`);
    }
    runs.push(runOf(tc, options.signal !== "SIGTERM", onDisk));
    await sleep(options.rand() * 300);
    await options.whileDown?.(k);
  }
  return runs;
}

/** Waits until the last line `tc` printed is the writer's line `seq`. */
async function waitForSeq(
  tc: TailcastProcess,
  seq: number,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(
    () => tc.stdout.length > 0 && tc.stdout.at(-1)!.includes(`"seq=${seq} `),
    `the line seq=${seq}`,
    timeoutMs,
  ).catch((error) => {
    throw new Error(
      `${error.message}; last printed: ${
        tc.stdout.at(-1)?.slice(0, 160)
      }; stderr: ${tc.stderr.slice(-3).join(" | ")}`,
    );
  });
}

/** The last run: the writer has stopped; waits for its final line, then SIGTERM. */
async function lastRun(
  args: string[],
  log: string,
  written: number,
): Promise<Run> {
  const tc = await start(args, log);
  try {
    await waitForSeq(tc, written - 1, 30_000);
  } catch (error) {
    await tc.stop("SIGKILL");
    throw error;
  }
  const status = await tc.stop("SIGTERM");
  assertEquals(status.code, 0, tc.stderr.join("\n"));
  return runOf(tc, false, null);
}

/** Compact text of a set of numbers: `3 (10..12)`. */
function ranges(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length && parts.length < 8; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}..${sorted[j]}`);
    i = j;
  }
  return `${values.length} (${parts.join(", ")}${
    parts.length === 8 ? ", …" : ""
  })`;
}

/**
 * Checks the union of all runs: every line 0..written-1 at least once, each
 * run in order without gaps or repeats, and the lines a restart printed again
 * were the last ones before the kill, no more than {@link DUPLICATE_BOUND}.
 * Returns the duplicates per restart.
 */
function account(runs: Run[], written: number, what: string): number[] {
  const context = `${what}, seed ${SEED}`;
  const seen = new Uint8Array(written);
  for (const [k, run] of runs.entries()) {
    for (const seq of run.seqs) {
      assert(
        seq < written,
        `run ${k + 1} printed seq=${seq} ≥ ${written} (${context})`,
      );
      seen[seq]++;
    }
    // One run reads one file (or one after the other) in order.
    for (let i = 1; i < run.seqs.length; i++) {
      assertEquals(
        run.seqs[i],
        run.seqs[i - 1] + 1,
        `run ${k + 1}: seq=${run.seqs[i]} after seq=${
          run.seqs[i - 1]
        } (${context})`,
      );
    }
  }
  const missing: number[] = [];
  for (let seq = 0; seq < written; seq++) {
    if (seen[seq] === 0) missing.push(seq);
  }
  assertEquals(missing, [], `lost lines ${ranges(missing)} (${context})`);

  const duplicates: number[] = [];
  for (let k = 1; k < runs.length; k++) {
    const before = runs[k - 1];
    const after = runs[k];
    assert(
      before.seqs.length > 0 && after.seqs.length > 0,
      `runs ${k}, ${k + 1} printed lines (${context})`,
    );
    const printedBefore = new Set(before.seqs);
    const again = after.seqs.filter((s) => printedBefore.has(s));
    duplicates.push(again.length);
    assert(
      again.length <= DUPLICATE_BOUND,
      `restart ${k} printed ${again.length} lines again, more than the ${DUPLICATE_BOUND} written in ${
        SAVE_INTERVAL_MS + SLACK_MS
      } ms (${context})`,
    );
    // Only from the window before the kill: the last lines the killed run printed…
    const lastBefore = before.seqs.at(-1)!;
    for (const seq of again) {
      assert(
        seq > lastBefore - DUPLICATE_BOUND,
        `restart ${k} printed seq=${seq} again, before the window (last printed ${lastBefore}) (${context})`,
      );
      // …and lines the writer wrote at most ~1.5 s before the kill.
      if (before.onDiskAtKill !== null) {
        assert(
          seq >= before.onDiskAtKill - DUPLICATE_BOUND,
          `restart ${k} printed seq=${seq} again; the writer was at ${before.onDiskAtKill} when tailcast was killed (${context})`,
        );
      }
    }
  }
  return duplicates;
}

Deno.test("state: SIGKILL at random moments while a writer writes loses no line; repeats are bounded by the save interval", async () => {
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  const state = dir.file("state.json");
  const rand = seeded(SEED);
  const args = ["--no-server", "--from", "start", "--state", state, log];
  await using writer = new WriterProcess(["--path", log, "--rate", `${RATE}`]);
  await waitFor(
    async () => (await linesOnDisk(dir, "app.log")) > 0,
    "the writer's first line",
  );
  const began = performance.now();
  const runs = await cycles({ args, dir, name: "app.log", count: 5, rand });
  const { written } = await writer.stop();
  runs.push(await lastRun(args, log, written));
  const duplicates = account(runs, written, "SIGKILL cycles");
  note(
    `SIGKILL ×5 over ${
      Math.round((performance.now() - began) / 1000)
    } s, ${written} lines at ${RATE}/s: ` +
      `duplicates per restart ${
        JSON.stringify(duplicates)
      } (bound ${DUPLICATE_BOUND}), seed ${SEED}`,
  );
  for (const run of runs.slice(1)) {
    // Each restart resumed from a saved cursor, not from 0.
    assert(run.seqs[0] > 0, `resumed at seq=${run.seqs[0]}`);
    assertEquals(
      run.stderr.filter((l) => / skipped /.test(l)).length,
      0,
      run.stderr.join("\n"),
    );
  }
});

Deno.test("state: a rename rotation while tailcast is down: the old file is drained from its cursor, then the new one from 0", async () => {
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  const state = dir.file("state.json");
  const rand = seeded(SEED + 1);
  const args = ["--no-server", "--from", "start", "--state", state, log];
  // The writer reopens app.log once someone (logrotate's `create`) replaces it.
  await using writer = new WriterProcess([
    "--path",
    log,
    "--rate",
    `${RATE}`,
    "--reopen-on-rotate",
  ]);
  await waitFor(
    async () => (await linesOnDisk(dir, "app.log")) > 0,
    "the writer's first line",
  );
  const rotated: number[] = [];
  const created: number[] = [];
  const runs = await cycles({
    args,
    dir,
    name: "app.log",
    count: 3,
    rand,
    whileDown: async (k) => {
      // mv app.log app.log.k; create app.log; the writer moves over to it.
      rotated.push((await Deno.stat(log)).ino!);
      await Deno.rename(log, `${log}.${k}`);
      await Deno.writeFile(log, new Uint8Array(0), { createNew: true });
      created.push((await Deno.stat(log)).ino!);
      await waitFor(
        async () => (await Deno.stat(log)).size > 0,
        "the writer reopened app.log",
      );
      await sleep(50 + rand() * 200);
    },
  });
  const { written, rotations } = await writer.stop();
  assertEquals(rotations, 3, "the writer reopened after each rotation");
  runs.push(await lastRun(args, log, written));
  const duplicates = account(runs, written, "rename while down");
  note(
    `rename while down ×3, ${written} lines: duplicates per restart ${
      JSON.stringify(duplicates)
    } (bound ${DUPLICATE_BOUND})`,
  );
  for (const [k, run] of runs.slice(1).entries()) {
    // The file rotated while down first, from the saved cursor, then the new file from byte 0.
    const files = [...new Set(run.events.map((e) => e.id.split(":")[0]))];
    assertEquals(
      files.map((f) => parseInt(f.split(".")[1], 36)),
      [rotated[k], created[k]],
      `restart ${k + 1}: the rotated file, then the new one`,
    );
    const resumed = run.events[0].offset;
    assert(
      resumed > 0,
      `restart ${k + 1} resumed the rotated file at ${resumed}`,
    );
    const fresh = run.events.find((e) => !e.id.startsWith(files[0] + ":"))!;
    assertEquals(fresh.offset, 0);
    const follows = run.stderr.filter((l) =>
      about(log, "following from byte").test(l)
    );
    assert(
      follows.some((l) => l.endsWith(` byte ${resumed}`)),
      run.stderr.join("\n"),
    );
    assertMatch(follows.at(-1)!, /following from byte 0$/);
    assertEquals(
      run.stderr.filter((l) => / skipped /.test(l)).length,
      0,
      run.stderr.join("\n"),
    );
    assert(
      run.events.every((e) => e.source === log),
      "events keep the followed path as source",
    );
  }
});

Deno.test("state: copytruncate while tailcast is down: the rest of the old content is read from the copy, then the truncated file from 0: nothing lost", async () => {
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  const state = dir.file("state.json");
  const rand = seeded(SEED + 2);
  const args = ["--no-server", "--from", "start", "--state", state, log];
  // Lines written between the copy and the truncation are in neither file:
  // the one loss copytruncate has by design. They are allowed, no others.
  let gap: [number, number] = [-1, -1];
  await using writer = new WriterProcess(["--path", log, "--rate", `${RATE}`]);
  await waitFor(
    async () => (await linesOnDisk(dir, "app.log")) > 0,
    "the writer's first line",
  );
  const runs = await cycles({
    args,
    dir,
    name: "app.log",
    count: 1,
    rand,
    whileDown: async () => {
      await sleep(100);
      // logrotate copytruncate: the writer keeps its O_APPEND handle.
      await Deno.copyFile(log, `${log}.1`);
      await Deno.truncate(log, 0);
      await waitFor(
        async () => (await Deno.stat(log)).size > 0,
        "lines after the truncation",
      );
      await sleep(200);
      const copied = (await Deno.readTextFile(`${log}.1`)).trimEnd().split(
        "\n",
      );
      const first = (await Deno.readTextFile(log)).split("\n")[0];
      gap = [parseSeq(copied.at(-1)!)!, parseSeq(first)!];
    },
  });
  const killed = runs[0];
  const lastEnd = parseInt(killed.events.at(-1)!.id.split(":")[1], 36);
  const { written } = await writer.stop();
  const after = await lastRun(args, log, written);

  // Every line arrives: up to the cursor before the kill, the rest of the old
  // content from the copy (app.log.1), then the truncated file from byte 0.
  const all = new Set([...killed.seqs, ...after.seqs]);
  const lost: number[] = [];
  for (let seq = 0; seq < written; seq++) {
    if (!all.has(seq) && !(seq > gap[0] && seq < gap[1])) lost.push(seq);
  }
  assertEquals(lost, [], "no line lost across copytruncate while down");
  assertEquals(
    new Set(after.seqs).size,
    after.seqs.length,
    "nothing twice after the restart",
  );
  // Only lines printed after the last save may come again (read from the copy).
  const last = killed.seqs.at(-1)!;
  const again = after.seqs.filter((s) => s <= last);
  assert(
    again.length <= DUPLICATE_BOUND &&
      again.every((s) => last - s < DUPLICATE_BOUND),
    `${again.length} lines printed again (bound ${DUPLICATE_BOUND})`,
  );
  assert(
    after.stderr.some((l) => about(log, "following from byte 0$").test(l)),
    after.stderr.join("\n"),
  );
  assertEquals(
    after.stderr.filter((l) => about(log, "skipped \\d+ bytes").test(l))
      .length,
    0,
    after.stderr.join("\n"),
  );
  assert(lastEnd > 0);
});

/** A header longer than the fingerprint window, as some logs (CSV, W3C) start with. */
const HEADER = "#Fields: date time level message " + "-".repeat(46) + "\n";

function lines(from: number, to: number): string {
  let text = "";
  for (let seq = from; seq < to; seq++) text += lineText(seq) + "\n";
  return text;
}

Deno.test("state: truncated while down to below the cursor (same first bytes): read again from 0 with a gap notice", async () => {
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  const args = [
    "--no-server",
    "--from",
    "start",
    "--state",
    dir.file("state.json"),
    log,
  ];
  await dir.append("app.log", HEADER + lines(0, 50));
  await using before = await start(args, log);
  await before.waitForLines(51);
  assertEquals((await before.stop("SIGTERM")).code, 0);
  const saved = (await Deno.stat(log)).size;

  await dir.truncate("app.log");
  await dir.append("app.log", HEADER + lines(50, 55));
  await using tc = await start(args, log);
  await tc.waitForLines(6);
  assertEquals((await tc.stop("SIGTERM")).code, 0);
  assertEquals(
    printed(tc, false).map((e) => e.line),
    [HEADER.trimEnd(), ...lines(50, 55).trimEnd().split("\n")],
  );
  assert(
    tc.stderr.some((l) => about(log, "following from byte 0$").test(l)),
    tc.stderr.join("\n"),
  );
  const gap = tc.stderr.filter((l) => about(log, "skipped").test(l));
  assertEquals(gap.length, 1, tc.stderr.join("\n"));
  assertMatch(
    gap[0],
    new RegExp(
      `truncated while tailcast was stopped and no copy of it was found: lines written after byte ${saved} `,
    ),
  );
});

Deno.test("state: truncated while down and grown past the cursor again (same first bytes): no line is skipped silently", async () => {
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  const args = [
    "--no-server",
    "--from",
    "start",
    "--state",
    dir.file("state.json"),
    log,
  ];
  await dir.append("app.log", HEADER + lines(0, 20));
  await using before = await start(args, log);
  await before.waitForLines(21);
  assertEquals((await before.stop("SIGTERM")).code, 0);

  // copytruncate while down, then the application writes more than before.
  await Deno.copyFile(log, `${log}.1`);
  await dir.truncate("app.log");
  await dir.append("app.log", HEADER + lines(20, 60));
  await using tc = await start(args, log);
  await waitForSeq(tc, 59);
  assertEquals((await tc.stop("SIGTERM")).code, 0);
  const got = seqs(
    printed(tc, false).filter((e) => e.line !== HEADER.trimEnd()),
  );
  const reported = tc.stderr.some((l) => / skipped | truncated /.test(l));
  assert(
    reported || got[0] === 20,
    `lines seq=20..${
      got[0] - 1
    } of the new content were skipped without a notice: ` +
      `resumed at ${tc.stderr.find((l) => /following/.test(l))}`,
  );
  if (!reported) assertEquals(got.length, 40);
});

Deno.test("state: --multiline-start, SIGTERM and restart: nothing read again, no gap", async () => {
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  const state = dir.file("state.json");
  const args = [
    "--no-server",
    "--from",
    "start",
    "--multiline-start",
    "^\\S",
    "--state",
    state,
    log,
  ];
  await dir.append("app.log", "ERROR boom\n  at a()\nINFO next\n  more\n");
  await using before = await start(args, log);
  await before.waitForLines(2);
  assertEquals((await before.stop("SIGTERM")).code, 0);
  // The cursor's mark is the physical line before it, as a restart reads it.
  const saved = JSON.parse(await Deno.readTextFile(state)).files;
  assertEquals(
    saved.map((f: { offset: number; line: string }) => [f.offset, f.line]),
    [[(await Deno.stat(log)).size, "  more"]],
  );

  await dir.append("app.log", "WARN later\n");
  await using after = await start(args, log);
  await after.waitForLines(1);
  assertEquals((await after.stop("SIGTERM")).code, 0);
  assertEquals(printed(after, false).map((e) => e.line), ["WARN later"]);
  assertEquals(
    after.stderr.filter((l) => / skipped | truncated /.test(l)),
    [],
  );
});

Deno.test("state: a corrupted state file exits 2 with one line naming it and --state-reset; --state-reset starts; a missing directory exits 2", async (t) => {
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  await dir.append("app.log", "one\n");
  const state = dir.file("state.json");

  await t.step("corrupted", async () => {
    await Deno.writeTextFile(state, '{"version":1,"files":[{"source":');
    const tc = new TailcastProcess(["--no-server", "--state", state, log]);
    const status = await tc.exited();
    assertEquals(status.code, 2);
    assertEquals(tc.stderr.length, 1, tc.stderr.join("\n"));
    assertMatch(
      tc.stderr[0],
      new RegExp(`^tailcast: .*"${escape(state)}".*corrupted.*--state-reset`),
    );
    assertEquals(tc.stdout, []);
  });

  await t.step("a newer format", async () => {
    await Deno.writeTextFile(state, JSON.stringify({ version: 7, files: [] }));
    const tc = new TailcastProcess(["--no-server", "--state", state, log]);
    assertEquals((await tc.exited()).code, 2);
    assertEquals(tc.stderr.length, 1, tc.stderr.join("\n"));
    assertMatch(tc.stderr[0], /newer.*--state-reset/);
  });

  await t.step("--state-reset starts and overwrites it", async () => {
    await Deno.writeTextFile(state, "garbage");
    await using tc = await start([
      "--no-server",
      "--from",
      "start",
      "--state",
      state,
      "--state-reset",
      log,
    ], log);
    await tc.waitForLines(1);
    assertEquals((await tc.stop("SIGTERM")).code, 0);
    const json = JSON.parse(await Deno.readTextFile(state));
    assertEquals(json.version, 1);
    assertEquals(
      json.files.map((
        f: { source: string; offset: number },
      ) => [f.source, f.offset]),
      [[log, 4]],
    );
  });

  await t.step("a state path in a missing directory", async () => {
    const missing = dir.file("nowhere/state.json");
    const tc = new TailcastProcess(["--no-server", "--state", missing, log]);
    assertEquals((await tc.exited()).code, 2);
    assertEquals(tc.stderr.length, 1, tc.stderr.join("\n"));
    assertMatch(tc.stderr[0], new RegExp(`^tailcast: .*"${escape(missing)}"`));
    assertMatch(tc.stderr[0], /directory does not exist/);
  });

  await t.step("a state path whose parent is a file", async () => {
    const under = dir.file("app.log/state.json");
    const tc = new TailcastProcess(["--no-server", "--state", under, log]);
    assertEquals((await tc.exited()).code, 2);
    assertEquals(tc.stderr.length, 1, tc.stderr.join("\n"));
    assertMatch(tc.stderr[0], new RegExp(`^tailcast: .*"${escape(under)}"`));
  });
});

Deno.test("state: SIGTERM then restart while a writer writes: no line lost, none repeated (saved at shutdown)", async () => {
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  const state = dir.file("state.json");
  const args = ["--no-server", "--from", "start", "--state", state, log];
  await using writer = new WriterProcess(["--path", log, "--rate", `${RATE}`]);
  await waitFor(
    async () => (await linesOnDisk(dir, "app.log")) > 0,
    "the writer's first line",
  );
  const runs = await cycles({
    args,
    dir,
    name: "app.log",
    count: 2,
    rand: seeded(SEED + 3),
    signal: "SIGTERM",
  });
  const { written } = await writer.stop();
  runs.push(await lastRun(args, log, written));
  const duplicates = account(runs, written, "SIGTERM cycles");
  assertEquals(duplicates, [0, 0], "nothing printed twice");
  for (const [k, run] of runs.slice(1).entries()) {
    assertEquals(
      run.seqs[0],
      runs[k].seqs.at(-1)! + 1,
      `restart ${k + 1} continued right after the last line`,
    );
  }
  const json = JSON.parse(await Deno.readTextFile(state));
  assertEquals(
    json.files.map((
      f: { source: string; offset: number },
    ) => [f.source, f.offset]),
    [[log, written * LINE_BYTES]],
  );
});

Deno.test("state: stdout closed by its reader (| head -1): tailcast stops by itself, quietly, exit 141, the cursor saved", async () => {
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  const state = dir.file("state.json");
  await dir.append("app.log", lines(0, 10));
  await using tc = new TailcastProcess(
    ["--no-server", "--from", "start", "--state", state, log],
    { headLines: 1 },
  );
  await tc.waitForLines(1);
  // As tail, it notices the closed pipe at its next write: keep writing.
  const exited = track(tc.exited());
  let written = 10;
  await waitFor(async () => {
    if (exited.settled()) return true;
    await dir.append("app.log", lines(written, written + 100));
    written += 100;
    return false;
  }, "tailcast to exit once its stdout was closed");
  const status = await tc.exited();
  assertEquals(tc.stdout, [JSON.stringify(JSON.parse(tc.stdout[0]))]);
  // tail killed by SIGPIPE: what a shell reports, and nothing said.
  assertEquals(status.code, 141, tc.stderr.join("\n"));
  assertEquals(
    tc.stderr.filter((l) => !about(log, "following from byte 0$").test(l)),
    [],
  );
  // Saved at the stop: the first lines (written whole before the reader
  // left), and only what was written whole.
  const [cursor, ...more] = JSON.parse(await Deno.readTextFile(state)).files;
  assertEquals(more, []);
  assert(
    cursor.offset >= LINE_BYTES && cursor.offset < written * LINE_BYTES &&
      cursor.offset % LINE_BYTES === 0,
    `cursor at ${cursor.offset}`,
  );
});

Deno.test("state: SIGTERM while stdout is a pipe nobody reads: exit 1 within the deadline, the cursor of what was written saved", async () => {
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  const state = dir.file("state.json");
  await dir.append("app.log", lines(0, 10));
  // The server only to see, on /sources, what was published to stdout.
  await using tc = new TailcastProcess(
    ["--port", "0", "--stdout", "--from", "start", "--state", state, log],
    { stdoutBlocked: true },
  );
  const url = await tc.url();
  // The first lines went into the pipe and were saved; then far more than a
  // pipe holds (64 KiB), all published to the stdout sink, which is stuck.
  await waitFor(async () => {
    const text = await Deno.readTextFile(state).catch(() => "{}");
    return JSON.parse(text).files?.[0]?.offset === 10 * LINE_BYTES;
  }, "the cursor of the first lines saved");
  await dir.append("app.log", lines(10, 5000));
  await waitFor(async () => {
    const { sources: [source] } = await (await fetch(`${url}/sources`)).json();
    return source.published[0]?.offset === 5000 * LINE_BYTES;
  }, "every line published");
  tc.child.kill("SIGTERM");
  const status = await within(tc.exited(), 10_000, "the exit after SIGTERM");
  assertEquals(status.code, 1, tc.stderr.join("\n"));
  assertMatch(
    tc.stderr.at(-1)!,
    /^tailcast: stdout did not take the last lines .*state file/,
  );
  // The cursor is the end of a line that went whole into the pipe.
  const [cursor] = JSON.parse(await Deno.readTextFile(state)).files;
  const ends = printed(tc, true).map((e) => parseInt(e.id.split(":")[1], 36));
  assert(
    ends.includes(cursor.offset) && cursor.offset < 5000 * LINE_BYTES,
    `cursor ${cursor.offset}, last end in the pipe ${ends.at(-1)}`,
  );
});

interface Health {
  state: {
    path: string;
    lastSaved: string | null;
    cursors: Array<
      { source: string; dev: number; ino: number; offset: number }
    >;
  } | null;
}

async function health(url: string): Promise<Health> {
  const response = await fetch(`${url}/healthz`);
  assertEquals(response.status, 200);
  return await response.json();
}

Deno.test("state: /healthz reports the state path, when it was last saved and the cursors", async () => {
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  const state = dir.file("state.json");
  await dir.append("app.log", lines(0, 10));
  await using tc = new TailcastProcess([
    "--port",
    "0",
    "--from",
    "start",
    "--state",
    state,
    log,
  ]);
  const url = await tc.url();
  const info = await Deno.stat(log);
  let h = await health(url);
  assertEquals(h.state?.path, state);
  // Cursors move once lines are published (no stdout sink) and are saved within a second.
  await waitFor(async () => {
    h = await health(url);
    return h.state!.cursors.some((c) => c.offset === 10 * LINE_BYTES);
  }, "the cursor at the end of the file");
  assertEquals(h.state!.cursors, [{
    source: log,
    dev: info.dev,
    ino: info.ino,
    offset: 10 * LINE_BYTES,
  }]);
  const first = h.state!.lastSaved;
  assertNotEquals(first, null);
  await dir.append("app.log", lines(10, 11));
  await waitFor(
    async () => {
      h = await health(url);
      return h.state!.lastSaved !== first &&
        h.state!.cursors[0].offset === 11 * LINE_BYTES;
    },
    "a save after a new line",
    3000,
  );
  assert(
    Date.now() - Date.parse(h.state!.lastSaved!) < 3000,
    h.state!.lastSaved!,
  );
  const onDisk = JSON.parse(await Deno.readTextFile(state));
  assertEquals(onDisk.saved, h.state!.lastSaved);
  assertEquals(onDisk.files[0].offset, 11 * LINE_BYTES);
  // Without --state there is no state report.
  await using plain = new TailcastProcess(["--port", "0", log]);
  assertEquals((await health(await plain.url())).state, null);
});

Deno.test("state: a rotated file read to its end is dropped from the cursors (no stale 'gone' notice after it is deleted)", async () => {
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  const state = dir.file("state.json");
  await dir.append("app.log", lines(0, 10));
  await using first = new TailcastProcess([
    "--port",
    "0",
    "--from",
    "start",
    "--state",
    state,
    log,
  ]);
  const url = await first.url();
  await waitFor(
    async () =>
      (await health(url)).state!.cursors[0]?.offset === 10 * LINE_BYTES,
    "cursor at 10 lines",
  );
  await dir.rename("app.log", "app.log.1");
  await dir.append("app.log", lines(10, 12));
  const ino = (await Deno.stat(log)).ino;
  // Quiet for rotateWaitMs (1 s), the old file is finished and closed; then a save.
  let cursors: Array<{ ino: number; offset: number }> = [];
  await waitFor(
    async () => {
      cursors = (await health(url)).state!.cursors;
      return cursors.length === 1 && cursors[0].ino === ino;
    },
    "only the new file's cursor",
    5000,
  ).catch((error) => {
    throw new Error(
      `the cursors still hold the finished rotated file: ${
        JSON.stringify(cursors)
      }`,
      { cause: error },
    );
  });
  assertEquals((await first.stop("SIGTERM")).code, 0);
  // logrotate deletes old files; the next start has nothing to report about it.
  await Deno.remove(`${log}.1`);
  await using second = await start(["--no-server", "--state", state, log], log);
  await sleep(300);
  assertEquals((await second.stop("SIGTERM")).code, 0);
  assertEquals(second.stderr.filter((l) => / skipped /.test(l)), []);
});
