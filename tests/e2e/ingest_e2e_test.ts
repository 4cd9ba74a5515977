/**
 * End to end for `POST /ingest/<name>`: the real entry point as a
 * subprocess, real curl for the POSTs and for the SSE subscribers (see
 * tests/_fixtures/sse_client.ts); the continuous poster of the kill test is
 * the test process itself (fetch), so it can tell exactly which POSTs were
 * acknowledged.
 *
 * The kill moment is drawn from `TAILCAST_INGEST_SEED` (default below).
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { LogDir } from "../_fixtures/log_dir.ts";
import { mulberry32 } from "../_fixtures/random.ts";
import { connectSse, curl, type CurlSse } from "../_fixtures/sse_client.ts";
import { TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor } from "../_fixtures/wait.ts";

const SEED = Number(Deno.env.get("TAILCAST_INGEST_SEED") ?? 20261201);

/** Measurements for the report, on stderr (not an assertion). */
function note(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`  [measured] ${text}\n`));
}

/** `tailcast --port 0 …`; resolves once it serves, with its base URL. */
async function serve(
  args: readonly string[],
  options: { stdoutBlocked?: boolean } = {},
): Promise<{ tc: TailcastProcess; url: string }> {
  const tc = new TailcastProcess(["--port", "0", ...args], options);
  try {
    return { tc, url: await tc.url() };
  } catch (error) {
    await tc.stop("SIGKILL");
    throw error;
  }
}

/** One POST with curl: `type` is the Content-Type, `headers` more of them. */
function post(
  url: string,
  type: string,
  body: string,
  headers: Record<string, string> = {},
) {
  const args = ["-X", "POST", "-H", `content-type: ${type}`];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  return curl(url, [...args, "--data-binary", body]);
}

interface LineEvent {
  id: string;
  source: string;
  line: string;
  level?: string;
  msg?: string;
  logTime?: string;
  fields?: Record<string, unknown>;
}

