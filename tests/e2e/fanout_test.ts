/**
 * One stalled subscriber among 100: the others get every line, in order,
 * and the server's memory grows by no more than the stalled one's queue
 * (compared with the same load before it connected).
 */
import { assert, assertEquals } from "@std/assert";
import { LogDir } from "../_fixtures/log_dir.ts";
import { TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor } from "../_fixtures/wait.ts";

const SUBSCRIBERS = 99;
const LINES = 10_000;
const QUEUE = 1000;
const PAD = "x".repeat(100);

/** Collects the seq numbers of `event: line` frames until `until` arrived. */
async function subscribe(url: string, until: number): Promise<number[]> {
  const res = await fetch(`${url}/events`);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const seqs: number[] = [];
  let carry = "";
  try {
    while (seqs.at(-1) !== until) {
      const { done, value } = await reader.read();
      if (done) break;
      const parts = (carry + value).split("\n");
      carry = parts.pop() ?? "";
      for (const p of parts) {
        const m = /^data: .*"line":"seq=(\d+) /.exec(p);
        if (m) seqs.push(Number(m[1]));
      }
    }
  } finally {
    await reader.cancel();
  }
  return seqs;
}

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

interface Health {
  subscribers: number;
  queues: { max: number; total: number };
}

async function health(url: string): Promise<Health> {
  return await (await fetch(`${url}/healthz`)).json();
}

/** Writes lines [from, to) in batches; returns the peak RSS seen meanwhile. */
async function write(
  dir: LogDir,
  pid: number,
  from: number,
  to: number,
): Promise<number> {
  let peak = 0;
  for (let i = from; i < to; i += 500) {
    let text = "";
    for (let j = i; j < Math.min(to, i + 500); j++) text += `seq=${j} ${PAD}\n`;
    await dir.append("app.log", text);
    peak = Math.max(peak, rssMiB(pid));
  }
  return peak;
}

/** Runs `SUBSCRIBERS` readers over lines [from, to) and checks each got all, in order. */
async function round(
  url: string,
  dir: LogDir,
  pid: number,
  from: number,
  to: number,
  connected: number,
): Promise<number> {
  const readers = Array.from(
    { length: SUBSCRIBERS },
    () => subscribe(url, to - 1),
  );
  await waitFor(
    async () => (await health(url)).subscribers === connected,
    `${connected} subscribers`,
  );
  let peak = await write(dir, pid, from, to);
  const results = await Promise.all(readers);
  peak = Math.max(peak, rssMiB(pid));
  const expected = Array.from({ length: to - from }, (_, i) => from + i);
  for (const [i, seqs] of results.entries()) {
    assertEquals(seqs, expected, `subscriber ${i}, lines ${from}..${to}`);
  }
  return peak;
}

Deno.test("SSE one stalled subscriber among 100 changes nothing for the other 99 and holds at most its queue", async () => {
  await using dir = await LogDir.create();
  await using tc = new TailcastProcess([
    "--port",
    "0",
    "--queue",
    String(QUEUE),
    dir.file("app.log"),
  ]);
  const url = await tc.url();
  const pid = tc.child.pid;

  // The same load without, then with, a subscriber that never reads.
  const without = await round(url, dir, pid, 0, LINES, SUBSCRIBERS);
  await waitFor(
    async () => (await health(url)).subscribers === 0,
    "the first readers to leave",
  );
  const stalled = await Deno.connect({
    hostname: "127.0.0.1",
    port: Number(new URL(url).port),
  });
  try {
    await stalled.write(
      new TextEncoder().encode(
        "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      ),
    );
    const withStalled = await round(
      url,
      dir,
      pid,
      LINES,
      2 * LINES,
      SUBSCRIBERS + 1,
    );
    await waitFor(
      async () => (await health(url)).subscribers === 1,
      "only the stalled subscriber to be left",
    );
    const h = await health(url);
    assert(
      h.queues.max <= QUEUE,
      `the stalled queue holds ${h.queues.max} > ${QUEUE}`,
    );
    // Its queue (1,000 events, well under 2 MiB) plus allocator noise.
    assert(
      withStalled - without < 64,
      `peak RSS ${withStalled.toFixed(0)} MiB with the stalled subscriber, ${
        without.toFixed(0)
      } MiB without`,
    );
  } finally {
    stalled.close();
  }
  assertEquals((await tc.stop()).code, 0);
});
