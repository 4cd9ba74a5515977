/**
 * End to end: the real entry point (`deno run -A main.ts --no-server …`) as a
 * subprocess, real files, a real writer process, real logrotate, and the NDJSON
 * events and stderr notices it prints.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import type { EventJson as Event } from "../../src/types.ts";
import { LogDir } from "../_fixtures/log_dir.ts";
import { ROOT, TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor } from "../_fixtures/wait.ts";
import { WriterProcess } from "../_fixtures/restart.ts";
import { LINE_BYTES, parseSeq } from "../_fixtures/writer.ts";

/** One NDJSON event as printed on stdout. */
type Ev = Event;

/** An event without its id and time, for exact comparisons. */
type Brief = Omit<Ev, "id" | "time">;

const MODES = [
  { name: "events", args: [] as string[] },
  { name: "--poll=50", args: ["--poll=50"] },
];

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function eventsOf(tc: TailcastProcess): Ev[] {
  return tc.events as unknown as Ev[];
}

/** Events without id and time, after checking both look right. */
function brief(tc: TailcastProcess): Brief[] {
  return eventsOf(tc).map(({ id, time, ...rest }) => {
    assertMatch(id, /^[0-9a-z]+\.[0-9a-z]+:[0-9a-z]+$/, `id of ${rest.line}`);
    assert(!Number.isNaN(Date.parse(time)), `time ${time}`);
    return rest;
  });
}

/** A regex for a stderr notice about `path`: `tailcast: <path>: <rest>`. */
function about(path: string, rest: string): RegExp {
  return new RegExp(
    `^tailcast: ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ${rest}`,
  );
}

function count(lines: readonly string[], pattern: RegExp): number {
  return lines.filter((l) => pattern.test(l)).length;
}

/** Waits for `n` stdout lines; on timeout returns anyway, for the accounting to explain. */
async function settle(
  tc: TailcastProcess,
  n: number,
  timeoutMs: number,
): Promise<void> {
  try {
    await tc.waitForLines(n, timeoutMs);
  } catch {
    // The accounting below says what is missing.
  }
}

/**
 * Sends `signal` and waits at most `timeoutMs` for tailcast to exit (a
 * tailcast that ignores the signal fails the test instead of hanging it; the
 * disposal kills it). `ms` is the time from the signal to the exit.
 */
async function stop(
  tc: TailcastProcess,
  signal: Deno.Signal = "SIGTERM",
  timeoutMs = 5_000,
): Promise<{ status: Deno.CommandStatus; ms: number }> {
  const t0 = performance.now();
  let result: { status: Deno.CommandStatus; ms: number } | null = null;
  const exited = tc.stop(signal).then((status) => {
    result = { status, ms: performance.now() - t0 };
  });
  exited.catch(() => {});
  await waitFor(
    () => result !== null,
    `tailcast to exit after ${signal} (stderr ${
      JSON.stringify(tc.stderr.slice(-3))
    })`,
    timeoutMs,
  );
  return result!;
}

/** Waits at most `timeoutMs` for tailcast to exit by itself. */
async function exitedWithin(
  tc: TailcastProcess,
  timeoutMs = 10_000,
): Promise<Deno.CommandStatus> {
  let status: Deno.CommandStatus | null = null;
  const exited = tc.exited().then((s) => {
    status = s;
  });
  exited.catch(() => {});
  await waitFor(
    () => status !== null,
    `tailcast to exit (stderr ${JSON.stringify(tc.stderr.slice(-3))})`,
    timeoutMs,
  );
  return status!;
}

/** Every seq 0..written-1 against what arrived. */
interface Accounting {
  received: number;
  missing: number[];
  doubled: number[];
  malformed: string[];
}

function account(events: readonly Ev[], written: number): Accounting {
  const seen = new Uint32Array(written);
  const malformed: string[] = [];
  for (const e of events) {
    const seq = parseSeq(e.line);
    if (seq === null || seq >= written || e.truncated || e.partial) {
      malformed.push(JSON.stringify(e).slice(0, 160));
    } else {
      seen[seq]++;
    }
  }
  const missing: number[] = [];
  const doubled: number[] = [];
  for (let i = 0; i < written; i++) {
    if (seen[i] === 0) missing.push(i);
    else if (seen[i] > 1) doubled.push(i);
  }
  return { received: events.length, missing, doubled, malformed };
}

