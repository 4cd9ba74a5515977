/**
 * A `/healthz` prober for end-to-end tests, run as its own process so that
 * what it measures is the server, not the test's own event loop:
 *
 *     deno run -A tests/_fixtures/prober.ts --port P [--pid PID] [--every-ms 20]
 *
 * On one keep-alive connection it sends `GET /healthz` every ~20 ms and
 * times each from the request written to the whole response read. A probe
 * with no answer within 5 s, a closed connection or another status is a
 * failure (the connection is opened again). After the first answer it
 * prints `{"ready": true}`; when its standard input ends it prints
 * `{"probes": [[wallMs, ms, serverWaitMs, ownWaitMs], …], "stalls":
 * [[wallMs, ms], …], "failures": [[wallMs, why], …]}` (wall clock from
 * `Date.now()`, so the test can tell what it was doing).
 *
 * On a shared machine part of a latency can be nobody's doing but the
 * machine's, so each probe also says how long, meanwhile, the server's
 * threads (the longest wait of any: its event loop's, or that of a thread
 * the event loop waits for, such as V8's garbage collection helpers) and
 * the prober's own waited for a CPU (`/proc/<pid>/task/<tid>/schedstat`,
 * run-queue time), and `stalls` lists when a 5 ms timer in the prober
 * fired more than 20 ms late (the whole machine paused: a run-queue wait
 * does not show that).
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string" },
    "every-ms": { type: "string", default: "20" },
    pid: { type: "string" },
  },
  strict: true,
});
const port = Number(values.port);
const everyMs = Number(values["every-ms"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const request = encoder.encode(
  `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
);

const serverPid = values.pid === undefined ? null : Number(values.pid);

/** Time the main thread of `pid` has waited for a CPU so far, in ms (0 where unknown). */
function waited(pid: number | string | null): number {
  if (pid === null) return 0;
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/schedstat`).split(" ");
    return Number(fields[1]) / 1e6;
  } catch {
    return 0;
  }
}

/** How long each thread of `pid` has waited for a CPU so far, in ms. */
function threadsWaited(pid: number | null): Map<string, number> {
  const out = new Map<string, number>();
  if (pid === null) return out;
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      out.set(task.name, waited(`${pid}/task/${task.name}`));
    }
  } catch {
    // Gone.
  }
  return out;
}

/**
 * The longest any thread of the server waited for a CPU between two
 * readings: the main thread (the event loop), or one it waits for (V8's
 * garbage collection helpers, the runtime's I/O threads).
 */
function longestWait(
  before: Map<string, number>,
  after: Map<string, number>,
): number {
  let most = 0;
  for (const [tid, ms] of after) {
    most = Math.max(most, ms - (before.get(tid) ?? ms));
  }
  return most;
}

const probes: Array<[number, number, number, number]> = [];
const stalls: Array<[number, number]> = [];
let tick = performance.now();
const ticker = setInterval(() => {
  const now = performance.now();
  if (now - tick - 5 > 20) stalls.push([Date.now(), now - tick - 5]);
  tick = now;
}, 5);
const failures: Array<[number, string]> = [];
let stop = false;

/** Reads one response with a content-length; throws on anything else. */
async function readResponse(conn: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  let need = Infinity;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("the server closed the connection");
    text += decoder.decode(buf.subarray(0, n));
    if (need === Infinity) {
      const end = text.indexOf("\r\n\r\n");
      if (end !== -1) {
        const head = text.slice(0, end);
        if (!head.startsWith("HTTP/1.1 200")) {
          throw new Error(`answered ${head.split("\r\n")[0]}`);
        }
        const length = /content-length:\s*(\d+)/i.exec(head);
        if (!length) throw new Error("no content-length");
        need = end + 4 + Number(length[1]);
      }
    }
    // The body is ASCII JSON: characters are bytes.
    if (text.length >= need) return;
  }
}

async function probe(conn: Deno.TcpConn): Promise<number> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      (async () => {
        let at = 0;
        while (at < request.length) {
          at += await conn.write(request.subarray(at));
        }
        await readResponse(conn);
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("no answer in 5 s")), 5000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  return performance.now() - started;
}

const running = (async () => {
  let conn: Deno.TcpConn | null = null;
  while (!stop) {
    const wall = Date.now();
    try {
      conn ??= await Deno.connect({ hostname: "127.0.0.1", port });
      const [server, own] = [threadsWaited(serverPid), waited("self")];
      const ms = await probe(conn);
      probes.push([
        wall,
        ms,
        longestWait(server, threadsWaited(serverPid)),
        waited("self") - own,
      ]);
      if (probes.length === 1) {
        await Deno.stdout.write(encoder.encode('{"ready":true}\n'));
      }
    } catch (error) {
      failures.push([wall, String(error)]);
      try {
        conn?.close();
      } catch {
        // Already closed.
      }
      conn = null;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  conn?.close();
})();

for await (const _ of Deno.stdin.readable) {
  // Its end stops the prober.
}
stop = true;
await running;
clearInterval(ticker);
await Deno.stdout.write(
  encoder.encode(JSON.stringify({ probes, stalls, failures }) + "\n"),
);
