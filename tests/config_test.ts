import {
  assert,
  assertEquals,
  assertMatch,
  assertNotMatch,
  fail,
} from "@std/assert";
import {
  type Config,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_POLL_MS,
  DEFAULT_PORT,
  type Environment,
  normalizeArgs,
  parseCommandLine,
  splitCommand,
} from "../src/config.ts";
import { parseConfigFile } from "../src/config_file.ts";
import { ConfigError } from "../src/errors.ts";
import { Service } from "../src/service.ts";

/** The config of a run command line; fails for help and version. */
function config(args: string[], env: Environment = {}): Config {
  const command = parseCommandLine(args, env);
  assertEquals(command.kind, "run", `${args.join(" ")} is not a run`);
  return command.kind === "run" ? command.config : fail();
}

/** Asserts `args` are refused with a ConfigError naming `flag`. */
function refused(args: string[], flag: string, message?: RegExp): ConfigError {
  let caught: unknown;
  try {
    parseCommandLine(args);
  } catch (error) {
    caught = error;
  }
  assert(caught instanceof ConfigError, `${args.join(" ")}: ${caught}`);
  assertEquals(caught.flag, flag, `${args.join(" ")}: ${caught.message}`);
  if (message) assertMatch(caught.message, message, args.join(" "));
  return caught;
}

Deno.test("parseCommandLine defaults: from the end, HTTP on 127.0.0.1:8787, events, 1 MiB lines", () => {
  const c = config(["app.log"]);
  assertEquals([...c.paths], ["app.log"]);
  assertEquals({ ...c.startAt }, { kind: "end" });
  assertEquals(c.stdout, false);
  assertEquals(c.server, true);
  assertEquals(c.host, "127.0.0.1");
  assertEquals(c.port, DEFAULT_PORT);
  assertEquals(DEFAULT_PORT, 8787);
  assertEquals(c.pollMs, null);
  assertEquals(c.maxLineBytes, DEFAULT_MAX_LINE_BYTES);
  assertEquals(c.demo, false);
  assert(Object.isFrozen(c));
});

Deno.test("parseCommandLine reads the run options as a table", () => {
  const table: [string[], Partial<Record<keyof Config, unknown>>][] = [
    [["--no-server", "a"], { server: false, stdout: true }],
    [["--stdout", "a"], { server: true, stdout: true }],
    [["--no-server", "--no-stdout", "a"], { server: false, stdout: true }],
    [["-n", "5", "a"], { startAt: { kind: "lines", count: 5 } }],
    [["--lines=0", "a"], { startAt: { kind: "lines", count: 0 } }],
    [["--from", "start", "a"], { startAt: { kind: "start" } }],
    [["--from=end", "a"], { startAt: { kind: "end" } }],
    [["--poll", "a"], { pollMs: DEFAULT_POLL_MS, paths: ["a"] }],
    [["a", "--poll"], { pollMs: 250, paths: ["a"] }],
    [["--poll=100", "a"], { pollMs: 100 }],
    [["--port", "0", "a"], { port: 0 }],
    [["--port=65535", "a"], { port: 65535 }],
    [["--host", "0.0.0.0", "a"], { host: "0.0.0.0" }],
    [["--max-line-bytes", "1", "a"], { maxLineBytes: 1 }],
    [["--demo"], { demo: true, paths: [] }],
    [["-", "a", "logs/*.log"], { paths: ["-", "a", "logs/*.log"] }],
    [["--", "-odd.log"], { paths: ["-odd.log"] }],
  ];
  for (const [args, expected] of table) {
    const c = config(args);
    for (const [key, value] of Object.entries(expected)) {
      const actual = c[key as keyof Config];
      // parseArgs values have a null prototype: compare plain copies.
      const plain = Array.isArray(actual)
        ? [...actual]
        : typeof actual === "object" && actual !== null
        ? { ...actual }
        : actual;
      assertEquals(plain, value, `${args.join(" ")}: ${key}`);
    }
  }
});