function describeAccounting(
  a: Accounting,
  written: number,
  tc: TailcastProcess,
): string {
  const first = (xs: unknown[], n: number) => JSON.stringify(xs.slice(0, n));
  return [
    `written ${written}, received ${a.received}`,
    `missing ${a.missing.length} (first ${first(a.missing, 8)})`,
    `doubled ${a.doubled.length} (first ${first(a.doubled, 8)})`,
    `malformed ${a.malformed.length} (first ${first(a.malformed, 2)})`,
    `stderr ${tc.stderr.length} lines, last ${
      JSON.stringify(tc.stderr.slice(-4))
    }`,
  ].join("; ");
}

/**
 * Within each file (the file identity in the event id), lines are
 * consecutive seqs at consecutive offsets from byte 0, and each id ends at the
 * end of its line. Returns the first few problems.
 */
function perFileProblems(events: readonly Ev[]): string[] {
  const problems: string[] = [];
  const last = new Map<string, { seq: number; offset: number }>();
  for (const e of events) {
    const seq = parseSeq(e.line);
    if (seq === null) continue;
    const [file, end] = e.id.split(":");
    if (end !== (e.offset + LINE_BYTES).toString(36)) {
      problems.push(`id ${e.id} does not end at ${e.offset + LINE_BYTES}`);
    }
    const prev = last.get(file);
    const ok = prev
      ? seq === prev.seq + 1 && e.offset === prev.offset + LINE_BYTES
      : e.offset === 0;
    if (!ok) {
      problems.push(
        `file ${file}: seq ${seq} at ${e.offset} after ${JSON.stringify(prev)}`,
      );
    }
    last.set(file, { seq, offset: e.offset });
    if (problems.length >= 5) break;
  }
  return problems;
}

/**
 * copytruncate can lose the lines written between the copy and the
 * truncation (they are in neither file), and nothing else. So each run of
 * missing seqs must end right before a line read at byte 0 (the first line
 * of the truncated file), there are no more runs than truncation notices, and
 * a fragment of a line needs a "skipped" notice. Returns the problems.
 */
function copytruncateProblems(
  events: readonly Ev[],
  a: Accounting,
  stderr: readonly string[],
  path: string,
): string[] {
  const problems: string[] = [];
  const offsetOf = new Map<number, number>();
  for (const e of events) {
    const seq = parseSeq(e.line);
    if (seq !== null && !offsetOf.has(seq)) offsetOf.set(seq, e.offset);
  }
  const runs: Array<[number, number]> = [];
  for (const seq of a.missing) {
    const last = runs.at(-1);
    if (last && last[1] === seq - 1) last[1] = seq;
    else runs.push([seq, seq]);
  }
  for (const [first, last] of runs) {
    const next = offsetOf.get(last + 1);
    if (next !== 0) {
      problems.push(
        `seqs ${first}..${last} lost, then seq ${
          last + 1
        } read at byte ${next}, not at the start of the truncated file`,
      );
    }
  }
  const truncations = count(
    stderr,
    about(path, "truncated from \\d+ to \\d+ bytes"),
  );
  if (runs.length > truncations) {
    problems.push(
      `${runs.length} runs of lost lines, ${truncations} truncation notices`,
    );
  }
  const skipped = count(stderr, about(path, "skipped \\d+ bytes"));
  if (a.malformed.length > skipped) {
    problems.push(
      `${a.malformed.length} malformed lines, ${skipped} skipped notices`,
    );
  }
  return problems;
}

/** Waits until the last line printed is `seq` (for a file read in order). */
async function waitForLastSeq(
  tc: TailcastProcess,
  seq: number,
  timeoutMs: number,
): Promise<void> {
  try {
    await waitFor(
      () =>
        tc.stdout.length > 0 &&
        parseSeq((JSON.parse(tc.stdout.at(-1)!) as Ev).line) === seq,
      `seq ${seq}`,
      timeoutMs,
    );
  } catch {
    // The accounting below says what is missing.
  }
}

