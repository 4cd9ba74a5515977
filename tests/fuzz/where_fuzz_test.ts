/**
 * Fuzzing `--where`: whatever the text, compileWhere returns a predicate or
 * throws a WhereError that points into the text; whatever the event, a
 * predicate returns a boolean. Never another error, never a slow call.
 */
import fc from "fast-check";
import { assert, assertEquals, AssertionError } from "@std/assert";
import {
  compileWhere,
  type Filterable,
  WhereError,
  type WherePredicate,
} from "../../src/stage/where.ts";
import { returnsOrThrows, runs, show } from "./_fuzz.ts";

/** compileWhere(text): the predicate, or null after checking its WhereError. */
function compile(text: string): WherePredicate | null {
  const outcome = returnsOrThrows(WhereError, () => compileWhere(text), text);
  if ("value" in outcome) {
    assertEquals(typeof outcome.value, "function");
    return outcome.value;
  }
  const { error } = outcome;
  assertEquals(error.expression, text);
  if (!(error.position >= 0 && error.position <= text.length)) {
    throw new AssertionError(
      `position ${error.position} outside ${show(text)}`,
    );
  }
  assert(!error.message.includes("\n"), `two lines: ${error.message}`);
  assert(error.reason.length > 0);
  return null;
}

/** predicate(event) is a boolean, quickly, and throws nothing. */
function evaluate(p: WherePredicate, text: string, event: Filterable): void {
  const outcome = returnsOrThrows(
    // No error at all is allowed: a class nothing throws.
    class NoError extends Error {},
    () => p(event),
    { where: text, event },
  );
  if (!("value" in outcome) || typeof outcome.value !== "boolean") {
    throw new AssertionError(
      `Not a boolean: ${show(outcome)} on ${show({ text, event })}`,
    );
  }
}

// ------------------------------------------------------------------ tokens

const FIELDS = [
  "level",
  "msg",
  "line",
  "source",
  "fields",
  "status",
  "http.status",
  "http",
  "a",
  "a.b",
  "a.b.c",
  "a..b",
  ".a",
  "a.",
  ".",
  "__proto__",
  "__proto__.x",
  "constructor",
  "constructor.name",
  "prototype",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "length",
  "0",
  "0.1",
  "1e3",
  "NaN",
  "Infinity",
  "x.0.y",
  "é",
  "日本",
  "$x",
  "@timestamp",
  "-x",
  "x-y",
  "_",
  "andy",
  "order",
  "notes",
];

const field = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FIELDS) },
  fc.stringMatching(/^[\p{L}\p{N}_.@$-]{1,12}$/u),
);

const GOOD_OPS = ["=", "==", "!=", ">", ">=", "<", "<=", "~", "!~"];
const BAD_OPS = ["=~", "===", "<>", "=!", "~~", "=<", "!", ":", "!==", "<<"];

const REGEXES = [
  "^/api",
  "timed out",
  "\\d+",
  "(a+)+$",
  "(a|aa)*b",
  "^(\\w+\\s?)*$",
  ".*.*.*=.*",
  "(a)\\1",
  "(?<n>a)\\k<n>",
  "(?=x)",
  "(?<!x)y",
  "[",
  "[a-",
  "(",
  ")",
  "a{2,1}",
  "a{99999}",
  "a{1,99999}",
  "\\p{L}",
  "\\u{1F600}",
  "\\",
  "a**",
  "(?i)x",
  "$^",
  "",
  "\\\\",
  "[^]",
  "\\b",
  "\\k",
  "\\c",
];

const number = fc.oneof(
  fc.integer().map(String),
  fc.double().map(String),
  fc.constantFrom(
    "0",
    "-0",
    "500",
    "-1.5",
    ".5",
    "5.",
    "+3",
    "1e3",
    "1E-7",
    "1e999",
    "-1e999",
    "0x10",
    "1_000",
    "NaN",
    "Infinity",
    "9007199254740993",
  ),
);

/** `body` in `quote`s, escaped as the language reads it, maybe unterminated. */
function quoted(quote: string, body: string, closed = true): string {
  return quote + body.replaceAll("\\", "\\\\").replaceAll(quote, `\\${quote}`) +
    (closed ? quote : "");
}

