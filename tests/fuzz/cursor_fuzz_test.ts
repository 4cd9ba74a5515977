/**
 * Fuzzing what a client sends to `/events`: the cursor decoder
 * (`decodeId`, for `Last-Event-ID` and `?since=`) and the whole query
 * (`parseQuery`). Whatever the text, each returns a well-formed value or
 * throws its own error (CursorError, QueryError), never another one, and
 * never takes long: a pattern it accepts also runs quickly on the lines
 * that make backtracking engines explode. Real ids survive the round trip;
 * mutations of them are decoded or refused, never half-read.
 */
import fc from "fast-check";
import { assert, assertEquals, AssertionError } from "@std/assert";
import {
  CursorError,
  type DecodedId,
  decodeId,
  encodeCursor,
  entries,
  MAX_ID_BYTES,
  pathHash,
  positionId,
} from "../../src/sink/cursor.ts";
import {
  MAX_GREP,
  MAX_SOURCE,
  MAX_WHERE,
  parseQuery,
  QueryError,
  type SubscriberQuery,
} from "../../src/http/query.ts";
import { type FilePosition, MAX_FILES_PER_SOURCE } from "../../src/types.ts";
import { returnsOrThrows, runs, show, SLOW_MS } from "./_fuzz.ts";

// ------------------------------------------------------------------ cursors

/** decodeId(text): the decoded id after checking it, or null after checking the CursorError. */
function decode(text: string): DecodedId | null {
  const outcome = returnsOrThrows(CursorError, () => decodeId(text), text);
  if ("error" in outcome) {
    const { message } = outcome.error;
    assert(message.length > 0 && message.length < 400, message);
    assert(!message.includes("\n"), `two lines: ${message}`);
    return null;
  }
  const id = outcome.value;
  assert(text.length <= MAX_ID_BYTES, `decoded ${text.length} characters`);
  if (id.at !== null) {
    assertEquals(id.at.epoch, text.split(".")[1]);
    safe(id.at.seq, text);
    safe(id.at.end, text);
  } else {
    assert(text === "1" || text.startsWith("1~"), `no position: ${show(text)}`);
  }
  for (const [hash, list] of id.files ?? []) {
    assert(/^[0-9a-z]{1,7}$/.test(hash), `hash ${show(hash)}`);
    assert(list.length >= 1 && list.length <= MAX_FILES_PER_SOURCE);
    for (const p of list) {
      safe(p.file.dev, text);
      safe(p.file.ino, text);
      safe(p.offset, text);
    }
  }
  return id;
}

function safe(n: number, text: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new AssertionError(`${n} decoded from ${show(text)}`);
  }
}

const EPOCH = fc.stringMatching(/^[0-9a-z]{1,12}$/);
const NUMBER = fc.oneof(
  fc.nat(100),
  fc.nat(),
  fc.maxSafeNat(),
  fc.constant(Number.MAX_SAFE_INTEGER),
);
const POSITION: fc.Arbitrary<FilePosition> = fc.record({
  file: fc.record({ dev: NUMBER, ino: NUMBER }),
  offset: NUMBER,
});
/** Up to 3 paths with 1-4 positions each: cursors tailcast could send. */
const FILES = fc.array(
  fc.tuple(
    fc.string({ minLength: 1, maxLength: 40 }),
    fc.array(POSITION, { minLength: 1, maxLength: MAX_FILES_PER_SOURCE }),
  ),
  { minLength: 0, maxLength: 3 },
);

/** An id tailcast could send: a journal position, with or without file entries, or a file cursor. */
const REAL_ID = fc.oneof(
  fc.tuple(EPOCH, NUMBER, NUMBER, FILES).map(([epoch, seq, end, files]) =>
    positionId(epoch, seq, end) +
    files.map(([path, list]) => entries(pathHash(path), list)).join("")
  ),
  FILES.map((files) => encodeCursor(new Map(files))),
).filter((id) => id.length <= MAX_ID_BYTES);

