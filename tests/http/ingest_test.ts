import { assert, assertEquals, assertMatch } from "@std/assert";
import { createApp } from "../../src/app.ts";
import { ingestHandler, type IngestTarget } from "../../src/http/ingest.ts";
import { SseRoute } from "../../src/http/route.ts";
import { Hub } from "../../src/sink/hub.ts";
import { Journal } from "../../src/sink/journal.ts";
import type { AppendResult, PostKey } from "../../src/source/ingest.ts";
import { Tail } from "../../src/source/tail.ts";

/** A target that records every append and answers `result` (accepted by default). */
class Recorder implements IngestTarget {
  readonly calls: {
    name: string;
    lines: readonly string[];
    key: PostKey | null;
  }[] = [];
  result: AppendResult | null = null;

  append(
    name: string,
    lines: readonly string[],
    key: PostKey | null,
  ): Promise<AppendResult> {
    this.calls.push({ name, lines, key });
    return Promise.resolve(
      this.result ??
        { kind: "accepted", lines: lines.length, duplicate: false },
    );
  }
}

function post(
  body: BodyInit | null,
  type: string | null,
  headers: Record<string, string> = {},
  url = "http://127.0.0.1:8787/ingest/web",
): Request {
  return new Request(url, {
    method: "POST",
    headers: { ...(type === null ? {} : { "content-type": type }), ...headers },
    body,
  });
}

function handler(
  target: Recorder,
  options: { token?: string; maxBody?: number } = {},
) {
  return ingestHandler({
    target,
    token: options.token ?? null,
    maxBody: options.maxBody ?? 1024,
  });
}

Deno.test("ingest text/plain: one line per line, \\r\\n or \\n, empty lines kept, no line after the last newline", async () => {
  const target = new Recorder();
  const res = await handler(target)(
    post(
      "one\r\ntwo\n\nfour\nlast without newline",
      "text/plain; charset=utf-8",
    ),
    "web",
  );
  assertEquals(res.status, 202);
  assertEquals(await res.json(), { accepted: 5 });
  assertEquals(target.calls, [{
    name: "web",
    lines: ["one", "two", "", "four", "last without newline"],
    key: null,
  }]);
});

Deno.test("ingest NDJSON: one object per line, kept as sent, blank lines skipped; each needs a message", async () => {
  const target = new Recorder();
  const body =
    '{"message":"a","level":"warn", "time":"2026-12-01T00:00:00Z"}\n' +
    "\n" + '  {"msg":"b","n":1.50}  \r\n';
  const res = await handler(target)(post(body, "application/x-ndjson"), "web");
  assertEquals(res.status, 202);
  assertEquals(target.calls[0].lines, [
    '{"message":"a","level":"warn", "time":"2026-12-01T00:00:00Z"}',
    '{"msg":"b","n":1.50}',
  ]);
  for (const type of ["application/ndjson", "application/jsonl"]) {
    assertEquals(
      (await handler(target)(post('{"msg":"c"}\n', type), "web")).status,
      202,
      type,
    );
  }
});

Deno.test("ingest JSON: an array of objects (or one object), each on one line: a newline inside a value is escaped, not a new event", async () => {
  const target = new Recorder();
  const body = JSON.stringify(
    [
      { message: "first\nsecond", level: "error", timestamp: 1764547200000 },
      { msg: "b", nested: { a: [1, 2] } },
    ],
    null,
    2,
  );
  const res = await handler(target)(post(body, "application/json"), "web");
  assertEquals(res.status, 202);
  assertEquals(target.calls[0].lines, [
    '{"message":"first\\nsecond","level":"error","timestamp":1764547200000}',
    '{"msg":"b","nested":{"a":[1,2]}}',
  ]);
  const one = await handler(target)(
    post('{"message":"alone"}', "application/json"),
    "web",
  );
  assertEquals(await one.json(), { accepted: 1 });
  assertEquals(target.calls[1].lines, ['{"message":"alone"}']);
});

