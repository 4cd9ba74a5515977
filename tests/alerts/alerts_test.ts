import {
  assert,
  assertEquals,
  assertMatch,
  assertThrows,
  fail,
} from "@std/assert";
import type { Alert } from "../../src/types.ts";
import { ruleFromObject } from "../../src/alerts/config.ts";
import { AlertEngine } from "../../src/alerts/engine.ts";
import { parseRule } from "../../src/alerts/grammar.ts";
import {
  type Alertable,
  type AlertRule,
  AlertRuleError,
  formatDuration,
  parseDuration,
} from "../../src/alerts/rule.ts";

/** A stand-in for the where-language: `level=X` compares the level, anything else is a regex on the line. */
function compile(m: string): (e: Alertable) => boolean {
  const level = /^level=(\w+)$/.exec(m);
  if (level) return (e) => e.level === level[1];
  if (m.includes("(((")) throw new Error("unbalanced parentheses");
  const re = new RegExp(m);
  return (e) => re.test(e.line);
}

const T0 = Date.parse("2026-03-01T12:00:00.000Z");

function setup(rules: string[]) {
  const clock = { now: T0 };
  const alerts: Alert[] = [];
  const engine = new AlertEngine(rules.map((r) => parseRule(r, compile)), {
    now: () => clock.now,
    onAlert: (a) => alerts.push(a),
  });
  return { clock, alerts, engine };
}

const error = (source = "/app.log"): Alertable => ({
  source,
  line: "boom",
  level: "error",
});
const info = (source = "/app.log"): Alertable => ({
  source,
  line: "fine",
  level: "info",
});

function parseError(text: string): AlertRuleError {
  try {
    parseRule(text, compile);
  } catch (e) {
    assert(e instanceof AlertRuleError, String(e));
    return e;
  }
  fail(`parsed: ${text}`);
}

function objectError(obj: unknown, path = "alerts[2]"): AlertRuleError {
  try {
    ruleFromObject(obj, path, compile);
  } catch (e) {
    assert(e instanceof AlertRuleError, String(e));
    return e;
  }
  fail(`accepted: ${JSON.stringify(obj)}`);
}

/** The rule without its matcher, for deepEqual. */
function plain(rule: AlertRule): Record<string, unknown> {
  const { match: _, ...rest } = rule as AlertRule & { match?: unknown };
  return rest;
}

Deno.test("parseRule reads the three kinds with defaults", () => {
  assertEquals(
    plain(parseRule("errors: level=error 10 in 1m cooldown 5m", compile)),
    {
      kind: "threshold",
      name: "errors",
      matchText: "level=error",
      count: 10,
      windowMs: 60_000,
      cooldownMs: 300_000,
    },
  );
  assertEquals(plain(parseRule("e: level=error 3 in 1m30s", compile)), {
    kind: "threshold",
    name: "e",
    matchText: "level=error",
    count: 3,
    windowMs: 90_000,
    cooldownMs: 90_000,
  });
  assertEquals(
    plain(parseRule('rate: grep "time out" > 5/s', compile)),
    {
      kind: "rate",
      name: "rate",
      matchText: 'grep "time out"',
      perSecond: 5,
      windowMs: 60_000,
      cooldownMs: 60_000,
    },
  );
  assertEquals(
    plain(parseRule("r: any >120/m over 30s cooldown 2m", compile)),
    {
      kind: "rate",
      name: "r",
      matchText: "any",
      perSecond: 2,
      windowMs: 30_000,
      cooldownMs: 120_000,
    },
  );
  assertEquals(
    parseRule("quiet: no lines from /var/log/app.log for 5m", compile),
    {
      kind: "deadman",
      name: "quiet",
      source: "/var/log/app.log",
      windowMs: 300_000,
    },
  );
  assertEquals(
    parseRule('q: no lines from "/logs/my app.log" for 10s', compile),
    {
      kind: "deadman",
      name: "q",
      source: "/logs/my app.log",
      windowMs: 10_000,
    },
  );
  assertEquals(parseRule("all: no lines for 1h", compile), {
    kind: "deadman",
    name: "all",
    source: null,
    windowMs: 3_600_000,
  });
});

Deno.test("parseRule reads the threshold from the end, so a match may contain in, > and numbers", () => {
  const rule = parseRule("slow: ms > 200 in (a,b) 3 in 1m", (m) => {
    assertEquals(m, "ms > 200 in (a,b)");
    return () => true;
  });
  assertEquals(rule.kind, "threshold");
  const grep = parseRule('g: grep -i "^warn\\b" 2 in 5s', compile);
  assert(grep.kind === "threshold");
  assert(grep.match({ source: "/a", line: "WARN x" }));
  assert(!grep.match({ source: "/a", line: "a warn" }));
});

