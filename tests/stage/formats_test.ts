import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import {
  type Format,
  FormatError,
  type Parsed,
  parseFormat,
  parseLine,
} from "../../src/stage/formats.ts";

const RAW: Format = { kind: "raw" };
const JSON_: Format = { kind: "json" };
const LOGFMT: Format = { kind: "logfmt" };
const AUTO: Format = { kind: "auto" };

// nginx "combined" log format, one named group per field.
const NGINX = parseFormat(
  String
    .raw`regex:^(?<remote_addr>\S+) - (?<remote_user>\S+) \[(?<time>[^\]]+)\] "(?<request>[^"]*)" (?<status>\d{3}) (?<body_bytes_sent>\d+|-) "(?<http_referer>[^"]*)" "(?<http_user_agent>[^"]*)"$`,
);

Deno.test("parseFormat accepts the plain kinds", () => {
  for (const kind of ["raw", "json", "logfmt", "auto"] as const) {
    assertEquals(parseFormat(kind), { kind });
  }
});

Deno.test("parseFormat compiles a regex with named groups", () => {
  const format = parseFormat("regex:^(?<level>[A-Z]+) (?<msg>.*)$");
  assertEquals(format.kind, "regex");
  assert(format.kind === "regex");
  assertEquals(format.pattern.source, "^(?<level>[A-Z]+) (?<msg>.*)$");
  // A colon inside the pattern is part of it.
  const colon = parseFormat("regex:^(?<k>a:b)");
  assert(colon.kind === "regex");
  assertEquals(colon.pattern.source, "^(?<k>a:b)");
});

