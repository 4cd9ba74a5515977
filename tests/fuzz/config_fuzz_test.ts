/**
 * Fuzzing the config loader: whatever the config file's text and whatever
 * the command line, parseConfigFile and parseCommandLine return, or throw a
 * ConfigError of one line that names its flag. Never another error.
 */
import fc from "fast-check";
import { assert, assertEquals, AssertionError } from "@std/assert";
import { parse as parseJsonc } from "@std/jsonc";
import {
  type Command,
  type Environment,
  parseCommandLine,
  USAGE,
} from "../../src/config.ts";
import { type FileConfig, parseConfigFile } from "../../src/config_file.ts";
import { ConfigError } from "../../src/errors.ts";
import { returnsOrThrows, runs, show } from "./_fuzz.ts";

/** The example config file of the README, as written there. */
const EXAMPLE = await (async () => {
  const readme = await Deno.readTextFile(
    new URL("../../README.md", import.meta.url),
  );
  const section = readme.slice(readme.indexOf("### Config file"));
  const block = /```jsonc\n([^]*?)\n```/.exec(section);
  assert(block, "the README has no jsonc block under ### Config file");
  return block[1];
})();

/** A ConfigError as main prints it: one line, not empty. */
function checkError(error: ConfigError, input: unknown): void {
  if (error.message === "" || error.message.includes("\n")) {
    throw new AssertionError(
      `Not one line: ${show(error.message)} on ${show(input)}`,
    );
  }
  assertEquals(typeof error.flag, "string");
}

/** parseConfigFile(text): the config, or null after checking its ConfigError. */
function load(text: string): FileConfig | null {
  const outcome = returnsOrThrows(
    ConfigError,
    () => parseConfigFile("tailcast.json", text),
    text,
  );
  if ("error" in outcome) {
    checkError(outcome.error, text);
    return null;
  }
  return outcome.value;
}

/** parseCommandLine(args, env, file): a command, or null after checking its ConfigError. */
function command(
  args: readonly string[],
  env: Environment,
  file: FileConfig | null,
): Command | null {
  const input = { args, env, file };
  const outcome = returnsOrThrows(
    ConfigError,
    () => parseCommandLine(args, env, file),
    input,
  );
  if ("error" in outcome) {
    checkError(outcome.error, input);
    return null;
  }
  const c = outcome.value;
  if (c.kind === "load") {
    assert(file === null, "load asked for with the file already read");
    assertEquals(typeof c.path, "string");
    return c;
  }
  if (c.kind !== "run") {
    assert(c.kind === "help" || c.kind === "version", show(c));
    return c;
  }
  const { config } = c;
  const fails = (what: string) =>
    new AssertionError(`${what} in ${show(config)} from ${show(input)}`);
  if (!Object.isFrozen(config)) throw fails("not frozen");
  // Something to read: paths, the demo, commands, ingest or a stream.
  if (
    config.paths.length === 0 && !config.demo && config.exec.length === 0 &&
    config.ingest === null && config.subscribe === null
  ) throw fails("no path");
  if (!(Number.isInteger(config.port) && config.port >= 0)) {
    throw fails("port");
  }
  if (config.port > 65535) throw fails("port");
  if (!(Number.isInteger(config.maxLineBytes) && config.maxLineBytes >= 1)) {
    throw fails("maxLineBytes");
  }
  if (config.pollMs !== null && !(config.pollMs >= 10)) throw fails("pollMs");
  if (typeof config.host !== "string" || config.host === "") {
    throw fails("host");
  }
  return c;
}

// ---------------------------------------------------------- config files

/** Values a config key might be given, of every JSON type and some edges. */
const jsonish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  fc.constantFrom(
    0,
    -1,
    1.5,
    1e21,
    2 ** 53,
    65535,
    65536,
    "",
    " ",
    "start",
    "end",
    "json",
    "regex:^(?<level>\\w+)",
    "regex:(",
    "http://127.0.0.1:9000/hooks",
    "ftp://x",
    "*",
    "/var/log/*.log",
    "level=error",
    "errors: level=error 10 in 1m",
    "__proto__",
    [],
    {},
    [""],
    [1],
    null,
    true,
  ),
);

