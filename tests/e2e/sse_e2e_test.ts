/**
 * End to end over HTTP: the real entry point (`deno run -A main.ts --port 0 …`)
 * as a subprocess, real files, and Debian `curl -sN` as the SSE client (see
 * tests/_fixtures/sse_client.ts). Lines are written by the test process
 * (LogDir.append) or, for volume and for concurrency with connects, by a small
 * writer run with `deno eval`.
 *
 * Every line written is `<tag>-<seq, 8 digits> <word>xxx…`, LINE_BYTES bytes
 * with its newline, so each event's seq, offset and id can be checked exactly.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
} from "@std/assert";
import type { EventJson as Event } from "../../src/types.ts";
import { LogDir } from "../_fixtures/log_dir.ts";
import {
  connectSse,
  curl,
  CurlSse,
  type SseFrame,
} from "../_fixtures/sse_client.ts";
import { TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor } from "../_fixtures/wait.ts";

// ---------------------------------------------------------------------------
// Lines, events, checks.

/** Bytes per line, newline included. */
const LINE_BYTES = 128;

/** Line `seq` of `tag`, without its newline: LINE_BYTES - 1 ASCII characters. */
function lineText(tag: string, seq: number, word = ""): string {
  const head = `${tag}-${String(seq).padStart(8, "0")} ${word}`;
  return head + "x".repeat(LINE_BYTES - 1 - head.length);
}

/** Lines `from`..`from + count - 1` of `tag`, each with its newline. */
function linesText(
  tag: string,
  from: number,
  count: number,
  word: (seq: number) => string = () => "",
): string {
  let out = "";
  for (let i = from; i < from + count; i++) {
    out += lineText(tag, i, word(i)) + "\n";
  }
  return out;
}

const SEQ = /^([a-z]+)-(\d{8}) /;

/** The seq of a line this file wrote (null for anything else). */
function seqOf(line: string, tag?: string): number | null {
  const m = SEQ.exec(line);
  if (!m || (tag !== undefined && m[1] !== tag)) return null;
  return Number(m[2]);
}

/** One line event as sent in `data:` (and as one NDJSON record). */
type Ev = Event;

/** A subscriber's resume cursor, the SSE `id:` of a line event. */
/** An SSE id: a journal position (with file entries) or a file cursor, never over 256 bytes. */
const CURSOR =
  /^(?=.{1,256}$)(2\.[0-9a-z]+\.[0-9a-z]+\.[0-9a-z]+|1)(~[0-9a-z]+\.[0-9a-z]+\.[0-9a-z]+\.[0-9a-z]+)*$/;

/** The line events a client received (kept frames). */
function linesOf(client: CurlSse): Ev[] {
  return client.lineEvents<Ev>();
}

/** The seqs of the line events a client received, in arrival order. */
function seqsOf(client: CurlSse, tag?: string): number[] {
  return linesOf(client).map((e) => seqOf(e.line, tag) ?? -1);
}

/**
 * What is wrong with `got` against exactly `from`..`to - 1` in order:
 * the first few problems, empty when it matches.
 */
function seqProblems(got: readonly number[], from: number, to: number): string {
  const problems: string[] = [];
  if (got.length !== to - from) {
    problems.push(`${got.length} lines, expected ${to - from}`);
  }
  const seen = new Map<number, number>();
  for (const s of got) seen.set(s, (seen.get(s) ?? 0) + 1);
  const doubled = [...seen].filter(([, n]) => n > 1).map(([s]) => s);
  const missing: number[] = [];
  for (let s = from; s < to; s++) if (!seen.has(s)) missing.push(s);
  const stray = [...seen.keys()].filter((s) => s < from || s >= to);
  if (missing.length) {
    problems.push(
      `${missing.length} missing (first ${
        JSON.stringify(missing.slice(0, 8))
      })`,
    );
  }
  if (doubled.length) {
    problems.push(
      `${doubled.length} doubled (first ${
        JSON.stringify(doubled.slice(0, 8))
      })`,
    );
  }
  if (stray.length) {
    problems.push(
      `${stray.length} outside ${from}..${to - 1} (first ${
        JSON.stringify(stray.slice(0, 8))
      })`,
    );
  }
  const at = got.findIndex((s, i) => s !== from + i);
  if (at !== -1 && problems.length === 0) {
    problems.push(
      `out of order at index ${at}: ${
        JSON.stringify(got.slice(Math.max(0, at - 2), at + 3))
      }`,
    );
  } else if (at !== -1) {
    problems.push(
      `first difference at index ${at}: ${
        JSON.stringify(got.slice(Math.max(0, at - 2), at + 3))
      }`,
    );
  }
  return problems.join("; ");
}

/** Asserts `got` is exactly `from`..`to - 1`, in order. */
function assertSeqs(
  got: readonly number[],
  from: number,
  to: number,
  what: string,
): void {
  const problems = seqProblems(got, from, to);
  assertEquals(problems, "", `${what}: ${problems}`);
}

/** Frames other than `line` (and the `bye` at the end), for messages. */
function others(client: CurlSse): string[] {
  return client.frames.filter((f) => f.event !== "line").map((f) =>
    `${f.event} ${f.data}`
  );
}

/** `a/b.log` etc.: a stderr regex for a notice about `path`. */
function about(path: string, rest: string): RegExp {
  return new RegExp(
    `^tailcast: ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ${rest}`,
  );
}

/** Measurements for the report, on stderr (not an assertion). */
function note(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`  [measured] ${text}\n`));
}

// ---------------------------------------------------------------------------
// The server, its reports, clients.

/** `tailcast --port 0 …`; resolves once it serves, with its base URL. */
async function serve(
  args: readonly string[],
  options: { env?: Record<string, string>; stdin?: "piped" | "null" } = {},
): Promise<{ tc: TailcastProcess; url: string }> {
  const tc = new TailcastProcess(["--port", "0", ...args], options);
  try {
    return { tc, url: await tc.url() };
  } catch (error) {
    await tc.stop("SIGKILL");
    throw error;
  }
}

