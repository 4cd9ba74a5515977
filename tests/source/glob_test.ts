import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import { GlobError, globToRegExp } from "../../src/source/glob.ts";

Deno.test("globToRegExp matches paths like a shell glob", () => {
  const table: Array<[string, string, boolean]> = [
    ["/var/log/*.log", "/var/log/app.log", true],
    ["/var/log/*.log", "/var/log/a/app.log", false],
    ["/var/log/*.log", "/var/log/app.log.1", false],
    ["/var/log/**/*.log", "/var/log/app.log", true],
    ["/var/log/**/*.log", "/var/log/a/b/app.log", true],
    ["/var/log/**", "/var/log/a/b", true],
    ["/var/log/app?.log", "/var/log/app1.log", true],
    ["/var/log/app?.log", "/var/log/app/.log", false],
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
    assertEquals(globToRegExp(glob).test(path), expected, `${glob} ~ ${path}`);
  }
});

Deno.test("globToRegExp names what is wrong with an invalid glob", () => {
  for (
    const [glob, reason] of [
      ["/l/[ab.log", /\[ is not closed/],
      ["/l/{a,b.log", /\{ is not closed/],
      ["/l/a\\", /lone \\/],
    ] as const
  ) {
    const error = assertThrows(() => globToRegExp(glob), GlobError);
    assertMatch(error.message, reason);
    assert(error.message.includes(glob));
  }
});