const SHAPES: Record<string, readonly string[]> = {
  top: [
    "sources",
    "alerts",
    "alertWebhook",
    "from",
    "lines",
    "stdout",
    "poll",
    "maxLineBytes",
    "format",
    "include",
    "exclude",
    "where",
    "state",
    "server",
  ],
  source: ["path", "format", "multiline", "include", "exclude", "where"],
  multiline: ["start", "maxBytes", "flushMs"],
  server: [
    "enabled",
    "host",
    "port",
    "queue",
    "maxClients",
    "token",
    "corsOrigin",
    "heartbeat",
    "writeTimeout",
  ],
};

/** Keys of `shape`, and now and then one it does not know. */
function keyOf(shape: readonly string[]) {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...shape) },
    fc.constantFrom("__proto__", "constructor", "toString", "", "Sources"),
    fc.string({ maxLength: 6 }),
  );
}

/** An object of `shape`'s keys with `values` (own keys, as JSON has them). */
function objectOf(
  shape: readonly string[],
  values: fc.Arbitrary<unknown>,
  maxLength = 5,
) {
  return fc.array(fc.tuple(keyOf(shape), values), { maxLength }).map((
    entries,
  ) => Object.fromEntries(entries));
}

/** A value of the type a key wants, mostly, or of any type. */
function typed<T>(wanted: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 9, arbitrary: wanted }, jsonish);
}

const aNumber = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 10, 1000, 65535, 65536) },
  { weight: 2, arbitrary: fc.nat() },
  fc.constantFrom(1.5, -1, 1e21, 2 ** 53, 5e-324),
  fc.double(),
);
const aString = fc.oneof(
  jsonish.filter((v) => typeof v === "string"),
  fc.string({ maxLength: 12 }),
);
const strings = fc.array(aString, { maxLength: 3 });

/**
 * Objects of a few of the known keys with their values, now and then one
 * key more of any name: few keys, so that many are valid all through.
 */
function recordOf(shape: Record<string, fc.Arbitrary<unknown>>) {
  return fc.tuple(
    fc.shuffledSubarray(Object.keys(shape), {
      maxLength: Math.min(4, Object.keys(shape).length),
    }).chain((keys) =>
      fc.tuple(...keys.map((k) => shape[k])).map((values) =>
        keys.map((k, i) => [k, values[i]] as const)
      )
    ),
    fc.option(fc.tuple(keyOf(Object.keys(shape)), jsonish), { freq: 4 }),
  ).map(([entries, extra]) =>
    Object.fromEntries(extra === null ? entries : [...entries, extra])
  );
}

const multiline = fc.oneof(
  {
    weight: 3,
    arbitrary: recordOf({
      start: typed(aString),
      maxBytes: typed(aNumber),
      flushMs: typed(aNumber),
    }),
  },
  jsonish,
);

const source = fc.oneof(
  {
    weight: 4,
    arbitrary: recordOf({
      path: typed(aString),
      format: typed(aString),
      multiline,
      include: typed(strings),
      exclude: typed(strings),
      where: typed(aString),
    }),
  },
  jsonish,
);

const server = fc.oneof(
  {
    weight: 4,
    arbitrary: recordOf({
      enabled: typed(fc.boolean()),
      host: typed(aString),
      port: typed(aNumber),
      queue: typed(aNumber),
      maxClients: typed(aNumber),
      token: typed(aString),
      corsOrigin: typed(aString),
      heartbeat: typed(aNumber),
      writeTimeout: typed(aNumber),
    }),
  },
  jsonish,
);

