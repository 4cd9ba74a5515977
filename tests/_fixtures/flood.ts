/**
 * A connection flood for end-to-end tests, run as its own process (so its
 * sockets are not the test's, and cannot count against the test's limits):
 *
 *     deno run -A tests/_fixtures/flood.ts --port P --count N
 *       [--addresses 127.0.0.2,127.0.0.3,…] [--path /events] [--timeout-ms T]
 *
 * Opens N TCP connections to 127.0.0.1:P at once, spread over the given
 * local addresses (so a per-address limit is not what answers), each sending
 * `GET <path>` with a valid Host. Each connection ends up as one outcome:
 * the HTTP status it was answered with, `reset` (reset or closed by the
 * server side before an answer: ECONNRESET, EPIPE) / `refused` (nothing
 * listening), `closed` (closed without an answer), or `hang` (nothing
 * within T ms). Once every connection has an outcome it prints
 * `{"outcomes": {…}, "ms": n}` on stdout and keeps the answered streams open
 * (reading and discarding what they are sent) until its standard input
 * ends; then it closes every socket and prints `{"closed": n}`.
 */
import net from "node:net";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string" },
    count: { type: "string" },
    addresses: { type: "string", default: "127.0.0.1" },
    path: { type: "string", default: "/events" },
    "timeout-ms": { type: "string", default: "15000" },
  },
  strict: true,
});
const port = Number(values.port);
const count = Number(values.count);
const addresses = values.addresses.split(",");
const timeoutMs = Number(values["timeout-ms"]);

const outcomes: Record<string, number> = {};
const sockets: net.Socket[] = [];
const started = performance.now();

function open(i: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({
      host: "127.0.0.1",
      port,
      localAddress: addresses[i % addresses.length],
    });
    sockets.push(socket);
    let head = "";
    let settled = false;
    const timer = setTimeout(() => settle("hang"), timeoutMs);
    function settle(outcome: string): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      resolve();
    }
    socket.on("connect", () => {
      socket.write(
        `GET ${values.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
      );
    });
    socket.on("data", (data: Uint8Array) => {
      if (settled) return;
      head += new TextDecoder().decode(data);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (m) settle(m[1]);
    });
    socket.on("error", (error: Error & { code?: string }) => {
      // The server went away mid-request (reset, or closed before the
      // request was written) or was not there to take it.
      settle(
        ["ECONNRESET", "EPIPE", "ECONNABORTED"].includes(error.code ?? "")
          ? "reset"
          : error.code === "ECONNREFUSED"
          ? "refused"
          : `error ${error.code ?? error.message}`,
      );
    });
    socket.on("close", () => settle("closed"));
  });
}

await Promise.all(Array.from({ length: count }, (_, i) => open(i)));
const encoder = new TextEncoder();
await Deno.stdout.write(
  encoder.encode(
    JSON.stringify({
      outcomes,
      ms: Math.round(performance.now() - started),
    }) + "\n",
  ),
);
// Hold the streams until told to let go.
for await (const _ of Deno.stdin.readable) {
  // Anything on stdin is ignored; its end releases the sockets.
}
let closed = 0;
for (const socket of sockets) {
  if (!socket.destroyed) closed++;
  socket.destroy();
}
await Deno.stdout.write(encoder.encode(JSON.stringify({ closed }) + "\n"));
Deno.exit(0);