interface SourceReport {
  path: string;
  identity: { dev: number; ino: number } | null;
  offset: number | null;
  size: number | null;
  lag: number | null;
  published: Array<{ dev: number; ino: number; offset: number }>;
}

async function getJson<T>(url: string, args: string[] = []): Promise<T> {
  const r = await curl(url, args);
  assertEquals(r.status, 200, `GET ${url}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
}

async function sourcesOf(url: string): Promise<SourceReport[]> {
  return (await getJson<{ sources: SourceReport[] }>(`${url}/sources`))
    .sources;
}

/**
 * Waits until the server has read and published all of the file now under
 * `path` (the same identity, offset = size = the size on disk).
 */
async function waitPublished(
  url: string,
  path: string,
  timeoutMs = 20_000,
): Promise<void> {
  let last: SourceReport | undefined;
  await waitFor(
    async () => {
      const info = await Deno.stat(path);
      last = (await sourcesOf(url)).find((s) => s.path === path);
      const newest = last?.published.at(-1);
      return last?.identity?.ino === info.ino &&
        last.offset === info.size && last.size === info.size &&
        newest?.ino === info.ino && newest.offset === info.size;
    },
    `${path} read and published to its end (last report ${
      JSON.stringify(last)
    })`,
    timeoutMs,
  );
}

async function subscribers(url: string): Promise<number> {
  return (await getJson<{ subscribers: number }>(`${url}/healthz`))
    .subscribers;
}

/** Waits until `client` received the line `seq` of `tag` (or its stream ended). */
async function waitForSeq(
  client: CurlSse,
  seq: number,
  tag?: string,
  timeoutMs = 15_000,
): Promise<void> {
  let checked = 0;
  let found = false;
  await client.until(
    () => {
      for (; checked < client.frames.length; checked++) {
        const f = client.frames[checked];
        if (f.event !== "line" && f.event !== "ndjson") continue;
        if (seqOf((JSON.parse(f.data) as Ev).line, tag) === seq) found = true;
      }
      return found || client.ended;
    },
    `line ${tag ?? ""}${seq}`,
    timeoutMs,
  );
  assert(
    found,
    `stream ended before line ${seq}: ${client.frameCount} frames, last ${
      JSON.stringify(client.frames.at(-1))
    }`,
  );
}

/** The VmRSS of a process, in MiB. */
function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

// ---------------------------------------------------------------------------
// A writer process, for volume and for writing while clients connect.

const WRITER_JS = `
const [path, tag, from, count, batch, rate] = Deno.args;
const start = Number(from), n = Number(count), b = Number(batch), r = Number(rate);
const file = await Deno.open(path, { append: true, create: true });
const encoder = new TextEncoder();
const pad = "x".repeat(${LINE_BYTES});
const t0 = performance.now();
for (let s = start; s < start + n; s += b) {
  let text = "";
  for (let i = s; i < Math.min(s + b, start + n); i++) {
    const head = tag + "-" + String(i).padStart(8, "0") + " ";
    text += head + pad.slice(0, ${LINE_BYTES - 1} - head.length) + "\\n";
  }
  const bytes = encoder.encode(text);
  let at = 0;
  while (at < bytes.length) at += await file.write(bytes.subarray(at));
  if (r > 0) {
    const wait = t0 + ((s + b - start) / r) * 1000 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
file.close();
console.log(JSON.stringify({ written: n, ms: Math.round(performance.now() - t0) }));
`;

/** Appends lines `from`..`from + count - 1` of `tag` to `path` from another process. */
class Writer implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #output: Promise<Deno.CommandOutput>;

  constructor(
    path: string,
    o: {
      tag: string;
      from: number;
      count: number;
      batch: number;
      rate: number;
    },
  ) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        WRITER_JS,
        path,
        o.tag,
        String(o.from),
        String(o.count),
        String(o.batch),
        String(o.rate),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#output = this.#child.output();
  }

  async result(): Promise<{ written: number; ms: number }> {
    const out = await this.#output;
    const decoder = new TextDecoder();
    assertEquals(out.code, 0, `writer failed: ${decoder.decode(out.stderr)}`);
    return JSON.parse(decoder.decode(out.stdout));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already done.
    }
    await this.#output.catch(() => {});
  }
}

/**
 * Follows one client's line seqs without keeping frames: counts, jumps
 * (with the `gap` count announced just before, if any) and other frames.
 */
class SeqTracker {
  lines = 0;
  last = -1;
  first: number | null = null;
  readonly jumps: Array<{ from: number; to: number; gap: number | null }> = [];
  readonly gaps: Array<{ cause: string; lines: number; message: string }> = [];
  readonly others: string[] = [];
  /** Seq and read time of one line in every 1000. */
  readonly #times: Array<[number, number]> = [];
  #gap: number | null = null;

  /** The first sampled seq whose event time is at or after `wallMs`. */
  firstReadAfter(wallMs: number): number | null {
    return this.#times.find(([, t]) => t >= wallMs)?.[0] ?? null;
  }

  readonly onFrame = (f: SseFrame): void => {
    if (f.event === "line") {
      const e = JSON.parse(f.data) as Ev;
      const seq = seqOf(e.line) ?? -1;
      if (seq % 1000 === 0) this.#times.push([seq, Date.parse(e.time)]);
      this.first ??= seq;
      if (seq !== this.last + 1 || this.#gap !== null) {
        if (this.jumps.length < 1000) {
          this.jumps.push({ from: this.last, to: seq, gap: this.#gap });
        }
      }
      this.#gap = null;
      this.last = seq;
      this.lines++;
    } else if (f.event === "gap") {
      const gap = JSON.parse(f.data);
      this.gaps.push(gap);
      this.#gap = (this.#gap ?? 0) + gap.lines;
    } else if (this.others.length < 100) {
      this.others.push(`${f.event} ${f.data}`);
    }
  };
}

// ---------------------------------------------------------------------------
// 1. Every line once, in order, with the SSE headers.

Deno.test("SSE curl -N reads 20,000 lines appended while connected once, in order, each with an id, and gets the SSE headers", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, "");
  const { tc, url } = await serve([path]);
  await using _tc = tc;
  await tc.waitForStderr(about(path, "following from byte 0$"));
  await using client = await connectSse(`${url}/events`);

  const total = 20_000;
  // Paced batches: this test is about order and exactness over the live
  // path; overflow and catch-up from disk are the slow-subscriber tests.
  const batch = 1000;
  for (let from = 0; from < total; from += batch) {
    await dir.append("app.log", linesText("l", from, batch));
    await waitForSeq(client, from + batch - 1, "l");
  }

  const response = await client.response();
  assertEquals(response.status, 200);
  assertEquals(response.headers.get("cache-control"), "no-cache");
  assertEquals(response.headers.get("x-accel-buffering"), "no");
  assertMatch(
    response.headers.get("content-type") ?? "",
    /^text\/event-stream(;|$)/,
  );
  assertMatch(client.head, /^retry: 2000\n/, "retry: comes first");

  const frames = client.frames.filter((f) => f.event === "line");
  assertSeqs(
    frames.map((f) => seqOf(JSON.parse(f.data).line) ?? -1),
    0,
    total,
    "lines",
  );
  assertEquals(others(client), []);
  const problems: string[] = [];
  for (let i = 0; i < frames.length && problems.length < 5; i++) {
    const f = frames[i];
    const e = JSON.parse(f.data) as Ev;
    const end = (i + 1) * LINE_BYTES;
    if (f.id === null || !CURSOR.test(f.id)) {
      problems.push(`frame ${i}: id ${f.id}`);
    } else if (!f.id.endsWith(`.${end.toString(36)}`)) {
      problems.push(`frame ${i}: cursor ${f.id} does not end at byte ${end}`);
    }
    if (!e.id.endsWith(`:${end.toString(36)}`)) {
      problems.push(`frame ${i}: event id ${e.id} does not end at ${end}`);
    }
    if (
      e.source !== path || e.offset !== i * LINE_BYTES ||
      e.line !== lineText("l", i) || Number.isNaN(Date.parse(e.time)) ||
      e.truncated || e.partial || e.invalidUtf8
    ) {
      problems.push(`frame ${i}: ${f.data.slice(0, 200)}`);
    }
  }
  assertEquals(problems, []);
});

// ---------------------------------------------------------------------------
// 2. Slow subscribers.

Deno.test("SSE a stalled client slows nothing: a normal client gets all 1.6 M lines (~200 MB) exactly once, server RSS stays bounded, the stalled one is ended by --write-timeout", async () => {
  const total = 1_600_000;
  const rate = 50_000; // lines/s: 6.4 MB/s, 32 s
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, "");
  const { tc, url } = await serve([
    "--queue",
    "1000",
    "--write-timeout",
    "5",
    path,
  ]);
  await using _tc = tc;
  await tc.waitForStderr(about(path, "following from byte 0$"));

  const normal = new SeqTracker();
  const stalled = new SeqTracker();
  await using normalClient = await connectSse(`${url}/events`, {
    keep: false,
    onFrame: normal.onFrame,
  });
  await using stalledClient = await connectSse(`${url}/events`, {
    keep: false,
    onFrame: stalled.onFrame,
  });
  stalledClient.pause();

  const pid = tc.child.pid;
  const baseline = rssMiB(pid);
  const samples: number[] = [];
  const sampler = setInterval(() => {
    try {
      samples.push(rssMiB(pid));
    } catch {
      // Exited; the assertions below say why.
    }
  }, 100);
  const t0 = performance.now();
  let writeMs: number;
  let catchUpMs: number;
  let cutSeenAfterWrite: number;
  try {
    await using writer = new Writer(path, {
      tag: "b",
      from: 0,
      count: total,
      batch: 500,
      rate,
    });
    const { written } = await writer.result();
    assertEquals(written, total);
    writeMs = performance.now() - t0;
    await normalClient.until(
      () => normal.last === total - 1 || normalClient.ended,
      `normal client at line ${
        total - 1
      } (at ${normal.last}, ${normal.lines} lines, ${normal.gaps.length} gaps)`,
      30_000,
    );
    catchUpMs = performance.now() - t0;
    // The stalled client's write has been pending for far longer than 5 s.
    cutSeenAfterWrite = await subscribers(url);
  } finally {
    clearInterval(sampler);
  }
  const peak = Math.max(...samples);
  const half = Math.floor(samples.length / 2);
  note(
    `stalled-client run: wrote ${total} lines (${
      (total * LINE_BYTES / 1e6).toFixed(0)
    } MB) in ${(writeMs / 1000).toFixed(1)} s; normal client done after ${
      (catchUpMs / 1000).toFixed(1)
    } s; server RSS baseline ${baseline.toFixed(0)} MiB, peak ${
      peak.toFixed(0)
    } MiB (first half ${
      Math.max(...samples.slice(0, half)).toFixed(0)
    }, second half ${
      Math.max(...samples.slice(half)).toFixed(0)
    }), ${samples.length} samples; normal client: ${normal.lines} lines, ${normal.gaps.length} gaps`,
  );

  // The normal client: every line, once, in order, no gap.
  assertEquals(
    {
      lines: normal.lines,
      first: normal.first,
      last: normal.last,
      jumps: normal.jumps.slice(0, 10),
      gaps: normal.gaps.slice(0, 10),
      others: normal.others,
    },
    {
      lines: total,
      first: 0,
      last: total - 1,
      jumps: [],
      gaps: [],
      others: [],
    },
    "the normal client lost or repeated lines",
  );

  // Bounded memory: the stalled subscriber holds at most its queue (1000
  // events, ~1 MB). Had it kept what it could not take, the server would
  // hold ≥ 200 MB of line text (≥ 400 MB as JS strings and event objects).
  assert(
    peak < 300,
    `server RSS peaked at ${peak.toFixed(0)} MiB (baseline ${
      baseline.toFixed(0)
    })`,
  );

  // The stalled client: its socket write has been pending since early in the
  // run, so --write-timeout 5 ended it (only the normal client is left).
  assertEquals(cutSeenAfterWrite, 1, "subscribers after the write");
  stalledClient.resume();
  const status = await stalledClient.exited(10_000);
  note(
    `stalled client after SIGCONT: ${stalled.lines} lines (seq ${stalled.first}..${stalled.last}), ${stalled.gaps.length} gap events, ended by the server (curl exit ${status.code}), frames other than line: ${
      JSON.stringify(stalled.others)
    }`,
  );
  // What it got before the cut is the start of the stream, in order, with
  // no gap (an overflow is caught up from disk, never announced as lost).
  assertEquals(
    {
      first: stalled.first,
      jumps: stalled.jumps.slice(0, 10),
      gaps: stalled.gaps,
      others: stalled.others,
    },
    { first: 0, jumps: [], gaps: [], others: [] },
  );
  assertEquals(stalled.lines, stalled.last + 1);
  assert(stalled.last < total - 1, `stalled client got to ${stalled.last}`);
  // Cut, not ended: no `bye`, and curl saw the chunked body break off.
  assertNotEquals(status.code, 0, "curl should see an unfinished body");
});

Deno.test("SSE a stalled client resumed before --write-timeout catches up from disk (drop-oldest): every line once, no gap; with policy=disconnect it gets bye queue-full", async () => {
  // 100,000 lines: ~33 MB of SSE, far more than the socket buffers of a
  // stopped curl take (~4 MB here), so both queues (1000) overflow.
  const total = 100_000;
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, "");
  const { tc, url } = await serve(["--queue", "1000", path]);
  await using _tc = tc;
  await tc.waitForStderr(about(path, "following from byte 0$"));
  const dropper = new SeqTracker();
  await using dropClient = await connectSse(`${url}/events`, {
    keep: false,
    onFrame: dropper.onFrame,
  });
  await using cutClient = await connectSse(`${url}/events?policy=disconnect`);
  dropClient.pause();
  cutClient.pause();

  await using writer = new Writer(path, {
    tag: "d",
    from: 0,
    count: total,
    batch: 8192,
    rate: 0,
  });
  await writer.result();
  await waitPublished(url, path);
  const resumedAt = Date.now();
  dropClient.resume();
  cutClient.resume();

  // drop-oldest: it catches up from the file, and gets every line once.
  await dropClient.until(
    () => dropper.last === total - 1,
    `drop-oldest client at line ${total - 1} (at ${dropper.last})`,
  );
  assertEquals(
    {
      lines: dropper.lines,
      first: dropper.first,
      jumps: dropper.jumps.slice(0, 10),
      gaps: dropper.gaps,
      others: dropper.others,
    },
    { lines: total, first: 0, jumps: [], gaps: [], others: [] },
  );
  note(
    `drop-oldest stalled client: ${dropper.lines} lines in order after SIGCONT; first line read after the resume: seq ${
      dropper.firstReadAfter(resumedAt)
    }`,
  );

  // disconnect: the lines it had queued, in order from the first, then bye.
  const status = await cutClient.exited();
  assertEquals(status.code, 0, "the stream ends cleanly");
  const seqs = seqsOf(cutClient, "d");
  note(`policy=disconnect stalled client: ${seqs.length} lines, then bye`);
  assert(seqs.length < total);
  assertSeqs(seqs, 0, seqs.length, "policy=disconnect lines");
  assertEquals(
    cutClient.frames.filter((f) => f.event !== "line").map((
      f,
    ) => [f.event, JSON.parse(f.data)]),
    [["bye", { reason: "queue-full" }]],
  );
  assertEquals(cutClient.frames.at(-1)?.event, "bye");
  assertEquals(await subscribers(url), 1);
});

Deno.test("SSE a stalled client of standard input gets gap events that count exactly the lines it lost, and the newest lines", async () => {
  // Standard input is not on disk: an overflow cannot be caught up, so it
  // must be announced as a `gap` with the number of lines lost.
  const total = 100_000;
  const { tc, url } = await serve(["--queue", "1000", "-"], {
    stdin: "piped",
  });
  await using _tc = tc;
  const tracker = new SeqTracker();
  await using client = await connectSse(`${url}/events`, {
    keep: false,
    onFrame: tracker.onFrame,
  });
  client.pause();
  const stdin = tc.child.stdin.getWriter();
  try {
    const encoder = new TextEncoder();
    for (let from = 0; from < total; from += 8192) {
      await stdin.write(
        encoder.encode(linesText("i", from, Math.min(8192, total - from))),
      );
    }
    client.resume();
    // drop-oldest keeps the newest line; give up after 5 s so the
    // accounting below can say what went wrong.
    await client.until(() => tracker.last === total - 1, "the last line", 5000)
      .catch(() => {});
  } finally {
    await stdin.close();
  }
  const announced = tracker.gaps.reduce((n, g) => n + g.lines, 0);
  note(
    `stdin stalled client: ${tracker.lines} lines, gaps ${
      JSON.stringify(tracker.gaps.map((g) => g.lines))
    }, jumps ${JSON.stringify(tracker.jumps.slice(0, 5))}`,
  );
  assert(tracker.gaps.length > 0, "it overflowed");
  assert(
    tracker.gaps.every((g) => g.cause === "slow-subscriber" && g.lines > 0),
  );
  assertEquals(
    {
      first: tracker.first,
      last: tracker.last,
      unannounced: tracker.jumps.filter((j) =>
        j.to <= j.from || j.gap !== j.to - j.from - 1
      ).slice(0, 5),
      receivedPlusAnnounced: tracker.lines + announced,
    },
    {
      first: 0,
      last: total - 1,
      unannounced: [],
      receivedPlusAnnounced: total,
    },
  );
});

Deno.test("SSE a file subscriber on a server that also reads standard input catches up from disk without a gap event", async () => {
  const total = 100_000;
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, "");
  const { tc, url } = await serve(["--queue", "1000", "-", path], {
    stdin: "piped",
  });
  await using _tc = tc;
  try {
    await tc.waitForStderr(about(path, "following from byte 0$"));
    const tracker = new SeqTracker();
    await using client = await connectSse(`${url}/events?source=app.log`, {
      keep: false,
      onFrame: tracker.onFrame,
    });
    client.pause();
    await using writer = new Writer(path, {
      tag: "m",
      from: 0,
      count: total,
      batch: 8192,
      rate: 0,
    });
    await writer.result();
    await waitPublished(url, path);
    client.resume();
    await client.until(
      () => tracker.last === total - 1,
      `line ${total - 1} (at ${tracker.last})`,
    );
    // Nothing of this subscriber's selection was lost: it was all read back
    // from the file, so a `gap` would tell the client something false.
    assertEquals(
      {
        lines: tracker.lines,
        first: tracker.first,
        jumps: tracker.jumps.slice(0, 5),
        gaps: tracker.gaps,
        others: tracker.others,
      },
      { lines: total, first: 0, jumps: [], gaps: [], others: [] },
    );
  } finally {
    await tc.child.stdin.close();
  }
});

// ---------------------------------------------------------------------------
// 3. Resume.

Deno.test("SSE resumes exactly once with Last-Event-ID and with ?since=, then goes live", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, "");
  const { tc, url } = await serve([path]);
  await using _tc = tc;
  await tc.waitForStderr(about(path, "following from byte 0$"));

  let midId: string;
  let lastId: string;
  {
    await using first = await connectSse(`${url}/events`);
    await dir.append("app.log", linesText("r", 0, 100));
    await waitForSeq(first, 99, "r");
    assertSeqs(seqsOf(first, "r"), 0, 100, "first connection");
    const ids = first.frames.filter((f) => f.event === "line").map((f) => f.id);
    midId = ids[49]!;
    lastId = first.lastId!;
    assertEquals(lastId, ids[99]);
    assertMatch(lastId, CURSOR);
  }
  await waitFor(async () => await subscribers(url) === 0, "first gone");
  await dir.append("app.log", linesText("r", 100, 100));
  await waitPublished(url, path);

  await using byHeader = await connectSse(`${url}/events`, {
    headers: { "Last-Event-ID": lastId },
  });
  await using byQuery = await connectSse(
    `${url}/events?since=${encodeURIComponent(midId)}`,
  );
  await waitForSeq(byHeader, 199, "r");
  await waitForSeq(byQuery, 199, "r");
  await dir.append("app.log", linesText("r", 200, 50));
  await waitForSeq(byHeader, 249, "r");
  await waitForSeq(byQuery, 249, "r");
  assertSeqs(seqsOf(byHeader, "r"), 100, 250, "Last-Event-ID");
  assertSeqs(seqsOf(byQuery, "r"), 50, 250, "?since=");
  assertEquals(others(byHeader), []);
  assertEquals(others(byQuery), []);
  // Every resumed line carries a cursor too, ending where the line ends.
  for (const f of byHeader.frames.filter((f) => f.event === "line")) {
    const e = JSON.parse(f.data) as Ev;
    assert(
      f.id !== null && CURSOR.test(f.id) &&
        f.id.endsWith(`.${(e.offset + LINE_BYTES).toString(36)}`),
      `id ${f.id} for ${e.offset}`,
    );
  }
});

Deno.test("SSE resumes exactly once across a server restart (SIGTERM, new server with --from end)", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, "");
  let lastId: string;
  {
    const { tc, url } = await serve([path]);
    await using _tc = tc;
    await tc.waitForStderr(about(path, "following from byte 0$"));
    await using client = await connectSse(`${url}/events`);
    await dir.append("app.log", linesText("s", 0, 100));
    await waitForSeq(client, 99, "s");
    lastId = client.lastId!;
    assertEquals((await tc.stop()).code, 0);
    await client.exited();
    assertEquals(client.frames.at(-1)?.event, "bye");
    assertSeqs(seqsOf(client, "s"), 0, 100, "before the restart");
  }
  // While it is down.
  await dir.append("app.log", linesText("s", 100, 30));
  const { tc, url } = await serve([path]);
  await using _tc = tc;
  // While it starts (before or after it opens the file at its end).
  await dir.append("app.log", linesText("s", 130, 20));
  await tc.waitForStderr(about(path, "following from byte \\d+$"));
  // After it started, before the client is back.
  await dir.append("app.log", linesText("s", 150, 50));
  await waitPublished(url, path);
  await using client = await connectSse(`${url}/events`, {
    headers: { "Last-Event-ID": lastId },
  });
  await waitForSeq(client, 199, "s");
  await dir.append("app.log", linesText("s", 200, 50));
  await waitForSeq(client, 249, "s");
  assertSeqs(seqsOf(client, "s"), 100, 250, "after the restart");
  assertEquals(others(client), []);
});

Deno.test("SSE resumes exactly once across a rename rotation done while disconnected; a live client sees it as rotate", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, "");
  const { tc, url } = await serve([path]);
  await using _tc = tc;
  await tc.waitForStderr(about(path, "following from byte 0$"));
  await using live = await connectSse(`${url}/events`);
  let lastId: string;
  {
    await using client = await connectSse(`${url}/events`);
    await dir.append("app.log", linesText("t", 0, 100));
    await waitForSeq(client, 99, "t");
    lastId = client.lastId!;
  }
  await waitFor(async () => await subscribers(url) === 1, "client gone");
  const oldIno = (await Deno.stat(path)).ino;
  await dir.append("app.log", linesText("t", 100, 50));
  await dir.rename("app.log", "app.log.1");
  await dir.append("app.log", linesText("t", 150, 50));
  await waitPublished(url, path);
  await waitFor(
    async () =>
      (await sourcesOf(url))[0].published.some((p) =>
        p.ino === oldIno && p.offset === 150 * LINE_BYTES
      ),
    "the rotated file drained",
  );

  await using client = await connectSse(`${url}/events`, {
    headers: { "Last-Event-ID": lastId },
  });
  await waitForSeq(client, 199, "t");
  await dir.append("app.log", linesText("t", 200, 50));
  await waitForSeq(client, 249, "t");
  await waitForSeq(live, 249, "t");
  assertSeqs(seqsOf(client, "t"), 100, 250, "resumed across the rotation");
  assertEquals(
    others(client).filter((o) => !/^(rotate|appear) /.test(o)),
    [],
  );
  const events = linesOf(client);
  assert(events.slice(0, 50).every((e) => e.offset >= 100 * LINE_BYTES));
  assertEquals(events[50].offset, 0, "the new file from its first byte");
  assertSeqs(seqsOf(live, "t"), 0, 250, "live through the rotation");
  assert(
    live.named("rotate").some((f) =>
      JSON.parse(f.data).how === "renamed" &&
      JSON.parse(f.data).source === path
    ),
    `live client frames: ${JSON.stringify(others(live))}`,
  );
});

// ---------------------------------------------------------------------------
// 4. Backlog.

Deno.test("SSE backlog=5 sends the last 5 lines, then live lines, with no gap or duplicate at the seam, also while lines are being written", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, linesText("k", 0, 100));
  const { tc, url } = await serve([path]);
  await using _tc = tc;
  await tc.waitForStderr(
    about(path, `following from byte ${100 * LINE_BYTES}$`),
  );
  {
    await using quiet = await connectSse(`${url}/events?backlog=5`);
    await waitForSeq(quiet, 99, "k");
    await dir.append("app.log", linesText("k", 100, 10));
    await waitForSeq(quiet, 109, "k");
    assertSeqs(seqsOf(quiet, "k"), 95, 110, "backlog=5 on a quiet file");
    assertEquals(others(quiet), []);
  }

  // Connect six clients while a writer appends 5000 lines/s in small batches.
  const from = 110;
  const count = 15_000;
  await using writer = new Writer(path, {
    tag: "k",
    from,
    count,
    batch: 10,
    rate: 5000,
  });
  const clients: Array<{ client: CurlSse; low: number; high: number }> = [];
  try {
    let lines = from;
    for (let i = 0; i < 6; i++) {
      await waitFor(
        async () => (await Deno.stat(path)).size / LINE_BYTES >= lines + 400,
        "the writer to get ahead",
      );
      const published = (await sourcesOf(url))[0].published.at(-1)!.offset;
      const client = await connectSse(`${url}/events?backlog=5`);
      const size = (await Deno.stat(path)).size;
      clients.push({
        client,
        low: published / LINE_BYTES - 5,
        high: size / LINE_BYTES - 5,
      });
      lines = size / LINE_BYTES;
    }
    await writer.result();
    const last = from + count - 1;
    for (const { client, low, high } of clients) {
      await waitForSeq(client, last, "k");
      const seqs = seqsOf(client, "k");
      assert(
        seqs[0] >= low && seqs[0] <= high,
        `backlog started at ${seqs[0]}, expected ${low}..${high}`,
      );
      assertSeqs(seqs, seqs[0], last + 1, `backlog client from ${seqs[0]}`);
      assertEquals(others(client), []);
    }
    note(
      `backlog seam: clients started at ${
        clients.map(({ client }) => seqsOf(client, "k")[0]).join(", ")
      }`,
    );
  } finally {
    for (const { client } of clients) await client.stop();
  }
});

// ---------------------------------------------------------------------------
// 5. Filters and bad queries.

Deno.test("SSE filters: source=<glob> and grep= select exactly the matching lines; bad grep, since, policy, source answer 400", async () => {
  await using dir = await LogDir.create();
  const a = dir.file("a.log");
  const b = dir.file("b.log");
  await Deno.writeTextFile(a, "");
  await Deno.writeTextFile(b, "");
  const { tc, url } = await serve([dir.file("*.log")]);
  await using _tc = tc;
  await tc.waitForStderr(about(a, "following from byte 0$"));
  await tc.waitForStderr(about(b, "following from byte 0$"));

  const glob = encodeURIComponent(dir.file("a*.log"));
  await using all = await connectSse(`${url}/events`);
  await using onlyA = await connectSse(`${url}/events?source=${glob}`);
  // Without a `/`, the glob is matched against the file name.
  await using onlyAByName = await connectSse(`${url}/events?source=a*.log`);
  await using errors = await connectSse(`${url}/events?grep=error`);
  await using bErrors = await connectSse(
    `${url}/events?source=${encodeURIComponent(b)}&grep=${
      encodeURIComponent("^b-\\d+ error")
    }`,
  );
  const aWord = (i: number) => i % 3 === 0 ? "error " : "info ";
  const bWord = (i: number) => i % 4 === 0 ? "error " : "info ";
  await dir.append("a.log", linesText("a", 0, 100, aWord));
  await dir.append("b.log", linesText("b", 0, 100, bWord));
  await waitForSeq(all, 99, "a");
  await waitForSeq(all, 99, "b");
  // Published after everything above: once a client has it, it has all.
  await dir.append("b.log", lineText("b", 100, "error ") + "\n");
  await dir.append("a.log", lineText("a", 100, "error ") + "\n");
  await waitForSeq(onlyA, 100, "a");
  await waitForSeq(onlyAByName, 100, "a");
  await waitForSeq(errors, 100, "a");
  await waitForSeq(errors, 100, "b");
  await waitForSeq(bErrors, 100, "b");

  const range = (n: number, keep: (i: number) => boolean) =>
    [...Array(n).keys()].filter(keep);
  const lines = (c: CurlSse) =>
    linesOf(c).map((e) => `${e.source === a ? "A" : "B"} ${e.line}`);
  assertEquals(
    lines(onlyA),
    range(101, () => true).map((i) =>
      `A ${lineText("a", i, i === 100 ? "error " : aWord(i))}`
    ),
  );
  assertEquals(lines(onlyAByName), lines(onlyA));
  const errorsA = range(101, (i) => i === 100 || i % 3 === 0);
  const errorsB = range(101, (i) => i % 4 === 0);
  assertEquals(
    lines(errors).filter((l) => l.startsWith("A ")),
    errorsA.map((i) => `A ${lineText("a", i, "error ")}`),
  );
  assertEquals(
    lines(errors).filter((l) => l.startsWith("B ")),
    errorsB.map((i) => `B ${lineText("b", i, "error ")}`),
  );
  assertEquals(lines(errors).length, errorsA.length + errorsB.length);
  assertEquals(
    lines(bErrors),
    errorsB.map((i) => `B ${lineText("b", i, "error ")}`),
  );

  const bad: Array<[string, string[], RegExp]> = [
    ["grep=(", [], /^Invalid grep regex "\(": .*(group|\()/],
    [
      "since=garbage",
      [],
      /^Cannot resume from "garbage": not a tailcast cursor/,
    ],
    ["", ["-H", "Last-Event-ID: garbage"], /^Cannot resume from "garbage"/],
    ["since=1~zz", [], /^Cannot resume: malformed cursor entry "zz"/],
    ["policy=bogus", [], /^Invalid policy "bogus": use drop-oldest/],
    ["source=%5Babc", [], /a \[ is not closed/],
    ["backlog=ten", [], /^Invalid backlog "ten"/],
    ["format=xml", [], /^Invalid format "xml"/],
  ];
  for (const [query, args, body] of bad) {
    const r = await curl(`${url}/events?${query}`, args);
    assertEquals(r.status, 400, `${query} ${args}: ${r.body}`);
    assertMatch(r.body, body, `${query} ${args}`);
    assertMatch(r.headers.get("content-type") ?? "", /^text\/plain/);
  }
  assertEquals(await subscribers(url), 5, "a 400 subscribes nobody");
});

// ---------------------------------------------------------------------------
// 6. Token, client limit, CORS.

Deno.test("SSE --token: 401 without or with a wrong token, 200 with Bearer or ?token=; no CORS headers by default", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, "");
  const { tc, url } = await serve(["--token", "s3cret-token", path]);
  await using _tc = tc;

  for (
    const [target, args] of [
      ["/events", []],
      ["/events", ["-H", "Authorization: Bearer wrong-token"]],
      ["/events?token=wrong-token", []],
      ["/events", ["-H", "Authorization: s3cret-token"]],
      ["/healthz", []],
      ["/sources", []],
    ] as Array<[string, string[]]>
  ) {
    const r = await curl(url + target, args);
    assertEquals(r.status, 401, `${target} ${args}`);
    assertMatch(r.body, /^Unauthorized: send Authorization: Bearer <token>/);
    assertEquals(r.headers.get("www-authenticate"), 'Bearer realm="tailcast"');
  }
  await using byHeader = await connectSse(`${url}/events`, {
    headers: { Authorization: "Bearer s3cret-token" },
  });
  await using byQuery = await connectSse(`${url}/events?token=s3cret-token`);
  for (const client of [byHeader, byQuery]) {
    const r = await client.response();
    assertEquals(r.status, 200);
    assertEquals(r.headers.get("access-control-allow-origin"), null);
  }
  await dir.append("app.log", linesText("z", 0, 3));
  await waitForSeq(byHeader, 2, "z");
  await waitForSeq(byQuery, 2, "z");
  const health = await curl(`${url}/healthz`, [
    "-H",
    "Authorization: Bearer s3cret-token",
  ]);
  assertEquals(health.status, 200);
  assertEquals(JSON.parse(health.body).subscribers, 2);
  assertEquals(health.headers.get("access-control-allow-origin"), null);
});

Deno.test("SSE TAILCAST_TOKEN, --max-clients 2 (503 for the third, a slot frees on disconnect) and --cors-origin", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, "");
  const origin = "https://example.com";
  const { tc, url } = await serve(
    ["--max-clients", "2", "--cors-origin", origin, path],
    { env: { TAILCAST_TOKEN: "s3cret-token" } },
  );
  await using _tc = tc;
  const auth = { Authorization: "Bearer s3cret-token" };
  const authArgs = ["-H", "Authorization: Bearer s3cret-token"];

  const denied = await curl(`${url}/events`);
  assertEquals(denied.status, 401);
  assertEquals(denied.headers.get("access-control-allow-origin"), origin);

  await using one = await connectSse(`${url}/events`, { headers: auth });
  const two = await connectSse(`${url}/events`, { headers: auth });
  try {
    const r = await one.response();
    assertEquals(r.status, 200);
    assertEquals(r.headers.get("access-control-allow-origin"), origin);
    const third = await curl(`${url}/events`, authArgs);
    assertEquals(third.status, 503);
    assertMatch(
      third.body,
      /^Too many subscribers: the limit is 2 \(raise it with --max-clients\)/,
    );
    assertEquals(third.headers.get("access-control-allow-origin"), origin);
  } finally {
    await two.stop();
  }
  await waitFor(
    async () =>
      JSON.parse((await curl(`${url}/healthz`, authArgs)).body)
        .subscribers === 1,
    "the second client gone",
  );
  await using three = await connectSse(`${url}/events`, { headers: auth });
  assertEquals((await three.response()).status, 200);

  const preflight = await curl(`${url}/events`, [
    "-X",
    "OPTIONS",
    "-H",
    `Origin: ${origin}`,
    "-H",
    "Access-Control-Request-Method: GET",
  ]);
  assertEquals(preflight.status, 204);
  assertEquals(preflight.headers.get("access-control-allow-origin"), origin);
  assertMatch(
    preflight.headers.get("access-control-allow-headers") ?? "",
    /Last-Event-ID/,
  );
  const health = await curl(`${url}/healthz`, authArgs);
  assertEquals(health.headers.get("access-control-allow-origin"), origin);
});

// ---------------------------------------------------------------------------
// 7. NDJSON.

Deno.test("SSE format=ndjson and Accept: application/x-ndjson stream the same JSON as the data: lines", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, "");
  const { tc, url } = await serve([path]);
  await using _tc = tc;
  await tc.waitForStderr(about(path, "following from byte 0$"));
  await using sse = await connectSse(`${url}/events`);
  await using byQuery = new CurlSse(`${url}/events?format=ndjson`, {
    ndjson: true,
  });
  await using byAccept = new CurlSse(`${url}/events`, {
    ndjson: true,
    headers: { Accept: "application/x-ndjson" },
  });
  for (const c of [byQuery, byAccept]) {
    const r = await c.response();
    assertEquals(r.status, 200);
    assertMatch(
      r.headers.get("content-type") ?? "",
      /^application\/x-ndjson(;|$)/,
    );
  }
  await waitFor(async () => await subscribers(url) === 3, "3 subscribers");
  const odd = (i: number) => `"quoted" \\ \t ünïcödé ✓ ${i} `;
  let text = "";
  for (let i = 0; i < 50; i++) {
    text += `n-${String(i).padStart(8, "0")} ${i % 5 === 0 ? odd(i) : ""}x\n`;
  }
  await dir.append("app.log", text);
  for (const c of [sse, byQuery, byAccept]) await waitForSeq(c, 49, "n");

  const expected = linesOf(sse);
  assertEquals(expected.length, 50);
  assertEquals(
    expected.map((e) => e.line + "\n").join(""),
    text,
    "the lines as written",
  );
  for (const c of [byQuery, byAccept]) {
    assertMatch(c.head, /^\{"id":/, "NDJSON starts with a record");
    assertEquals(c.frames.map((f) => JSON.parse(f.data)), expected);
    assertEquals(c.comments, []);
  }
});

// ---------------------------------------------------------------------------
// 8. Shutdown.

Deno.test("SSE shutdown: SIGTERM with a running and a stalled client exits 0 within 2 s; the running client gets bye", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, "");
  const { tc, url } = await serve([path]);
  await using _tc = tc;
  await tc.waitForStderr(about(path, "following from byte 0$"));
  const seen = new SeqTracker();
  const frames: SseFrame[] = [];
  await using running = await connectSse(`${url}/events`, {
    keep: false,
    onFrame: (f) => {
      seen.onFrame(f);
      if (f.event !== "line") frames.push(f);
    },
  });
  await using stalled = await connectSse(`${url}/events`, { keep: false });
  stalled.pause();
  // Enough for the stalled client's socket to fill: its write stays pending.
  const total = 100_000;
  await using writer = new Writer(path, {
    tag: "h",
    from: 0,
    count: total,
    batch: 8192,
    rate: 0,
  });
  await writer.result();
  await waitPublished(url, path);
  await running.until(
    () => seen.last === total - 1,
    `running client at line ${total - 1}`,
  );

  const t0 = performance.now();
  const status = await tc.stop("SIGTERM");
  const ms = performance.now() - t0;
  note(`shutdown with a stalled client took ${ms.toFixed(0)} ms`);
  assertEquals(status.code, 0, tc.stderr.join("\n"));
  assert(ms < 2000, `exit took ${ms.toFixed(0)} ms`);
  const curlStatus = await running.exited();
  assertEquals(curlStatus.code, 0, "the stream ended cleanly");
  const last = frames.at(-1);
  assertEquals(last?.event, "bye");
  assertEquals(JSON.parse(last!.data), { reason: "shutdown" });
  stalled.resume();
});

// ---------------------------------------------------------------------------
// 9. Reports.

Deno.test("SSE /healthz reports status, watch mode and per-source offset/size/lag; /sources lists the followed files", async () => {
  await using dir = await LogDir.create();
  const a = dir.file("a.log");
  const b = dir.file("b.log");
  const missing = dir.file("missing.log");
  await Deno.writeTextFile(a, linesText("p", 0, 4));
  await Deno.writeTextFile(b, "");
  const { tc, url } = await serve([a, b, missing]);
  await using _tc = tc;
  await tc.waitForStderr(about(a, `following from byte ${4 * LINE_BYTES}$`));
  await tc.waitForStderr(about(b, "following from byte 0$"));
  await using client = await connectSse(`${url}/events`);
  await dir.append("a.log", linesText("p", 4, 6));
  await waitForSeq(client, 9, "p");
  await waitPublished(url, a);

  const health = await getJson<{
    status: string;
    version: string;
    watch: { mode: string; reason: string };
    subscribers: number;
    sources: SourceReport[];
  }>(`${url}/healthz`);
  assertEquals(health.status, "ok");
  assertMatch(health.version, /^tailcast \d+\.\d+\.\d+ \(deno /);
  assertEquals(health.watch.mode, "events");
  assertEquals(typeof health.watch.reason, "string");
  assertEquals(health.subscribers, 1);
  const ino = async (p: string) => (await Deno.stat(p)).ino;
  const expected = [
    {
      path: a,
      ino: await ino(a),
      offset: 10 * LINE_BYTES,
      size: 10 * LINE_BYTES,
      lag: 0,
    },
    { path: b, ino: await ino(b), offset: 0, size: 0, lag: 0 },
    { path: missing, ino: null, offset: null, size: null, lag: null },
  ];
  const brief = (s: SourceReport) => ({
    path: s.path,
    ino: s.identity?.ino ?? null,
    offset: s.offset,
    size: s.size,
    lag: s.lag,
  });
  assertEquals(health.sources.map(brief), expected);
  const listed = await sourcesOf(url);
  assertEquals(listed.map(brief), expected);
  assertEquals(listed[0].published.map((p) => p.offset), [
    10 * LINE_BYTES,
  ]);

  // Forced polling is reported as such.
  const polled = await serve(["--poll=50", a]);
  await using _polled = polled.tc;
  const h2 = await getJson<{ status: string; watch: { mode: string } }>(
    `${polled.url}/healthz`,
  );
  assertEquals(h2.watch.mode, "polling");
  note(`/healthz status with --poll: ${h2.status}`);
});

// ---------------------------------------------------------------------------
// 10. Heartbeat.

Deno.test("SSE --heartbeat 1 sends an idle client a ': ping' comment about every second", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await Deno.writeTextFile(path, "");
  const { tc, url } = await serve(["--heartbeat", "1", path]);
  await using _tc = tc;
  await using client = await connectSse(`${url}/events`);
  const t0 = performance.now();
  const pings = () => client.comments.filter((c) => c.text === "ping");
  await client.until(() => pings().length >= 2, "two pings", 6000);
  const [first, second] = pings();
  const firstMs = first.at - t0;
  const everyMs = second.at - first.at;
  note(
    `heartbeat: first ping ${firstMs.toFixed(0)} ms after the preamble, next ${
      everyMs.toFixed(0)
    } ms later`,
  );
  assert(firstMs < 3000, `first ping after ${firstMs} ms`);
  assert(firstMs > 500, `first ping too early: ${firstMs} ms`);
  assert(everyMs > 700 && everyMs < 3000, `pings ${everyMs} ms apart`);
  assertEquals(client.frames, [], "no event, only comments");
});