async function runLogrotate(dir: LogDir, conf: string): Promise<void> {
  const out = await new Deno.Command("logrotate", {
    args: ["-f", "-s", dir.file("logrotate.state"), conf],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(
    out.code,
    0,
    `logrotate failed: ${decoder.decode(out.stderr)}${
      decoder.decode(out.stdout)
    }`,
  );
}

async function createEmpty(path: string): Promise<void> {
  await Deno.writeFile(path, new Uint8Array());
}

// ---------------------------------------------------------------------------
// 1. Throughput: every line once, in order, with exact offsets.

Deno.test("tailcast delivers 200,000 lines written as fast as possible once, in order, at exact offsets", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await createEmpty(path);
  await using tc = new TailcastProcess(["--no-server", path]);
  await tc.waitForStderr(about(path, "following from byte 0$"));

  await using writer = new WriterProcess(["--path", path, "--count", "200000"]);
  const { written } = await writer.result();
  assertEquals(written, 200_000);
  await settle(tc, written, 60_000);
  assertEquals((await stop(tc)).status.code, 0);

  const events = eventsOf(tc);
  const problems: string[] = [];
  let offset = 0;
  for (let i = 0; i < events.length && problems.length < 5; i++) {
    const e = events[i];
    const seq = parseSeq(e.line);
    if (seq !== i) problems.push(`event ${i} has seq ${seq}: ${e.line}`);
    if (e.offset !== offset) {
      problems.push(`event ${i} at offset ${e.offset}, expected ${offset}`);
    }
    if (e.source !== path) problems.push(`event ${i} from ${e.source}`);
    if (e.truncated || e.partial || e.invalidUtf8) {
      problems.push(`event ${i} flagged: ${JSON.stringify(e)}`);
    }
    offset += encoder.encode(e.line).length + 1;
  }
  assertEquals(problems, []);
  assertEquals(
    events.length,
    written,
    describeAccounting(account(events, written), written, tc),
  );
  assertEquals(offset, written * LINE_BYTES);
});

// ---------------------------------------------------------------------------
// 2. Rename rotation under load: nothing lost, nothing doubled.

for (
  const { mode, seconds, reopenDelayMs } of [
    { mode: MODES[0], seconds: 10, reopenDelayMs: 0 },
    { mode: MODES[1], seconds: 3, reopenDelayMs: 0 },
    // The writer keeps writing to the renamed file for 50 ms, as a daemon
    // that reopens its log on SIGHUP does: the old file must be drained.
    { mode: MODES[0], seconds: 3, reopenDelayMs: 50 },
  ]
) {
  const late = reopenDelayMs ? `, writer reopens ${reopenDelayMs} ms late` : "";
  Deno.test(`tailcast loses and doubles no line across rename rotation every 0.5 s at 20,000 lines/s (${mode.name}, ${seconds} s${late})`, async () => {
    await using dir = await LogDir.create();
    const path = dir.file("app.log");
    await createEmpty(path);
    await using tc = new TailcastProcess(["--no-server", ...mode.args, path]);
    await tc.waitForStderr(about(path, "following from byte 0$"));

    await using writer = new WriterProcess([
      "--path",
      path,
      "--rate",
      "20000",
      "--seconds",
      String(seconds),
      "--rotate",
      "rename",
      "--rotate-every-ms",
      "500",
      "--reopen-delay-ms",
      String(reopenDelayMs),
    ]);
    const { written, rotations } = await writer.result();
    assertEquals(written, 20_000 * seconds);
    await settle(tc, written, 30_000);
    assertEquals((await stop(tc)).status.code, 0);

    const events = eventsOf(tc);
    const a = account(events, written);
    const why = describeAccounting(a, written, tc);
    assertEquals(
      {
        received: a.received,
        missing: a.missing.length,
        doubled: a.doubled.length,
        malformed: a.malformed.length,
      },
      { received: written, missing: 0, doubled: 0, malformed: 0 },
      why,
    );
    assertEquals(perFileProblems(events), []);
    assert(rotations >= seconds * 2 - 1, `only ${rotations} rotations`);
    assertEquals(
      count(tc.stderr, about(path, "rotated \\(renamed\\)")),
      rotations,
      `one rotation notice per rotation; stderr: ${tc.stderr.join("\n")}`,
    );
  });
}

// Faster rotation than polling: with --poll=250 and a rename every 100 ms,
// some files are created and renamed away between two polls, so the path
// never names them when tailcast looks. Lines may then be lost, but not
// silently: every line is delivered, or stderr says that some were not.
Deno.test("tailcast never loses lines silently when the file is renamed more than once between two polls (--poll=250, rename every 100 ms)", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await createEmpty(path);
  await using tc = new TailcastProcess(["--no-server", "--poll=250", path]);
  await tc.waitForStderr(about(path, "following from byte 0$"));

  await using writer = new WriterProcess([
    "--path",
    path,
    "--rate",
    "20000",
    "--seconds",
    "2",
    "--rotate",
    "rename",
    "--rotate-every-ms",
    "100",
  ]);
  const { written, rotations } = await writer.result();
  // The last line is in the file the path names now, read last.
  await waitForLastSeq(tc, written - 1, 10_000);
  assertEquals((await stop(tc)).status.code, 0);

  const a = account(eventsOf(tc), written);
  const why = describeAccounting(a, written, tc);
  assertEquals(a.doubled.length, 0, why);
  assertEquals(a.malformed.length, 0, why);
  const reported = count(
    tc.stderr,
    about(path, ".*(lost|skipped|missed|not read)"),
  );
  const rotated = count(tc.stderr, about(path, "rotated \\(renamed\\)"));
  assert(
    a.missing.length === 0 || reported > 0,
    `${a.missing.length} of ${written} lines lost with no notice; ` +
      `${rotations} renames, ${rotated} rotation notices: ${why}`,
  );
});

