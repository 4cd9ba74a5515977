/**
 * tailcast at the terminal as a drop-in for tail (issue 16), through the real
 * main.ts: with tail's flags, `--no-server --output text` prints the bytes
 * GNU tail prints; --pid ends it; tail's flags it cannot honour are refused.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { LogDir } from "../_fixtures/log_dir.ts";
import { TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor, within } from "../_fixtures/wait.ts";

const decoder = new TextDecoder();

/** The files every comparison reads, in a fresh directory. */
async function logs(): Promise<LogDir> {
  const dir = await LogDir.create();
  const lines = Array.from({ length: 12 }, (_, i) => `line ${i + 1}\n`);
  await Deno.writeTextFile(dir.file("a.log"), lines.join(""));
  await Deno.writeTextFile(dir.file("b.log"), "b one\nb two\nb three\n");
  await Deno.writeTextFile(dir.file("empty.log"), "");
  await Deno.writeTextFile(
    dir.file("partial.log"),
    "p one\np two\np three, no newline",
  );
  return dir;
}

/** GNU tail's stdout for `args`, run in `cwd` (without -f: it prints and exits). */
async function gnuTail(
  args: readonly string[],
  cwd: string,
): Promise<Uint8Array> {
  const out = await new Deno.Command("tail", { args: [...args], cwd }).output();
  assertEquals(out.code, 0, decoder.decode(out.stderr));
  return out.stdout;
}

/**
 * tailcast's stdout for `args`, run in `cwd` with --no-server --output text,
 * stopped with SIGTERM once it has printed `length` bytes and opened each of
 * `files` (an empty file prints nothing to wait for).
 */
async function tailcastText(
  args: readonly string[],
  cwd: string,
  length: number,
  files: readonly string[],
): Promise<Uint8Array> {
  await using tc = new TailcastProcess(
    ["--no-server", "--output", "text", ...args],
    { cwd },
  );
  await waitFor(
    () =>
      tc.stdoutBytes.length >= length &&
      files.every((f) =>
        tc.stderr.some((l) => l.includes(`/${f}: following from byte`))
      ),
    `${length} bytes of output and ${files.join(", ")} opened (stdout: ${
      JSON.stringify(decoder.decode(tc.stdoutBytes))
    }; stderr: ${JSON.stringify(tc.stderr)})`,
  );
  const status = await tc.stop();
  assertEquals(status.code, 0, tc.stderr.join("\n"));
  return tc.stdoutBytes;
}

/** [tailcast's flags, GNU tail's flags (default: the same)]. */
const SAME_AS_TAIL: [string[], string[]?][] = [
  [["-n", "5", "a.log"]],
  [["-n", "+3", "a.log"]],
  [["-c", "10", "a.log"]],
  [["-c", "+4", "a.log"]],
  [["-n", "2", "a.log", "b.log"]],
  [["-qn", "2", "a.log", "b.log"]],
  [["-v", "-n", "2", "a.log", "b.log"]],
  [["-vn", "3", "b.log", "a.log"]],
  [["-v", "-c", "+30", "a.log"]],
  [["-n", "5", "empty.log"]],
  // tail's follow flags are accepted; tail itself runs without them.
  [["-Fn5", "a.log"], ["-n5", "a.log"]],
  [["-f", "--retry", "-n", "2", "a.log"], ["-n", "2", "a.log"]],
  [["--follow=name", "--lines=+11", "a.log"], ["--lines=+11", "a.log"]],
];

for (const [flags, tailFlags = flags] of SAME_AS_TAIL) {
  Deno.test(
    `tail flags: tailcast ${flags.join(" ")} prints the bytes tail ${
      tailFlags.join(" ")
    } prints`,
    async () => {
      await using dir = await logs();
      const expected = await gnuTail(tailFlags, dir.path);
      const files = flags.filter((f) =>
        f.endsWith(".log") && !f.startsWith("-")
      );
      const got = await tailcastText(flags, dir.path, expected.length, files);
      assertEquals(decoder.decode(got), decoder.decode(expected));
      assertEquals(got, expected);
    },
  );
}

Deno.test("tail flags: a last line without newline is not printed (tail prints it when it stops)", async () => {
  await using dir = await logs();
  const expected = await gnuTail(["-n", "2", "partial.log"], dir.path);
  const text = decoder.decode(expected);
  assertEquals(text, "p two\np three, no newline");
  // Up to the last newline: the unterminated line is held for its newline.
  const whole = expected.subarray(0, text.lastIndexOf("\n") + 1);
  const got = await tailcastText(
    ["-n", "2", "partial.log"],
    dir.path,
    whole.length,
    [
      "partial.log",
    ],
  );
  assertEquals(got, whole);
});

Deno.test({
  name:
    "tail flags: --pid ends tailcast once the process ends, with every line read printed and the cursor saved as on SIGTERM",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using dir = await logs();
    const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
    try {
      await using tc = new TailcastProcess([
        "--no-server",
        "--output",
        "text",
        "-F",
        "--pid",
        String(sleeper.pid),
        "-s",
        "0.05",
        "--state",
        dir.file("state.json"),
        "-n",
        "2",
        "b.log",
      ], { cwd: dir.path });
      await tc.waitForLines(2);
      await dir.append("b.log", "b four\nb five\n");
      await tc.waitForLines(4);
      sleeper.kill("SIGKILL");
      await sleeper.status;
      const status = await within(
        tc.exited(),
        10_000,
        "tailcast to stop after the --pid process ended",
      );
      assertEquals(status.code, 0, tc.stderr.join("\n"));
      assertEquals(
        decoder.decode(tc.stdoutBytes),
        "b two\nb three\nb four\nb five\n",
      );
      const state = JSON.parse(await Deno.readTextFile(dir.file("state.json")));
      const size = (await Deno.stat(dir.file("b.log"))).size;
      assertEquals(
        state.files.map((f: { offset: number }) => f.offset),
        [size],
      );
    } finally {
      try {
        sleeper.kill("SIGKILL");
      } catch {
        // Already ended.
      }
      await sleeper.status;
    }
  },
});

Deno.test({
  name:
    "tail flags: --pid of a process that has already ended prints what tail would, then exits 0",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using dir = await logs();
    const ended = new Deno.Command("true").spawn();
    await ended.status;
    const expected = await gnuTail(["-n", "3", "a.log", "b.log"], dir.path);
    await using tc = new TailcastProcess([
      "--no-server",
      "--output",
      "text",
      "--pid",
      String(ended.pid),
      "-n",
      "3",
      "a.log",
      "b.log",
    ], { cwd: dir.path });
    const status = await within(tc.exited(), 10_000, "tailcast to exit");
    assertEquals(status.code, 0, tc.stderr.join("\n"));
    assertEquals(tc.stdoutBytes, expected);
  },
});

Deno.test("tail flags: a tail flag tailcast cannot honour exits 2 with one line saying why", async () => {
  await using dir = await logs();
  const table: [string[], RegExp][] = [
    [["--follow=descriptor"], /^tailcast: Cannot follow by descriptor: .*name/],
    [["-zn", "5"], /^tailcast: Cannot read NUL-terminated lines .*newline/],
  ];
  for (const [flags, message] of table) {
    await using tc = new TailcastProcess(["--no-server", ...flags, "a.log"], {
      cwd: dir.path,
    });
    assertEquals((await tc.exited()).code, 2);
    assertEquals(tc.stderr.length, 1, tc.stderr.join("\n"));
    assertMatch(tc.stderr[0], message);
    assertEquals(tc.stdoutBytes.length, 0);
  }
});