/** A value as the grammar has it: a number, a bareword or a quoted string. */
const wellFormedValue = fc.oneof(
  number,
  fc.stringMatching(/^[\w./:@-]{1,10}$/).filter((v) =>
    !/^(and|or|not)$/i.test(v)
  ),
  fc.tuple(
    fc.constantFrom('"', "'"),
    fc.oneof(fc.constantFrom(...REGEXES), fc.string({ maxLength: 10 })),
  ).map(([q, body]) => quoted(q, body)),
);

/** A value as written, well formed or not: unterminated, or any string. */
const value = fc.oneof(
  wellFormedValue,
  fc.string({ maxLength: 8 }),
  fc.tuple(
    fc.constantFrom('"', "'"),
    fc.string({ maxLength: 10 }),
  ).map(([q, body]) => quoted(q, body, false)),
);

const KEYWORDS = ["and", "or", "not", "AND", "Or", "NOT", "&&", "||", "!"];

const space = fc.constantFrom(
  "",
  " ",
  " ",
  " ",
  "  ",
  "\t",
  "\n",
  "\r\n",
  "\u00a0",
  "\u2028",
  "\u3000",
);

/** Any token of the language, or a stray character or string. */
const token = fc.oneof(
  { weight: 3, arbitrary: field },
  { weight: 2, arbitrary: fc.constantFrom(...GOOD_OPS) },
  fc.constantFrom(...BAD_OPS),
  { weight: 2, arbitrary: value },
  { weight: 2, arbitrary: fc.constantFrom(...KEYWORDS) },
  fc.constantFrom("(", ")", "((", "))", '"', "'", "\\", "&", "|", ","),
  fc.string({ maxLength: 4, unit: "binary" }),
);

const tokenSoup = fc.array(fc.tuple(token, space), { maxLength: 40 }).map((
  parts,
) => parts.map(([t, s]) => t + s).join(""));

/** Expressions of the grammar: most of them compile. */
const { expression } = fc.letrec<{
  expression: string;
  comparison: string;
  not: string;
  group: string;
  binary: string;
}>((tie) => ({
  expression: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    tie("comparison"),
    tie("not"),
    tie("group"),
    tie("binary"),
  ),
  comparison: fc.oneof(
    field,
    fc.tuple(
      field,
      space,
      fc.constantFrom(...GOOD_OPS),
      space,
      wellFormedValue,
    ).map(
      (parts) => parts.join(""),
    ),
  ),
  not: fc.tuple(
    fc.constantFrom("not ", "NOT ", "!", "! "),
    tie("expression"),
  ).map(([k, e]) => k + e),
  group: tie("expression").map((e) => `(${e})`),
  binary: fc.tuple(
    tie("expression"),
    fc.constantFrom(" and ", " or ", " && ", " || ", "&&", "||", " AND "),
    tie("expression"),
  ).map((parts) => parts.join("")),
}));

/** Deep nesting, balanced or not, around a condition. */
const nested = fc.tuple(
  fc.array(fc.constantFrom("(", "not ", "!", "( not ", "(!"), {
    maxLength: 150,
  }),
  fc.oneof(expression, tokenSoup),
  fc.nat({ max: 160 }),
).map(([open, core, close]) => open.join("") + core + ")".repeat(close));

// ------------------------------------------------------------------ events

const SPECIAL_VALUES: unknown[] = [
  NaN,
  Infinity,
  -Infinity,
  -0,
  1e308,
  -1e308,
  5e-324,
  Number.MAX_SAFE_INTEGER + 2,
  "NaN",
  "Infinity",
  "-Infinity",
  "1e999",
  " 503 ",
  "0x1F",
  "",
  " ",
  "__proto__",
  "constructor",
  "null",
  "undefined",
  "true",
  null,
  true,
  false,
  [],
  {},
  [[[]]],
  [1, [2, [3, [4]]]],
];

const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_VALUES) },
  number,
  fc.anything({
    maxDepth: 3,
    withBoxedValues: true,
    withMap: true,
    withSet: true,
    withObjectString: true,
    withNullPrototype: true,
    withBigInt: true,
    withDate: true,
    withTypedArray: true,
    withSparseArray: true,
    withUnicodeString: true,
  }),
);

const fieldKey = fc.oneof(
  fc.constantFrom(...FIELDS),
  fc.string({ maxLength: 6 }),
);

/**
 * An object as JSON.parse makes it: own keys only, `__proto__` and
 * `constructor` included as plain keys.
 */
