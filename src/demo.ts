/**
 * Demo: a synthetic web-service log written to a temporary directory, so
 * `deno task start` shows tailcast working with nothing to set up. It writes
 * a few lines a second (access lines, some app logs, now and then an error)
 * and rename-rotates the file every 500 lines, like logrotate would.
 */

export interface DemoOptions {
  dir: string;
  signal: AbortSignal;
  /** Lines per second. @default 5 */
  rate?: number;
  /** Rotate after this many lines. @default 500 */
  rotateEvery?: number;
}

const PATHS = [
  "/",
  "/api/orders",
  "/api/users/42",
  "/static/app.js",
  "/healthz",
  "/api/search?q=tail",
];
const AGENTS = [
  "curl/8.5.0",
  "Mozilla/5.0",
  "kube-probe/1.30",
  "python-requests/2.32",
];

/** One synthetic line for sequence number `n`. */
export function demoLine(n: number, now: Date): string {
  const path = PATHS[n % PATHS.length];
  const status = n % 37 === 0 ? 500 : n % 11 === 0 ? 404 : 200;
  if (n % 9 === 4) {
    return JSON.stringify({
      time: now.toISOString(),
      level: status === 500 ? "error" : "info",
      msg: status === 500 ? "upstream timed out" : "cache refreshed",
      seq: n,
    });
  }
  const ip = `10.0.${n % 7}.${(n * 13) % 250}`;
  return `${ip} - - [${now.toISOString()}] "GET ${path} HTTP/1.1" ${status} ${
    200 + (n * 37) % 4000
  } "-" "${AGENTS[n % AGENTS.length]}" seq=${n}`;
}

/** Writes the demo log until `signal` aborts. Returns the path it writes. */
export function startDemo(
  options: DemoOptions,
): { path: string; done: Promise<void> } {
  const path = `${options.dir}/app.log`;
  const rate = options.rate ?? 5;
  const rotateEvery = options.rotateEvery ?? 500;
  const done = (async () => {
    const encoder = new TextEncoder();
    let file = await Deno.open(path, { append: true, create: true });
    let n = 0;
    try {
      while (!options.signal.aborted) {
        await file.write(encoder.encode(demoLine(n, new Date()) + "\n"));
        n++;
        if (n % rotateEvery === 0) {
          file.close();
          await Deno.rename(path, `${path}.1`);
          file = await Deno.open(path, { append: true, create: true });
        }
        await sleep(1000 / rate, options.signal);
      }
    } finally {
      file.close();
    }
  })();
  return { path, done };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