// ---------------------------------------------------------------------------
// 3. Copytruncate under load: nothing doubled, every loss reported.

Deno.test("tailcast doubles no line under copytruncate rotation every 0.5 s at 20,000 lines/s and reports any loss", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await createEmpty(path);
  await using tc = new TailcastProcess(["--no-server", path]);
  await tc.waitForStderr(about(path, "following from byte 0$"));

  await using writer = new WriterProcess([
    "--path",
    path,
    "--rate",
    "20000",
    "--seconds",
    "5",
    "--rotate",
    "copytruncate",
    "--rotate-every-ms",
    "500",
  ]);
  const { written, rotations } = await writer.result();
  assertEquals(written, 100_000);
  assert(rotations >= 9, `only ${rotations} rotations`);
  // Lines lost to copytruncate never come: the last line is the last to come.
  await waitForLastSeq(tc, written - 1, 20_000);
  assertEquals((await stop(tc)).status.code, 0);

  const events = eventsOf(tc);
  const a = account(events, written);
  const why = describeAccounting(a, written, tc);
  assertEquals(a.doubled.length, 0, why);
  assertEquals(
    copytruncateProblems(events, a, tc.stderr, path),
    [],
    `every lost line is reported: ${why}`,
  );
  const truncations = count(tc.stderr, about(path, "truncated from"));
  assert(
    truncations <= rotations,
    `${truncations} truncation notices for ${rotations} truncations`,
  );
});

// ---------------------------------------------------------------------------
// 4. Real logrotate.

for (const scheme of ["create", "copytruncate"] as const) {
  Deno.test(`tailcast follows a file that real logrotate rotates with ${scheme} while it is written`, async () => {
    await using dir = await LogDir.create();
    const path = dir.file("app.log");
    await createEmpty(path);
    const conf = dir.file("logrotate.conf");
    await Deno.writeTextFile(
      conf,
      `${path} {\n  rotate 5\n  missingok\n  ${scheme}\n  nocompress\n}\n`,
    );
    await using tc = new TailcastProcess(["--no-server", path]);
    await tc.waitForStderr(about(path, "following from byte 0$"));

    await using writer = new WriterProcess([
      "--path",
      path,
      "--rate",
      "5000",
      "--seconds",
      "60",
      ...(scheme === "create" ? ["--reopen-on-rotate"] : []),
    ]);
    // Rotate 7 times (so rotate 5 deletes the oldest), each time once lines
    // from the current file have arrived: for create, from a file not seen
    // before, which proves the writer reopened.
    const rounds = 7;
    const files = new Set<string>();
    const fileOf = (line: string) => (JSON.parse(line) as Ev).id.split(":")[0];
    for (let i = 0; i <= rounds; i++) {
      const from = tc.stdout.length;
      await waitFor(
        () => {
          const fresh = tc.stdout.slice(from).map(fileOf);
          return fresh.length >= 500 &&
            (scheme === "copytruncate" || fresh.some((f) => !files.has(f)));
        },
        `lines after rotation ${i} (have ${tc.stdout.length}; stderr ${
          JSON.stringify(tc.stderr.slice(-3))
        })`,
        10_000,
      );
      if (i === rounds) break;
      for (const line of tc.stdout) files.add(fileOf(line));
      await runLogrotate(dir, conf);
    }
    const { written, rotations } = await writer.stop();
    if (scheme === "create") await settle(tc, written, 15_000);
    else await waitForLastSeq(tc, written - 1, 15_000);
    assertEquals((await stop(tc)).status.code, 0);

    const events = eventsOf(tc);
    const a = account(events, written);
    const why = describeAccounting(a, written, tc);
    assertEquals(a.doubled.length, 0, why);
    // logrotate kept 5 old files and deleted the rest.
    const kept = (await Array.fromAsync(Deno.readDir(dir.path)))
      .map((e) => e.name).filter((n) => /^app\.log\.\d+$/.test(n)).sort();
    assertEquals(kept, [1, 2, 3, 4, 5].map((n) => `app.log.${n}`));
    if (scheme === "create") {
      assertEquals(
        { missing: a.missing.length, malformed: a.malformed.length },
        { missing: 0, malformed: 0 },
        why,
      );
      assertEquals(
        rotations,
        rounds,
        "the writer reopened after each rotation",
      );
      assertEquals(
        count(tc.stderr, about(path, "rotated \\(renamed\\)")),
        rounds,
        tc.stderr.join("\n"),
      );
      assertEquals(perFileProblems(events), []);
    } else {
      assertEquals(
        copytruncateProblems(events, a, tc.stderr, path),
        [],
        `every lost line is reported: ${why}`,
      );
    }
  });
}

