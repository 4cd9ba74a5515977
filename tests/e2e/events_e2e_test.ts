/**
 * Formats, filters, multiline, /metrics, alerts and the config file, through
 * the real main.ts.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { parseCommandLine } from "../../src/config.ts";
import { parseConfigFile } from "../../src/config_file.ts";
import { RuleBook } from "../../src/stage/rules.ts";
import { CurlSse } from "../_fixtures/sse_client.ts";
import { LogDir } from "../_fixtures/log_dir.ts";
import { ROOT, TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor } from "../_fixtures/wait.ts";

const INFO = '{"level":"info","status":200,"path":"/api/a","msg":"ok"}';
const ERROR = '{"level":"error","status":503,"path":"/api/b","msg":"upstream"}';

Deno.test("events: --format json --where 'level=error' streams only errors, with fields", async () => {
  await using dir = await LogDir.create();
  await using tc = new TailcastProcess([
    "--no-server",
    "--format",
    "json",
    "--where",
    "level=error",
    dir.file("app.log"),
  ]);
  await tc.waitForStderr(/waiting for it to appear/);
  await dir.append(
    "app.log",
    `${INFO}\n${ERROR}\nnot json\n${INFO}\n${ERROR}\n`,
  );
  await tc.waitForLines(2);
  await dir.append("app.log", `${ERROR}\n`);
  await tc.waitForLines(3);
  assertEquals((await tc.stop()).code, 0);
  assertEquals(tc.events.length, 3);
  for (const e of tc.events) {
    assertEquals(e.level, "error");
    assertEquals(e.msg, "upstream");
    assertEquals(e.fields, JSON.parse(ERROR));
  }
});

Deno.test("events: a line that does not parse is delivered with parseError", async () => {
  await using dir = await LogDir.create();
  await using tc = new TailcastProcess([
    "--no-server",
    "--format",
    "json",
    dir.file("app.log"),
  ]);
  await tc.waitForStderr(/waiting for it to appear/);
  await dir.append("app.log", "not json\n");
  await tc.waitForLines(1);
  assertEquals((await tc.stop()).code, 0);
  assertEquals(tc.events[0].line, "not json");
  assertMatch(String(tc.events[0].parseError), /invalid JSON/);
});

Deno.test("events: --multiline-start joins a Java stack trace into one event", async () => {
  await using dir = await LogDir.create();
  await using tc = new TailcastProcess([
    "--no-server",
    "--multiline-start",
    "^\\d{4}-",
    dir.file("app.log"),
  ]);
  await tc.waitForStderr(/waiting for it to appear/);
  const trace = [
    "2026-11-27 ERROR request failed",
    "java.lang.IllegalStateException: boom",
    "\tat com.example.Api.handle(Api.java:42)",
    "\tat com.example.Server.run(Server.java:7)",
    "Caused by: java.io.IOException: closed",
    "\t... 12 more",
  ];
  await dir.append("app.log", trace.join("\n") + "\n2026-11-27 INFO next\n");
  // The last event is flushed after a second without a next line.
  await tc.waitForLines(2);
  assertEquals((await tc.stop()).code, 0);
  assertEquals(tc.events.map((e) => e.line), [
    trace.join("\n"),
    "2026-11-27 INFO next",
  ]);
  assertEquals(tc.events[0].offset, 0);
});

Deno.test("events: a bad --where exits 2 with one line saying where and why", async () => {
  await using tc = new TailcastProcess([
    "--no-server",
    "--where",
    "status>=",
    "/tmp/x.log",
  ]);
  assertEquals((await tc.exited()).code, 2);
  assertEquals(tc.stderr.length, 1, tc.stderr.join("\n"));
  assertMatch(tc.stderr[0], /--where "status>=" at column 9: .*value/);
});

Deno.test("events: where= per subscriber, a bad where= is 400, and /metrics passes promtool", async () => {
  await using dir = await LogDir.create();
  await using tc = new TailcastProcess([
    "--port",
    "0",
    "--format",
    "json",
    dir.file("app.log"),
  ]);
  const url = await tc.url();
  const bad = await fetch(`${url}/events?where=${encodeURIComponent("a=(")}`);
  assertEquals(bad.status, 400);
  assertMatch(await bad.text(), /Invalid where/);
  await using client = new CurlSse(
    `${url}/events?where=${encodeURIComponent("status>=500")}`,
  );
  await client.connected();
  await dir.append("app.log", `${INFO}\n${ERROR}\n${INFO}\n${ERROR}\n`);
  await client.until((c) => c.named("line").length === 2, "two lines");
  const lines = client.frames.filter((f) => f.event === "line");
  assertEquals(
    lines.map((f) => JSON.parse(f.data).fields.status),
    [503, 503],
  );
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assertMatch(
    metrics,
    /tailcast_lines_read_total\{source="[^"]+app\.log"\} 4/,
  );
  const promtool = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = promtool.stdin.getWriter();
  await w.write(new TextEncoder().encode(metrics));
  await w.close();
  const out = await promtool.output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, text);
  assertEquals(text.trim(), "");
  await client.stop();
  assertEquals((await tc.stop()).code, 0);
});

Deno.test("events: an alert fires exactly once per incident on SSE, stderr, /metrics and the webhook", async () => {
  await using dir = await LogDir.create();
  const posts: unknown[] = [];
  const hook = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      posts.push(await req.json());
      return new Response("ok");
    },
  );
  try {
    await using tc = new TailcastProcess([
      "--port",
      "0",
      "--format",
      "json",
      "--alert",
      "errors: level=error 3 in 1m cooldown 10m",
      "--alert-webhook",
      `http://127.0.0.1:${hook.addr.port}/hook`,
      dir.file("app.log"),
    ]);
    const url = await tc.url();
    await using alerts = new CurlSse(`${url}/events?type=alert`);
    await alerts.connected();
    // Two incidents' worth of errors inside the cooldown: one alert.
    await dir.append("app.log", `${ERROR}\n`.repeat(7));
    await alerts.until((c) => c.named("alert").length > 0, "the alert");
    await waitFor(() => posts.length === 1, "the webhook POST");
    await dir.append("app.log", `${ERROR}\n`.repeat(5));
    // The next lines arrive and are counted; still no second alert.
    await waitFor(async () => {
      const m = await (await fetch(`${url}/metrics`)).text();
      return /tailcast_lines_read_total\{[^}]*\} 12/.test(m);
    }, "all 12 lines read");
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assertMatch(metrics, /tailcast_alerts_total\{rule="errors"\} 1\n/);
    assertEquals(alerts.frames.filter((f) => f.event === "alert").length, 1);
    assertEquals(alerts.frames.filter((f) => f.event === "line").length, 0);
    assertEquals(posts.length, 1);
    assertEquals((posts[0] as { rule: string }).rule, "errors");
    assertEquals(tc.stderr.filter((l) => /alert: /.test(l)).length, 1);
    await alerts.stop();
    assertEquals((await tc.stop()).code, 0);
  } finally {
    await hook.shutdown();
  }
});

Deno.test("events: the README's config file example loads and compiles", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const block = /### Config file[\s\S]*?```jsonc\n([\s\S]*?)```/.exec(readme);
  assert(block, "the README has a jsonc example under ### Config file");
  const file = parseConfigFile("README.md", block[1]);
  const command = parseCommandLine([], {}, file);
  assertEquals(command.kind, "run");
  if (command.kind !== "run") return;
  const { config } = command;
  assertEquals(config.paths, [
    "/var/log/nginx/access.log",
    "/var/log/app/*.log",
  ]);
  assertEquals(config.port, 8787);
  assertEquals(config.state, "/var/lib/tailcast/state.json");
  assertEquals(config.alerts.length, 2);
  const rules = new RuleBook(config.sources, "/");
  const nginx = rules.forSource("/var/log/nginx/access.log");
  assertEquals(nginx.format.kind, "regex");
  assertEquals(rules.forSource("/var/log/app/api.log").format.kind, "json");
  assert(rules.multiline);
});

Deno.test("events: a config file with an unknown key exits 2 naming the key path", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("tailcast.json");
  await Deno.writeTextFile(
    path,
    '{ "sources": [{ "path": "/x.log", "fromat": "json" }] }',
  );
  await using tc = new TailcastProcess(["--no-server", "--config", path]);
  assertEquals((await tc.exited()).code, 2);
  assertEquals(tc.stderr.length, 1, tc.stderr.join("\n"));
  assertMatch(tc.stderr[0], /sources\[0\]\.fromat is not a known key/);
});

Deno.test("events: a resumed subscriber's replay goes through the same format and filters as live events", async () => {
  await using dir = await LogDir.create();
  await using tc = new TailcastProcess([
    "--port",
    "0",
    "--format",
    "json",
    "--where",
    "level=error",
    dir.file("app.log"),
  ]);
  const url = await tc.url();
  await using first = new CurlSse(`${url}/events`);
  await first.connected();
  await dir.append("app.log", `${INFO}\n${ERROR}\n`);
  await first.until((c) => c.named("line").length === 1, "the first error");
  const id = first.lastId!;
  await first.stop();
  // While away: two infos and two errors; the replay must keep only the errors, parsed.
  await dir.append("app.log", `${INFO}\n${ERROR}\n${INFO}\n${ERROR}\n`);
  await using again = new CurlSse(`${url}/events`, {
    headers: { "Last-Event-ID": id },
  });
  await again.until((c) => c.named("line").length === 2, "the replay");
  const replayed = again.named("line").map((f) => JSON.parse(f.data));
  assertEquals(replayed.map((e) => e.level), ["error", "error"]);
  assertEquals(replayed.map((e) => e.fields.status), [503, 503]);
  await again.stop();
  assertEquals((await tc.stop()).code, 0);
});
