/**
 * The programs under test and their consumers: GNU `tail -F` (stdout),
 * `tailcast --no-server` (NDJSON on stdout) and the tailcast server with
 * in-process SSE clients (`fetch`, streamed). Each consumer feeds a
 * {@link Scanner}; nothing is decoded as text.
 */
import { fileURLToPath } from "node:url";
import { type RecordSink, Scanner } from "./lines.ts";
import { type Child, type Scope, sleep, waitFor } from "./proc.ts";
import { RUNTIME_V8_FLAGS } from "../../src/runtime.ts";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const MAIN = `${ROOT}main.ts`;

export interface FollowOptions {
  path: string;
  /** `end`: only lines written from now on; `start`: the whole file first. */
  from: "end" | "start";
  sink: RecordSink;
  /** Write a V8 CPU profile of tailcast into this directory. */
  cpuProfDir?: string | null;
}

export interface Running {
  readonly pid: number;
  readonly scanner: Scanner;
  readonly child: Child;
  /** When the process was spawned (performance.now()). */
  readonly spawnedAt: number;
  stop(): Promise<void>;
}

export interface Subject {
  /** Row label. */
  readonly name: string;
  readonly kind: "tail" | "stdout" | "sse";
  start(scope: Scope, options: FollowOptions): Promise<Running>;
}

/** `deno run` arguments for tailcast, optionally profiled. */
export function tailcastArgs(
  args: string[],
  cpuProfDir?: string | null,
): string[] {
  const prof = cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`] : [];
  return [
    "run",
    "-A",
    "--unstable-net",
    `--v8-flags=${RUNTIME_V8_FLAGS}`,
    ...prof,
    MAIN,
    ...args,
  ];
}

export const tailSubject: Subject = {
  name: "GNU tail -F",
  kind: "tail",
  start(scope, o) {
    const scanner = new Scanner(o.sink);
    const spawnedAt = performance.now();
    const child = scope.spawn(
      "tail",
      [o.from === "start" ? "-n+1" : "-n0", "-F", o.path],
      { onChunk: (c, now) => scanner.push(c, now) },
    );
    return Promise.resolve({
      pid: child.pid,
      scanner,
      child,
      spawnedAt,
      stop: async () => {
        await child.stop();
      },
    });
  },
};

export const stdoutSubject: Subject = {
  name: "tailcast --stdout",
  kind: "stdout",
  start(scope, o) {
    const scanner = new Scanner(o.sink);
    const spawnedAt = performance.now();
    const child = scope.spawn(
      Deno.execPath(),
      tailcastArgs(["--no-server", "--from", o.from, o.path], o.cpuProfDir),
      { onChunk: (c, now) => scanner.push(c, now) },
    );
    return Promise.resolve({
      pid: child.pid,
      scanner,
      child,
      spawnedAt,
      stop: async () => {
        await child.stop();
      },
    });
  },
};

export interface ServerOptions {
  paths: string[];
  from: "end" | "start";
  extra?: string[];
  /** Start it under `prlimit --nofile=N:N`. */
  nofile?: number;
  cpuProfDir?: string | null;
}

export interface Server {
  readonly child: Child;
  readonly pid: number;
  /** `http://127.0.0.1:PORT` */
  readonly base: string;
  readonly spawnedAt: number;
}

/** Starts `tailcast --port 0` and waits until it listens. */
export async function startServer(
  scope: Scope,
  o: ServerOptions,
): Promise<Server> {
  let base = "";
  const args = tailcastArgs(
    ["--port", "0", "--from", o.from, ...(o.extra ?? []), ...o.paths],
    o.cpuProfDir,
  );
  const spawnedAt = performance.now();
  const child = o.nofile
    ? scope.spawn("prlimit", [
      `--nofile=${o.nofile}:${o.nofile}`,
      Deno.execPath(),
      ...args,
    ])
    : scope.spawn(Deno.execPath(), args);
  const onLine = (line: string) => {
    const m = /serving (http:\/\/\S+)\/events/.exec(line);
    if (m) base = m[1];
  };
  // The stderr lines are kept by the child; look at them as they come.
  let seen = 0;
  await waitFor(
    () => {
      for (; seen < child.stderr.length; seen++) onLine(child.stderr[seen]);
      return base !== "";
    },
    20_000,
    `tailcast to listen (stderr: ${child.stderr.slice(-3).join(" | ")})`,
  ).catch(async (error) => {
    const status = await Promise.race([child.finished, sleep(10)]);
    throw new Error(
      `${error.message}${
        status ? ` (it exited: ${child.stderr.slice(-3).join(" | ")})` : ""
      }`,
    );
  });
  return { child, pid: child.pid, base, spawnedAt };
}

