import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import {
  compileGlob,
  compilePattern,
  linearEngine,
  PatternError,
} from "../src/pattern.ts";

/** Catastrophic for a backtracking engine: exponential in the input's length. */
const EVIL = [
  "^(a+)+$",
  "^(a|a)+$",
  "^(a|aa)+$",
  "^(a*)*$",
  "^(a?){40}a{40}$",
  "^(\\w+\\s?)+$",
  "^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$",
  "^(.*a){20}$",
  "(x+x+)+y",
  "^(([a-z])+.)+[A-Z]([a-z])+$",
  "(\\d+)*\\d*x",
  "^(a+)+b",
];

Deno.test("the tests run with V8's linear-time engine (deno task test passes --v8-flags)", () => {
  assert(linearEngine());
});

Deno.test("compilePattern: known catastrophic regexes are refused or run in linear time", () => {
  const input = "a".repeat(30_000) + "!";
  let ran = 0;
  for (const source of EVIL) {
    let re: RegExp;
    try {
      re = compilePattern(source, { what: "grep" });
    } catch (error) {
      assert(error instanceof PatternError, source);
      assert(error.construct !== null, source);
      continue;
    }
    // On a backtracking engine alone this would not end in our lifetime.
    assert(!re.test(input), source);
    ran++;
  }
  assert(ran >= 8, `${ran} of the patterns ran`);
});

Deno.test("compilePattern refuses what cannot run in linear time, naming the construct", () => {
  const table: Array<[string, string, RegExp]> = [
    ["(a)\\1", "", /backreference \(\\1\)/],
    ["(?<x>a)\\k<x>", "", /backreference \(\\k<x>\)/],
    ["a(?=b)", "", /lookaround \(\(\?=\)/],
    ["a(?!b)", "", /lookaround \(\(\?!\)/],
    ["a{5000}", "", /repetition count too large/],
  ];
  for (const [source, flags, construct] of table) {
    const error = assertThrows(
      () => compilePattern(source, { what: "grep", flags }),
      PatternError,
    );
    assertMatch(error.message, construct, source);
    assertMatch(error.message, /cannot be matched in linear time/);
    assert(error.construct !== null);
  }
});

Deno.test("compilePattern: invalid syntax, too long, and unknown flags are PatternErrors", () => {
  assertMatch(
    assertThrows(() => compilePattern("(", { what: "grep" }), PatternError)
      .message,
    /^Invalid grep regex "\(": Unterminated group/,
  );
  assertMatch(
    assertThrows(
      () => compilePattern("a".repeat(11), { what: "grep", maxLength: 10 }),
      PatternError,
    ).message,
    /11 characters long; the limit is 10/,
  );
  assertThrows(
    () => compilePattern("a", { what: "grep", flags: "g" }),
    PatternError,
    "only i, m and s",
  );
});

Deno.test("compilePattern: the i flag becomes ASCII case folding, group names kept", () => {
  const re = compilePattern("^(?<Lvl>err|warn)[a-c]x\\d$", {
    what: "grep",
    flags: "i",
  });
  assertEquals(re.flags, "");
  assert(re.test("ERRbX1"));
  assert(re.test("Warn" + "Cx9"));
  assert(!re.test("ERRdx1"));
  assertEquals(re.exec("errAx2")?.groups?.Lvl, "err");
  const accented = compilePattern("café", { what: "grep", flags: "i" });
  assert(accented.test("CAFÉ"));
  // Evil and case-insensitive: still linear.
  const evil = compilePattern("^(a+)+$", { what: "grep", flags: "i" });
  assert(!evil.test("A".repeat(30_000) + "!"));
});

Deno.test("compileGlob matches paths like a shell glob, with @std/path", () => {
  const table: Array<[string, string, boolean]> = [
    ["/var/log/*.log", "/var/log/app.log", true],
    ["/var/log/*.log", "/var/log/a/app.log", false],
    ["/var/log/*.log", "/var/log/app.log.1", false],
    ["/var/log/**/*.log", "/var/log/app.log", true],
    ["/var/log/**/*.log", "/var/log/a/b/app.log", true],
    ["/var/log/**", "/var/log/a/b", true],
    ["/var/log/app?.log", "/var/log/app1.log", true],
    ["/l/{web,api}-*.log", "/l/api-1.log", true],
    ["/l/{web,api}-*.log", "/l/db-1.log", false],
    ["/l/[ab].log", "/l/b.log", true],
    ["/l/[!ab].log", "/l/b.log", false],
    ["/l/[!ab].log", "/l/c.log", true],
    ["/l/[a-c].log", "/l/b.log", true],
    ["/l/app[[].log", "/l/app[.log", true],
    ["/l/app\\*.log", "/l/app*.log", true],
    ["/l/app\\*.log", "/l/appx.log", false],
    ["/l/a.b(c)+$.log", "/l/a.b(c)+$.log", true],
    ["/l/a.log", "/l/aXlog", false],
  ];
  for (const [glob, path, expected] of table) {
    assertEquals(
      compileGlob(glob, { what: "source" }).test(path),
      expected,
      `${glob} ~ ${path}`,
    );
  }
});

Deno.test("compileGlob: a glob with many **/ runs in linear time on a deep path", () => {
  const re = compileGlob("/" + "**/".repeat(40) + "x.log", { what: "source" });
  assert(!re.test("/" + "d/".repeat(5000) + "y.log"));
  assert(re.test("/" + "d/".repeat(50) + "x.log"));
});

Deno.test("compileGlob names what is wrong with an invalid glob", () => {
  for (
    const [glob, reason] of [
      ["/l/[ab.log", /\[ is not closed/],
      ["/l/{a,b.log", /\{ is not closed/],
      ["/l/a\\", /lone \\/],
    ] as const
  ) {
    const error = assertThrows(
      () => compileGlob(glob, { what: "source" }),
      PatternError,
    );
    assertMatch(error.message, reason);
    assert(error.message.includes(JSON.stringify(glob)));
  }
  assertMatch(
    assertThrows(
      () => compileGlob("*".repeat(20), { what: "source", maxLength: 10 }),
      PatternError,
    ).message,
    /the limit is 10/,
  );
});
