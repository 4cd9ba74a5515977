import {
  assert,
  assertEquals,
  assertMatch,
  assertThrows,
  fail,
} from "@std/assert";
import {
  DELAY_BUCKETS,
  escapeLabel,
  type GaugeReadings,
  Metrics,
} from "../../src/sink/metrics.ts";

/** The sample lines of `family` (its name, or name with a suffix), without comments. */
function samples(text: string, family: string): string[] {
  return text.split("\n").filter((l) =>
    l.startsWith(`${family}{`) || l.startsWith(`${family} `)
  );
}

/** The value of the one sample line that starts with `series` followed by a space. */
function value(text: string, series: string): number {
  const found = text.split("\n").filter((l) => l.startsWith(`${series} `));
  assertEquals(found.length, 1, `one sample ${series} in:\n${text}`);
  return Number(found[0].slice(series.length + 1));
}

/** A registry with every family populated, label values awkward on purpose. */
function everything(): Metrics {
  const m = new Metrics({
    gauges: () => ({ depths: [0, 3, 200], mode: "events", sources: 3 }),
  });
  m.linesRead("/var/log/app.log", 10, 400);
  m.linesRead("-", 1, 5);
  m.linesRead('/var/log/we"ird\\na\nme.log', 1, 7);
  m.published(12);
  m.dropped("slow-subscriber", 4);
  m.dropped("filtered", 2);
  m.dropped("A reason written as a sentence.", 1);
  m.parseError("/var/log/app.log");
  m.notice({ kind: "rotate", source: "/var/log/app.log", how: "renamed" });
  m.notice({
    kind: "truncate",
    source: "/var/log/app.log",
    offset: 100,
    size: 0,
  });
  m.notice({
    kind: "gap",
    source: "/var/log/app.log",
    offset: 0,
    bytes: 4096,
    cause: "line-too-long",
  });
  m.notice({
    kind: "gap",
    source: "/var/log/app.log",
    offset: 0,
    bytes: 0,
    cause:
      "truncated while tailcast was stopped and no copy of it was found: lines are lost",
  });
  m.notice({ kind: "error", source: "/var/log/app.log", message: "EACCES" });
  m.notice({ kind: "mode", mode: "polling", reason: "inotify limit" });
  m.notice({
    kind: "restart",
    source: "exec:journal",
    code: 1,
    signal: null,
    restarts: 1,
    delayMs: 500,
  });
  m.notice({ kind: "stderr", source: "exec:journal", line: "warning" });
  m.ingest(202);
  m.ingest(429);
  m.alert("errors");
  m.alert('rule with "quotes"');
  for (const ms of [0.1, 0.7, 3, 12, 80, 600, 2000, 9000]) m.delay(ms);
  return m;
}

