/**
 * The bundle (`deno task bundle`: the module graph `deno compile` embeds)
 * run with narrow permissions, the way the binary runs in a sandbox.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { LogDir } from "../_fixtures/log_dir.ts";
import { ROOT, TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor } from "../_fixtures/wait.ts";

let bundled: Promise<string> | null = null;

/** Bundles main.ts once per run into a temporary directory. */
function bundle(): Promise<string> {
  bundled ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "tailcast-bundle-" });
    const out = `${dir}/tailcast.js`;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--output", out, "main.ts"],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).output();
    assertEquals(code, 0, new TextDecoder().decode(stderr));
    return out;
  })();
  return bundled;
}

/** The permission flags of the `compile` task: what the binary gets. */
async function compilePermissions(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const words: string[] = config.tasks.compile.split(/\s+/);
  return words.filter((w) =>
    w.startsWith("--allow-") || w.startsWith("--v8-flags=") ||
    w.startsWith("--unstable-") || w === "--no-prompt"
  );
}

/** Reads SSE `data:` lines from /events until `count` arrived. */
async function readLines(url: string, count: number): Promise<string[]> {
  const abort = new AbortController();
  const res = await fetch(`${url}/events`, { signal: abort.signal });
  const lines: string[] = [];
  let carry = "";
  let type = "";
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  try {
    while (lines.length < count) {
      const { done, value } = await reader.read();
      if (done) break;
      const parts = (carry + value).split("\n");
      carry = parts.pop() ?? "";
      for (const p of parts) {
        if (p.startsWith("event: ")) type = p.slice(7);
        if (p.startsWith("data: ") && type === "line") {
          lines.push(JSON.parse(p.slice(6)).line);
        }
      }
    }
  } finally {
    await reader.cancel();
  }
  return lines;
}

Deno.test("bundle follows a file and serves SSE with only --allow-read=<dir> --allow-net=127.0.0.1", async () => {
  const entry = await bundle();
  await using dir = await LogDir.create();
  await using proc = new TailcastProcess(
    ["--port", "0", dir.file("app.log")],
    {
      entry,
      perms: [
        `--allow-read=${dir.path}`,
        "--allow-net=127.0.0.1",
        "--no-prompt",
      ],
      cwd: dir.path,
    },
  );
  const url = await proc.url();
  await proc.waitForStderr(/no such file; waiting/);
  const reading = readLines(url, 2);
  // The subscriber is connected once /healthz counts it.
  await waitFor(async () => {
    const health = await (await fetch(`${url}/healthz`)).json();
    return health.subscribers === 1;
  }, "the subscriber to connect");
  await dir.append("app.log", "one\ntwo\n");
  assertEquals(await reading, ["one", "two"]);
  assertEquals((await proc.stop()).code, 0);
});

Deno.test("bundle without read permission for the file exits 2 with one line naming the flag", async () => {
  const entry = await bundle();
  await using dir = await LogDir.create();
  await Deno.writeTextFile(dir.file("app.log"), "x\n");
  const other = await Deno.makeTempDir();
  await using proc = new TailcastProcess(["--no-server", dir.file("app.log")], {
    entry,
    perms: [`--allow-read=${other}`, "--allow-net=127.0.0.1", "--no-prompt"],
  });
  const status = await proc.exited();
  await Deno.remove(other);
  assertEquals(status.code, 2);
  assertEquals(proc.stderr, [
    `tailcast: Cannot follow "${
      dir.file("app.log")
    }": Deno read permission denied (run with --allow-read=${dir.path}, or give the binary read access to it)`,
  ]);
});

Deno.test("bundle without net permission exits 2 with one line naming --allow-net", async () => {
  const entry = await bundle();
  await using dir = await LogDir.create();
  await using proc = new TailcastProcess(["--port", "0", dir.file("app.log")], {
    entry,
    perms: [`--allow-read=${dir.path}`, "--no-prompt"],
  });
  assertEquals((await proc.exited()).code, 2);
  const problems = proc.stderr.filter((l) => l.includes("Cannot listen"));
  assertEquals(problems.length, 1, proc.stderr.join("\n"));
  assertMatch(problems[0], /--allow-net=127\.0\.0\.1/);
});

Deno.test("bundle passes the smoke run with exactly the compile task's permissions", async () => {
  const entry = await bundle();
  const perms = await compilePermissions();
  assert(perms.includes("--no-prompt"), "the binary must never prompt");
  await using dir = await LogDir.create();
  await dir.append("app.log", "before\n");
  await using version = new TailcastProcess(["--version"], {
    entry,
    perms,
    v8Flags: false,
  });
  assertEquals((await version.exited()).code, 0);
  assertMatch(version.stdout[0], new RegExp(`deno ${Deno.version.deno}`));
  await using proc = new TailcastProcess(
    ["--port", "0", "-n", "1", `${dir.path}/*.log`],
    { entry, perms, env: { TAILCAST_TOKEN: "" }, v8Flags: false },
  );
  const url = await proc.url();
  const reading = readLines(url, 2);
  await waitFor(async () => {
    const health = await (await fetch(`${url}/healthz`)).json();
    return health.subscribers === 1;
  }, "the subscriber to connect");
  await dir.append("app.log", "after\n");
  await dir.append("new.log", "appeared\n");
  assertEquals((await reading).sort(), ["after", "appeared"]);
  assertEquals((await proc.stop()).code, 0);
});

Deno.test("bundle follows standard input (-) as source '-'", async () => {
  const entry = await bundle();
  await using proc = new TailcastProcess(["--no-server", "-"], {
    entry,
    perms: ["--no-prompt"],
    stdin: "piped",
  });
  const writer = proc.child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("first\nsecond\nno newline"));
  await writer.close();
  // At the end of input the last line is flushed; --no-server then has nothing left to do.
  await proc.waitForLines(3);
  assertEquals(
    proc.events.map((e) => [e.source, e.line, e.partial ?? false]),
    [["-", "first", false], ["-", "second", false], [
      "-",
      "no newline",
      true,
    ]],
  );
  assertEquals((await proc.stop()).code, 0);
});

Deno.test("bundle runs as a non-root user from a read-only working directory", async () => {
  const entry = await bundle();
  await using dir = await LogDir.create();
  await dir.append("app.log", "old\n");
  const cwd = await Deno.makeTempDir({ prefix: "tailcast-ro-" });
  const denoDir = await Deno.makeTempDir({ prefix: "tailcast-denodir-" });
  await Deno.chmod(cwd, 0o555);
  await Deno.chmod(denoDir, 0o777);
  await Deno.chmod(dir.path, 0o755);
  await Deno.chmod(dir.file("app.log"), 0o644);
  await Deno.chmod(entry.replace(/\/[^/]+$/, ""), 0o755);
  await Deno.chmod(entry, 0o644);
  try {
    await using proc = new TailcastProcess(
      ["--no-server", "--from", "start", dir.file("app.log")],
      {
        entry,
        perms: [`--allow-read=${dir.path}`, "--no-prompt"],
        cwd,
        env: { DENO_DIR: denoDir },
        prefix: [
          "setpriv",
          "--reuid=nobody",
          "--regid=nogroup",
          "--clear-groups",
        ],
      },
    );
    await proc.waitForLines(1);
    assertEquals(proc.events[0].line, "old");
    assertEquals((await proc.stop()).code, 0);
  } finally {
    await Deno.remove(cwd, { recursive: true });
    await Deno.remove(denoDir, { recursive: true });
  }
});
