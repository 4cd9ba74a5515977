import { assertEquals, assertMatch, assertThrows } from "@std/assert";
import { ConfigError } from "../../src/errors.ts";
import { expand, parsePattern } from "../../src/source/discover.ts";
import { LogDir } from "../_fixtures/log_dir.ts";

function shape(arg: string, cwd = "/srv/app") {
  const p = parsePattern(arg, cwd);
  return { path: p.path, glob: p.glob, base: p.base, depth: p.depth };
}

Deno.test("parsePattern resolves a literal path against cwd", () => {
  assertEquals(shape("logs/app.log"), {
    path: "/srv/app/logs/app.log",
    glob: false,
    base: "/srv/app/logs/app.log",
    depth: 0,
  });
  assertEquals(shape("/var/log/../log/syslog"), {
    path: "/var/log/syslog",
    glob: false,
    base: "/var/log/syslog",
    depth: 0,
  });
  assertEquals(parsePattern("logs/app.log", "/srv").arg, "logs/app.log");
});

Deno.test("parsePattern finds the base directory and depth of a glob", () => {
  const table: [string, string, number][] = [
    // [arg, base, depth]
    ["logs/*.log", "/srv/app/logs", 1],
    ["/var/log/*.log", "/var/log", 1],
    ["/var/log/app?.log", "/var/log", 1],
    ["/var/log/[ab].log", "/var/log", 1],
    ["/var/log/{a,b}.log", "/var/log", 1],
    ["/var/log/*/current", "/var/log", 2],
    ["/var/*/app/*.log", "/var", 3],
    ["/var/log/**/*.log", "/var/log", Infinity],
    ["/var/log/app/**", "/var/log/app", Infinity],
    ["/var/log/x**y/*.log", "/var/log", Infinity],
    ["/*.log", "/", 1],
  ];
  for (const [arg, base, depth] of table) {
    const p = shape(arg);
    assertEquals(p.glob, true, arg);
    assertEquals(p.base, base, arg);
    assertEquals(p.depth, depth, arg);
  }
});

Deno.test("parsePattern rejects an unclosed bracket or brace with ConfigError", () => {
  for (const arg of ["app[.log", "a{b.log", "logs/{a,b/*.log", "x[!"]) {
    const error = assertThrows(() => parsePattern(arg, "/srv"), ConfigError);
    assertEquals(error.flag, arg);
    assertMatch(error.message, /is not closed/);
  }
  // A lone closing bracket or brace is a literal character, as in a shell.
  for (const arg of ["app].log", "a}b.log", "[[a].log"]) {
    assertEquals(parsePattern(arg, "/srv").glob, true, arg);
  }
  assertThrows(() => parsePattern("", "/srv"), ConfigError);
});

Deno.test("parsePattern accepts the escape for a literal bracket that its own error message suggests", async () => {
  // The error above says: escape literal characters with [ ] like "app[[].log".
  await using dir = await LogDir.create();
  await Deno.writeTextFile(dir.file("app[.log"), "x\n");
  const pattern = parsePattern(dir.file("app[[].log"), "/");
  assertEquals(pattern.glob, true);
  assertEquals(await expand(pattern), [dir.file("app[.log")]);
});

Deno.test("expand gives a literal path as it is, whether or not it exists", async () => {
  assertEquals(await expand(parsePattern("/no/such/file.log", "/")), [
    "/no/such/file.log",
  ]);
});

Deno.test("expand finds matching regular files in sorted order, ignoring directories", async () => {
  await using dir = await LogDir.create();
  for (const name of ["b.log", "a.log", "c.txt"]) {
    await Deno.writeTextFile(dir.file(name), "x\n");
  }
  await Deno.mkdir(dir.file("dir.log"));
  await Deno.mkdir(dir.file("sub"));
  await Deno.writeTextFile(dir.file("sub/d.log"), "x\n");
  assertEquals(await expand(parsePattern("*.log", dir.path)), [
    dir.file("a.log"),
    dir.file("b.log"),
  ]);
  assertEquals(await expand(parsePattern("*/*.log", dir.path)), [
    dir.file("sub/d.log"),
  ]);
  assertEquals(await expand(parsePattern("{a,c}.*", dir.path)), [
    dir.file("a.log"),
    dir.file("c.txt"),
  ]);
});

Deno.test("expand with ** finds files at every depth, the base directory included", async () => {
  await using dir = await LogDir.create();
  await Deno.mkdir(dir.file("sub/deep/er"), { recursive: true });
  await Deno.mkdir(dir.file("x.log"));
  for (
    const name of ["top.log", "sub/a.log", "sub/deep/er/b.log", "sub/c.txt"]
  ) {
    await Deno.writeTextFile(dir.file(name), "x\n");
  }
  await Deno.writeTextFile(dir.file("x.log/inside.log"), "x\n");
  assertEquals(await expand(parsePattern("**/*.log", dir.path)), [
    dir.file("sub/a.log"),
    dir.file("sub/deep/er/b.log"),
    dir.file("top.log"),
    dir.file("x.log/inside.log"),
  ]);
});

Deno.test("expand picks up files created after an earlier expansion", async () => {
  await using dir = await LogDir.create();
  const pattern = parsePattern("*.log", dir.path);
  assertEquals(await expand(pattern), []);
  await Deno.writeTextFile(dir.file("new.log"), "x\n");
  assertEquals(await expand(pattern), [dir.file("new.log")]);
  await Deno.remove(dir.file("new.log"));
  assertEquals(await expand(pattern), []);
});

Deno.test("expand gives nothing for a base directory that does not exist yet", async () => {
  await using dir = await LogDir.create();
  const pattern = parsePattern("later/*.log", dir.path);
  assertEquals(await expand(pattern), []);
  await Deno.mkdir(dir.file("later"));
  await Deno.writeTextFile(dir.file("later/a.log"), "x\n");
  assertEquals(await expand(pattern), [dir.file("later/a.log")]);
});

Deno.test("expand follows a symlink to a file", async () => {
  await using dir = await LogDir.create();
  await Deno.writeTextFile(dir.file("real.txt"), "x\n");
  await Deno.symlink(dir.file("real.txt"), dir.file("link.log"));
  await Deno.symlink(dir.file("missing"), dir.file("dangling.log"));
  assertEquals(await expand(parsePattern("*.log", dir.path)), [
    dir.file("link.log"),
  ]);
});