Deno.test("ingest e2e: curl POSTs text, NDJSON and a JSON array; SSE streams them as ingest:web, JSON lines parsed, newlines escaped; backlog and level filters work as for files", async () => {
  await using dir = await LogDir.create();
  const { tc, url } = await serve([
    "--ingest",
    "--spool",
    dir.file("spool"),
    "--format",
    "auto",
  ]);
  await using _tc = tc;
  await using live = await connectSse(`${url}/events?source=ingest:*`);
  const at = `${url}/ingest/web`;
  const text = await post(at, "text/plain", "plain one\nplain two\n");
  assertEquals([text.status, JSON.parse(text.body)], [202, { accepted: 2 }]);
  const ndjson = await post(
    at,
    "application/x-ndjson",
    '{"message":"nd one","level":"warn","time":"2026-12-01T10:00:00Z"}\n' +
      '{"msg":"nd two","level":"info","user":"ann"}\n',
  );
  assertEquals(ndjson.status, 202);
  const array = await post(
    at,
    "application/json",
    JSON.stringify(
      [
        { message: "arr one\nwith a second line", level: "error", ts: 1 },
        { message: "arr two", level: "debug" },
      ],
      null,
      2,
    ),
  );
  assertEquals([array.status, JSON.parse(array.body)], [202, { accepted: 2 }]);
  await live.until((c) => c.lineEvents().length >= 6, "six line events");
  const events = live.lineEvents<LineEvent>();
  assertEquals(events.map((e) => e.source), Array(6).fill("ingest:web"));
  assertEquals(events.map((e) => e.msg ?? e.line), [
    "plain one",
    "plain two",
    "nd one",
    "nd two",
    "arr one\nwith a second line",
    "arr two",
  ]);
  assertEquals(events.map((e) => e.level ?? null), [
    null,
    null,
    "warn",
    "info",
    "error",
    "debug",
  ]);
  assertEquals(events[2].logTime, "2026-12-01T10:00:00Z");
  assertEquals(events[3].fields?.user, "ann");
  // Kept as sent (NDJSON) or as JSON.stringify writes it (an array element).
  assertEquals(
    events[2].line,
    '{"message":"nd one","level":"warn","time":"2026-12-01T10:00:00Z"}',
  );
  assertEquals(
    events[4].line,
    '{"message":"arr one\\nwith a second line","level":"error","ts":1}',
  );
  assert(live.frames.every((f) => f.event !== "line" || f.id !== null));
  // The spool is a file like any other: a backlog reads it back.
  await using backlog = await connectSse(
    `${url}/events?backlog=3&source=ingest:web`,
  );
  await backlog.until((c) => c.lineEvents().length >= 3, "the backlog");
  assertEquals(
    backlog.lineEvents<LineEvent>().map((e) => e.msg),
    ["nd two", "arr one\nwith a second line", "arr two"],
  );
  await using warnings = await connectSse(
    `${url}/events?backlog=10&level=warn`,
  );
  await warnings.until((c) => c.lineEvents().length >= 2, "warn and above");
  assertEquals(
    warnings.lineEvents<LineEvent>().map((e) => e.msg),
    ["nd one", "arr one\nwith a second line"],
  );
  // And /context finds an event's neighbours in it.
  const context = JSON.parse(
    (await curl(
      `${url}/context?source=ingest:web&id=${events[3].id}&lines=1`,
    )).body,
  );
  assertEquals(
    [context.before, context.event, context.after].flat().map((
      e: LineEvent,
    ) => e.msg),
    ["nd one", "nd two", "arr one\nwith a second line"],
  );
  assertEquals(
    await Deno.readTextFile(dir.file("spool/web/spool.log")),
    "plain one\nplain two\n" +
      '{"message":"nd one","level":"warn","time":"2026-12-01T10:00:00Z"}\n' +
      '{"msg":"nd two","level":"info","user":"ann"}\n' +
      '{"message":"arr one\\nwith a second line","level":"error","ts":1}\n' +
      '{"message":"arr two","level":"debug"}\n',
  );
});

Deno.test("ingest e2e: a client that retries with the same Idempotency-Key is not appended twice, before and after a restart; another body with that key is 422", async () => {
  await using dir = await LogDir.create();
  const args = ["--ingest", "--spool", dir.file("spool")];
  const body = "retry one\nretry two\n";
  const key = { "idempotency-key": "drain-batch-0042" };
  {
    const { tc, url } = await serve(args);
    await using _tc = tc;
    await using live = await connectSse(`${url}/events`);
    const first = await post(`${url}/ingest/web`, "text/plain", body, key);
    const again = await post(`${url}/ingest/web`, "text/plain", body, key);
    assertEquals(
      [first.status, JSON.parse(first.body)],
      [202, { accepted: 2 }],
    );
    assertEquals(
      [again.status, JSON.parse(again.body)],
      [202, { accepted: 2, duplicate: true }],
    );
    const other = await post(`${url}/ingest/web`, "text/plain", "x\n", key);
    assertEquals(other.status, 422);
    assertMatch(other.body, /was used before with another body/);
    await post(`${url}/ingest/web`, "text/plain", "after\n");
    await live.until(
      (c) => c.lineEvents().some((e) => e.line === "after"),
      "the line after",
    );
    assertEquals(
      live.lineEvents<LineEvent>().map((e) => e.line),
      ["retry one", "retry two", "after"],
    );
    assertEquals((await tc.stop()).code, 0);
  }
  const { tc, url } = await serve(args);
  await using _tc = tc;
  const late = await post(`${url}/ingest/web`, "text/plain", body, key);
  assertEquals(
    [late.status, JSON.parse(late.body)],
    [202, { accepted: 2, duplicate: true }],
  );
  assertEquals(
    await Deno.readTextFile(dir.file("spool/web/spool.log")),
    "retry one\nretry two\nafter\n",
  );
});