// ---------------------------------------------------------------------------
// 5. Files that come and go, globs, start positions.

for (const mode of MODES) {
  Deno.test(`tailcast reads a deleted and recreated file from its first byte (${mode.name})`, async () => {
    await using dir = await LogDir.create();
    const path = dir.file("app.log");
    await dir.append("app.log", "old\n");
    await using tc = new TailcastProcess(["--no-server", ...mode.args, path]);
    await tc.waitForStderr(about(path, "following from byte 4$"));

    await dir.append("app.log", "one\n");
    await tc.waitForLines(1);
    await dir.remove("app.log");
    await tc.waitForStderr(about(path, "deleted; reading what is left"));
    await tc.waitForStderr(about(path, "no such file; waiting"));
    await dir.append("app.log", "two\n");
    await tc.waitForLines(2);
    // Delete and recreate at once, without waiting for tailcast to notice.
    await dir.remove("app.log");
    await dir.append("app.log", "three\n");
    await tc.waitForLines(3);
    assertEquals((await stop(tc)).status.code, 0);

    assertEquals(brief(tc), [
      { source: path, offset: 4, line: "one" },
      { source: path, offset: 0, line: "two" },
      { source: path, offset: 0, line: "three" },
    ]);
    assertEquals(count(tc.stderr, about(path, "following from byte 0$")), 2);
  });

  Deno.test(`tailcast waits for a file that does not exist yet and reads it from its first byte (${mode.name})`, async () => {
    await using dir = await LogDir.create();
    const path = dir.file("later.log");
    await using tc = new TailcastProcess(["--no-server", ...mode.args, path]);
    await tc.waitForStderr(
      about(path, "no such file; waiting for it to appear$"),
    );
    await dir.append("later.log", "first\nsecond\n");
    await tc.waitForLines(2);
    assertEquals((await stop(tc)).status.code, 0);

    assertEquals(brief(tc), [
      { source: path, offset: 0, line: "first" },
      { source: path, offset: 6, line: "second" },
    ]);
    assertEquals(count(tc.stderr, about(path, "following from byte 0$")), 1);
  });

  Deno.test(`tailcast picks up a file in a directory created after start (${mode.name})`, async () => {
    await using dir = await LogDir.create();
    const path = dir.file("sub/app.log");
    await using tc = new TailcastProcess(["--no-server", ...mode.args, path]);
    await tc.waitForStderr(about(path, "no such file; waiting"));
    await Deno.mkdir(dir.file("sub"));
    await dir.append("sub/app.log", "hello\nworld\n");
    await tc.waitForLines(2);
    assertEquals((await stop(tc)).status.code, 0);

    assertEquals(brief(tc), [
      { source: path, offset: 0, line: "hello" },
      { source: path, offset: 6, line: "world" },
    ]);
  });

  Deno.test(`tailcast follows a glob: old content skipped with --from end, new files read from their first byte (${mode.name})`, async () => {
    await using dir = await LogDir.create();
    await dir.append("a.log", "old-a1\nold-a2\n");
    await dir.append("c.txt", "not matched\n");
    const a = dir.file("a.log");
    const b = dir.file("b.log");
    await using tc = new TailcastProcess([
      "--no-server",
      ...mode.args,
      `${dir.path}/*.log`,
    ]);
    await tc.waitForStderr(about(a, "following from byte 14$"));

    await dir.append("b.log", "b1\nb2\n");
    await tc.waitForStderr(about(b, "following from byte 0$"));
    await dir.append("c.txt", "still not matched\n");
    await dir.append("a.log", "a3\n");
    await dir.append("b.log", "b3\n");
    await tc.waitForLines(4);
    assertEquals((await stop(tc)).status.code, 0);

    const got = brief(tc).sort((x, y) =>
      x.source.localeCompare(y.source) || x.offset - y.offset
    );
    assertEquals(got, [
      { source: a, offset: 14, line: "a3" },
      { source: b, offset: 0, line: "b1" },
      { source: b, offset: 3, line: "b2" },
      { source: b, offset: 6, line: "b3" },
    ]);
  });

  Deno.test(`tailcast --from start and -n 2 start like tail (${mode.name})`, async () => {
    await using dir = await LogDir.create();
    await dir.append("a.log", "l1\nl2\nl3\nl4\nl5\n");
    await dir.append("b.log", "m1\n");
    const a = dir.file("a.log");
    const b = dir.file("b.log");
    {
      await using tc = new TailcastProcess([
        "--no-server",
        ...mode.args,
        "--from",
        "start",
        `${dir.path}/*.log`,
      ]);
      await tc.waitForLines(6);
      await dir.append("b.log", "m2\n");
      await tc.waitForLines(7);
      assertEquals((await stop(tc)).status.code, 0);
      const got = brief(tc).sort((x, y) =>
        x.source.localeCompare(y.source) || x.offset - y.offset
      );
      assertEquals(got, [
        { source: a, offset: 0, line: "l1" },
        { source: a, offset: 3, line: "l2" },
        { source: a, offset: 6, line: "l3" },
        { source: a, offset: 9, line: "l4" },
        { source: a, offset: 12, line: "l5" },
        { source: b, offset: 0, line: "m1" },
        { source: b, offset: 3, line: "m2" },
      ]);
    }
    {
      await using tc = new TailcastProcess([
        "--no-server",
        ...mode.args,
        "-n",
        "2",
        a,
      ]);
      await tc.waitForStderr(about(a, "following from byte 9$"));
      await tc.waitForLines(2);
      await dir.append("a.log", "l6\n");
      await tc.waitForLines(3);
      assertEquals((await stop(tc)).status.code, 0);
      assertEquals(brief(tc), [
        { source: a, offset: 9, line: "l4" },
        { source: a, offset: 12, line: "l5" },
        { source: a, offset: 15, line: "l6" },
      ]);
    }
  });
}

