/**
 * The worker pool end to end: the real main.ts with `--workers 2`, curl
 * subscribers spread over both threads by the kernel. Every subscriber gets
 * the same events with the same ids, whichever thread serves it; an id from
 * one thread resumes exactly on the other; stopping ends every stream with
 * `bye`; without `--unstable-net` tailcast serves on one thread and says so.
 */
import { assert, assertEquals } from "@std/assert";
import { LogDir } from "../_fixtures/log_dir.ts";
import { curl, CurlSse } from "../_fixtures/sse_client.ts";
import { TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor } from "../_fixtures/wait.ts";

interface Health {
  subscribers: number;
  threads: number[];
}

async function health(url: string): Promise<Health> {
  const r = await curl(`${url}/healthz`);
  assertEquals(r.status, 200, r.body);
  return JSON.parse(r.body);
}

/** Line events of a client, as `id data` pairs. */
function lines(c: CurlSse): string[] {
  return c.named("line").map((f) => `${f.id} ${JSON.parse(f.data).line}`);
}

Deno.test("pool: subscribers on both threads get the same events with the same ids, resume on either, and are sent bye at stop", async () => {
  await using dir = await LogDir.create();
  await Deno.writeTextFile(dir.file("app.log"), "");
  await using tc = new TailcastProcess([
    "--port",
    "0",
    "--workers",
    "2",
    dir.file("app.log"),
  ]);
  const url = await tc.url();
  const clients: CurlSse[] = [];
  try {
    // 20 connections: all on one of two sockets has odds of 1 in 500,000.
    for (let i = 0; i < 20; i++) clients.push(new CurlSse(`${url}/events`));
    await Promise.all(clients.map((c) => c.connected()));
    await waitFor(
      async () => (await health(url)).subscribers === 20,
      "20 subscribers",
    );
    const { threads } = await health(url);
    assertEquals(threads.length, 2, `threads: ${threads}`);
    assert(threads.every((n) => n > 0), `subscribers per thread: ${threads}`);

    const want = Array.from({ length: 300 }, (_, i) => `line ${i}`);
    for (let i = 0; i < want.length; i += 50) {
      await dir.append("app.log", want.slice(i, i + 50).join("\n") + "\n");
    }
    for (const c of clients) {
      await c.until((x) => x.named("line").length >= 300, "300 lines");
    }
    const first = lines(clients[0]);
    assertEquals(first.map((l) => l.slice(l.indexOf(" ") + 1)), want);
    for (const c of clients) assertEquals(lines(c), first);

    // Resume from the 100th line, ten times: whichever thread takes the
    // connection sends exactly the 200 after it.
    const id = clients[0].named("line")[99].id!;
    for (let k = 0; k < 10; k++) {
      await using again = new CurlSse(`${url}/events`, {
        headers: { "Last-Event-ID": id },
      });
      await again.until((x) => x.named("line").length >= 200, "200 lines");
      assertEquals(lines(again), first.slice(100));
      assertEquals(again.named("gap"), []);
    }

    assertEquals((await tc.stop()).code, 0);
    for (const c of clients) {
      await c.until((x) => x.ended, "the stream to end");
      assertEquals(
        c.named("bye").map((f) => JSON.parse(f.data).reason),
        ["shutdown"],
      );
    }
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
  }
});

Deno.test("pool: without --unstable-net tailcast serves on one thread and says so in one line", async () => {
  await using dir = await LogDir.create();
  await Deno.writeTextFile(dir.file("app.log"), "");
  await using tc = new TailcastProcess(
    ["--port", "0", "--workers", "2", dir.file("app.log")],
    { unstableNet: false },
  );
  const url = await tc.url();
  const said = tc.stderr.filter((l) => l.includes("one thread"));
  assertEquals(said.length, 1, tc.stderr.join("\n"));
  assert(said[0].includes("--unstable-net"), said[0]);
  await using client = new CurlSse(`${url}/events`);
  await client.connected();
  await dir.append("app.log", "hello\n");
  await client.until((c) => c.named("line").length === 1, "the line");
  assertEquals((await health(url)).threads, [1]);
  assertEquals((await tc.stop()).code, 0);
});