/** A mutation of a text: what a proxy, a bug or an attacker makes of an id. */
type Mutation = (text: string, at: number, extra: string) => string;
const MUTATIONS: Record<string, Mutation> = {
  insert: (t, at, x) => t.slice(0, at) + x + t.slice(at),
  delete: (t, at, x) => t.slice(0, at) + t.slice(at + x.length + 1),
  replace: (t, at, x) => t.slice(0, at) + x + t.slice(at + x.length),
  truncate: (t, at) => t.slice(0, at),
  repeat: (t, at) => t.slice(0, at) + t.slice(at).repeat(3),
  swapHalves: (t, at) => t.slice(at) + t.slice(0, at),
  upper: (t) => t.toUpperCase(),
  padded: (t, _at, x) => x + t + x,
};
const CURSOR_CHARS =
  "0123456789abcdefghijklmnopqrstuvwxyz.~-+ _ZAÿ\u0000\u{1F600}";
const SMALL = fc.string({
  unit: fc.constantFrom(...CURSOR_CHARS),
  minLength: 1,
  maxLength: 4,
});
const MUTATED = fc.tuple(
  REAL_ID,
  fc.constantFrom(...Object.keys(MUTATIONS)),
  fc.nat(300),
  SMALL,
).map(([id, name, at, extra]) =>
  MUTATIONS[name](id, at % (id.length + 1), extra)
);

Deno.test("decodeId on arbitrary text: a cursor or a CursorError, never another error, never slow", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: "binary", maxLength: 300 }),
        fc.string({ unit: fc.constantFrom(...CURSOR_CHARS), maxLength: 300 }),
        fc.string({ minLength: 250, maxLength: 5000 }),
      ),
      (text) => {
        decode(text);
      },
    ),
    runs(5000),
  );
});

Deno.test("decodeId on ids tailcast could send: every number, epoch and file entry comes back as encoded", () => {
  fc.assert(
    fc.property(
      fc.tuple(EPOCH, NUMBER, NUMBER, FILES),
      ([epoch, seq, end, files]) => {
        const withPosition = positionId(epoch, seq, end) +
          files.map(([path, list]) => entries(pathHash(path), list)).join("");
        fc.pre(withPosition.length <= MAX_ID_BYTES);
        const expected = new Map<string, FilePosition[]>();
        for (const [path, list] of files) {
          const h = pathHash(path);
          expected.set(h, [...(expected.get(h) ?? []), ...list]);
        }
        const id = decode(withPosition);
        if (
          [...expected.values()].some((l) => l.length > MAX_FILES_PER_SOURCE)
        ) {
          // The same path twice: more entries for one path than tailcast sends.
          assertEquals(id, null);
          return;
        }
        assert(id !== null, `refused ${show(withPosition)}`);
        assertEquals(id.at, { epoch, seq, end });
        assertEquals(id.files, files.length === 0 ? null : expected);
      },
    ),
    runs(3000),
  );
});

Deno.test("decodeId on mutations of real ids (inserted, deleted, replaced, cut, repeated, swapped): decoded whole or refused", () => {
  fc.assert(
    fc.property(MUTATED, (text) => {
      decode(text);
    }),
    runs(5000),
  );
});

// ------------------------------------------------------------------ queries

/** The lines that make backtracking engines explode. */
const EVIL = [
  "a".repeat(40) + "!",
  "a".repeat(5000) + "!",
  "x".repeat(48),
  "1".repeat(40) + "!",
  "word ".repeat(24) + "!",
  "/var/log/" + "a/".repeat(40) + "!.log",
];

/** What the runs covered, so a property that only ever saw refusals fails. */
const seen = {
  refused: 0,
  grep: 0,
  where: 0,
  source: 0,
  since: 0,
  backlog: 0,
};

