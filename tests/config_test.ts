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
  parseCommandLine,
} from "../src/config.ts";
import { ConfigError } from "../src/errors.ts";

/** The config of a run command line; fails for help and version. */
function config(args: string[]): Config {
  const command = parseCommandLine(args);
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
  ];
  for (const [args, flag] of table) refused(args, flag);
  refused(["--port", "99999", "a"], "--port", /from 0 to 65535/);
});

Deno.test("parseCommandLine refuses an unknown flag with a ConfigError naming it", () => {
  for (const flag of ["--bogus", "-x", "--no-port"]) {
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

Deno.test("parseCommandLine needs a path unless --demo", () => {
  const error = refused([], "", /No file to follow/);
  assertMatch(error.message, /--demo/);
  refused(["--stdout"], "");
  assertEquals(config(["--demo"]).demo, true);
});