Deno.test("parseCommandLine refuses --from with -n", () => {
  refused(
    ["--from", "start", "-n", "3", "a"],
    "--lines",
    /--lines with --from/,
  );
  refused(["-n", "3", "--from", "end", "a"], "--lines");
});

Deno.test("parseCommandLine refuses bad values, naming the flag", () => {
  const table: [string[], string][] = [
    [["--from", "middle", "a"], "--from"],
    [["-n", "x", "a"], "--lines"],
    [["-n", "1.5", "a"], "--lines"],
    [["--port", "65536", "a"], "--port"],
    [["--port", "http", "a"], "--port"],
    [["--port=", "a"], "--port"],
    [["--port", "1e3", "a"], "--port"],
    [["--poll=5", "a"], "--poll"],
    [["--poll=abc", "a"], "--poll"],
    [["--max-line-bytes", "0", "a"], "--max-line-bytes"],
    [["--host", "a b", "a"], "--host"],
    [["--host=", "a"], "--host"],
    // Each would make a constructor throw later (a subscriber queue, timers).
    [["--queue", "0", "a"], "--queue"],
    [["--max-clients", "0", "a"], "--max-clients"],
    [["--heartbeat", "86401", "a"], "--heartbeat"],
    [["--heartbeat", "0.5", "a"], "--heartbeat"],
    [["--write-timeout", "0", "a"], "--write-timeout"],
    [["-s", "0", "a"], "--sleep-interval"],
    [["--pid", "0", "a"], "--pid"],
    [["-n", "2000000000", "a"], "--lines"],
  ];
  for (const [args, flag] of table) refused(args, flag);
  refused(["--port", "99999", "a"], "--port", /from 0 to 65535/);
});

Deno.test("a refused value is quoted on one line, its control characters escaped", () => {
  // Found by tests/fuzz: a value with a newline broke the one-line error
  // over two lines, and an escape sequence in it reached the terminal.
  const error = refused(["-n", "a\nb\u001b[31m", "app.log"], "--lines");
  assertMatch(
    error.message,
    /^Invalid value "a\\nb\\u001b\[31m" for --lines: /,
  );
  const file = (() => {
    try {
      parseConfigFile("tailcast.json", '{"where": "a\n\u2028b"}');
    } catch (error) {
      return error;
    }
  })();
  assert(file instanceof ConfigError, String(file));
  assertMatch(file.message, /^Cannot read the config file "tailcast\.json": /);
  assertMatch(file.message, /"a\\n\\u2028b"/);
});

Deno.test("parseCommandLine refuses an unknown flag with a ConfigError naming it", () => {
  for (
    const flag of ["--bogus", "-x", "--no-port", "--toString", "--__proto__"]
  ) {
    const error = refused([flag, "a"], flag);
    assert(error.message.includes(`'${flag}'`), error.message);
  }
  // Unknown flags are refused even beside --help.
  refused(["--help", "--bogus"], "--bogus");
});

Deno.test("parseCommandLine says a flag needs a value when it is missing", () => {
  refused(["a", "--port"], "--port", /--port needs a value/);
  refused(["-n"], "--lines", /--lines needs a value/);
  refused(["--stdout=yes", "a"], "--stdout", /--stdout takes no value/);
});

Deno.test("parseCommandLine does not say a value-taking flag takes no value when its value looks like a flag", () => {
  // parseArgs calls these ambiguous; --port and --lines do take values.
  for (
    const [args, flag] of [
      [["--port", "-1", "a"], "--port"],
      [["--lines", "--stdout", "a"], "--lines"],
    ] as const
  ) {
    const error = refused([...args], flag);
    assertNotMatch(error.message, /takes no value/, error.message);
  }
});

Deno.test("parseCommandLine gives help and version", () => {
  for (const args of [["--help"], ["-h"], ["-h", "a"], ["--demo", "--help"]]) {
    assertEquals({ ...parseCommandLine(args) }, { kind: "help" });
  }
  for (const args of [["--version"], ["-V"], ["-V", "a"]]) {
    assertEquals({ ...parseCommandLine(args) }, { kind: "version" });
  }
});