Deno.test("ingest refuses a bad body with 400 naming the line or element, and writes none of it", async () => {
  const target = new Recorder();
  const cases: [string, string, RegExp][] = [
    [
      '{"message":"ok"}\n{"message":"ok"}\n{"message": nope}\n',
      "application/x-ndjson",
      /^Bad body: line 3 is not JSON \(.+\)$/,
    ],
    [
      '{"message":"x",}\n',
      "application/x-ndjson",
      /^Bad body: line 1 is not JSON \(Expected double-quoted property name at column 16\)$/,
    ],
    [
      '{"message":"ok"}\n{"level":"info"}\n',
      "application/x-ndjson",
      /^Bad body: line 2 has no message field \(give "message" or "msg"/,
    ],
    [
      '{"message":"ok"}\n[1,2]\n',
      "application/x-ndjson",
      /^Bad body: line 2 is not a JSON object/,
    ],
    [
      '[{"message":"ok"}, "text"]',
      "application/json",
      /^Bad body: element 2 of the array is not a JSON object/,
    ],
    [
      '[{"message":"ok"}, {"message": null}]',
      "application/json",
      /^Bad body: element 2 of the array has no message field/,
    ],
    [
      '[{"message":"ok"},\n{"message":"x",}]',
      "application/json",
      /^Bad body: it is not JSON \(.*line 2 column 16\)\)$/,
    ],
    ["42", "application/json", /^Bad body: the body is not a JSON object/],
  ];
  for (const [body, type, says] of cases) {
    const res = await handler(target)(post(body, type), "web");
    assertEquals(res.status, 400, body);
    assertMatch((await res.text()).trim(), says, body);
  }
  const latin1 = new Uint8Array([0x6f, 0x6b, 0x0a, 0xe9, 0x0a]);
  const res = await handler(target)(post(latin1, "text/plain"), "web");
  assertEquals(res.status, 400);
  assertEquals(
    (await res.text()).trim(),
    "Bad body: it is not valid UTF-8",
  );
  assertEquals(target.calls, [], "nothing of a bad body is written");
});

Deno.test("ingest answers 413 for a body over the limit, declared or streamed, 415 for another type, 400 for a bad name or key", async () => {
  const target = new Recorder();
  const handle = handler(target, { maxBody: 16 });
  const declared = await handle(post("x".repeat(17), "text/plain"), "web");
  assertEquals(declared.status, 413);
  assertMatch(await declared.text(), /at most 16 bytes \(--ingest-max-body\)/);
  assertEquals(declared.headers.get("connection"), "close");
  // Chunked, with no Content-Length: found while it is read.
  const streamed = await handle(
    post(
      ReadableStream.from(["0123456789\n", "0123456789\n"]).pipeThrough(
        new TextEncoderStream(),
      ),
      "text/plain",
    ),
    "web",
  );
  assertEquals(streamed.status, 413);
  assertEquals(
    (await handle(post("x\n", "image/png"), "web")).status,
    415,
  );
  // A string body would be given text/plain by Request itself.
  const untyped = new TextEncoder().encode("x\n");
  assertEquals((await handle(post(untyped, null), "web")).status, 415);
  const name = await handle(post("x\n", "text/plain"), "../etc");
  assertEquals(name.status, 400);
  assertMatch(await name.text(), /Invalid ingest name/);
  const key = await handle(
    post("x\n", "text/plain", { "idempotency-key": "has space" }),
    "web",
  );
  assertEquals(key.status, 400);
  assertMatch(await key.text(), /Invalid Idempotency-Key/);
  assertEquals(target.calls, []);
  assertEquals(
    (await handle(post("exactly 16 bytes", "text/plain"), "web")).status,
    202,
  );
});

Deno.test("ingest passes the Idempotency-Key with a digest of the body: the same body, the same digest", async () => {
  const target = new Recorder();
  const handle = handler(target);
  for (const body of ["a\nb\n", "a\nb\n", "a\nc\n"]) {
    await handle(post(body, "text/plain", { "idempotency-key": "k-1" }), "web");
  }
  const [a, b, c] = target.calls.map((x) => x.key!);
  assertEquals([a.key, b.key, c.key], ["k-1", "k-1", "k-1"]);
  assertEquals(a.digest, b.digest);
  assert(a.digest !== c.digest);
});

Deno.test("ingest answers what the target says: 202 duplicate, 429 with Retry-After, 422, 403, 503", async () => {
  const target = new Recorder();
  const handle = handler(target);
  const cases: [AppendResult, number, Record<string, string>][] = [
    [{ kind: "accepted", lines: 3, duplicate: true }, 202, {}],
    [{ kind: "busy", message: "full", retryAfter: 2 }, 429, {
      "retry-after": "2",
    }],
    [{ kind: "conflict", message: "other body" }, 422, {}],
    [{ kind: "refused", message: "too many names" }, 403, {}],
    [{ kind: "unavailable", message: "stopping" }, 503, { "retry-after": "2" }],
  ];
  for (const [result, status, headers] of cases) {
    target.result = result;
    const res = await handle(post("x\n", "text/plain"), "web");
    assertEquals(res.status, status, result.kind);
    for (const [k, v] of Object.entries(headers)) {
      assertEquals(res.headers.get(k), v, `${result.kind} ${k}`);
    }
    if (status === 202) {
      assertEquals(await res.json(), { accepted: 3, duplicate: true });
    } else {
      assertEquals(
        (await res.text()).trim(),
        (result as { message: string }).message,
      );
    }
  }
});

