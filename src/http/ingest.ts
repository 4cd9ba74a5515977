/**
 * `POST /ingest/<name>`: lines from log drains, serverless functions and
 * anything else that can POST, as the events of source `ingest:<name>`.
 *
 * Bodies, by `Content-Type`:
 * - `text/plain`: one event per line (`\n` or `\r\n`; an empty line is an
 *   empty event).
 * - `application/x-ndjson` (also `application/ndjson`, `application/jsonl`):
 *   one JSON object per line, blank lines skipped; each kept as it was sent.
 * - `application/json`: an array of objects (or one object), each written as
 *   one line by `JSON.stringify` (a newline inside a value is escaped `\n`,
 *   so it never splits an event).
 * A JSON object must have a message field (`message` or `msg`, as
 * `--format json` reads them); its time, level and every other field stay.
 *
 * A body is taken whole or not at all: one that is too large is `413`, one
 * that is not UTF-8 or has a bad line is `400` naming the line, and nothing
 * of it is written. The answer `202` comes once the lines are durable (see
 * spool.ts), `429` with `Retry-After` when the spool is full (the pipeline
 * is behind), `422` when an `Idempotency-Key` comes back with another body.
 * The token, when there is one, is checked before the body is read.
 */
import { createHash } from "node:crypto";
import { LimitedBytesTransformStream } from "@std/streams/limited-bytes-transform-stream";
import { TextLineStream } from "@std/streams/text-line-stream";
import { toText } from "@std/streams/to-text";
import type { AppendResult, PostKey } from "../source/ingest.ts";
import { SOURCE_NAME } from "../types.ts";
import { bearerCheck } from "./guard.ts";

/** Where posted lines go (the service's Ingest). */
export interface IngestTarget {
  /** Takes the lines of one POST to `name` (see source/ingest.ts). */
  append(
    name: string,
    lines: readonly string[],
    key: PostKey | null,
  ): Promise<AppendResult>;
}

/** What the handler needs. */
export interface IngestHandlerOptions {
  /** Where the lines go. */
  target: IngestTarget;
  /** The bearer token a POST must carry; null for none (loopback). */
  token: string | null;
  /** Longest body, bytes. */
  maxBody: number;
  /** Told the status of every answer. */
  onAnswer?: (status: number) => void;
}

/** How a body is read. */
type BodyKind = "text" | "ndjson" | "json";

const KINDS: Readonly<Record<string, BodyKind>> = {
  "text/plain": "text",
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "application/jsonl": "ndjson",
  "application/json": "json",
};

/** The fields `--format json` takes a message from. */
const MESSAGE_KEYS = ["message", "msg"] as const;

/** A key: visible ASCII, as Stripe and the IETF draft use them. */
const KEY = /^[\x21-\x7e]{1,255}$/;