Deno.test("parseCommandLine needs a path unless --demo, --exec or --ingest", () => {
  const error = refused([], "", /No file to follow/);
  assertMatch(error.message, /--demo/);
  assertMatch(error.message, /--exec/);
  assertMatch(error.message, /--ingest/);
  refused(["--stdout"], "");
  assertEquals(config(["--demo"]).demo, true);
});

Deno.test("normalizeArgs expands short-flag clusters as tail's getopt does and attaches every value", () => {
  const table: [string[], string[]][] = [
    [["-qn", "20", "a", "b"], ["--quiet", "--lines=20", "--", "a", "b"]],
    // -F is --follow=name --retry; n takes the rest of the cluster.
    [["-Fn5", "a"], ["--follow=name", "--retry", "--lines=5", "--", "a"]],
    [["-n+3", "a"], ["--lines=+3", "--", "a"]],
    [["-c", "+4", "a"], ["--bytes=+4", "--", "a"]],
    [["-fqv", "a"], ["--follow=", "--quiet", "--verbose", "--", "a"]],
    [["-nq", "a"], ["--lines=q", "--", "a"]],
    [["a", "--port", "0"], ["--port=0", "--", "a"]],
    [["--poll", "a"], ["--poll=", "--", "a"]],
    [["--follow", "a"], ["--follow=", "--", "a"]],
    [["--no-server", "-"], ["--no-server", "--", "-"]],
    [["---disable-inotify", "a"], ["---disable-inotify", "--", "a"]],
    [["--where=a=b", "a"], ["--where=a=b", "--", "a"]],
    [["--", "-n", "--x"], ["--", "-n", "--x"]],
    [["--lines", "-", "a"], ["--lines=-", "--", "a"]],
  ];
  for (const [args, expected] of table) {
    assertEquals(normalizeArgs(args), expected, args.join(" "));
  }
});

Deno.test("parseCommandLine reads clusters std's parseArgs alone would misread", () => {
  // parseArgs alone gives F: "n5" and q: "n".
  assertEquals({ ...config(["-Fn5", "a"]).startAt }, {
    kind: "lines",
    count: 5,
  });
  const c = config(["-qn", "20", "a", "b"]);
  assertEquals({ ...c.startAt }, { kind: "lines", count: 20 });
  assertEquals(c.headers, false);
  assertEquals([...c.paths], ["a", "b"]);
});

Deno.test("parseCommandLine reads tail's flags as a table", () => {
  const table: [string[], Partial<Record<keyof Config, unknown>>][] = [
    [["-f", "a"], { startAt: { kind: "end" }, pollMs: null }],
    [["-F", "a"], { startAt: { kind: "end" } }],
    [["--follow", "a"], { paths: ["a"] }],
    [["--follow=name", "--retry", "a"], { paths: ["a"] }],
    [["-n", "+3", "a"], { startAt: { kind: "fromLine", line: 3 } }],
    [["-n", "+0", "a"], { startAt: { kind: "fromLine", line: 1 } }],
    [["--lines=-2", "a"], { startAt: { kind: "lines", count: 2 } }],
    [["-n1K", "a"], { startAt: { kind: "lines", count: 1024 } }],
    [["-c", "10", "a"], { startAt: { kind: "bytes", count: 10 } }],
    [["-c", "+4", "a"], { startAt: { kind: "fromByte", byte: 4 } }],
    [["-c", "+0", "a"], { startAt: { kind: "fromByte", byte: 1 } }],
    [["--bytes=2kB", "a"], { startAt: { kind: "bytes", count: 2000 } }],
    [["-c", "1MiB", "a"], { startAt: { kind: "bytes", count: 1048576 } }],
    [["-c", "3b", "a"], { startAt: { kind: "bytes", count: 1536 } }],
    [["a"], { headers: false, pid: null, pidCheckMs: 1000 }],
    [["a", "b"], { headers: true }],
    [["logs/*.log"], { headers: true }],
    [["-v", "a"], { headers: true }],
    [["--verbose", "a"], { headers: true }],
    [["-q", "a", "b"], { headers: false }],
    [["--silent", "a", "b"], { headers: false }],
    [["--pid", "123", "a"], { pid: 123, pidCheckMs: 1000 }],
    [["--pid=123", "-s", "0.2", "a"], { pid: 123, pidCheckMs: 200 }],
    [["-s", "0.5", "a"], { pollMs: null, pidCheckMs: 500 }],
    [["-s", "2", "--poll", "a"], { pollMs: 2000 }],
    [["---disable-inotify", "a"], { pollMs: DEFAULT_POLL_MS }],
    [["--sleep-interval=.5", "---disable-inotify", "a"], { pollMs: 500 }],
    [["--max-unchanged-stats", "5", "a"], { paths: ["a"] }],
  ];
  for (const [args, expected] of table) {
    const c = config(args);
    for (const [key, value] of Object.entries(expected)) {
      const actual = c[key as keyof Config];
      const plain = Array.isArray(actual)
        ? [...actual]
        : typeof actual === "object" && actual !== null
        ? { ...actual }
        : actual;
      assertEquals(plain, value, `${args.join(" ")}: ${key}`);
    }
  }
});