/** parseQuery(...): the query after checking it, or null after checking the QueryError. */
function parse(
  query: string,
  accept: string | null,
  lastEventId: string | null,
  maxBacklog: number,
): SubscriberQuery | null {
  const input = { query, accept, lastEventId, maxBacklog };
  const outcome = returnsOrThrows(
    QueryError,
    () =>
      parseQuery(
        new URL(`http://127.0.0.1:8787/events?${query}`),
        accept,
        lastEventId,
        { maxBacklog },
      ),
    input,
  );
  if ("error" in outcome) {
    const { message } = outcome.error;
    assert(message.length > 0, "an empty message");
    seen.refused++;
    return null;
  }
  const q = outcome.value;
  if (q.grep) seen.grep++;
  if (q.where) seen.where++;
  if (q.sourceRegex) seen.source++;
  if (q.since) seen.since++;
  if (q.backlog) seen.backlog++;
  assert(q.policy === "drop-oldest" || q.policy === "disconnect");
  assert(q.format === "sse" || q.format === "ndjson");
  if (q.backlog !== null) {
    assert(Number.isSafeInteger(q.backlog) && q.backlog >= 0);
    assert(q.backlog <= maxBacklog, `backlog ${q.backlog} > ${maxBacklog}`);
  }
  if (q.level !== null) assert(q.level >= 0 && q.level <= 5);
  // Whatever pattern was accepted runs in linear time on the worst lines.
  for (const re of [q.grep, q.sourceRegex]) {
    if (re === null) continue;
    assert(!re.global && !re.sticky, `a stateful pattern ${re}`);
    for (const line of EVIL) {
      timed(() => re.test(line), { re: re.source, line });
    }
  }
  if (q.where !== null) {
    for (const line of EVIL) {
      timed(
        () =>
          q.where!({ source: line, line, msg: line, fields: { path: line } }),
        { query, line },
      );
    }
  }
  return q;
}

function timed(fn: () => unknown, input: unknown): void {
  const started = performance.now();
  fn();
  const took = performance.now() - started;
  if (took > SLOW_MS) {
    throw new AssertionError(`Took ${took.toFixed(0)} ms on ${show(input)}`);
  }
}

/** Regular-expression tokens: soups of them are near-valid patterns. */
const REGEX_TOKENS = [
  "a",
  "b",
  "!",
  "(",
  ")",
  "(?:",
  "(?=",
  "(?!",
  "(?<=",
  "(?<!",
  "(?<n>",
  "\\k<n>",
  "\\1",
  "\\2",
  "[",
  "]",
  "[^",
  "a-z",
  "z-a",
  "{",
  "}",
  "{2}",
  "{2,}",
  "{1000}",
  "{99999}",
  "{2,1}",
  "*",
  "+",
  "?",
  "*?",
  "|",
  "^",
  "$",
  ".",
  "\\",
  "\\d",
  "\\w",
  "\\s",
  "\\b",
  "\\p{L}",
  "\\u{1F600}",
  "\\x4",
  "\\c",
  "(a+)+",
  "(a|a)*",
  "(.*)*",
  "\u{1F600}",
  "\u00e9",
  "\ud800",
];
const REGEX_SOUP = fc.array(fc.constantFrom(...REGEX_TOKENS), {
  maxLength: 40,
}).map((t) => t.join(""));

const GLOB_TOKENS = [
  "*",
  "**",
  "**/",
  "/",
  "?",
  "[",
  "]",
  "[!a]",
  "[a-z]",
  "{",
  "}",
  ",",
  "{a,b}",
  "\\",
  "!(",
  "+(",
  "@(",
  ")",
  "a",
  ".log",
  "/var/log/",
  "..",
  "\u0000",
];
const GLOB_SOUP = fc.array(fc.constantFrom(...GLOB_TOKENS), { maxLength: 60 })
  .map((t) => t.join(""));

const WHERE_TOKENS = [
  "level",
  "msg",
  "line",
  "a.b",
  "=",
  "==",
  "!=",
  ">=",
  "<",
  "~",
  "!~",
  " and ",
  " or ",
  "not ",
  "!",
  "&&",
  "||",
  "(",
  ")",
  '"',
  "'",
  "\\",
  "500",
  "-1.5e3",
  "NaN",
  ' "(a+)+$"',
  ' "^(\\w+\\s?)+$"',
  ' "(.*a){20}"',
  " ",
];
const WHERE_SOUP = fc.array(fc.constantFrom(...WHERE_TOKENS), {
  maxLength: 40,
}).map((t) => t.join(""));

/** The known catastrophic patterns of backtracking engines. */
const CATASTROPHIC = fc.constantFrom(
  "^(a+)+$",
  "(a|a)+$",
  "(a|aa)+$",
  "(a*)*$",
  "(.*a){20}",
  "(x+x+)+y",
  "^(\\w+\\s?)+$",
  "(\\d+)*\\d*x",
  "^(([a-z])+.)+[A-Z]([a-z])+$",
  "([a-zA-Z]+)*$",
);
const ARBITRARY = fc.string({ unit: "binary", maxLength: 80 });
const NUMBERS = fc.oneof(
  fc.nat(20_000).map(String),
  fc.constantFrom(
    "",
    "0",
    "-1",
    "1e3",
    "0x10",
    "999999999999999",
    "9999999999999999",
    " 5",
  ),
);