/** Config files near the real shape: known keys, values mostly of their type. */
const configObject = recordOf({
  sources: typed(fc.array(source, { maxLength: 3 })),
  alerts: typed(
    fc.array(fc.oneof(aString, objectOf(["name", "kind", "for"], jsonish)), {
      maxLength: 3,
    }),
  ),
  alertWebhook: typed(aString),
  from: typed(fc.oneof(fc.constantFrom("start", "end"), aString)),
  lines: typed(aNumber),
  stdout: typed(fc.boolean()),
  poll: typed(aNumber),
  maxLineBytes: typed(aNumber),
  format: typed(aString),
  include: typed(strings),
  exclude: typed(strings),
  where: typed(aString),
  state: typed(aString),
  server,
});

const JSONC_TOKENS = [
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
  '"',
  '"sources"',
  '"server"',
  '"port"',
  '"path"',
  "//",
  "// x\n",
  "/*",
  "*/",
  "/* x */",
  "\n",
  " ",
  "true",
  "false",
  "null",
  "0",
  "-1",
  "1e999",
  "NaN",
  "'x'",
  "\\u0000",
  '"\\ud800"',
  "\u2028",
  "\ufeff",
];

const jsoncText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 40, unit: "binary" }),
  fc.array(fc.constantFrom(...JSONC_TOKENS), { maxLength: 40 }).map((t) =>
    t.join("")
  ),
  fc.jsonValue().map((v) => JSON.stringify(v, null, 1)),
  { weight: 5, arbitrary: configObject.map((v) => JSON.stringify(v)) },
);

/** Every path to a value in `value`, the root included. */
function paths(value: unknown, at: (string | number)[] = []) {
  const all: (string | number)[][] = [at];
  if (Array.isArray(value)) {
    value.forEach((v, i) => all.push(...paths(v, [...at, i])));
  } else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      all.push(...paths(v, [...at, k]));
    }
  }
  return all;
}