Deno.test("parseCommandLine picks text output on a terminal with --no-server, NDJSON otherwise, and colours only on a terminal without NO_COLOR", () => {
  const table: [string[], Environment, Partial<Config>][] = [
    [["--no-server", "a"], { terminal: true }, {
      stdout: true,
      output: "text",
      color: true,
    }],
    [["--no-server", "a"], { terminal: true, noColor: true }, {
      output: "text",
      color: false,
    }],
    [["--no-server", "a"], {}, { output: "ndjson", color: false }],
    [["--stdout", "a"], { terminal: true }, { output: "ndjson" }],
    [["--no-server", "--output", "ndjson", "a"], { terminal: true }, {
      output: "ndjson",
      color: false,
    }],
    [["--no-server", "--output=text", "a"], {}, {
      output: "text",
      color: false,
    }],
    // Asking for an output format asks for the output.
    [["--output", "text", "a"], { terminal: true }, {
      server: true,
      stdout: true,
      output: "text",
      color: true,
    }],
  ];
  for (const [args, env, expected] of table) {
    const c = config(args, env);
    for (const [key, value] of Object.entries(expected)) {
      assertEquals(
        c[key as keyof Config],
        value,
        `${args.join(" ")} ${JSON.stringify(env)}: ${key}`,
      );
    }
  }
});

Deno.test("parseCommandLine refuses tail's flags it cannot honour, and bad tail values, naming the flag", () => {
  const table: [string[], string, RegExp][] = [
    [["--follow=descriptor", "a"], "--follow", /always follows the name/],
    [["--follow=inode", "a"], "--follow", /--follow=name/],
    [["-z", "a"], "--zero-terminated", /newlines/],
    [["--zero-terminated", "a"], "--zero-terminated", /NUL/],
    [["-qz", "a"], "--zero-terminated", /NUL/],
    [["--max-unchanged-stats", "x", "a"], "--max-unchanged-stats", /whole/],
    [["-s", "abc", "a"], "--sleep-interval", /seconds/],
    [["-s", "0", "a"], "--sleep-interval", /0\.01 to 3600/],
    [["--pid", "0", "a"], "--pid", /from 1/],
    [["--pid", "x", "a"], "--pid", /whole number/],
    [["--output", "xml", "a"], "--output", /text or ndjson/],
    [["-q", "-v", "a", "b"], "--verbose", /pick one/],
    [["-n", "5", "-c", "5", "a"], "--bytes", /--bytes with --lines/],
    [["--from", "start", "-c", "5", "a"], "--bytes", /--bytes with --from/],
    [["--poll=100", "-s", "1", "a"], "--sleep-interval", /pick one/],
    [["-c", "1B", "a"], "--bytes", /Invalid value "1B"/],
    [["-n", "+x", "a"], "--lines", /\+N to start at line N/],
    [["-n", "2G", "a"], "--lines", /1000000000/],
    [["-n", "-2", "a"], "--lines", /--lines=VALUE/],
    [["-20", "a"], "-20", /-n 20/],
    [["-qx", "a"], "-x", /Unknown option '-x'/],
    [["-f=name", "a"], "-=", /Unknown option/],
  ];
  for (const [args, flag, message] of table) refused(args, flag, message);
});