// ---------------------------------------------------------------------------
// 6. What a line is.

Deno.test("tailcast splits lines exactly: CRLF, unterminated last line, --max-line-bytes, invalid UTF-8, NUL", async () => {
  await using dir = await LogDir.create();
  const a = dir.file("a.log");
  const b = dir.file("b.log");
  await createEmpty(a);
  await createEmpty(b);
  await using tc = new TailcastProcess([
    "--no-server",
    "--max-line-bytes",
    "10",
    a,
    b,
  ]);
  await waitFor(
    () => count(tc.stderr, /following from byte 0$/) === 2,
    `both files followed (stderr ${JSON.stringify(tc.stderr)})`,
  );

  const bytes = (...parts: (string | number[])[]) =>
    new Uint8Array(
      parts.flatMap((p) => typeof p === "string" ? [...encoder.encode(p)] : p),
    );
  const writes: Array<[Uint8Array, Omit<Brief, "source" | "offset">]> = [
    [bytes("crlf\r\n"), { line: "crlf" }],
    [bytes("ok", [0xff, 0xfe], "end\n"), {
      line: "ok\uFFFD\uFFFDend",
      invalidUtf8: true,
    }],
    [bytes("nul\0byte\n"), { line: "nul\u0000byte" }],
    [bytes("0123456789ABCDEF\n"), { line: "0123456789", truncated: true }],
    [bytes("next\n"), { line: "next" }],
    // Exactly the cap, before a CRLF: not truncated.
    [bytes("abcdefghij\r\n"), { line: "abcdefghij" }],
    [bytes("\n"), { line: "" }],
  ];
  const expected: Brief[] = [];
  let offset = 0;
  for (const [data, event] of writes) {
    await dir.appendBytes("a.log", data);
    expected.push({ source: a, offset, ...event });
    offset += data.length;
  }
  await tc.waitForLines(expected.length);

  // An unterminated line waits for its newline.
  await dir.append("a.log", "half");
  await dir.append("b.log", "b-line\n");
  await waitFor(
    () => tc.stdout.some((l) => (JSON.parse(l) as Ev).line === "b-line"),
    "the b-line event",
  );
  assert(
    !tc.stdout.some((l) => (JSON.parse(l) as Ev).line.includes("half")),
    `"half" emitted before its newline: ${tc.stdout.join("\n")}`,
  );
  await dir.append("a.log", "\n");
  await tc.waitForLines(expected.length + 2);
  assertEquals((await stop(tc)).status.code, 0);

  expected.push({ source: b, offset: 0, line: "b-line" });
  expected.push({ source: a, offset, line: "half" });
  assertEquals(brief(tc), expected);
  assertEquals(
    count(
      tc.stderr,
      about(a, "skipped 6 bytes at byte 23 \\(line-too-long\\)$"),
    ),
    1,
    tc.stderr.join("\n"),
  );
});