Deno.test("render: a small registry, exactly", () => {
  const m = new Metrics();
  m.linesRead("/a", 2, 20);
  m.published(2);
  m.delay(1);
  assertEquals(
    m.render(),
    `# HELP tailcast_alerts_total Alerts raised, by rule.
# TYPE tailcast_alerts_total counter
# HELP tailcast_bytes_read_total Bytes read from followed files and standard input.
# TYPE tailcast_bytes_read_total counter
tailcast_bytes_read_total{source="/a"} 20
# HELP tailcast_events_dropped_total Events not delivered, by reason.
# TYPE tailcast_events_dropped_total counter
tailcast_events_dropped_total{reason="filtered"} 0
tailcast_events_dropped_total{reason="slow-subscriber"} 0
# HELP tailcast_events_published_total Events published to the hub.
# TYPE tailcast_events_published_total counter
tailcast_events_published_total 2
# HELP tailcast_gap_bytes_total Bytes skipped or lost in gaps (0 when the amount is unknown).
# TYPE tailcast_gap_bytes_total counter
# HELP tailcast_gaps_total Gaps: bytes of a followed file that were skipped or lost, by cause.
# TYPE tailcast_gaps_total counter
# HELP tailcast_ingest_requests_total POSTs to /ingest, by the status they were answered with.
# TYPE tailcast_ingest_requests_total counter
# HELP tailcast_lines_read_total Lines read from followed files and standard input.
# TYPE tailcast_lines_read_total counter
tailcast_lines_read_total{source="/a"} 2
# HELP tailcast_parse_errors_total Lines that could not be parsed.
# TYPE tailcast_parse_errors_total counter
# HELP tailcast_publish_delay_seconds Time from a file change being noticed to its events being published.
# TYPE tailcast_publish_delay_seconds histogram
tailcast_publish_delay_seconds_bucket{le="0.0005"} 0
tailcast_publish_delay_seconds_bucket{le="0.001"} 1
tailcast_publish_delay_seconds_bucket{le="0.0025"} 1
tailcast_publish_delay_seconds_bucket{le="0.005"} 1
tailcast_publish_delay_seconds_bucket{le="0.01"} 1
tailcast_publish_delay_seconds_bucket{le="0.025"} 1
tailcast_publish_delay_seconds_bucket{le="0.05"} 1
tailcast_publish_delay_seconds_bucket{le="0.1"} 1
tailcast_publish_delay_seconds_bucket{le="0.25"} 1
tailcast_publish_delay_seconds_bucket{le="0.5"} 1
tailcast_publish_delay_seconds_bucket{le="1"} 1
tailcast_publish_delay_seconds_bucket{le="2.5"} 1
tailcast_publish_delay_seconds_bucket{le="5"} 1
tailcast_publish_delay_seconds_bucket{le="+Inf"} 1
tailcast_publish_delay_seconds_sum 0.001
tailcast_publish_delay_seconds_count 1
# HELP tailcast_restarts_total Command sources (--exec) started again after they exited.
# TYPE tailcast_restarts_total counter
# HELP tailcast_rotations_total Files rotated away (renamed, deleted or replaced) under a followed path.
# TYPE tailcast_rotations_total counter
# HELP tailcast_source_errors_total Errors reported while following a source.
# TYPE tailcast_source_errors_total counter
# HELP tailcast_sources Sources followed.
# TYPE tailcast_sources gauge
tailcast_sources 0
# HELP tailcast_stderr_lines_total Lines command sources (--exec) wrote to their standard error.
# TYPE tailcast_stderr_lines_total counter
# HELP tailcast_subscriber_queue_depth Messages waiting in subscriber queues: the deepest queue and all of them together.
# TYPE tailcast_subscriber_queue_depth gauge
tailcast_subscriber_queue_depth{stat="max"} 0
tailcast_subscriber_queue_depth{stat="total"} 0
# HELP tailcast_subscriber_queue_depths Subscriber queues by depth (messages waiting), read at scrape time.
# TYPE tailcast_subscriber_queue_depths histogram
tailcast_subscriber_queue_depths_bucket{le="0"} 0
tailcast_subscriber_queue_depths_bucket{le="1"} 0
tailcast_subscriber_queue_depths_bucket{le="4"} 0
tailcast_subscriber_queue_depths_bucket{le="16"} 0
tailcast_subscriber_queue_depths_bucket{le="64"} 0
tailcast_subscriber_queue_depths_bucket{le="256"} 0
tailcast_subscriber_queue_depths_bucket{le="1024"} 0
tailcast_subscriber_queue_depths_bucket{le="4096"} 0
tailcast_subscriber_queue_depths_bucket{le="16384"} 0
tailcast_subscriber_queue_depths_bucket{le="+Inf"} 0
tailcast_subscriber_queue_depths_sum 0
tailcast_subscriber_queue_depths_count 0
# HELP tailcast_subscribers Current subscribers.
# TYPE tailcast_subscribers gauge
tailcast_subscribers 0
# HELP tailcast_truncations_total Followed files truncated.
# TYPE tailcast_truncations_total counter
# HELP tailcast_watch_mode How followers are woken: 1 for the active mode, 0 otherwise.
# TYPE tailcast_watch_mode gauge
tailcast_watch_mode{mode="events"} 0
tailcast_watch_mode{mode="polling"} 0
`,
  );
});

Deno.test("render: families sorted, each with HELP and TYPE, output stable", () => {
  const text = everything().render();
  const help = text.split("\n").filter((l) => l.startsWith("# HELP "));
  const type = text.split("\n").filter((l) => l.startsWith("# TYPE "));
  const names = help.map((l) => l.split(" ")[2]);
  assertEquals(names, [...names].sort());
  assertEquals(type.map((l) => l.split(" ")[2]), names);
  assertEquals(new Set(names).size, names.length);
  assertEquals(everything().render(), text);
  // Every sample belongs to the family declared just before it.
  let family = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) family = line.split(" ")[2];
    else if (line !== "" && !line.startsWith("#")) {
      assertMatch(
        line,
        new RegExp(`^${family}(_bucket|_sum|_count)?[{ ]`),
        line,
      );
    }
  }
});

