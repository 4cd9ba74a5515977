/**
 * A real SSE client for end-to-end tests: Debian `curl -sN` as a subprocess,
 * its stdout parsed incrementally into Server-Sent Events frames (or NDJSON
 * records), and `curl -D` for the response headers.
 *
 * Frames are parsed as the WHATWG EventSource parser does: lines end with
 * `\n`, `\r\n` or `\r`; `:` starts a comment; `field: value` drops one space
 * after the colon; a blank line ends a frame. Frames and comments carry the
 * time they arrived, for heartbeat checks. For very long streams pass
 * `keep: false` and an `onFrame` callback: nothing is then kept per frame.
 */
import { waitFor } from "./wait.ts";

/** One dispatched SSE frame (or one NDJSON record, as `data`). */
export interface SseFrame {
  /** `event:`; "message" when the frame has none (NDJSON records: "ndjson"). */
  readonly event: string;
  /** `id:`; null when the frame has none. */
  readonly id: string | null;
  /** `data:` lines joined with `\n`. */
  readonly data: string;
  /** `performance.now()` when it was parsed. */
  readonly at: number;
}

/** A `: comment` line (heartbeats, the preamble). */
export interface SseComment {
  readonly text: string;
  readonly at: number;
}

export interface CurlSseOptions {
  /** Extra request headers, e.g. `{ "Last-Event-ID": id }`. */
  headers?: Record<string, string>;
  /** Parse stdout as NDJSON records instead of SSE frames. */
  ndjson?: boolean;
  /** Keep every frame in {@link CurlSse.frames}. @default true */
  keep?: boolean;
  /** Called for every frame, in order. */
  onFrame?: (frame: SseFrame) => void;
  /** Record the response headers (curl `-D`); see {@link CurlSse.response}. @default true */
  dumpHeaders?: boolean;
}

/** The status line and headers curl dumped. */
export interface CurlResponse {
  readonly status: number;
  readonly headers: Headers;
}

const curlPath = "curl";

/** `curl -sN URL` as a subprocess, its output parsed as SSE as it arrives. */
export class CurlSse implements AsyncDisposable {
  readonly url: string;
  readonly child: Deno.ChildProcess;
  /** Every frame so far (unless `keep: false`). */
  readonly frames: SseFrame[] = [];
  readonly comments: SseComment[] = [];
  /** `retry:` values received. */
  readonly retries: number[] = [];
  /** Frames dispatched so far (kept or not). */
  frameCount = 0;
  /** Bytes read from curl's stdout so far. */
  bytes = 0;
  /** The last `id:` received (the EventSource "last event ID"). */
  lastId: string | null = null;
  /** Text after the last complete frame when stdout ended (an unfinished frame). */
  leftover = "";
  /** The first 256 characters of the stream, as received. */
  head = "";
  readonly #keep: boolean;
  readonly #onFrame: ((frame: SseFrame) => void) | null;
  readonly #ndjson: boolean;
  readonly #headerFile: string | null;
  readonly #reading: Promise<void>;
  readonly #stderr: Promise<string>;
  #status: Deno.CommandStatus | null = null;
  #ended = false;
  #stopped = false;
  #paused = false;
  // Parser state.
  #carry = "";
  #lastWasCr = false;
  #event = "";
  #id: string | null = null;
  #data: string[] = [];
  #hasField = false;