/** A body that cannot be taken: its status and why. */
class BodyProblem extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * The `/ingest/<name>` handler.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ingestHandler } from "./ingest.ts";
 * const posted: string[] = [];
 * const handle = ingestHandler({
 *   target: {
 *     append: (_name, lines) => {
 *       posted.push(...lines);
 *       return Promise.resolve({ kind: "accepted", lines: lines.length, duplicate: false });
 *     },
 *   },
 *   token: null,
 *   maxBody: 1024,
 * });
 * const res = await handle(
 *   new Request("http://x/ingest/web", {
 *     method: "POST",
 *     headers: { "content-type": "text/plain" },
 *     body: "one\ntwo\n",
 *   }),
 *   "web",
 * );
 * assertEquals(res.status, 202);
 * assertEquals(posted, ["one", "two"]);
 * ```
 */
export function ingestHandler(
  options: IngestHandlerOptions,
): (request: Request, name: string) => Promise<Response> {
  const carries = options.token === null ? null : bearerCheck(options.token);
  const answer = (response: Response) => {
    options.onAnswer?.(response.status);
    return response;
  };
  return async (request, name) => {
    if (carries) {
      const url = new URL(request.url);
      const given = request.headers.get("authorization") ?? undefined;
      if (!carries(given, url.searchParams.get("token") ?? undefined)) {
        return answer(refuse(
          401,
          "Unauthorized: send Authorization: Bearer <ingest token> (or ?token=<ingest token>)",
          { "www-authenticate": 'Bearer realm="tailcast ingest"' },
        ));
      }
    }
    try {
      if (!SOURCE_NAME.test(name)) {
        throw new BodyProblem(
          400,
          `Invalid ingest name ${
            JSON.stringify(name.slice(0, 80))
          }: use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)`,
        );
      }
      const kind = bodyKind(request.headers.get("content-type"));
      const key = idempotencyKey(request.headers.get("idempotency-key"));
      const declared = Number(request.headers.get("content-length") ?? "0");
      if (declared > options.maxBody) throw tooLarge(options.maxBody);
      const { lines, digest } = await readBody(request, kind, options.maxBody);
      const result = await options.target.append(
        name,
        lines,
        key === null ? null : { key, digest },
      );
      return answer(respond(result));
    } catch (error) {
      if (error instanceof BodyProblem) {
        return answer(refuse(error.status, error.message));
      }
      throw error;
    }
  };
}

/** The answer to a POST that was taken, or not. */
function respond(result: AppendResult): Response {
  switch (result.kind) {
    case "accepted":
      return Response.json(
        result.duplicate
          ? { accepted: result.lines, duplicate: true }
          : { accepted: result.lines },
        { status: 202 },
      );
    case "busy":
      return refuse(429, result.message, {
        "retry-after": String(result.retryAfter),
      });
    case "conflict":
      return refuse(422, result.message);
    case "refused":
      return refuse(403, result.message);
    case "unavailable":
      return refuse(503, result.message, { "retry-after": "2" });
    default: {
      const never: never = result;
      throw new TypeError(`Unknown result ${JSON.stringify(never)}`);
    }
  }
}

function bodyKind(contentType: string | null): BodyKind {
  const type = (contentType ?? "").split(";")[0].trim().toLowerCase();
  const kind = Object.hasOwn(KINDS, type) ? KINDS[type] : undefined;
  if (kind === undefined) {
    throw new BodyProblem(
      415,
      `Unsupported Content-Type ${
        JSON.stringify(type.slice(0, 80))
      }: post text/plain (one line each), application/x-ndjson (one JSON object per line) or application/json (an array of objects)`,
    );
  }
  return kind;
}

function idempotencyKey(value: string | null): string | null {
  if (value === null) return null;
  if (!KEY.test(value)) {
    throw new BodyProblem(
      400,
      "Invalid Idempotency-Key: use 1 to 255 visible ASCII characters (no spaces)",
    );
  }
  return value;
}

function tooLarge(max: number): BodyProblem {
  return new BodyProblem(
    413,
    `Payload Too Large: tailcast takes bodies of at most ${max} bytes (--ingest-max-body); split the batch`,
  );
}

/**
 * The body, read whole (at most `max` bytes) and split into the lines to
 * write, with a digest of its bytes (what tells a retry from another body).
 */
async function readBody(
  request: Request,
  kind: BodyKind,
  max: number,
): Promise<{ lines: string[]; digest: string }> {
  const hash = createHash("sha256");
  const text = (request.body ?? ReadableStream.from<Uint8Array>([]))
    .pipeThrough(new LimitedBytesTransformStream(max, { error: true }))
    .pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          hash.update(chunk);
          controller.enqueue(chunk);
        },
      }),
    )
    .pipeThrough(new TextDecoderStream("utf-8", { fatal: true }));
  let lines: string[];
  try {
    lines = kind === "json"
      ? jsonLines(await toText(text))
      : kind === "ndjson"
      ? ndjsonLines(
        await Array.fromAsync(text.pipeThrough(new TextLineStream())),
      )
      : await Array.fromAsync(text.pipeThrough(new TextLineStream()));
  } catch (error) {
    if (error instanceof BodyProblem) throw error;
    if (error instanceof RangeError) throw tooLarge(max);
    if (error instanceof TypeError) {
      throw new BodyProblem(400, "Bad body: it is not valid UTF-8");
    }
    throw error;
  }
  return { lines, digest: hash.digest("hex").slice(0, 32) };
}

/** NDJSON lines: each a JSON object with a message, kept as sent; blank lines skipped. */
function ndjsonLines(raw: readonly string[]): string[] {
  const out: string[] = [];
  raw.forEach((line, i) => {
    const text = line.trim();
    if (text === "") return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      // V8 says where in the text it parsed: here, the line.
      const why = (error as Error).message.replace(
        / in JSON at position (\d+)(?: \(line \d+ column \d+\))?$/,
        (_, at) => ` at column ${Number(at) + 1}`,
      );
      throw new BodyProblem(
        400,
        `Bad body: line ${i + 1} is not JSON (${why})`,
      );
    }
    checkObject(value, `line ${i + 1}`);
    out.push(text);
  });
  return out;
}

/** A JSON array of objects (or one object): each as one line. */
function jsonLines(text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BodyProblem(
      400,
      `Bad body: it is not JSON (${(error as Error).message})`,
    );
  }
  if (!Array.isArray(value)) {
    checkObject(value, "the body");
    return [JSON.stringify(value)];
  }
  return value.map((item, i) => {
    checkObject(item, `element ${i + 1} of the array`);
    return JSON.stringify(item);
  });
}

function checkObject(value: unknown, where: string): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BodyProblem(
      400,
      `Bad body: ${where} is not a JSON object (post objects such as {"message":"…","level":"info"})`,
    );
  }
  const record = value as Record<string, unknown>;
  if (
    !MESSAGE_KEYS.some((k) => record[k] !== undefined && record[k] !== null)
  ) {
    throw new BodyProblem(
      400,
      `Bad body: ${where} has no message field (give "message" or "msg"; time, level and other fields are kept)`,
    );
  }
}

/** A refusal, in words; the connection is closed after it (the body may not have been read). */
function refuse(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(message + "\n", {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      connection: "close",
      ...headers,
    },
  });
}