Deno.test("text output starts with the last 10 lines like tail; NDJSON and the server start at the end", () => {
  assertEquals(config(["--no-server", "--output", "text", "a"]).startAt, {
    kind: "lines",
    count: 10,
  });
  assertEquals(config(["--no-server", "--output", "ndjson", "a"]).startAt, {
    kind: "end",
  });
  assertEquals(config(["a"]).startAt, { kind: "end" });
  assertEquals(config(["--output", "text", "-n", "3", "a"]).startAt, {
    kind: "lines",
    count: 3,
  });
});

/** The ConfigError `fn` throws (or rejects with); fails on anything else. */
async function configError(
  fn: () => unknown,
  what: string,
): Promise<ConfigError> {
  let caught: unknown = null;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  assert(caught instanceof ConfigError, `${what}: ${caught}`);
  assert(!caught.message.includes("\n"), `${what}: one line`);
  return caught;
}

Deno.test("a bad value of the config file is a ConfigError naming its key, whatever it is", async () => {
  // [the file, the key path the error names, what it says is allowed]
  const table: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ lines: 1.5 }, "lines", /whole number of lines from 0 to/],
    [{ lines: 2e9 }, "lines", /from 0 to 1000000000/],
    [{ poll: 5 }, "poll", /milliseconds from 10 to/],
    [{ poll: 99.5 }, "poll", /whole number/],
    [{ maxLineBytes: 0 }, "maxLineBytes", /bytes from 1 to/],
    [{ maxLineBytes: 2 ** 40 }, "maxLineBytes", /bytes from 1 to/],
    [{ server: { port: 65536 } }, "server.port", /from 0 to 65535/],
    [{ server: { port: 80.5 } }, "server.port", /whole number/],
    [{ server: { queue: 0 } }, "server.queue", /from 1 to/],
    [{ server: { maxClients: 0 } }, "server.maxClients", /from 1 to/],
    [{ server: { heartbeat: 0.5 } }, "server.heartbeat", /seconds from 0/],
    [{ server: { heartbeat: 1e6 } }, "server.heartbeat", /to 86400/],
    [{ server: { writeTimeout: 0 } }, "server.writeTimeout", /seconds from 1/],
    [{ server: { port: -1 } }, "server.port", /at least 0/],
    [
      { sources: [{ path: "a", multiline: { start: "x", maxBytes: 0 } }] },
      "sources[0].multiline.maxBytes",
      /from 1 to/,
    ],
    [
      { sources: [{ path: "a", multiline: { start: "x", flushMs: 4e6 } }] },
      "sources[0].multiline.flushMs",
      /from 0 to/,
    ],
  ];
  for (const [file, key, allowed] of table) {
    const text = JSON.stringify(file);
    const error = await configError(
      () => parseConfigFile("t.json", text),
      text,
    );
    assertEquals(error.flag, "--config", text);
    assertMatch(
      error.message,
      new RegExp(
        `^Invalid config file "t\\.json": ${key.replace(/[.[\]]/g, "\\$&")} `,
      ),
      text,
    );
    assertMatch(error.message, allowed, text);
  }
});