/** `root` with the value at `path` replaced by `value`, or removed. */
function replaced(
  root: unknown,
  path: (string | number)[],
  value: unknown,
  remove: boolean,
): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let parent = copy;
  for (const key of path.slice(0, -1)) {
    parent = parent[key] as Record<string | number, unknown>;
  }
  const last = path.at(-1)!;
  if (!remove) {
    Object.defineProperty(parent, last, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else if (Array.isArray(parent)) parent.splice(last as number, 1);
  else delete parent[last];
  return copy;
}

const EXAMPLE_VALUE = parseJsonc(EXAMPLE);
const EXAMPLE_PATHS = paths(EXAMPLE_VALUE);

/** A value at `path` in `root`, if there is one. */
function at(root: unknown, path: (string | number)[]): unknown {
  let value = root;
  for (const key of path) {
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

/** What an edit puts in place of a value: one of the same type, or anything. */
const replacement = fc.record({
  sameType: fc.boolean(),
  number: fc.oneof(fc.nat({ max: 100_000 }), fc.double(), fc.integer()),
  string: fc.oneof(
    fc.string({ maxLength: 12 }),
    jsonish.filter((v) => typeof v === "string"),
  ),
  boolean: fc.boolean(),
  any: fc.oneof(jsonish, configObject, fc.array(source, { maxLength: 2 })),
});

/** The README's example with its values replaced, removed or added to. */
const mutatedValue = fc.array(
  fc.tuple(
    fc.nat(),
    replacement,
    fc.constantFrom("replace", "replace", "remove", "add"),
    keyOf(Object.values(SHAPES).flat()),
  ),
  { minLength: 1, maxLength: 4 },
).map((edits) => {
  let value: unknown = EXAMPLE_VALUE;
  for (const [n, r, how, added] of edits) {
    const all = paths(value);
    const path = all[n % all.length];
    const old = at(value, path);
    const kind = typeof old as "number" | "string" | "boolean";
    const put = r.sameType && kind in r ? r[kind] : r.any;
    if (how === "add" && path.length > 0) {
      const parent = at(value, path.slice(0, -1));
      // An array gets one more element; an object, a key.
      const key = Array.isArray(parent) ? parent.length : added;
      value = replaced(value, [...path.slice(0, -1), key], put, false);
    } else {
      value = replaced(value, path, put, how === "remove");
    }
  }
  return JSON.stringify(value, null, 2);
});

/** The README's example with its text cut, spliced and garbled. */
const mutatedText = fc.array(
  fc.tuple(
    fc.nat(),
    fc.nat({ max: 40 }),
    fc.oneof(
      fc.constantFrom(...JSONC_TOKENS),
      fc.string({ maxLength: 6 }),
      fc.constant(""),
    ),
  ),
  { minLength: 1, maxLength: 5 },
).map((edits) => {
  let text = EXAMPLE;
  for (const [offset, cut, insert] of edits) {
    const i = offset % (text.length + 1);
    text = text.slice(0, i) + insert + text.slice(i + cut);
  }
  return text;
});

// ----------------------------------------------------------- command lines

/** Every flag the help names, long and short, as the user would type them. */
const LONG = [...new Set(USAGE.match(/(?<![\w-])--?-?[a-z][\w-]*/g))];
const SHORT = [...new Set(USAGE.match(/(?<![\w-])-[a-zA-Z](?![\w-])/g))];

const flagName = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(...LONG.filter((f) => f.startsWith("--"))),
  },
  { weight: 3, arbitrary: fc.constantFrom(...SHORT) },
  fc.constantFrom(
    "-F",
    "--no-server",
    "--no-stdout",
    "--no-retry",
    "--no-demo",
    "--no-lines",
    "--no-",
    "--toString",
    "--__proto__",
    "--constructor",
    "---",
    "--=",
    "-",
    "--",
    "-0",
    "-20",
    "-é",
    "-\ud800",
  ),
);

const flagValue = fc.oneof(
  fc.constantFrom(
    "",
    "0",
    "1",
    "10",
    "+5",
    "-5",
    "+0",
    "10K",
    "10KiB",
    "10kB",
    "1b",
    "5E",
    "99999999999999999999",
    "1e3",
    "0x10",
    " 5",
    "0.5",
    ".5",
    "3600.0001",
    "65535",
    "65536",
    "start",
    "end",
    "name",
    "descriptor",
    "text",
    "ndjson",
    "raw",
    "json",
    "auto",
    "regex:^(?<l>x)",
    "127.0.0.1",
    "0.0.0.0",
    "::1",
    "https://example.com",
    "http://127.0.0.1:9000/h",
    "*",
    "a b",
    "secret-token",
    "/var/lib/tailcast/",
    "app.log",
    "logs/*.log",
    "-",
    "--",
    "-x",
    "=",
    "a\nb",
    "\u0000",
  ),
  fc.string({ maxLength: 12 }),
  fc.integer().map(String),
);

/** Values each flag takes, so that many command lines get past the first flag. */
const GOOD: Record<string, readonly string[]> = {
  "--from": ["start", "end"],
  "--lines": ["5", "+3", "10K", "0"],
  "--bytes": ["100", "+1", "1kB"],
  "--output": ["text", "ndjson"],
  "--port": ["0", "8080"],
  "--host": ["127.0.0.1", "::1"],
  "--max-line-bytes": ["1024"],
  "--queue": ["10"],
  "--max-clients": ["5"],
  "--token": ["long-enough-token"],
  "--cors-origin": ["*", "https://example.com"],
  "--heartbeat": ["0", "15"],
  "--write-timeout": ["30"],
  "--state": ["/tmp/state.json"],
  "--config": ["tailcast.json"],
  "--format": ["raw", "json", "logfmt"],
  "--multiline-start": ["^\\S"],
  "--include": ["x"],
  "--exclude": ["y"],
  "--where": ["level=error"],
  "--alert": ["errors: level=error 10 in 1m"],
  "--alert-webhook": ["http://127.0.0.1:9000/h"],
  "--follow": ["name"],
  "--sleep-interval": ["0.5"],
  "--pid": ["1"],
  "--max-unchanged-stats": ["5"],
};

/** A flag with a value it takes, in one of the ways it can be written. */
const goodFlag = fc.constantFrom(...Object.keys(GOOD)).chain((flag) =>
  fc.tuple(fc.constantFrom(...GOOD[flag]), fc.boolean()).map((
    [v, attached],
  ) => attached ? [`${flag}=${v}`] : [flag, v])
);

/** One command-line word or two: a flag, with or without its value, or a path. */
const argWords: fc.Arbitrary<string[]> = fc.oneof(
  { weight: 6, arbitrary: goodFlag },
  { weight: 2, arbitrary: flagName.map((f) => [f]) },
  fc.tuple(flagName, flagValue).map(([f, v]) => [f, v]),
  fc.tuple(flagName, flagValue).map(([f, v]) => [`${f}=${v}`]),
  // Short flags glued together and to a value, as tail takes them: -qn5.
  fc.tuple(
    fc.array(fc.constantFrom(...SHORT, "-F"), { minLength: 1, maxLength: 4 }),
    flagValue,
  ).map(([flags, v]) => [`-${flags.map((f) => f.slice(1)).join("")}${v}`]),
  fc.oneof(fc.constantFrom("app.log", "-", "logs/*.log", "a b.log"), flagValue)
    .map((p) => [p]),
);

const argv = fc.tuple(
  fc.array(argWords, { maxLength: 6 }),
  fc.constantFrom([], ["app.log"], ["--", "-odd.log"], ["a.log", "b.log"]),
).map(([words, paths]) => [...words.flat(), ...paths]);

const environment: fc.Arbitrary<Environment> = fc.record(
  {
    TAILCAST_TOKEN: fc.oneof(
      fc.constantFrom("", "short", "long-enough-token", "has space inside"),
      fc.string({ maxLength: 12 }),
    ),
    terminal: fc.boolean(),
    noColor: fc.boolean(),
  },
  { requiredKeys: [] },
);

/** The text of a config file, or none. */
const fileText = fc.option(
  fc.oneof(
    { weight: 3, arbitrary: configObject.map((v) => JSON.stringify(v)) },
    mutatedValue,
  ),
  { nil: null },
);

// ------------------------------------------------------------------- tests

Deno.test("config fuzz: the README's example loads, and runs", () => {
  const file = load(EXAMPLE);
  assert(file !== null, "the README's example config is refused");
  assertEquals(command(["--config", "x.json"], {}, file)?.kind, "run");
  assert(EXAMPLE_PATHS.length > 20, "the example was not parsed whole");
  assert(LONG.length > 30 && SHORT.length > 8, `flags: ${LONG} ${SHORT}`);
});

Deno.test("config fuzz: arbitrary JSON values and JSONC text load or throw a ConfigError", () => {
  fc.assert(
    fc.property(jsoncText, (text) => void load(text)),
    runs(5000),
  );
});

Deno.test("config fuzz: the README's example, mutated, loads or throws a ConfigError, and so does running it", () => {
  let loaded = 0;
  fc.assert(
    fc.property(
      fc.oneof(mutatedValue, mutatedText),
      fc.array(fc.constantFrom("app.log", "-", "--no-server", "-n", "5"), {
        maxLength: 3,
      }),
      (text, args) => {
        const file = load(text);
        if (file === null) return;
        loaded++;
        command(["--config", "x.json", ...args], {}, file);
      },
    ),
    runs(4000),
  );
  // Enough of them are still config files to run the command line on.
  assert(loaded > 400, `only ${loaded} mutated examples loaded`);
});

Deno.test("config fuzz: command lines of the real flags parse or throw a ConfigError", () => {
  const kinds = new Map<string, number>();
  fc.assert(
    fc.property(argv, environment, fileText, (args, env, text) => {
      const c = command(args, env, text === null ? null : load(text));
      const kind = c?.kind ?? "error";
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }),
    runs(5000),
  );
  // Every outcome was reached: many command lines got past the parsing.
  for (const kind of ["run", "help", "version", "load", "error"]) {
    assert((kinds.get(kind) ?? 0) > 20, `${kind}: ${show([...kinds])}`);
  }
});