// ---------------------------------------------------------------------------
// 7. Truncation.

for (const mode of MODES) {
  Deno.test(`tailcast rereads a truncated file from byte 0 without re-emitting old lines (${mode.name})`, async () => {
    await using dir = await LogDir.create();
    const path = dir.file("app.log");
    await dir.append("app.log", "aaa\nbbb\n");
    await using tc = new TailcastProcess([
      "--no-server",
      ...mode.args,
      "--from",
      "start",
      path,
    ]);
    await tc.waitForLines(2);

    const truncate = async () => {
      const out = await new Deno.Command("truncate", {
        args: ["-s0", path],
        stdout: "null",
        stderr: "piped",
      }).output();
      assertEquals(out.code, 0, decoder.decode(out.stderr));
    };
    // Truncate, wait for the notice, then write.
    await truncate();
    await tc.waitForStderr(
      about(path, "truncated from 8 to 0 bytes.*reading again from byte 0$"),
    );
    await dir.append("app.log", "ccc\n");
    await tc.waitForLines(3);
    // Truncate and write at once: the file is shorter than the offset still.
    await truncate();
    await dir.append("app.log", "dd\n");
    await tc.waitForLines(4);
    assertEquals((await stop(tc)).status.code, 0);

    assertEquals(brief(tc), [
      { source: path, offset: 0, line: "aaa" },
      { source: path, offset: 4, line: "bbb" },
      { source: path, offset: 0, line: "ccc" },
      { source: path, offset: 0, line: "dd" },
    ]);
    assertEquals(
      count(tc.stderr, about(path, "truncated from \\d+ to \\d+ bytes")),
      2,
      tc.stderr.join("\n"),
    );
    assertEquals(
      count(tc.stderr, about(path, "truncated from 4 to [03] bytes")),
      1,
      tc.stderr.join("\n"),
    );
  });
}

// ---------------------------------------------------------------------------
// 8. Signals.

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`tailcast exits 0 within 2 s of ${signal} when idle`, async () => {
    await using dir = await LogDir.create();
    const path = dir.file("app.log");
    await dir.append("app.log", "x\n");
    await using tc = new TailcastProcess(["--no-server", path]);
    await tc.waitForStderr(about(path, "following from byte 2$"));
    const { status, ms } = await stop(tc, signal);
    assertEquals(status.code, 0, tc.stderr.join("\n"));
    assertEquals(status.signal, null);
    assert(ms < 2000, `exit took ${ms.toFixed(0)} ms`);
    assertEquals(tc.stdout, []);
  });

  Deno.test(`tailcast exits 0 within 2 s of ${signal} while a writer is writing, with whole NDJSON lines`, async () => {
    await using dir = await LogDir.create();
    const path = dir.file("app.log");
    await createEmpty(path);
    await using tc = new TailcastProcess(["--no-server", path]);
    await tc.waitForStderr(about(path, "following from byte 0$"));
    // 100,000 lines/s (10 MB/s): tailcast is busy reading when it is told to stop.
    await using writer = new WriterProcess([
      "--path",
      path,
      "--rate",
      "100000",
      "--seconds",
      "20",
    ]);
    let writerDone = false;
    writer.child.status.then(() => writerDone = true);
    await tc.waitForLines(5000);
    const { status, ms } = await stop(tc, signal);
    assertEquals(writerDone, false, "the writer was still writing");
    const { written } = await writer.stop();
    assertEquals(status.code, 0, tc.stderr.join("\n"));
    assertEquals(status.signal, null);
    assert(ms < 2000, `exit took ${ms.toFixed(0)} ms`);
    // Every line printed is whole JSON, and they are the first lines, in order.
    const problems: string[] = [];
    tc.stdout.forEach((l, i) => {
      let seq: number | null = null;
      try {
        seq = parseSeq((JSON.parse(l) as Ev).line);
      } catch {
        // Not JSON: a torn line.
      }
      if (seq !== i && problems.length < 5) problems.push(`line ${i}: ${l}`);
    });
    assertEquals(problems, []);
    assert(tc.stdout.length >= 5000 && tc.stdout.length <= written);
  });
}