export interface SseClient {
  /** Ends when the stream ends (server stopped) or the reader is cancelled. */
  readonly done: Promise<void>;
  cancel(): Promise<void>;
}

/**
 * A streaming SSE client in this process: `fetch`, its body read chunk by
 * chunk into `onChunk`. An aborted fetch body may never end in Deno, so it is
 * stopped by stopping the server, or by cancelling its reader.
 */
export async function sseConnect(
  url: string,
  onChunk: (chunk: Uint8Array, now: number) => void,
): Promise<SseClient> {
  const res = await fetch(url);
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => "");
    throw new Error(`GET ${url}: ${res.status} ${text.trim()}`);
  }
  const reader = res.body.getReader();
  const done = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        onChunk(value, performance.now());
      }
    } catch {
      // Cut by the server or cancelled.
    }
  })();
  return {
    done,
    cancel: async () => {
      // Bounded: a cancelled body is not guaranteed to settle.
      await Promise.race([
        reader.cancel().catch(() => {}).then(() => done),
        sleep(1000),
      ]);
    },
  };
}

/** Stops the server first (its streams end with `bye`), then cancels readers that did not end. */
export async function stopServerAndClients(
  server: Server,
  clients: SseClient[],
  graceMs = 2000,
): Promise<void> {
  const stopped = server.child.stop();
  const all = Promise.all(clients.map((c) => c.done));
  const late = await Promise.race([
    all.then(() => false),
    sleep(graceMs).then(() => true),
  ]);
  if (late) await Promise.all(clients.map((c) => c.cancel()));
  await stopped;
}

/** One SSE subscriber per run: the tailcast server (with `--workers`, when given) and a `fetch` client. */
export function sseSubjectWith(workers?: number): Subject {
  return {
    name: workers === undefined
      ? "tailcast SSE (1 client)"
      : `tailcast SSE (1 client), --workers ${workers}`,
    kind: "sse",
    start: (scope, o) => startSse(scope, o, workers),
  };
}

export const sseSubject: Subject = sseSubjectWith();

/** What a client following from the start asks for: every line, within `--max-backlog`'s bound. */
const BACKFILL_BACKLOG = 999_999_999;

async function startSse(
  scope: Scope,
  o: FollowOptions,
  workers?: number,
): Promise<Running> {
  const scanner = new Scanner(o.sink);
  const server = await startServer(scope, {
    paths: [o.path],
    from: o.from,
    cpuProfDir: o.cpuProfDir,
    extra: [
      ...(workers === undefined ? [] : ["--workers", String(workers)]),
      // The default caps a backlog at 10,000 lines per file.
      ...(o.from === "start"
        ? ["--max-backlog", String(BACKFILL_BACKLOG)]
        : []),
    ],
  });
  // From the start: what was read before this client came is replayed from
  // disk (the backlog), the rest is live, with no gap and no duplicate.
  const query = o.from === "start" ? `?backlog=${BACKFILL_BACKLOG}` : "";
  const client = await sseConnect(
    `${server.base}/events${query}`,
    (c, now) => scanner.push(c, now),
  );
  scope.defer(() => client.cancel());
  return {
    pid: server.pid,
    scanner,
    child: server.child,
    spawnedAt: server.spawnedAt,
    stop: () => stopServerAndClients(server, [client]),
  };
}

export const SUBJECTS: readonly Subject[] = [
  tailSubject,
  stdoutSubject,
  sseSubject,
];

const CR = 0x0d;
const LF = 0x0a;

/**
 * Decodes an HTTP/1.1 response read from a socket: status line and headers,
 * then the body, de-chunked when `transfer-encoding: chunked`.
 */
