/**
 * Deadman rules against what is followed: a source is resolved as the
 * followed paths are, and one that nothing followed can produce is refused
 * at start-up instead of firing forever.
 */
import { assertEquals, assertMatch, assertThrows } from "@std/assert";
import { followedSources } from "../../src/alerts/deadman.ts";
import { AlertEngine } from "../../src/alerts/engine.ts";
import { parseRule } from "../../src/alerts/grammar.ts";
import { AlertRuleError } from "../../src/alerts/rule.ts";
import { ConfigError } from "../../src/errors.ts";
import { parseCommandLine } from "../../src/config.ts";
import { Service } from "../../src/service.ts";
import type { Alert } from "../../src/types.ts";

const compile = (m: string) => (e: { line: string }) => e.line.includes(m);
const rule = (text: string) => parseRule(text, compile);
const CWD = "/srv/app";

Deno.test("followedSources: a relative deadman source is resolved against the working directory, as the followed paths", () => {
  const rules = followedSources(
    [
      rule("quiet: no lines from app.log for 5m"),
      rule("api: no lines from ./logs/../logs/api.log for 5m"),
      rule("any: no lines for 5m"),
      rule("errors: boom 3 in 1m"),
    ],
    ["app.log", "/srv/app/logs/*.log"],
    CWD,
  );
  assertEquals(
    rules.map((r) => r.kind === "deadman" ? r.source : r.kind),
    ["/srv/app/app.log", "/srv/app/logs/api.log", null, "threshold"],
  );
});

Deno.test("followedSources: a deadman source on standard input needs - followed", () => {
  const [r] = followedSources([rule("q: no lines from - for 1m")], ["-"], CWD);
  assertEquals(r.kind === "deadman" && r.source, "-");
  assertThrows(
    () => followedSources([rule("q: no lines from - for 1m")], ["a.log"], CWD),
    AlertRuleError,
  );
});

Deno.test("followedSources: a source no followed path or glob produces is refused, naming the rule and the followed paths", () => {
  const table: Array<[string, string[]]> = [
    ["quiet: no lines from other.log for 5m", ["app.log"]],
    ["quiet: no lines from /var/log/app.log for 5m", ["app.log"]],
    ["quiet: no lines from logs/sub/a.log for 5m", ["logs/*.log"]],
    // One file per rule: a glob names no source an event can have.
    ["quiet: no lines from logs/*.log for 5m", ["logs/*.log"]],
  ];
  for (const [text, paths] of table) {
    const error = assertThrows(
      () => followedSources([rule(text)], paths, CWD),
      AlertRuleError,
    );
    assertMatch(error.message, /^Alert rule "quiet" /, text);
    for (const p of paths) {
      assertMatch(error.message, new RegExp(p.replace(/[.*]/g, "\\$&")));
    }
    assertEquals(error.message.includes("\n"), false);
  }
});

Deno.test("a deadman rule on a relative path is kept quiet by the lines of the followed file", () => {
  let now = 0;
  const alerts: Alert[] = [];
  const engine = new AlertEngine(
    followedSources(
      [rule("quiet: no lines from app.log for 5m")],
      ["app.log"],
      CWD,
    ),
    { now: () => now, onAlert: (a) => alerts.push(a) },
  );
  for (let minute = 1; minute <= 10; minute++) {
    now = minute * 60_000;
    engine.observe({ source: "/srv/app/app.log", line: "tick" });
    engine.tick();
  }
  assertEquals(alerts, []);
  now += 5 * 60_000;
  engine.tick();
  assertEquals(alerts.map((a) => a.source), ["/srv/app/app.log"]);
  engine.close();
});

Deno.test("Service.start refuses a deadman rule on a path it does not follow: a ConfigError naming --alert", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tailcast-deadman-" });
  try {
    const command = parseCommandLine([
      "--no-server",
      "--alert",
      "quiet: no lines from other.log for 5m",
      "app.log",
    ]);
    if (command.kind !== "run") throw new Error("not a run");
    const error = await Service.start({
      config: command.config,
      stdout: new WritableStream(),
      log: () => {},
      cwd: dir,
    }).then(
      async (service) => {
        await service.stop();
        throw new Error("started");
      },
      (error) => error,
    );
    assertEquals(error instanceof ConfigError && error.flag, "--alert");
    assertMatch(error.message, /"quiet".*other\.log.*app\.log/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