Deno.test("ingest e2e: kill -9 while a client posts continuously, restart: every acknowledged line is delivered exactly once to an SSE subscriber that resumes with its last id", async () => {
  await using dir = await LogDir.create();
  const random = mulberry32(SEED);
  // Small spool files: the run rotates several times.
  const args = [
    "--ingest",
    "--spool",
    dir.file("spool"),
    "--spool-segment-bytes",
    "262144",
  ];
  const acked = new Set<number>();
  let next = 0;
  let target = "";
  let posting = true;
  let failed = 0;
  /** Two clients at once, 25 lines a POST; a POST that fails is not retried. */
  const poster = async () => {
    while (posting) {
      const from = next;
      next += 25;
      let body = "";
      for (let s = from; s < from + 25; s++) {
        body += `p-${String(s).padStart(8, "0")} ${"x".repeat(40)}\n`;
      }
      try {
        const res = await fetch(`${target}/ingest/web`, {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body,
        });
        await res.body?.cancel();
        if (res.status === 202) {
          for (let s = from; s < from + 25; s++) acked.add(s);
        } else failed++;
      } catch {
        failed++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  const seqsOf = (client: CurlSse) =>
    client.lineEvents<LineEvent>().map((e) => {
      const m = /^p-(\d{8}) /.exec(e.line);
      assert(m, `not a posted line: ${e.line}`);
      return Number(m[1]);
    });

  // The first run also writes to a stdout nobody reads: its pipeline
  // stops, so lines are acknowledged (on disk) but never published before
  // the kill; the resume must find them in the spool files.
  const first = await serve([...args, "--stdout"], { stdoutBlocked: true });
  target = first.url;
  const before = await connectSse(`${first.url}/events`);
  const posters = [poster(), poster()];
  await before.until(
    (c) => c.frameCount > 0 && acked.size >= seqsOf(c).length + 5000,
    "lines acknowledged beyond those streamed (the pipeline stopped)",
    20_000,
  );
  const killAfter = Math.floor(random() * 500);
  await new Promise((resolve) => setTimeout(resolve, killAfter));
  const ackedAtKill = acked.size;
  first.tc.child.kill("SIGKILL");
  await first.tc.exited();
  await before.exited();
  const lastId = before.lastId;
  assert(lastId !== null, "the first subscriber got an id");

  const second = await serve(args);
  await using _second = second.tc;
  target = second.url;
  await waitFor(
    () => acked.size >= ackedAtKill + 500,
    "posts to the restarted tailcast",
  );
  posting = false;
  await Promise.all(posters);
  await using after = await connectSse(`${second.url}/events`, {
    headers: { "Last-Event-ID": lastId },
  });
  const top = Math.max(...acked);
  await after.until(
    (c) => seqsOf(c).includes(top),
    `the last acknowledged line, ${top}`,
    20_000,
  ).catch((error) => {
    // What the resumed client was sent instead, to tell a hang from a gap.
    throw new Error(
      `${error.message}; it resumed from ${lastId} and got ${
        JSON.stringify(after.frames.slice(0, 4))
      }; the restarted tailcast said: ${second.tc.stderr.join(" | ")}`,
    );
  });
  const seen = [...seqsOf(before), ...seqsOf(after)];
  const once = new Set(seen);
  const missing = [...acked].filter((s) => !once.has(s));
  note(
    `ingest kill -9 ${killAfter} ms after the pipeline stopped: ${acked.size} lines acknowledged (${ackedAtKill} before the kill), ${failed} POSTs failed, ${
      seqsOf(before).length
    } streamed before, ${seqsOf(after).length} after the resume, ${
      (await Array.fromAsync(Deno.readDir(dir.file("spool/web")))).length - 1
    } spool files`,
  );
  assertEquals(
    {
      duplicates: seen.length - once.size,
      missing: missing.slice(0, 10),
      gaps: after.named("gap").map((f) => f.data),
    },
    { duplicates: 0, missing: [], gaps: [] },
  );
  await before.stop();
});

Deno.test("ingest e2e: 401 without the ingest token (the read token is not it), 413 over the body limit, 400 naming the bad line with nothing written, 429 with Retry-After once the pipeline is behind", async () => {
  await using dir = await LogDir.create();
  // stdout is read by nobody: the pipeline stops, the spool fills.
  const { tc, url } = await serve([
    "--ingest",
    "--spool",
    dir.file("spool"),
    "--token",
    "read-secret",
    "--ingest-token",
    "post-secret",
    "--ingest-max-body",
    "65536",
    "--spool-segment-bytes",
    "262144",
    "--spool-max-bytes",
    "1048576",
    "--stdout",
  ], { stdoutBlocked: true });
  await using _tc = tc;
  const at = `${url}/ingest/web`;
  const auth = { authorization: "Bearer post-secret" };
  assertEquals((await post(at, "text/plain", "x\n")).status, 401);
  const read = await post(at, "text/plain", "x\n", {
    authorization: "Bearer read-secret",
  });
  assertEquals(read.status, 401);
  assertMatch(read.body, /ingest token/);
  assertEquals((await post(at, "text/plain", "first\n", auth)).status, 202);
  const spool = dir.file("spool/web/spool.log");
  const size = (await Deno.stat(spool)).size;

  const big = await post(at, "text/plain", "y".repeat(70_000) + "\n", auth);
  assertEquals(big.status, 413);
  assertMatch(big.body, /at most 65536 bytes \(--ingest-max-body\)/);
  const bad = await post(
    at,
    "application/x-ndjson",
    '{"message":"fine"}\n{"message":"fine"}\n{"level":"info"}\n',
    auth,
  );
  assertEquals(bad.status, 400);
  assertMatch(bad.body, /^Bad body: line 3 has no message field/);
  assertEquals((await Deno.stat(spool)).size, size, "nothing written");

  // 60 KB a POST until the spool holds all it may of what is not read.
  const chunk = ("z".repeat(99) + "\n").repeat(600);
  let posts = 0;
  for (; posts < 400; posts++) {
    const res = await fetch(at, {
      method: "POST",
      headers: { "content-type": "text/plain", ...auth },
      body: chunk,
    });
    await res.body?.cancel();
    if (res.status === 429) break;
    assertEquals(res.status, 202);
  }
  assert(posts < 400, "the spool filled");
  const busy = await post(at, "text/plain", chunk, auth);
  assertEquals(busy.status, 429);
  assertEquals(busy.headers.get("retry-after"), "2");
  assertMatch(busy.body, /the pipeline is behind, post again later/);
  note(`ingest: 429 after ${posts} POSTs of 60 KB with stdout blocked`);
});

Deno.test("ingest e2e: without --spool, lines are held in memory (said at start) and streamed as ingest:<name> from no file", async () => {
  const { tc, url } = await serve(["--ingest"]);
  await using _tc = tc;
  await tc.waitForStderr(
    /^tailcast: ingest: without --spool, posted lines are held in memory/,
  );
  await using live = await connectSse(`${url}/events`);
  const res = await post(
    `${url}/ingest/api`,
    "text/plain",
    "mem one\nmem two\n",
  );
  assertEquals(res.status, 202);
  await live.until((c) => c.lineEvents().length >= 2, "the lines");
  assertEquals(
    live.lineEvents<LineEvent>().map((e) => [e.source, e.line]),
    [["ingest:api", "mem one"], ["ingest:api", "mem two"]],
  );
  const sources = JSON.parse((await curl(`${url}/sources`)).body).sources;
  assertEquals(
    sources.map((
      s: { source: string; path: string | null },
    ) => [s.source, s.path]),
    [["ingest:api", null]],
  );
});