Deno.test("parseRule errors give the column and the reason", () => {
  const cases: [string, number, RegExp][] = [
    ["errors level=error 10 in 1m", 1, /missing the rule name/],
    ["bad name: x 1 in 1m", 1, /invalid rule name "bad name"/],
    ["e:", 3, /the rule is empty/],
    ["e: level=error 10 in 1x", 22, /invalid duration "1x".*use a number/],
    ["e: level=error 10 in 0s", 22, /at least 1ms/],
    ["e: level=error ten in 1m", 16, /expected a count of lines before `in`/],
    ["e: level=error 0 in 1m", 16, /count 0 is out of range/],
    ["e: 10 in 1m", 4, /missing the match/],
    ["e: level=error 10 in 1m cooldown", 33, /missing the cooldown duration/],
    ["e: level=error 10", 18, /no threshold found/],
    ["e: grep 'oops 1 in 1m", 9, /unterminated ' quote/],
    ["e: grep ( 1 in 1m", 9, /invalid grep regex "\(": Unterminated group/],
    ["e: grep a b 1 in 1m", 11, /grep takes one regex/],
    ["e: x ((( 1 in 1m", 4, /invalid match "x \(\(\(": unbalanced/],
    ["r: any > 5/x", 10, /invalid rate "5\/x"/],
    ["r: any 10 in 1m over 5m", 17, /`over <window>` follows a rate/],
    ["q: no lines for 5m cooldown 1m", 20, /remove the cooldown/],
    ["q: no lines from for 5m", 18, /missing the source after `from`/],
    ["q: no lines 5m", 13, /expected `for <duration>`/],
    ["q: no lines for 5m please", 20, /unexpected "please"/],
  ];
  for (const [text, column, reason] of cases) {
    const e = parseError(text);
    assertMatch(e.message, new RegExp(`at column ${column}: `), text);
    assertEquals(e.position, column - 1, text);
    assertMatch(e.message, reason, text);
    assert(e.message.startsWith(`Invalid alert ${JSON.stringify(text)}`));
  }
});

Deno.test("durations parse and format", () => {
  assertEquals(parseDuration("500ms"), 500);
  assertEquals(parseDuration("1h30m"), 5_400_000);
  assertEquals(parseDuration("1.5s"), 1500);
  assertEquals(parseDuration("2d"), 172_800_000);
  for (const bad of ["", "5", "m", "5 m", "-1s", "1w"]) {
    assertEquals(typeof parseDuration(bad), "string", bad);
  }
  assertEquals(formatDuration(5_400_000), "1h30m");
  assertEquals(formatDuration(1500), "1s500ms");
  assertEquals(formatDuration(60_000), "1m");
});

Deno.test("ruleFromObject accepts objects and rule strings", () => {
  assertEquals(
    plain(ruleFromObject(
      {
        name: "errors",
        kind: "threshold",
        match: "level=error",
        count: 10,
        window: "1m",
        cooldown: "5m",
      },
      "alerts[0]",
      compile,
    )),
    {
      kind: "threshold",
      name: "errors",
      matchText: "level=error",
      count: 10,
      windowMs: 60_000,
      cooldownMs: 300_000,
    },
  );
  const rate = ruleFromObject(
    { name: "t", kind: "rate", grep: "time.?out", rate: "120/m" },
    "alerts[1]",
    compile,
  );
  assertEquals(plain(rate), {
    kind: "rate",
    name: "t",
    matchText: 'grep "time.?out"',
    perSecond: 2,
    windowMs: 60_000,
    cooldownMs: 60_000,
  });
  assert(
    rate.kind === "rate" && rate.match({ source: "/", line: "timeout" }),
  );
  assertEquals(
    ruleFromObject(
      { name: "q", kind: "deadman", source: "/a.log", for: "30s" },
      "alerts[2]",
      compile,
    ),
    { kind: "deadman", name: "q", source: "/a.log", windowMs: 30_000 },
  );
  assertEquals(
    ruleFromObject("e: level=error 2 in 1m", "alerts[3]", compile).kind,
    "threshold",
  );
});

Deno.test("ruleFromObject errors name the key path", () => {
  const base = {
    name: "e",
    kind: "threshold",
    match: "level=error",
    count: 3,
    window: "1m",
  };
  const cases: [unknown, string, RegExp][] = [
    [42, "alerts[2]", /expected a rule string or an object.*got number/],
    [[], "alerts[2]", /got an array/],
    [{ ...base, kind: "spike" }, "alerts[2].kind", /invalid kind "spike"/],
    [{ ...base, kind: undefined }, "alerts[2].kind", /missing/],
    [
      { ...base, windw: "1m" },
      "alerts[2].windw",
      /unknown key.*use name, kind/,
    ],
    [{ ...base, name: "a b" }, "alerts[2].name", /invalid name "a b"/],
    [{ ...base, window: "1x" }, "alerts[2].window", /invalid duration "1x"/],
    [{ ...base, window: 60 }, "alerts[2].window", /expected a duration string/],
    [{ ...base, window: undefined }, "alerts[2].window", /missing/],
    [{ ...base, cooldown: "soon" }, "alerts[2].cooldown", /invalid duration/],
    [{ ...base, count: 2.5 }, "alerts[2].count", /invalid count 2.5/],
    [{ ...base, match: undefined }, "alerts[2].match", /missing: give "match"/],
    [{ ...base, grep: "x" }, "alerts[2].grep", /either match or grep/],
    [{ ...base, match: "" }, "alerts[2].match", /non-empty string/],
    [{ ...base, match: "x (((" }, "alerts[2].match", /invalid match: unbal/],
    [
      { ...base, match: undefined, grep: "(" },
      "alerts[2].grep",
      /invalid grep regex "\(": Unterminated group/,
    ],
    [
      { name: "r", kind: "rate", match: "any", rate: -1 },
      "alerts[2].rate",
      /invalid rate -1/,
    ],
    [
      { name: "q", kind: "deadman", for: "5m", count: 3 },
      "alerts[2].count",
      /unknown key for a deadman alert: use name, kind, source, for/,
    ],
    [{ name: "q", kind: "deadman" }, "alerts[2].for", /missing/],
    [
      { name: "q", kind: "deadman", for: "5m", source: "" },
      "alerts[2].source",
      /path of a followed file/,
    ],
    ["e: level=error 10 in 1x", "alerts[2]", /column 22: invalid duration/],
  ];
  for (const [obj, path, reason] of cases) {
    const e = objectError(obj);
    assertEquals(e.path, path, JSON.stringify(obj));
    assert(e.message.startsWith(`${path}: `), e.message);
    assertMatch(e.message, reason, JSON.stringify(obj));
  }
});

Deno.test("threshold fires once per incident, and again after the cooldown", () => {
  const { clock, alerts, engine } = setup([
    "errors: level=error 3 in 1m cooldown 5m",
  ]);
  for (let i = 0; i < 2; i++) {
    engine.observe(error());
    engine.observe(info());
    clock.now += 1000;
  }
  assertEquals(alerts.length, 0);
  engine.observe(error("/other.log"));
  assertEquals(alerts, [{
    rule: "errors",
    kind: "threshold",
    message: "errors: 3 lines matching level=error within 1m",
    count: 3,
    window: "1m",
    source: "/other.log",
    time: "2026-03-01T12:00:02.000Z",
  }]);
  // The same incident goes on: no more alerts during the cooldown.
  for (let i = 0; i < 149; i++) {
    clock.now += 2000;
    engine.observe(error());
  }
  assertEquals(alerts.length, 1);
  // Past the cooldown (5m after the alert), the incident still going on fires again.
  clock.now += 2000;
  assertEquals(clock.now, T0 + 2000 + 300_000);
  engine.observe(error());
  assertEquals(alerts.length, 2);
  assertEquals(alerts[1].time, "2026-03-01T12:05:02.000Z");
  // A new incident after a quiet spell fires once more.
  clock.now += 600_000;
  engine.observe(error());
  engine.observe(error());
  assertEquals(alerts.length, 2);
  engine.observe(error());
  assertEquals(alerts.length, 3);
  engine.close();
});

Deno.test("threshold counts in a sliding window", () => {
  const { clock, alerts, engine } = setup(["e: level=error 3 in 10s"]);
  engine.observe(error()); // t=0
  clock.now += 6000;
  engine.observe(error()); // t=6
  clock.now += 4000;
  engine.observe(error()); // t=10: the first has left the window
  assertEquals(alerts.length, 0);
  clock.now += 3000;
  engine.observe(error()); // t=13: 6, 10, 13 are within 10s
  assertEquals(alerts.length, 1);
  engine.close();
});

Deno.test("the default cooldown is the window, and counting starts again after an alert", () => {
  const { clock, alerts, engine } = setup(["e: level=error 2 in 10s"]);
  engine.observe(error());
  engine.observe(error());
  assertEquals(alerts.length, 1);
  clock.now += 10_000;
  engine.observe(error()); // one match since the alert: not yet
  assertEquals(alerts.length, 1);
  engine.observe(error());
  assertEquals(alerts.length, 2);
  engine.close();
});

Deno.test("rate fires above the rate over its window, once per cooldown", () => {
  const { clock, alerts, engine } = setup(['r: grep "boom" > 2/s over 10s']);
  // 20 in 10s is 2/s: not above.
  for (let i = 0; i < 20; i++) {
    engine.observe(error());
    engine.observe(info()); // does not match
    clock.now += 500;
  }
  assertEquals(alerts.length, 0);
  // Old matches leave the window: 2/s goes on without alerting.
  for (let i = 0; i < 40; i++) {
    engine.observe(error());
    clock.now += 500;
  }
  assertEquals(alerts.length, 0);
  engine.observe(error()); // t=30s: 20.5s..30s hold 20
  assertEquals(alerts.length, 0);
  engine.observe(error());
  assertEquals(alerts.length, 1);
  assertEquals(alerts[0].kind, "rate");
  assertEquals(alerts[0].count, 21);
  assertEquals(alerts[0].window, "10s");
  assertEquals(
    alerts[0].message,
    'r: 21 lines matching grep "boom" in 10s (2.1/s, above 2/s)',
  );
  // A flood within the cooldown does not alert again.
  for (let i = 0; i < 100; i++) engine.observe(error());
  assertEquals(alerts.length, 1);
  clock.now += 10_000;
  for (let i = 0; i < 21; i++) engine.observe(error());
  assertEquals(alerts.length, 2);
  engine.close();
});

Deno.test("deadman fires after the silence, once, and re-arms when lines resume", () => {
  const { clock, alerts, engine } = setup([
    "quiet: no lines from /app.log for 5m",
    "all: no lines for 10m",
  ]);
  clock.now += 60_000;
  engine.observe(info("/app.log"));
  for (let s = 0; s < 299; s++) {
    clock.now += 1000;
    engine.observe(info("/other.log")); // another source does not count
    engine.tick();
  }
  assertEquals(alerts.length, 0);
  clock.now += 1000;
  engine.tick();
  assertEquals(alerts, [{
    rule: "quiet",
    kind: "deadman",
    message:
      "quiet: no lines from /app.log for 5m (last at 2026-03-01T12:01:00.000Z)",
    window: "5m",
    source: "/app.log",
    time: "2026-03-01T12:06:00.000Z",
  }]);
  for (let s = 0; s < 600; s++) {
    clock.now += 1000;
    engine.tick();
  }
  // /other.log fell silent at 12:05:59; "all" fires 10m later, "quiet" not again.
  assertEquals(alerts.map((a) => a.rule), ["quiet", "all"]);
  assertEquals(alerts[1].source, undefined);
  engine.observe(info("/app.log"));
  clock.now += 299_000;
  engine.tick();
  assertEquals(alerts.length, 2);
  clock.now += 1000;
  engine.tick();
  assertEquals(alerts.map((a) => a.rule), ["quiet", "all", "quiet"]);
  engine.close();
});

Deno.test("deadman counts from start when no line ever came", () => {
  const { clock, alerts, engine } = setup(["q: no lines for 5s"]);
  clock.now += 4999;
  engine.tick();
  assertEquals(alerts.length, 0);
  clock.now += 1;
  engine.tick();
  engine.tick();
  assertEquals(alerts.length, 1);
  assertEquals(alerts[0].message, "q: no lines for 5s (none since start)");
  engine.close();
});

Deno.test("AlertEngine refuses duplicate names and is inert after close", () => {
  const rule = parseRule("e: any 1 in 1s", compile);
  assertMatch(
    String(
      assertThrows(() => new AlertEngine([rule, rule], { onAlert: () => {} })),
    ),
    /Two alert rules are named "e": give each rule its own name/,
  );
  const { alerts, engine } = setup(["e: any 1 in 1s", "q: no lines for 1ms"]);
  engine.close();
  engine.observe(info());
  engine.tick();
  assertEquals(alerts.length, 0);
});

Deno.test("a threshold rule holds count times, no more, however many lines come", () => {
  const { clock, alerts, engine } = setup(["e: any 5 in 1s"]);
  for (let i = 0; i < 100_000; i++) {
    clock.now += 250; // 4 per second: never 5 within 1s
    engine.observe(info());
  }
  assertEquals(alerts.length, 0);
  engine.close();
});