Deno.test("parseFormat errors name the value and what is accepted", () => {
  const cases: [string, RegExp][] = [
    ["xml", /Unknown log format "xml": use raw, json, logfmt, auto or regex:/],
    ["JSON", /Unknown log format "JSON"/],
    ["", /Unknown log format ""/],
    ["regex", /Unknown log format "regex"/],
    ["regex:", /has no pattern/],
    [
      "regex:(?<a>x",
      /"regex:\(\?<a>x": invalid format regex "\(\?<a>x": .+/,
    ],
    ["regex:[", /invalid format regex "\[":/],
    ["regex:^(\\w+) (.*)$", /has no named groups.*\(\?<level>/],
  ];
  for (const [value, message] of cases) {
    const error = assertThrows(() => parseFormat(value), FormatError);
    assert(error instanceof TypeError);
    assertEquals(error.name, "FormatError");
    assertMatch(error.message, message);
  }
});

Deno.test("regex: nginx combined log line", () => {
  const line =
    '203.0.113.7 - alice [10/Oct/2023:13:55:36 +0000] "GET /api/items?page=2 HTTP/1.1" 200 2326 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64)"';
  assertEquals(parseLine(line, NGINX), {
    fields: {
      remote_addr: "203.0.113.7",
      remote_user: "alice",
      time: "10/Oct/2023:13:55:36 +0000",
      request: "GET /api/items?page=2 HTTP/1.1",
      status: "200",
      body_bytes_sent: "2326",
      http_referer: "https://example.com/",
      http_user_agent: "Mozilla/5.0 (X11; Linux x86_64)",
    },
    logTime: "10/Oct/2023:13:55:36 +0000",
  });
});

Deno.test("regex: no match is a parseError, optional groups left out", () => {
  assertEquals(parseLine("not an access log", NGINX), {
    parseError: `does not match ${(NGINX as { pattern: RegExp }).pattern}`,
  });
  assertMatch(
    parseLine("x", NGINX).parseError ?? "",
    /^does not match \/\^\(\?<remote_addr>/,
  );
  const optional = parseFormat(
    "regex:^(?<lvl>[A-Z]+)(?: \\[(?<tag>\\w+)\\])? (?<message>.*)$",
  );
  assertEquals(parseLine("WARNING disk low", optional), {
    fields: { lvl: "WARNING", message: "disk low" },
    level: "warn",
    msg: "disk low",
  });
  // A stateful pattern built by hand still matches every line.
  const global: Format = { kind: "regex", pattern: /(?<word>\w+)/g };
  assertEquals(parseLine("one", global).fields, { word: "one" });
  assertEquals(parseLine("two", global).fields, { word: "two" });
});

Deno.test("json: pino line", () => {
  const line =
    '{"level":30,"time":1531171074631,"pid":657,"hostname":"box","msg":"hello world"}';
  assertEquals(parseLine(line, JSON_), {
    fields: {
      level: 30,
      time: 1531171074631,
      pid: 657,
      hostname: "box",
      msg: "hello world",
    },
    level: "info",
    msg: "hello world",
    logTime: "2018-07-09T21:17:54.631Z",
  });
});

Deno.test("json: bunyan line with a nested error object", () => {
  const line = JSON.stringify({
    name: "api",
    hostname: "web-1",
    pid: 4242,
    level: 50,
    err: {
      message: "boom",
      name: "Error",
      stack: "Error: boom\n    at f (/app/x.js:1:1)",
    },
    msg: "request failed",
    time: "2012-02-07T19:19:39.911Z",
    v: 0,
  });
  const parsed = parseLine(line, JSON_);
  assertEquals(parsed.level, "error");
  assertEquals(parsed.msg, "request failed");
  assertEquals(parsed.logTime, "2012-02-07T19:19:39.911Z");
  assertEquals(
    (parsed.fields?.err as Record<string, unknown>).stack,
    "Error: boom\n    at f (/app/x.js:1:1)",
  );
  assertEquals(parsed.parseError, undefined);
});

Deno.test("json: structlog line (event is a field, not msg)", () => {
  const line =
    '{"event": "user logged in", "user_id": 7, "level": "warning", "timestamp": "2024-05-01T12:00:00.123456Z", "ctx": {"ip": "10.0.0.1", "tags": ["a", "b"]}}';
  assertEquals(parseLine(line, AUTO), {
    fields: {
      event: "user logged in",
      user_id: 7,
      level: "warning",
      timestamp: "2024-05-01T12:00:00.123456Z",
      ctx: { ip: "10.0.0.1", tags: ["a", "b"] },
    },
    level: "warn",
    logTime: "2024-05-01T12:00:00.123456Z",
  });
});

Deno.test("json: Elastic Common Schema, flat and nested log.level", () => {
  assertEquals(
    parseLine(
      '{"@timestamp":"2024-01-01T00:00:00Z","log.level":"ERROR","message":"x"}',
      JSON_,
    )
      .level,
    "error",
  );
  const nested = parseLine(
    '{"@timestamp":"2024-01-01T00:00:00Z","log":{"level":"Info"},"message":"x"}',
    JSON_,
  );
  assertEquals(nested.level, "info");
  assertEquals(nested.msg, "x");
  assertEquals(nested.logTime, "2024-01-01T00:00:00Z");
});

Deno.test("json: malformed lines get a parseError and no fields", () => {
  const cases: [string, RegExp][] = [
    ['{"level":"info","msg":"cut', /^invalid JSON: /],
    ["{level: info}", /^invalid JSON: /],
    ["", /^invalid JSON: /],
    ["plain text", /^invalid JSON: /],
    ["[1,2]", /^expected a JSON object per line, got an array$/],
    ["null", /^expected a JSON object per line, got null$/],
    ['"str"', /^expected a JSON object per line, got a string$/],
    ["42", /^expected a JSON object per line, got a number$/],
  ];
  for (const [line, error] of cases) {
    const parsed = parseLine(line, JSON_);
    assertEquals(Object.keys(parsed), ["parseError"], line);
    assertMatch(parsed.parseError ?? "", error, line);
  }
});

// Deno has no Object.prototype.__proto__ setter, so plain assignment is safe.
Deno.test("__proto__ stays a field in every format", () => {
  const parsed = parseLine('{"__proto__":{"level":"fatal"},"msg":"m"}', JSON_);
  assertEquals(parsed.level, undefined);
  assertEquals(Object.keys(parsed.fields ?? {}), ["__proto__", "msg"]);
  assertEquals(Object.getPrototypeOf(parsed.fields), Object.prototype);
  for (
    const format of [LOGFMT, parseFormat("regex:^(?<__proto__>\\w+)")]
  ) {
    const fields = parseLine("__proto__=x", format).fields ?? {};
    assertEquals(Object.getPrototypeOf(fields), Object.prototype);
    assertEquals(Object.keys(fields), ["__proto__"]);
  }
});

Deno.test("logfmt: Heroku router line", () => {
  const line =
    'at=info method=GET path="/users?page=2" host=myapp.herokuapp.com request_id=8601b555-6a76-4c5b-a5ef-b6e5b5b3f2a1 fwd="204.204.204.204" dyno=web.1 connect=1ms service=18ms status=200 bytes=13 protocol=https';
  assertEquals(parseLine(line, LOGFMT), {
    fields: {
      at: "info",
      method: "GET",
      path: "/users?page=2",
      host: "myapp.herokuapp.com",
      request_id: "8601b555-6a76-4c5b-a5ef-b6e5b5b3f2a1",
      fwd: "204.204.204.204",
      dyno: "web.1",
      connect: "1ms",
      service: "18ms",
      status: "200",
      bytes: "13",
      protocol: "https",
    },
  });
  // With the syslog prefix `heroku logs` prints, auto still sees logfmt.
  const prefixed = parseLine(
    `2024-03-01T10:00:00.000000+00:00 heroku[router]: ${line}`,
    AUTO,
  );
  assertEquals(prefixed.fields?.status, "200");
  assertEquals(prefixed.fields?.["heroku[router]:"], true);
});

Deno.test("logfmt: Go logfmt with quotes and escapes", () => {
  const line = String
    .raw`ts=2024-02-03T04:05:06.789Z caller=main.go:42 level=err msg="query failed: \"users\" table \\ locked" err="context deadline exceeded" dur=1.5s retry empty= debug`;
  assertEquals(parseLine(line, LOGFMT), {
    fields: {
      ts: "2024-02-03T04:05:06.789Z",
      caller: "main.go:42",
      level: "err",
      msg: 'query failed: "users" table \\ locked',
      err: "context deadline exceeded",
      dur: "1.5s",
      retry: true,
      empty: "",
      debug: true,
    },
    level: "error",
    msg: 'query failed: "users" table \\ locked',
    logTime: "2024-02-03T04:05:06.789Z",
  });
  assertEquals(
    parseLine(String.raw`a="x\ny\t\u00e9" b="" c="="`, LOGFMT).fields,
    { a: "x\ny\té", b: "", c: "=" },
  );
});

Deno.test("logfmt: malformed lines get a parseError and no fields", () => {
  const cases: [string, RegExp][] = [
    [
      'msg="never closed',
      /^invalid logfmt: unterminated quoted value for key "msg"$/,
    ],
    ['msg="ends in backslash\\', /unterminated quoted value/],
    ["=value", /a key is missing before "=" at column 1/],
    ["a=1 =2", /a key is missing before "=" at column 5/],
    ['a=b"c', /unexpected quote in the value of "a" at column 4/],
    ['a="b"c', /expected a space after the quoted value of "a" at column 6/],
    ['ke"y=1', /unexpected quote in key at column 3/],
    ['"quoted" a=1', /unexpected quote at column 1/],
    ["just some words", /^invalid logfmt: no key=value pairs$/],
  ];
  for (const [line, error] of cases) {
    const parsed = parseLine(line, LOGFMT);
    assertEquals(Object.keys(parsed), ["parseError"], line);
    assertMatch(parsed.parseError ?? "", error, line);
  }
  // A blank line has nothing to parse and is no error.
  assertEquals(parseLine("", LOGFMT), {});
  assertEquals(parseLine("  \t", LOGFMT), {});
});

Deno.test("auto: picks json, logfmt or raw", () => {
  const cases: [string, Parsed][] = [
    ['{"msg":"hi"}', { fields: { msg: "hi" }, msg: "hi" }],
    ["level=info msg=hi", {
      fields: { level: "info", msg: "hi" },
      level: "info",
      msg: "hi",
    }],
    // Two pairs against one bare word: logfmt.
    ["GET a=1 b=2", { fields: { GET: true, a: "1", b: "2" } }],
    // Plain text, even with `=` or braces in it: raw, no error.
    ["Starting server on port 8080", {}],
    ["2024-01-01 GET /search?q=deno 200", {}],
    ["one two a=1", {}],
    ["{not json", {}],
    ["{not json but a=1", {}],
    ["[1,2]", {}],
    ['He said "hi" a=1', {}],
    ['a="unterminated', {}],
    ["", {}],
  ];
  for (const [line, expected] of cases) {
    assertEquals(parseLine(line, AUTO), expected, line);
  }
});

Deno.test("raw: nothing, whatever the line", () => {
  for (const line of ['{"level":"info"}', "a=1 b=2", "", "text"]) {
    assertEquals(parseLine(line, RAW), {});
  }
});

Deno.test("parseLine never throws on odd input", () => {
  const odd = [
    "\u0000\uFFFD\uD800",
    "{".repeat(10000),
    "=".repeat(100),
    '"'.repeat(101),
    "a=".repeat(5000),
    "\\",
    '{"a":' + "[".repeat(5000) + "]".repeat(5000) + "}",
  ];
  const formats: Format[] = [RAW, JSON_, LOGFMT, AUTO, NGINX];
  for (const line of odd) {
    for (const format of formats) {
      const parsed = parseLine(line, format);
      assertEquals(typeof parsed, "object");
    }
  }
});

Deno.test("level normalisation table", () => {
  const cases: [unknown, string | undefined][] = [
    ["INFO", "info"],
    ["Debug", "debug"],
    ["warn", "warn"],
    ["WARNING", "warn"],
    ["warning", "warn"],
    ["err", "error"],
    ["ERROR", "error"],
    ["crit", "fatal"],
    ["CRITICAL", "fatal"],
    ["fatal", "fatal"],
    ["panic", "fatal"],
    ["notice", "notice"],
    [10, "trace"],
    [20, "debug"],
    [30, "info"],
    [40, "warn"],
    [50, "error"],
    [60, "fatal"],
    ["30", "info"],
    [35, "35"],
    ["", undefined],
    [true, undefined],
    [null, undefined],
    [{ name: "info" }, undefined],
  ];
  for (const [value, level] of cases) {
    const parsed = parseLine(JSON.stringify({ level: value }), JSON_);
    assertEquals(parsed.level, level, JSON.stringify(value));
  }
  // Every key, in order of preference.
  assertEquals(parseLine('{"lvl":"W"}', JSON_).level, "w");
  assertEquals(parseLine('{"severity":"WARNING"}', JSON_).level, "warn");
  assertEquals(parseLine('{"log.level":"err"}', JSON_).level, "error");
  assertEquals(
    parseLine('{"severity":"debug","level":"info"}', JSON_).level,
    "info",
  );
  assertEquals(parseLine("lvl=eRR", LOGFMT).level, "error");
  // A bare key is not a level.
  assertEquals(parseLine("level a=1", LOGFMT).level, undefined);
});

Deno.test("msg normalisation table", () => {
  assertEquals(parseLine('{"msg":"a"}', JSON_).msg, "a");
  assertEquals(parseLine('{"message":"b"}', JSON_).msg, "b");
  assertEquals(parseLine('{"message":"b","msg":"a"}', JSON_).msg, "a");
  assertEquals(parseLine('{"msg":42}', JSON_).msg, "42");
  assertEquals(parseLine('{"msg":{"a":1},"message":"m"}', JSON_).msg, "m");
  assertEquals(parseLine('{"msg":null}', JSON_).msg, undefined);
  assertEquals(parseLine('message="x y"', LOGFMT).msg, "x y");
});

Deno.test("time normalisation table", () => {
  const cases: [unknown, string | undefined][] = [
    ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"],
    ["10/Oct/2023:13:55:36 +0000", "10/Oct/2023:13:55:36 +0000"],
    // Epoch seconds (zap, structlog), with a fraction.
    [1700000000, "2023-11-14T22:13:20.000Z"],
    [1700000000.25, "2023-11-14T22:13:20.250Z"],
    // Epoch milliseconds (pino).
    [1700000000123, "2023-11-14T22:13:20.123Z"],
    // Micro- and nanoseconds.
    [1700000000123456, "2023-11-14T22:13:20.123Z"],
    [1700000000123456800, "2023-11-14T22:13:20.123Z"],
    // Numeric strings of epoch size (logfmt, regex fields).
    ["1700000000", "2023-11-14T22:13:20.000Z"],
    ["1700000000.5", "2023-11-14T22:13:20.500Z"],
    ["12345", "12345"],
    ["", undefined],
    [null, undefined],
    [false, undefined],
  ];
  for (const [value, time] of cases) {
    const parsed = parseLine(JSON.stringify({ time: value }), JSON_);
    assertEquals(parsed.logTime, time, JSON.stringify(value));
  }
  for (const key of ["time", "ts", "timestamp", "@timestamp", "t"]) {
    assertEquals(
      parseLine(JSON.stringify({ [key]: "T" }), JSON_).logTime,
      "T",
      key,
    );
  }
  assertEquals(
    parseLine('{"t":"second","time":"first"}', JSON_).logTime,
    "first",
  );
  assertEquals(
    parseLine("ts=1700000000 a=1", LOGFMT).logTime,
    "2023-11-14T22:13:20.000Z",
  );
});