/** One parameter, mostly near what it takes, sometimes anything. */
const PARAM: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.tuple(
    fc.constant("grep"),
    fc.oneof(
      { weight: 4, arbitrary: REGEX_SOUP },
      { weight: 2, arbitrary: CATASTROPHIC },
      { weight: 1, arbitrary: ARBITRARY },
      { weight: 1, arbitrary: fc.string({ maxLength: 600 }) },
    ),
  ),
  fc.tuple(
    fc.constant("where"),
    fc.oneof(
      { weight: 4, arbitrary: WHERE_SOUP },
      { weight: 2, arbitrary: CATASTROPHIC.map((r) => `line~"${r}"`) },
      { weight: 1, arbitrary: ARBITRARY },
    ),
  ),
  fc.tuple(
    fc.constant("source"),
    fc.oneof(
      { weight: 4, arbitrary: GLOB_SOUP },
      { weight: 1, arbitrary: CATASTROPHIC },
      { weight: 1, arbitrary: ARBITRARY },
    ),
  ),
  fc.tuple(
    fc.constant("since"),
    fc.oneof(
      { weight: 3, arbitrary: REAL_ID },
      { weight: 2, arbitrary: MUTATED },
      { weight: 1, arbitrary: ARBITRARY },
    ),
  ),
  fc.tuple(fc.constant("backlog"), NUMBERS),
  fc.tuple(
    fc.constantFrom("policy", "format", "level", "type"),
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          "drop-oldest",
          "disconnect",
          "sse",
          "ndjson",
          "warn",
          "ERROR",
          "alert",
          "all",
          "",
        ),
      },
      { weight: 1, arbitrary: ARBITRARY },
    ),
  ),
  fc.tuple(fc.constantFrom("token", "x", "", "GREP"), ARBITRARY),
);
const QUERY = fc.array(PARAM, { minLength: 1, maxLength: 3 }).map((pairs) =>
  new URLSearchParams(pairs).toString()
);

Deno.test("parseQuery on arbitrary query strings and headers: a checked query or a QueryError, never another error, never slow", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: "binary", maxLength: 400 }),
      fc.option(fc.string({ maxLength: 60 })),
      fc.option(fc.string({ unit: "binary", maxLength: 300 })),
      (raw, accept, lastEventId) => {
        parse(raw, accept, lastEventId, 10_000);
      },
    ),
    runs(3000),
  );
});

Deno.test("parseQuery on parameters near what they take (regex, glob and where soups, real and mutated ids, numbers): checked or refused, and what it accepts runs in linear time", () => {
  for (const k of Object.keys(seen) as Array<keyof typeof seen>) seen[k] = 0;
  fc.assert(
    fc.property(
      QUERY,
      fc.option(
        fc.constantFrom("application/x-ndjson", "text/event-stream", "*/*"),
      ),
      fc.option(fc.oneof(REAL_ID, MUTATED)),
      fc.oneof(fc.constant(10_000), fc.nat(20_000)),
      (query, accept, lastEventId, maxBacklog) => {
        parse(query, accept, lastEventId, maxBacklog);
      },
    ),
    runs(4000),
  );
  // The soups reach every branch: accepted patterns, cursors and backlogs
  // as well as refusals.
  for (const [what, n] of Object.entries(seen)) {
    assert(n >= 100, `only ${n} runs with ${what}: ${JSON.stringify(seen)}`);
  }
});

Deno.test("parseQuery refuses each parameter one character past its cap, whatever the characters", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(
        ["grep", MAX_GREP],
        ["where", MAX_WHERE],
        ["source", MAX_SOURCE],
      ) as fc.Arbitrary<[string, number]>,
      fc.string({
        unit: fc.constantFrom("a", "*", "(", ")", "+", "."),
        minLength: 1,
        maxLength: 1,
      }),
      ([name, cap], char) => {
        const value = char.repeat(cap + 1);
        const q = parse(
          new URLSearchParams({ [name]: value }).toString(),
          null,
          null,
          10_000,
        );
        assertEquals(q, null, `${name} of ${cap + 1} characters accepted`);
      },
    ),
    runs(200),
  );
});