  constructor(url: string, options: CurlSseOptions = {}) {
    this.url = url;
    this.#keep = options.keep ?? true;
    this.#onFrame = options.onFrame ?? null;
    this.#ndjson = options.ndjson ?? false;
    this.#headerFile = (options.dumpHeaders ?? true)
      ? Deno.makeTempFileSync({ prefix: "tailcast-curl-headers-" })
      : null;
    const args = ["-sNg"];
    if (this.#headerFile) args.push("-D", this.#headerFile);
    for (const [k, v] of Object.entries(options.headers ?? {})) {
      args.push("-H", `${k}: ${v}`);
    }
    args.push(url);
    this.child = new Deno.Command(curlPath, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#reading = this.#read(this.child.stdout);
    this.#stderr = new Response(this.child.stderr).text();
  }

  /** The curl process id. */
  get pid(): number {
    return this.child.pid;
  }

  /** curl's stdout has ended (the server closed the stream, or curl died). */
  get ended(): boolean {
    return this.#ended;
  }

  /** The exit status once curl has exited, else null. */
  get status(): Deno.CommandStatus | null {
    return this.#status;
  }

  /** Frames of type `line` parsed as JSON (needs `keep`). */
  lineEvents<T = Record<string, unknown>>(): T[] {
    return this.frames.filter((f) => f.event === "line").map((f) =>
      JSON.parse(f.data) as T
    );
  }

  /** Frames whose `event:` is `name` (needs `keep`). */
  named(name: string): SseFrame[] {
    return this.frames.filter((f) => f.event === name);
  }

  /** Waits until `condition` holds (it sees this client); fails naming `what`. */
  async until(
    condition: (client: this) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<void> {
    await waitFor(
      () => condition(this),
      `${what} (curl ${this.url}: ${this.frameCount} frames, ${this.bytes} bytes, ended ${this.#ended})`,
      timeoutMs,
    );
  }

  /** Waits for the stream preamble (`retry:`, or the first NDJSON record). */
  async connected(timeoutMs = 10_000): Promise<void> {
    if (this.#ndjson) {
      await this.response(timeoutMs);
      return;
    }
    await this.until((c) => c.retries.length > 0, "retry: preamble", timeoutMs);
  }

  /** Waits for the response headers curl dumped with `-D`. */
  async response(timeoutMs = 10_000): Promise<CurlResponse> {
    if (!this.#headerFile) throw new Error("dumpHeaders is off");
    const file = this.#headerFile;
    let text = "";
    await waitFor(
      async () => {
        text = await Deno.readTextFile(file);
        return /\r?\n\r?\n/.test(text) || this.#status !== null;
      },
      `response headers of ${this.url}`,
      timeoutMs,
    );
    const [statusLine, ...rest] = text.split(/\r?\n\r?\n/)[0].split(/\r?\n/);
    const m = /^HTTP\/[\d.]+ (\d{3})/.exec(statusLine ?? "");
    if (!m) throw new Error(`no HTTP status line from ${this.url}: ${text}`);
    const headers = new Headers();
    for (const line of rest) {
      const at = line.indexOf(":");
      if (at > 0) headers.append(line.slice(0, at), line.slice(at + 1).trim());
    }
    return { status: Number(m[1]), headers };
  }

  /** SIGSTOP: curl stops reading, so the server's writes to it stall. */
  pause(): void {
    Deno.kill(this.pid, "SIGSTOP");
    this.#paused = true;
  }

  /** SIGCONT. */
  resume(): void {
    Deno.kill(this.pid, "SIGCONT");
    this.#paused = false;
  }

  /** Waits for curl to exit by itself (the server ended the stream). */
  async exited(timeoutMs = 10_000): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`curl ${this.url} did not exit within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
    });
    try {
      const status = await Promise.race([this.child.status, timeout]);
      await this.#reading;
      this.#status = status;
      return status;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills curl (SIGCONT first if paused) and waits for it and its output. */
  async stop(): Promise<Deno.CommandStatus> {
    if (!this.#stopped) {
      this.#stopped = true;
      try {
        if (this.#paused) this.resume();
        this.child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
    }
    const status = await this.child.status;
    this.#status = status;
    await this.#reading;
    await this.#stderr;
    if (this.#headerFile) await Deno.remove(this.#headerFile).catch(() => {});
    return status;
  }

  /** curl's stderr (after it exited). */
  stderr(): Promise<string> {
    return this.#stderr;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #read(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      this.bytes += bytes.length;
      const text = decoder.decode(bytes, { stream: true });
      if (this.head.length < 256) this.head += text.slice(0, 256);
      this.#feed(text);
    }
    this.#feed(decoder.decode());
    this.leftover = this.#carry;
    this.#ended = true;
    this.child.status.then((s) => this.#status = s);
  }

  #feed(text: string): void {
    if (text.length === 0) return;
    let s = this.#carry + text;
    // A `\r\n` split across reads: the `\n` was already a line end.
    if (this.#lastWasCr && s.startsWith("\n")) s = s.slice(1);
    this.#lastWasCr = false;
    let start = 0;
    const at = performance.now();
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.#line(s.slice(start, i), at);
      if (c === 13) {
        if (i + 1 < s.length) {
          if (s.charCodeAt(i + 1) === 10) i++;
        } else {
          this.#lastWasCr = true;
        }
      }
      start = i + 1;
    }
    this.#carry = s.slice(start);
  }

  #line(line: string, at: number): void {
    if (this.#ndjson) {
      if (line.length > 0) {
        this.#dispatch({ event: "ndjson", id: null, data: line, at });
      }
      return;
    }
    if (line.length === 0) {
      if (this.#hasField) {
        this.#dispatch({
          event: this.#event || "message",
          id: this.#id,
          data: this.#data.join("\n"),
          at,
        });
      }
      this.#event = "";
      this.#id = null;
      this.#data = [];
      this.#hasField = false;
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) {
      this.comments.push({ text: line.slice(1).trimStart(), at });
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "event":
        this.#event = value;
        this.#hasField = true;
        break;
      case "data":
        this.#data.push(value);
        this.#hasField = true;
        break;
      case "id":
        if (!value.includes("\0")) {
          this.#id = value;
          this.lastId = value;
        }
        this.#hasField = true;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retries.push(Number(value));
        break;
    }
  }

  #dispatch(frame: SseFrame): void {
    this.frameCount++;
    if (this.#keep) this.frames.push(frame);
    this.#onFrame?.(frame);
  }
}

/** The result of a one-shot curl request. */
/** A connected SSE client: curl running and the `retry:` preamble received. */
export async function connectSse(
  url: string,
  options: CurlSseOptions = {},
): Promise<CurlSse> {
  const client = new CurlSse(url, options);
  try {
    await client.connected();
  } catch (error) {
    await client.stop();
    throw error;
  }
  return client;
}

export interface CurlResult extends CurlResponse {
  readonly body: string;
}

/**
 * One request with curl (`-s -i`), for answers that end (JSON, errors).
 * `args` go before the URL, e.g. `["-H", "Authorization: Bearer x"]`.
 */
export async function curl(
  url: string,
  args: readonly string[] = [],
  timeoutSeconds = 10,
): Promise<CurlResult> {
  const out = await new Deno.Command(curlPath, {
    args: [
      "-s",
      "-g",
      "-i",
      "--max-time",
      String(timeoutSeconds),
      ...args,
      url,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const split = /\r?\n\r?\n/.exec(text);
  if (!out.success || !split) {
    throw new Error(
      `curl ${url} failed (exit ${out.code}): ${
        new TextDecoder().decode(out.stderr)
      } ${text.slice(0, 200)}`,
    );
  }
  const [statusLine, ...rest] = text.slice(0, split.index).split(/\r?\n/);
  const headers = new Headers();
  for (const line of rest) {
    const at = line.indexOf(":");
    if (at > 0) headers.append(line.slice(0, at), line.slice(at + 1).trim());
  }
  return {
    status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(statusLine)?.[1] ?? 0),
    headers,
    body: text.slice(split.index + split[0].length),
  };
}