function objectOf(values: fc.Arbitrary<unknown>, maxLength: number) {
  return fc.array(fc.tuple(fieldKey, values), { maxLength }).map((entries) =>
    Object.fromEntries(entries)
  );
}

/** `fields`, with objects of the same kind nested in them. */
const fields = objectOf(
  fc.oneof({ weight: 3, arbitrary: fieldValue }, objectOf(fieldValue, 4)),
  6,
);

const eventText = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom(...(SPECIAL_VALUES.filter((v) => typeof v === "string"))),
);

const event: fc.Arbitrary<Filterable> = fc.record(
  {
    source: eventText,
    line: eventText,
    level: fc.oneof(
      eventText,
      fc.constantFrom("error", "ERROR", "warn", "info"),
    ),
    msg: eventText,
    fields,
  },
  { requiredKeys: ["source", "line"] },
);

// ------------------------------------------------------------------- tests

Deno.test("where fuzz: arbitrary text compiles or throws a WhereError", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 60 }),
        fc.string({ maxLength: 60, unit: "binary" }),
        // Lone surrogates too: JavaScript strings are UTF-16 code units.
        fc.string({
          maxLength: 30,
          unit: fc.integer({ min: 0, max: 0xffff }).map((c) =>
            String.fromCharCode(c)
          ),
        }),
      ),
      (s) => void compile(s),
    ),
    runs(4000),
  );
});

Deno.test("where fuzz: text made of the language's tokens compiles or throws a WhereError", () => {
  fc.assert(
    fc.property(tokenSoup, (s) => void compile(s)),
    runs(4000),
  );
});

Deno.test("where fuzz: deep nesting compiles or throws a WhereError", () => {
  fc.assert(
    fc.property(nested, (s) => void compile(s)),
    runs(2000),
  );
});

Deno.test("where fuzz: compiled predicates return a boolean on arbitrary events", () => {
  let compiled = 0;
  fc.assert(
    fc.property(
      fc.oneof(
        { weight: 6, arbitrary: expression },
        tokenSoup,
        nested,
      ),
      fc.array(event, { minLength: 1, maxLength: 3 }),
      (s, events) => {
        const p = compile(s);
        if (p === null) return;
        compiled++;
        for (const e of events) evaluate(p, s, e);
      },
    ),
    runs(4000),
  );
  // Most grammar expressions compile: the property ran on predicates.
  assert(compiled > 1000, `only ${compiled} expressions compiled`);
});

Deno.test("where fuzz: long expressions compile and evaluate quickly, without exhausting the stack", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.constantFrom(
            " or ",
            " and ",
            " || ",
            " && ",
            " or not ",
            " and !",
          ),
          fc.oneof(
            fc.constantFrom("a", "a.b", "level=error", "status>=500"),
            fc.nat({ max: 1000 }).map((n) => `user=${n}`),
          ),
        ),
        { minLength: 1, maxLength: 20 },
      ),
      fc.integer({ min: 1, max: 30_000 }),
      event,
      (pattern, terms, e) => {
        const parts = ["x"];
        for (let i = 0; parts.length < terms * 2; i++) {
          const [keyword, condition] = pattern[i % pattern.length];
          parts.push(keyword, condition);
        }
        const s = parts.join("");
        const p = compile(s);
        assert(p !== null, `did not compile: ${show(s)}`);
        evaluate(p, s, e);
      },
    ),
    runs(60),
  );
});

Deno.test("where fuzz: long field names and deep fields evaluate quickly", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5000 }),
      fc.constantFrom("a", "b", "", "a.b"),
      fc.boolean(),
      (depth, segment, flat) => {
        // An empty segment needs two parts to make a name: ".".
        const name = Array(segment === "" ? depth + 1 : depth).fill(segment)
          .join(".");
        let object: Record<string, unknown> = { x: 1 };
        if (flat) {
          // Only a key for the first half: every longer key is tried and missed.
          object = { [name.slice(0, name.length >> 1)]: { y: 2 } };
        } else {
          for (let i = 0; i < depth; i++) object = { [segment]: object };
        }
        const s = `${name}>=1 or ${name}~"^1$"`;
        const p = compile(s);
        assert(p !== null, `did not compile: ${show(s)}`);
        evaluate(p, s, { source: "s", line: "l", fields: object });
      },
    ),
    runs(60),
  );
});