Deno.test("what only the service can check is a ConfigError at Service.start naming the flag", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tailcast-config-" });
  // [the command line, the flag named, what the message says]
  const table: Array<[string[], string, RegExp]> = [
    // Checked in the alert engine's constructor: was a stack trace, exit 1.
    [
      ["--alert", "a: boom 1 in 1m", "--alert", "a: bang 2 in 1m"],
      "--alert",
      /Two alert rules are named "a"/,
    ],
    [["--alert", "a: boom 1 in 1x"], "--alert", /invalid duration "1x"/],
    [["--format", "regex:x"], "--format", /no named groups/],
    [["--multiline-start", "("], "--multiline-start", /\(/],
    [["--include", "["], "--include", /\[/],
    [["--where", "level=="], "--where", /column/],
  ];
  try {
    for (const [flags, flag, says] of table) {
      const what = flags.join(" ");
      const error = await configError(async () => {
        const service = await Service.start({
          config: config(["--no-server", ...flags, "app.log"]),
          stdout: new WritableStream(),
          log: () => {},
          cwd: dir,
        });
        await service.stop();
      }, what);
      assertEquals(error.flag, flag, what);
      assertMatch(error.message, says, what);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--exec [NAME=]CMD: split as shell words without a shell, named for the program unless named, repeatable; enough to run without a path", () => {
  const c = config([
    "--exec",
    "journalctl -f -o cat",
    "--exec",
    `web=kubectl logs -f 'deploy/my web' --since="5 m"`,
    "--exec=/usr/bin/docker logs -f api",
  ]);
  assertEquals(c.paths, []);
  assertEquals(c.exec.map((e) => [e.name, e.argv]), [
    ["journalctl", ["journalctl", "-f", "-o", "cat"]],
    ["web", ["kubectl", "logs", "-f", "deploy/my web", "--since=5 m"]],
    ["docker", ["/usr/bin/docker", "logs", "-f", "api"]],
  ]);
  assertEquals(
    c.exec[1].flag,
    `--exec web=kubectl logs -f 'deploy/my web' --since="5 m"`,
  );
  // Several sources: text output shows which one a line is from.
  assertEquals(
    config(["--no-server", "--output", "text", "--exec", "a"]).headers,
    false,
  );
  assertEquals(
    config(["--no-server", "--output", "text", "--exec", "a", "x.log"]).headers,
    true,
  );
});

Deno.test("--exec refuses an empty command, an unclosed quote, a bad or repeated name, naming the flag", () => {
  refused(["--exec", ""], "--exec", /give a command/);
  refused(["--exec", "web="], "--exec", /give a command/);
  refused(["--exec", "sh -c 'echo"], "--exec", /a ' quote is not closed/);
  refused(["--exec", "we/b=tail -f x"], "--exec", /Invalid name "we\/b"/);
  refused(
    ["--exec", "tail -f a", "--exec", "tail -f b"],
    "--exec",
    /Two --exec commands are named "tail": name them apart/,
  );
});

Deno.test("--ingest: memory by default, a spool with --spool, sizes with their defaults; enough to run without a path", () => {
  const c = config(["--ingest"]);
  assertEquals(c.paths, []);
  assertEquals(c.ingest, {
    token: null,
    spool: null,
    segmentBytes: 16 * 1024 * 1024,
    maxBytes: 256 * 1024 * 1024,
    memoryBytes: 8 * 1024 * 1024,
    maxBody: 1024 * 1024,
  });
  assertEquals(config(["a.log"]).ingest, null);
  const spooled = config([
    "--ingest",
    "--spool",
    "/var/lib/tailcast/spool",
    "--spool-segment-bytes",
    "65536",
    "--spool-max-bytes",
    "1048576",
    "--ingest-max-body",
    "4096",
  ]).ingest;
  assertEquals(spooled, {
    token: null,
    spool: "/var/lib/tailcast/spool",
    segmentBytes: 65536,
    maxBytes: 1048576,
    memoryBytes: 8 * 1024 * 1024,
    maxBody: 4096,
  });
});

Deno.test("--ingest takes its own token, else the read token, and needs one unless it listens on loopback", () => {
  assertEquals(
    config(["--ingest", "--token", "read-secret"]).ingest?.token,
    "read-secret",
  );
  assertEquals(
    config([
      "--ingest",
      "--token",
      "read-secret",
      "--ingest-token",
      "post-secret",
    ])
      .ingest?.token,
    "post-secret",
  );
  assertEquals(
    config(["--ingest"], { TAILCAST_INGEST_TOKEN: "from-the-env" }).ingest
      ?.token,
    "from-the-env",
  );
  refused(
    ["--ingest", "--host", "0.0.0.0"],
    "--ingest",
    /without a token: anyone who can reach it could write these logs/,
  );
  assertEquals(
    config(["--ingest", "--host", "0.0.0.0", "--ingest-token", "post-secret"])
      .ingest?.token,
    "post-secret",
  );
  refused(["--ingest", "--ingest-token", "short"], "--ingest-token");
});

Deno.test("--ingest refuses flags that do not fit together, naming the flag", () => {
  refused(["--spool", "/tmp/s", "a.log"], "--spool", /needs --ingest/);
  refused(["--ingest-token", "post-secret", "a.log"], "--ingest-token");
  refused(["--ingest", "--no-server"], "--ingest", /--no-server/);
  refused(
    ["--ingest", "--spool-max-bytes", "65536"],
    "--spool-max-bytes",
    /needs --spool DIR/,
  );
  refused(
    ["--ingest", "--spool", "/tmp/s", "--ingest-memory", "65536"],
    "--ingest-memory",
  );
  refused(
    [
      "--ingest",
      "--spool",
      "/tmp/s",
      "--spool-segment-bytes",
      "1048576",
      "--spool-max-bytes",
      "65536",
    ],
    "--spool-segment-bytes",
    /cannot be larger than --spool-max-bytes/,
  );
  refused(
    ["--ingest", "--ingest-memory", "65536", "--ingest-max-body", "100000"],
    "--ingest-max-body",
    /--ingest-memory 65536/,
  );
  refused(["--ingest", "--spool", ""], "--spool");
  refused(["--ingest", "--ingest-max-body", "0"], "--ingest-max-body");
});

Deno.test("splitCommand keeps quoted blanks and escaped characters as a shell does", () => {
  const table: [string, string[]][] = [
    ["a  b\tc", ["a", "b", "c"]],
    [String.raw`a\ b`, ["a b"]],
    [String.raw`"c\"d" "e\f"`, ['c"d', String.raw`e\f`]],
    [String.raw`'g\h' '' x''y`, [String.raw`g\h`, "", "xy"]],
    [`sh -c 'echo "$HOME" | wc'`, ["sh", "-c", `echo "$HOME" | wc`]],
  ];
  for (const [text, words] of table) {
    assertEquals(splitCommand(text, "--exec"), words, text);
  }
});

Deno.test("--publish makes an agent: its servers, host and stream, and no stdout without a server", () => {
  const c = config([
    "--publish",
    "nats://10.0.0.1:4222, tls://nats.example.com",
    "--host-name",
    "web-1",
    "--no-server",
    "--replicas",
    "3",
    "--max-age",
    "12h",
    "--max-bytes",
    "512M",
    "--dedupe-window",
    "5m",
    "--stream",
    "logs",
    "--subject-prefix",
    "logs.prod",
    "--nats-user",
    "agent",
    "--nats-password",
    "secret",
    "app.log",
  ]);
  assertEquals(c.stdout, false);
  assertEquals(c.subscribe, null);
  assertEquals(c.publish, {
    link: {
      servers: ["nats://10.0.0.1:4222", "tls://nats.example.com:4222"],
      user: "agent",
      password: "secret",
      token: null,
      creds: null,
    },
    host: "web-1",
    stream: {
      name: "logs",
      prefix: "logs.prod",
      replicas: 3,
      maxAgeMs: 12 * 3600_000,
      maxBytes: 512 * 1024 * 1024,
      dedupeWindowMs: 300_000,
    },
  });
  assertEquals(
    config([
      "--publish",
      "nats://h:1",
      "--host-name",
      "w",
      "--max-age",
      "0",
      "a",
    ])
      .publish?.stream.maxAgeMs,
    0,
  );
});

Deno.test("an agent's host name comes from --host-name, else TAILCAST_HOST_NAME, else the machine's name when it may be read", () => {
  const args = ["--publish", "nats://h:1", "a.log"];
  assertEquals(
    config(args, { TAILCAST_HOST_NAME: "env-host", hostname: "machine" })
      .publish?.host,
    "env-host",
  );
  assertEquals(config(args, { hostname: "machine" }).publish?.host, "machine");
  refused(args, "--host-name", /TAILCAST_HOST_NAME.*--allow-sys=hostname/);
  refused([...args, "--host-name", "a b"], "--host-name", /without spaces/);
});

Deno.test("--subscribe makes a gateway: no path, the stream and login flags, the server flags", () => {
  const c = config([
    "--subscribe",
    "nats://a:4222,nats://b:4223",
    "--nats-token",
    "t0ken",
    "--port",
    "0",
  ]);
  assertEquals([...c.paths], []);
  assertEquals(c.publish, null);
  assertEquals(c.subscribe, {
    link: {
      servers: ["nats://a:4222", "nats://b:4223"],
      user: null,
      password: null,
      token: "t0ken",
      creds: null,
    },
    stream: "tailcast",
    prefix: "tailcast",
  });
  assertEquals(
    config(["--subscribe", "nats://a:1"], { TAILCAST_NATS_TOKEN: "from-env" })
      .subscribe?.link.token,
    "from-env",
  );
});

Deno.test("NATS flags are refused where they mean nothing or clash, naming the flag", () => {
  const agent = ["--publish", "nats://h:1", "--host-name", "w"];
  const table: [string[], string, RegExp][] = [
    [
      ["--publish", "nats://h:1", "--subscribe", "nats://h:1"],
      "--subscribe",
      /run one of each/,
    ],
    [["--subscribe", "nats://h:1", "app.log"], "app.log", /follows no file/],
    [
      ["--subscribe", "nats://h:1", "--state", "s.json"],
      "--state",
      /reads no file/,
    ],
    [
      ["--subscribe", "nats://h:1", "--no-server"],
      "--no-server",
      /only serves HTTP/,
    ],
    [
      ["--subscribe", "nats://h:1", "--replicas", "3"],
      "--replicas",
      /makes the stream/,
    ],
    [
      ["--replicas", "3", "app.log"],
      "--replicas",
      /needs --publish .* or --subscribe/,
    ],
    [["--nats-token", "t", "app.log"], "--nats-token", /needs --publish/],
    [[...agent, "--stdout", "a"], "--stdout", /second tailcast for stdout/],
    [[...agent, "--output", "text", "a"], "--output", /second tailcast/],
    [
      ["--publish", "http://h:1", "a"],
      "--publish",
      /use nats:\/\/ or tls:\/\//,
    ],
    [["--publish", "nats://u:p@h:1", "a"], "--publish", /--nats-user/],
    [["--publish", "nats://h:1/x", "a"], "--publish", /no path/],
    [["--publish", ",", "a"], "--publish", /needs a NATS server/],
    [
      [...agent, "--nats-user", "u", "a"],
      "--nats-user",
      /needs --nats-password/,
    ],
    [
      [...agent, "--nats-password", "p", "a"],
      "--nats-password",
      /needs --nats-user/,
    ],
    [
      [
        ...agent,
        "--nats-user",
        "u",
        "--nats-password",
        "p",
        "--nats-token",
        "t",
        "a",
      ],
      "--nats-user",
      /two ways/,
    ],
    [
      [...agent, "--nats-creds", "", "a"],
      "--nats-creds",
      /path of a .creds file/,
    ],
    [[...agent, "--replicas", "7", "a"], "--replicas", /from 1 to 5/],
    [[...agent, "--max-age", "soon", "a"], "--max-age", /invalid duration/],
    [[...agent, "--max-bytes", "10", "a"], "--max-bytes", /at least 1M/],
    [[...agent, "--stream", "a.b", "a"], "--stream", /letters, digits, _ or -/],
    [[...agent, "--subject-prefix", "a..b", "a"], "--subject-prefix", /tokens/],
  ];
  for (const [args, flag, message] of table) refused(args, flag, message);
});
