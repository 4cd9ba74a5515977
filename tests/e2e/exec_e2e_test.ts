/**
 * End to end for `--exec`: the real entry point as a subprocess running a
 * real command (`sh`), read over SSE with curl; and the permission it needs.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { CurlSse } from "../_fixtures/sse_client.ts";
import { TailcastProcess } from "../_fixtures/tailcast.ts";

/**
 * A command that writes a line, complains and exits 3, each time after a
 * second (so a client that connects at start sees the first run end).
 */
const FLAKY =
  `flaky=sh -c 'sleep 1; echo "run $$"; echo complaint >&2; exit 3'`;

Deno.test("exec e2e: a command that exits is restarted with backoff; its lines stream as exec:<name>, each restart and stderr line as typed events and on stderr", async () => {
  await using tc = new TailcastProcess(["--port", "0", "--exec", FLAKY]);
  const url = await tc.url();
  await using client = new CurlSse(`${url}/events`);
  await client.connected();
  await client.until(
    (c) => c.named("restart").length >= 2 && c.lineEvents().length >= 2,
    "two runs' lines and their restarts",
  );
  const restarts = client.named("restart").map((f) => JSON.parse(f.data));
  assertEquals(restarts.slice(0, 2), [
    {
      kind: "restart",
      source: "exec:flaky",
      code: 3,
      signal: null,
      restarts: 1,
      delayMs: 500,
    },
    {
      kind: "restart",
      source: "exec:flaky",
      code: 3,
      signal: null,
      restarts: 2,
      delayMs: 1000,
    },
  ]);
  const lines = client.lineEvents<{ source: string; line: string }>();
  assertEquals(lines.slice(0, 2).map((e) => e.source), [
    "exec:flaky",
    "exec:flaky",
  ]);
  // A new process each run.
  const pids = new Set(lines.map((e) => e.line));
  assertEquals(pids.size, lines.length, JSON.stringify(lines));
  for (const e of lines) assertMatch(e.line, /^run \d+$/);
  assertEquals(
    JSON.parse(client.named("stderr")[0].data),
    { kind: "stderr", source: "exec:flaky", line: "complaint" },
  );
  // Lines, then the restart they came before: in the order they happened.
  const order = client.frames.map((f) => f.event).filter((e) =>
    e === "line" || e === "restart"
  );
  assertEquals(order.slice(0, 4), ["line", "restart", "line", "restart"]);
  await tc.waitForStderr(
    /^tailcast: exec:flaky: exited \(status 3\); starting it again in 0\.5 s \(restart 1\)$/,
  );
  await tc.waitForStderr(/^tailcast: exec:flaky: stderr: complaint$/);
  assertEquals((await tc.stop()).code, 0);
});

Deno.test("exec e2e: --exec needs --allow-run for exactly its program: denied, it is one line naming the flag and exit 2; allowed, it runs", async () => {
  const base = ["--allow-read", "--allow-write", "--allow-net=127.0.0.1"];
  for (const perms of [base, [...base, "--allow-run=curl"]]) {
    await using denied = new TailcastProcess(
      ["--port", "0", "--exec", FLAKY],
      { perms },
    );
    const status = await denied.exited();
    assertEquals(status.code, 2, perms.join(" "));
    assertEquals(denied.stderr, [
      `tailcast: Cannot run "sh" for --exec ${FLAKY}: Deno run permission denied (run with --allow-run=sh; a compiled binary must be built with it)`,
    ]);
  }
  await using allowed = new TailcastProcess(
    ["--no-server", "--exec", "hello=sh -c 'echo hi; sleep 30'"],
    { perms: [...base, "--allow-run=sh"] },
  );
  await allowed.waitForLines(1);
  assertEquals(allowed.events.map((e) => [e.source, e.line]), [[
    "exec:hello",
    "hi",
  ]]);
  assertEquals((await allowed.stop()).code, 0);
});

Deno.test("exec e2e: a program that does not exist stops tailcast at start with one line and exit 2", async () => {
  await using tc = new TailcastProcess([
    "--no-server",
    "--exec",
    "tailcast-test-no-such-program -f",
  ]);
  assertEquals((await tc.exited()).code, 2);
  assertEquals(tc.stderr, [
    'tailcast: Cannot run "tailcast-test-no-such-program" for --exec tailcast-test-no-such-program -f: no such program (check its name, or give its full path)',
  ]);
});