Deno.test("ingest with a token: 401 without it or with another, before the body is read; Bearer or ?token= pass", async () => {
  const target = new Recorder();
  const handle = handler(target, { token: "post-secret" });
  let pulled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled = true;
      controller.enqueue(new TextEncoder().encode("x\n"));
      controller.close();
    },
  }, { highWaterMark: 0 });
  const none = await handle(post(body, "text/plain"), "web");
  assertEquals(none.status, 401);
  assertEquals(
    none.headers.get("www-authenticate"),
    'Bearer realm="tailcast ingest"',
  );
  assertEquals(pulled, false, "the body was not read");
  const wrong = await handle(
    post("x\n", "text/plain", { authorization: "Bearer read-secret" }),
    "web",
  );
  assertEquals(wrong.status, 401);
  assertEquals(
    (await handle(
      post("x\n", "text/plain", { authorization: "bearer post-secret" }),
      "web",
    )).status,
    202,
  );
  assertEquals(
    (await handle(
      post("x\n", "text/plain", {}, "http://h/ingest/web?token=post-secret"),
      "web",
    )).status,
    202,
  );
  assertEquals(target.calls.length, 2);
});

/** The app with only what the ingest route needs running. */
async function app(options: {
  token: string | null;
  ingestToken: string | null;
  listen?: string;
}) {
  const abort = new AbortController();
  const tail = await Tail.start({
    paths: [],
    startAt: { kind: "end" },
    pollMs: null,
    signal: abort.signal,
  });
  const target = new Recorder();
  const hub = new Hub();
  const built = createApp({
    tail,
    sse: new SseRoute(hub),
    journal: new Journal(),
    version: "test",
    token: options.token,
    listen: options.listen,
    ingest: { token: options.ingestToken, maxBody: 1024 },
    ingestTarget: target,
  });
  return {
    target,
    request: (path: string, init: RequestInit = {}) =>
      built.request(`http://127.0.0.1:8787${path}`, init),
    [Symbol.asyncDispose]: async () => {
      abort.abort();
      hub.close();
      await tail.done;
    },
  };
}

const textPost = (headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "text/plain", ...headers },
  body: "x\n",
});

Deno.test("app: the ingest token may differ from the read token; neither opens the other's routes", async () => {
  await using a = await app({
    token: "read-secret",
    ingestToken: "post-secret",
  });
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  assertEquals(
    (await a.request("/ingest/web", textPost(bearer("read-secret")))).status,
    401,
  );
  assertEquals(
    (await a.request("/ingest/web", textPost(bearer("post-secret")))).status,
    202,
  );
  assertEquals(
    (await a.request("/sources", { headers: bearer("post-secret") })).status,
    401,
  );
  assertEquals(
    (await a.request("/sources", { headers: bearer("read-secret") })).status,
    200,
  );
  assertEquals(a.target.calls.length, 1);
});

Deno.test("app: without a token, POST /ingest answers only for this server's own Host names; with an ingest token, any Host", async () => {
  {
    await using a = await app({ token: null, ingestToken: null });
    const evil = await a.request(
      "/ingest/web",
      textPost({ host: "evil.example" }),
    );
    assertEquals(evil.status, 403);
    const local = await a.request(
      "/ingest/web",
      textPost({ host: "127.0.0.1:8787" }),
    );
    assertEquals(local.status, 202);
  }
  {
    await using a = await app({
      token: null,
      ingestToken: "post-secret",
      listen: "0.0.0.0",
    });
    const proxied = await a.request(
      "/ingest/web",
      textPost({
        host: "logs.example.com",
        authorization: "Bearer post-secret",
      }),
    );
    assertEquals(proxied.status, 202);
    const unsigned = await a.request(
      "/ingest/web",
      textPost({ host: "logs.example.com" }),
    );
    assertEquals(unsigned.status, 401);
    // The read routes keep the Host check.
    assertEquals(
      (await a.request("/sources", { headers: { host: "logs.example.com" } }))
        .status,
      403,
    );
  }
});