export class HttpResponseDecoder {
  status = 0;
  ended = false;
  #head = "";
  #inBody = false;
  #chunked = false;
  /** Chunked body: reading a size line, skipping an extension, data, or the CRLF after data. */
  #state: "size" | "ext" | "data" | "after" = "size";
  #size = 0;
  #digits = 0;
  #left = 0;

  constructor(readonly onBody: (bytes: Uint8Array) => void) {}

  push(bytes: Uint8Array): void {
    let at = 0;
    if (!this.#inBody) {
      // Headers are ASCII and short.
      const text = this.#head +
        String.fromCharCode(...bytes.subarray(0, 8192));
      const end = text.indexOf("\r\n\r\n");
      if (end === -1) {
        this.#head = text;
        return;
      }
      const head = text.slice(0, end);
      this.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      this.#chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
      this.#inBody = true;
      at = end + 4 - this.#head.length;
      this.#head = "";
    }
    if (!this.#chunked) {
      if (at < bytes.length) this.onBody(bytes.subarray(at));
      return;
    }
    while (at < bytes.length && !this.ended) {
      if (this.#state === "data") {
        const n = Math.min(this.#left, bytes.length - at);
        this.onBody(bytes.subarray(at, at + n));
        this.#left -= n;
        at += n;
        if (this.#left === 0) this.#state = "after";
        continue;
      }
      const c = bytes[at++];
      if (this.#state === "after") {
        if (c === LF) this.#state = "size";
      } else if (c === LF) {
        if (this.#digits === 0) continue;
        if (this.#size === 0) this.ended = true;
        this.#left = this.#size;
        this.#state = "data";
        this.#size = 0;
        this.#digits = 0;
      } else if (this.#state === "size" && c !== CR) {
        const d = c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
        if (d >= 0 && d < 16) {
          this.#size = this.#size * 16 + d;
          this.#digits++;
        } else {
          // A chunk extension (`;name=value`): skipped to the end of the line.
          this.#state = "ext";
        }
      }
    }
  }
}

/**
 * A minimal streaming HTTP/1.1 client on a raw TCP connection: sends
 * `GET path`, checks the status, de-chunks the body into `onChunk`. Much
 * cheaper per read than `fetch` (no web-stream machinery), which matters
 * when one thread reads thousands of subscribers. `bufBytes` is its read
 * buffer.
 */
export async function rawSseConnect(
  base: string,
  path: string,
  onChunk: (chunk: Uint8Array, now: number) => void,
  bufBytes = 4096,
): Promise<SseClient> {
  const url = new URL(path, base);
  const conn = await Deno.connect({
    hostname: url.hostname,
    port: Number(url.port),
  });
  let now = 0;
  const decoder = new HttpResponseDecoder((bytes) => onChunk(bytes, now));
  const buf = new Uint8Array(bufBytes);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  };
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n\r\n`,
      ),
    );
    while (decoder.status === 0) {
      const n = await conn.read(buf);
      if (n === null) throw new Error(`GET ${url}: connection closed`);
      now = performance.now();
      decoder.push(buf.subarray(0, n));
    }
    if (decoder.status !== 200) {
      throw new Error(`GET ${url}: status ${decoder.status}`);
    }
  } catch (error) {
    close();
    throw error;
  }
  const done = (async () => {
    try {
      while (!decoder.ended) {
        const n = await conn.read(buf);
        if (n === null) break;
        now = performance.now();
        decoder.push(buf.subarray(0, n));
      }
    } catch {
      // Reset by the server, or closed by cancel().
    }
    close();
  })();
  return {
    done,
    cancel: async () => {
      close();
      await Promise.race([done, sleep(1000)]);
    },
  };
}

/**
 * A subscriber that connects, sends its request, and never reads: the
 * kernel buffers fill, then the server's queue for it.
 */
export async function stalledConnect(base: string): Promise<Deno.TcpConn> {
  const url = new URL("/events", base);
  const conn = await Deno.connect({
    hostname: url.hostname,
    port: Number(url.port),
  });
  await conn.write(
    new TextEncoder().encode(
      `GET /events HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n\r\n`,
    ),
  );
  return conn;
}