Deno.test("render: series order does not depend on call order", () => {
  const a = new Metrics();
  const b = new Metrics();
  a.linesRead("/b", 1, 1);
  a.linesRead("/a", 1, 1);
  a.alert("y");
  a.alert("x");
  b.alert("x");
  b.alert("y");
  b.linesRead("/a", 1, 1);
  b.linesRead("/b", 1, 1);
  assertEquals(a.render(), b.render());
  assertEquals(samples(a.render(), "tailcast_lines_read_total"), [
    'tailcast_lines_read_total{source="/a"} 1',
    'tailcast_lines_read_total{source="/b"} 1',
  ]);
});

Deno.test("escaping: backslash, double quote and line feed in label values", () => {
  assertEquals(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assertEquals(escapeLabel("plain /var/log/x.log"), "plain /var/log/x.log");
  const m = new Metrics();
  m.linesRead('/tmp/we"ird\\na\nme', 1, 3);
  m.alert("\\");
  const text = m.render();
  assertEquals(samples(text, "tailcast_lines_read_total"), [
    'tailcast_lines_read_total{source="/tmp/we\\"ird\\\\na\\nme"} 1',
  ]);
  assertEquals(samples(text, "tailcast_alerts_total"), [
    'tailcast_alerts_total{rule="\\\\"} 1',
  ]);
  // No raw line feed leaked into the output: every line is a comment or a sample.
  for (const line of text.trimEnd().split("\n")) {
    assertMatch(line, /^(# (HELP|TYPE) |tailcast_)/);
  }
});

Deno.test("histogram: buckets cumulative, bounds inclusive, +Inf = count", () => {
  const m = new Metrics();
  // 0.5 ms and 5000 ms fall exactly on bounds; 9 s is above every bound.
  const observed = [0.5, 0.6, 2, 2, 40, 5000, 9000, -3];
  for (const ms of observed) m.delay(ms);
  m.delay(NaN);
  m.delay(Infinity);
  const text = m.render();
  const name = "tailcast_publish_delay_seconds";
  const buckets = samples(text, `${name}_bucket`).map((l) => {
    const [, le, n] = l.match(/^\S+\{le="([^"]+)"\} (\d+)$/)!;
    return { le, n: Number(n) };
  });
  assertEquals(
    buckets.map((b) => b.le),
    [...DELAY_BUCKETS.map(String), "+Inf"],
  );
  for (let i = 1; i < buckets.length; i++) {
    assert(buckets[i].n >= buckets[i - 1].n, `cumulative at ${i}`);
  }
  const at = (le: string) => buckets.find((b) => b.le === le)!.n;
  assertEquals(at("0.0005"), 2); // -3 clamps to 0, and 0.5 ms is on the bound
  assertEquals(at("0.001"), 3);
  assertEquals(at("0.0025"), 5);
  assertEquals(at("0.05"), 6);
  assertEquals(at("5"), 7);
  assertEquals(at("+Inf"), 8);
  assertEquals(value(text, `${name}_count`), 8);
  const sum = (0.5 + 0.6 + 2 + 2 + 40 + 5000 + 9000 + 0) / 1000;
  assert(Math.abs(value(text, `${name}_sum`) - sum) < 1e-9);
});

Deno.test("cardinality: sources beyond the cap are counted as other", () => {
  const m = new Metrics({ maxSources: 3 });
  for (let i = 0; i < 6; i++) m.linesRead(`/log/${i}`, 1, 10);
  m.parseError("/log/0"); // known: keeps its own series
  m.parseError("/log/9"); // new, beyond the cap
  m.notice({ kind: "rotate", source: "/log/8", how: "deleted" });
  const text = m.render();
  assertEquals(samples(text, "tailcast_lines_read_total"), [
    'tailcast_lines_read_total{source="/log/0"} 1',
    'tailcast_lines_read_total{source="/log/1"} 1',
    'tailcast_lines_read_total{source="/log/2"} 1',
    'tailcast_lines_read_total{source="other"} 3',
  ]);
  assertEquals(value(text, 'tailcast_bytes_read_total{source="other"}'), 30);
  assertEquals(samples(text, "tailcast_parse_errors_total"), [
    'tailcast_parse_errors_total{source="/log/0"} 1',
    'tailcast_parse_errors_total{source="other"} 1',
  ]);
  assertEquals(value(text, 'tailcast_rotations_total{source="other"}'), 1);
});

Deno.test("cardinality: 1000 sources by default, then other", () => {
  const m = new Metrics();
  for (let i = 0; i < 1500; i++) m.linesRead(`/log/${i}`, 1, 1);
  const text = m.render();
  const lines = samples(text, "tailcast_lines_read_total");
  assertEquals(lines.length, 1001);
  assertEquals(value(text, 'tailcast_lines_read_total{source="other"}'), 500);
});

Deno.test("cardinality: reasons, causes and rules are bounded", () => {
  const m = new Metrics({ maxRules: 2 });
  for (let i = 0; i < 20; i++) m.dropped(`reason-${i}`);
  m.dropped("Not a slug: free text");
  for (let i = 0; i < 20; i++) {
    m.notice({
      kind: "gap",
      source: "/a",
      offset: 0,
      bytes: 1,
      cause: `cause-${i}`,
    });
  }
  m.notice({
    kind: "gap",
    source: "/a",
    offset: 0,
    bytes: 1,
    cause: "rotated to /a.1, which no longer holds what was read",
  });
  for (const rule of ["r1", "r2", "r3", "r4", "r1"]) m.alert(rule);
  const text = m.render();
  // 16 distinct slugs at most (the 2 known reasons among them), then other.
  const reasons = samples(text, "tailcast_events_dropped_total");
  assertEquals(reasons.length, 17);
  assertEquals(
    value(text, 'tailcast_events_dropped_total{reason="other"}'),
    20 + 2 + 1 - 16,
  );
  const gaps = samples(text, "tailcast_gaps_total");
  assertEquals(gaps.length, 17);
  assertEquals(
    value(text, 'tailcast_gaps_total{source="/a",cause="other"}'),
    5,
  );
  assertEquals(value(text, 'tailcast_gap_bytes_total{source="/a"}'), 21);
  assertEquals(samples(text, "tailcast_alerts_total"), [
    'tailcast_alerts_total{rule="other"} 2',
    'tailcast_alerts_total{rule="r1"} 2',
    'tailcast_alerts_total{rule="r2"} 1',
  ]);
});

Deno.test("counters: never go down; odd amounts are ignored", () => {
  const m = new Metrics();
  m.published(3);
  m.published(-1);
  m.published(NaN);
  m.published(Infinity);
  m.published();
  m.linesRead("/a", 0, 100); // a chunk without a whole line yet
  m.dropped("filtered", -5);
  const text = m.render();
  assertEquals(value(text, "tailcast_events_published_total"), 4);
  assertEquals(value(text, 'tailcast_lines_read_total{source="/a"}'), 0);
  assertEquals(value(text, 'tailcast_bytes_read_total{source="/a"}'), 100);
  assertEquals(
    value(text, 'tailcast_events_dropped_total{reason="filtered"}'),
    0,
  );
  assertThrows(() => new Metrics({ maxSources: -1 }), RangeError);
  assertThrows(() => new Metrics({ maxRules: 1.5 }), RangeError);
});

Deno.test("gauges: read through the callback at every render", () => {
  let readings: GaugeReadings = { depths: [], sources: 0 };
  let reads = 0;
  const m = new Metrics();
  m.setGauges(() => {
    reads++;
    return readings;
  });
  readings = { depths: [5, 0, 70, 2], mode: "events", sources: 4 };
  let text = m.render();
  assertEquals(reads, 1);
  assertEquals(value(text, "tailcast_subscribers"), 4);
  assertEquals(value(text, 'tailcast_subscriber_queue_depth{stat="max"}'), 70);
  assertEquals(
    value(text, 'tailcast_subscriber_queue_depth{stat="total"}'),
    77,
  );
  assertEquals(
    value(text, 'tailcast_subscriber_queue_depths_bucket{le="0"}'),
    1,
  );
  assertEquals(
    value(text, 'tailcast_subscriber_queue_depths_bucket{le="4"}'),
    2,
  );
  assertEquals(
    value(text, 'tailcast_subscriber_queue_depths_bucket{le="16"}'),
    3,
  );
  assertEquals(
    value(text, 'tailcast_subscriber_queue_depths_bucket{le="+Inf"}'),
    4,
  );
  assertEquals(value(text, "tailcast_subscriber_queue_depths_count"), 4);
  assertEquals(value(text, "tailcast_subscriber_queue_depths_sum"), 77);
  assertEquals(value(text, 'tailcast_watch_mode{mode="events"}'), 1);
  assertEquals(value(text, 'tailcast_watch_mode{mode="polling"}'), 0);
  assertEquals(value(text, "tailcast_sources"), 4);

  // Many subscribers, still a fixed number of series.
  readings = {
    depths: Array.from({ length: 5000 }, (_, i) => i % 300),
    subscribers: 5001,
    mode: "polling",
    sources: 1,
  };
  text = m.render();
  assertEquals(reads, 2);
  assertEquals(value(text, "tailcast_subscribers"), 5001);
  assertEquals(samples(text, "tailcast_subscriber_queue_depth").length, 2);
  assertEquals(
    samples(text, "tailcast_subscriber_queue_depths_bucket").length,
    10,
  );
  assertEquals(value(text, 'tailcast_watch_mode{mode="polling"}'), 1);

  // Without a mode from the callback, the last mode notice decides.
  readings = { depths: [], sources: 0 };
  m.notice({ kind: "mode", mode: "polling", reason: "no inotify" });
  text = m.render();
  assertEquals(value(text, 'tailcast_watch_mode{mode="polling"}'), 1);
  assertEquals(value(text, 'tailcast_watch_mode{mode="events"}'), 0);

  m.setGauges(null);
  m.render();
  assertEquals(reads, 3);
});

Deno.test("notice: each kind counted where it belongs", () => {
  const m = new Metrics();
  const source = "/var/log/app.log";
  m.notice({ kind: "rotate", source, how: "renamed" });
  m.notice({ kind: "rotate", source, how: "replaced" });
  m.notice({ kind: "truncate", source, offset: 10, size: 0 });
  m.notice({
    kind: "gap",
    source,
    offset: 0,
    bytes: 7,
    cause: "file-restarted",
  });
  m.notice({ kind: "error", source, message: "EACCES" });
  m.notice({ kind: "appear", source, file: { dev: 1, ino: 2 }, from: 0 });
  m.notice({ kind: "vanish", source });
  const text = m.render();
  const s = `{source="${source}"}`;
  assertEquals(value(text, `tailcast_rotations_total${s}`), 2);
  assertEquals(value(text, `tailcast_truncations_total${s}`), 1);
  assertEquals(
    value(
      text,
      `tailcast_gaps_total{source="${source}",cause="file-restarted"}`,
    ),
    1,
  );
  assertEquals(value(text, `tailcast_gap_bytes_total${s}`), 7);
  assertEquals(value(text, `tailcast_source_errors_total${s}`), 1);
});

Deno.test("promtool check metrics accepts a registry with every family populated", async () => {
  const text = everything().render();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      fail(
        "promtool is not installed: it ships in the Debian/Ubuntu package `prometheus` " +
          "(apt-get update && apt-get install -y prometheus), or in the release tarball " +
          "from https://prometheus.io/download/",
      );
    }
    throw e;
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const said = new TextDecoder().decode(stdout) +
    new TextDecoder().decode(stderr);
  assertEquals(code, 0, `promtool check metrics exited ${code}:\n${said}`);
  assertEquals(said.trim(), "", `promtool check metrics said:\n${said}`);
  // Every family is populated: no family without a sample.
  const names = text.split("\n").filter((l) => l.startsWith("# TYPE "))
    .map((l) => l.split(" ")[2]);
  for (const name of names) {
    assert(
      text.split("\n").some((l) => l.startsWith(name) && !l.startsWith("#")),
      `${name} has samples`,
    );
  }
});

Deno.test("metrics count command restarts and stderr lines by source, and ingest POSTs by status", () => {
  const m = new Metrics();
  for (const restarts of [1, 2]) {
    m.notice({
      kind: "restart",
      source: "exec:web",
      code: 1,
      signal: null,
      restarts,
      delayMs: 500,
    });
  }
  m.notice({ kind: "stderr", source: "exec:web", line: "a" });
  for (const status of [202, 202, 429, 413]) m.ingest(status);
  const text = m.render();
  assertMatch(text, /^tailcast_restarts_total\{source="exec:web"\} 2$/m);
  assertMatch(text, /^tailcast_stderr_lines_total\{source="exec:web"\} 1$/m);
  assertMatch(text, /^tailcast_ingest_requests_total\{code="202"\} 2$/m);
  assertMatch(text, /^tailcast_ingest_requests_total\{code="429"\} 1$/m);
  assertMatch(text, /^tailcast_ingest_requests_total\{code="413"\} 1$/m);
});