// ---------------------------------------------------------------------------
// 9. Command-line and start-up errors.

async function runToExit(
  args: string[],
): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  await using tc = new TailcastProcess(args);
  const status = await exitedWithin(tc);
  return { code: status.code, stdout: [...tc.stdout], stderr: [...tc.stderr] };
}

Deno.test("tailcast refuses a directory with exit 2 and one line", async () => {
  await using dir = await LogDir.create();
  const r = await runToExit(["--no-server", dir.path]);
  assertEquals(r.code, 2);
  assertEquals(r.stderr.length, 1, r.stderr.join("\n"));
  assertMatch(r.stderr[0], /^tailcast: .*directory/);
  assertEquals(r.stdout, []);
});

Deno.test("tailcast refuses an unknown flag with exit 2 and one line naming it", async () => {
  await using dir = await LogDir.create();
  const r = await runToExit(["--no-server", "--bogus", dir.file("a.log")]);
  assertEquals(r.code, 2);
  assertEquals(r.stderr.length, 1, r.stderr.join("\n"));
  assertMatch(r.stderr[0], /^tailcast: .*'--bogus'/);
});

Deno.test("tailcast refuses --from middle with exit 2 and one line naming --from", async () => {
  await using dir = await LogDir.create();
  const r = await runToExit([
    "--no-server",
    "--from",
    "middle",
    dir.file("a.log"),
  ]);
  assertEquals(r.code, 2);
  assertEquals(r.stderr.length, 1, r.stderr.join("\n"));
  assertMatch(r.stderr[0], /^tailcast: .*--from/);
});

Deno.test("tailcast without paths prints the usage and exits 2", async () => {
  const r = await runToExit(["--no-server"]);
  assertEquals(r.code, 2);
  assertMatch(r.stderr[0], /^Usage: tailcast /);
  assertMatch(r.stderr.at(-1)!, /^tailcast: No file to follow: .*--demo/);
});

Deno.test("tailcast --help prints the usage and exits 0", async () => {
  const r = await runToExit(["--help"]);
  assertEquals(r.code, 0);
  assertMatch(r.stdout[0], /^Usage: tailcast /);
  assertEquals(r.stderr, []);
});

Deno.test("tailcast --version prints its version and Deno's and exits 0", async () => {
  const r = await runToExit(["--version"]);
  assertEquals(r.code, 0);
  const meta = JSON.parse(await Deno.readTextFile(ROOT + "deno.json"));
  assertEquals(r.stdout, [
    `tailcast ${meta.version} (deno ${Deno.version.deno})`,
  ]);
  assertEquals(r.stderr, []);
});

Deno.test("tailcast without Deno read permission for the file exits 2 with one line naming --allow-read", async () => {
  await using dir = await LogDir.create();
  await Deno.mkdir(dir.file("other"));
  await dir.append("app.log", "x\n");
  // Explicit permissions instead of -A: read access to another directory only.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-read=${dir.file("other")}`,
      ROOT + "main.ts",
      "--no-server",
      dir.file("app.log"),
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out: Deno.CommandOutput | null = null;
  const output = child.output().then((o) => {
    out = o;
    return o;
  });
  try {
    await waitFor(() => out !== null, "tailcast to exit");
  } finally {
    if (out === null) child.kill("SIGKILL");
    await output;
  }
  const { code, stdout, stderr: err } = await output;
  const stderr = decoder.decode(err).split("\n").filter(Boolean);
  assertEquals(code, 2, stderr.join("\n"));
  assertEquals(stderr.length, 1, stderr.join("\n"));
  assertMatch(stderr[0], /^tailcast: .*--allow-read/);
  assertEquals(decoder.decode(stdout), "");
});
