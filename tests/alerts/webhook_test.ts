import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import { stub } from "@std/testing/mock";
import { FakeTime } from "@std/testing/time";
import type { Alert } from "../../src/types.ts";
import { Webhook, type WebhookOptions } from "../../src/alerts/webhook.ts";
import { track, waitFor } from "../_fixtures/wait.ts";

function alert(n: number): Alert {
  return {
    rule: "errors",
    kind: "threshold",
    message: `errors: ${n} lines matching level=error within 1m`,
    count: n,
    window: "1m",
    source: "/var/log/app.log",
    time: "2026-03-01T12:00:00.000Z",
  };
}

interface Received {
  readonly body: unknown;
  readonly contentType: string | null;
}

/** A local webhook answering with `answer(n)` for the n-th request (0-based). */
function serve(answer: (n: number) => Response | Promise<Response>) {
  const received: Received[] = [];
  let requests = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const n = requests++;
      const body = await req.json();
      const response = await answer(n);
      if (response.ok) {
        received.push({ body, contentType: req.headers.get("content-type") });
      }
      return response;
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/hooks/secret-token`,
    received,
    requests: () => requests,
    close: () => server.shutdown(),
  };
}

const fast = { backoffMs: 5, maxBackoffMs: 20, timeoutMs: 2000 };

// ------------------------------------------------------- fake time and fetch

/** A whole second, so HTTP dates (second precision) land exactly. */
const START = Date.UTC(2026, 2, 1, 12, 0, 0);
const URL_WITH_SECRET = "http://hooks.example/alerts/secret-token";

interface Call {
  /** Fake ms since START. */
  readonly at: number;
  readonly url: string;
  readonly body: unknown;
  readonly contentType: string | null;
}

/**
 * Fake time for backoff timers, with `fetch` stubbed to answer the n-th
 * request (0-based) with `answer(n)` (a promise that never settles hangs
 * until the request is aborted), `performance.now` on the fake clock, and
 * `Math.random` fixed at `random` so each backoff is exact: std's retry waits
 * `(1 - random / 2)` of the exponential backoff.
 */
function fakeWebhook(
  answer: (n: number) => Response | Promise<Response>,
  options: Partial<WebhookOptions> = {},
  random = 0,
) {
  const time = new FakeTime(START);
  const calls: Call[] = [];
  const log: string[] = [];
  const stubs = [
    stub(performance, "now", () => time.now - START),
    stub(Math, "random", () => random),
    stub(globalThis, "fetch", (input, init) => {
      const headers = new Headers(init?.headers);
      calls.push({
        at: time.now - START,
        url: String(input),
        body: JSON.parse(String(init?.body)),
        contentType: headers.get("content-type"),
      });
      const signal = init?.signal ?? undefined;
      return new Promise<Response>((resolve, reject) => {
        const abort = () => reject(signal?.reason);
        signal?.addEventListener("abort", abort, { once: true });
        Promise.resolve(answer(calls.length - 1)).then(resolve, reject)
          .finally(() => signal?.removeEventListener("abort", abort));
      });
    }),
  ];
  const hook = new Webhook(URL_WITH_SECRET, {
    log: (line) => log.push(line),
    ...options,
  });
  /** Lets the sender run what is due now: microtasks, no fake time. */
  const settle = async () => {
    for (let i = 0; i < 5; i++) await time.runMicrotasks();
  };
  return {
    hook,
    calls,
    log,
    settle,
    /** Fake ms since START. */
    now: () => time.now - START,
    /** Moves the fake clock to `ms` after START and lets the sender run. */
    async at(ms: number) {
      assert(ms >= time.now - START, `${ms} is in the past`);
      await time.tickAsync(ms - (time.now - START));
      await settle();
    },
    /** Closes the hook, then restores real time even if closing hangs. */
    async [Symbol.asyncDispose]() {
      const closing = track(hook.close());
      await settle();
      for (const s of stubs) s.restore();
      time.restore();
      assert(closing.settled(), "close() did not end the sender loop");
    },
  };
}

type Fake = ReturnType<typeof fakeWebhook>;

/**
 * Steps the fake clock to each of `times` (ms after START) still ahead,
 * asserting that the requests so far came exactly at `times`: none a
 * millisecond early. A step that would pass a timer which schedules another
 * (a request's timeout) must be taken first with `at`.
 */
async function expectRequestsAt(fake: Fake, times: number[]): Promise<void> {
  const seen = () => fake.calls.map((c) => c.at);
  for (const t of new Set(times)) {
    if (t < fake.now()) continue;
    if (t - 1 >= fake.now()) {
      await fake.at(t - 1);
      assertEquals(
        seen(),
        times.filter((x) => x < t),
        `a request before ${t} ms`,
      );
    }
    await fake.at(t);
    assertEquals(seen(), times.filter((x) => x <= t), `requests at ${t} ms`);
  }
}

const STATUS_TEXT: Record<number, string> = {
  204: "No Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

function status(code: number, headers: Record<string, string> = {}) {
  return new Response(code === 204 ? null : "body", {
    status: code,
    statusText: STATUS_TEXT[code],
    headers,
  });
}

// ------------------------------------------------------------------ backoff

Deno.test("Webhook retries a failing webhook with doubling backoff and delivers the alert once", async () => {
  await using fake = fakeWebhook(
    (n) => status(n < 3 ? (n === 1 ? 503 : 500) : 204),
    { backoffMs: 1000, maxBackoffMs: 30_000 },
  );
  fake.hook.send(alert(10));
  await expectRequestsAt(fake, [0, 1000, 3000, 7000]);
  assertEquals(fake.hook.delivered, 1);
  assertEquals(fake.hook.givenUp, 0);
  assert(fake.calls.every((c) => c.url === URL_WITH_SECRET));
  assert(fake.calls.every((c) => c.contentType === "application/json"));
  assertEquals(fake.calls[3].body, alert(10));
  assertEquals(fake.log.length, 2, fake.log.join("\n"));
  assertMatch(fake.log[0], /answered 500 Internal Server Error; retrying/);
  assert(fake.log[0].startsWith("webhook http://hooks.example/…: "));
  assert(!fake.log.join("\n").includes("secret-token"));
  assertMatch(fake.log[1], /delivering again after 3 failed attempts$/);
});

Deno.test("Webhook jitter takes off at most half of each backoff", async () => {
  await using fake = fakeWebhook(
    (n) => status(n < 2 ? 500 : 204),
    { backoffMs: 1000, maxBackoffMs: 30_000 },
    1,
  );
  fake.hook.send(alert(1));
  await expectRequestsAt(fake, [0, 500, 1500]);
  assertEquals(fake.hook.delivered, 1);
});

Deno.test("Webhook caps the backoff at maxBackoffMs, gives up after its attempts, then sends the next alert at once", async () => {
  await using fake = fakeWebhook(
    (n) => status(n < 6 ? 500 : 204),
    { backoffMs: 1000, maxBackoffMs: 4000, attempts: 6 },
  );
  fake.hook.send(alert(1));
  fake.hook.send(alert(2));
  // The sixth attempt fails at 15000 ms; the second alert goes out then.
  await expectRequestsAt(fake, [0, 1000, 3000, 7000, 11_000, 15_000, 15_000]);
  assertEquals(fake.calls[6].body, alert(2));
  assertEquals(fake.hook.givenUp, 1);
  assertEquals(fake.hook.delivered, 1);
  assertEquals(fake.log.length, 2, fake.log.join("\n"));
  assertMatch(fake.log[0], /up to 6 attempts per alert/);
  assertMatch(
    fake.log[1],
    /delivering again after 6 failed attempts \(alerts lost: 1 given up\)$/,
  );
});

Deno.test("Webhook gives up an alert that grows too old during its backoff", async () => {
  await using fake = fakeWebhook(() => status(500), {
    backoffMs: 1000,
    maxBackoffMs: 30_000,
    maxAgeMs: 5000,
  });
  fake.hook.send(alert(1));
  await expectRequestsAt(fake, [0, 1000, 3000]);
  // The next attempt would be at 7000 ms, past 5000 ms of age.
  await fake.at(6999);
  assertEquals(fake.hook.givenUp, 0);
  await fake.at(7000);
  assertEquals(fake.hook.givenUp, 1);
  assertEquals(fake.calls.length, 3);
});

Deno.test("Webhook times out a request that gets no answer, and reports it once", async () => {
  await using fake = fakeWebhook(() => new Promise<Response>(() => {}), {
    backoffMs: 1000,
    maxBackoffMs: 30_000,
    timeoutMs: 2000,
    attempts: 2,
  });
  fake.hook.send(alert(1));
  fake.hook.send(alert(2));
  await expectRequestsAt(fake, [0]);
  await fake.at(2000); // times out
  await expectRequestsAt(fake, [0, 3000]);
  // Times out again: alert 1 is given up, and alert 2 goes out at once.
  await fake.at(5000);
  await expectRequestsAt(fake, [0, 3000, 5000]);
  assertEquals(fake.hook.givenUp, 1);
  assertEquals(fake.calls[2].body, alert(2));
  assertEquals(fake.log.length, 1, fake.log.join("\n"));
  assertMatch(
    fake.log[0],
    /no answer within 2000 ms; retrying with backoff \(up to 2 attempts per alert\); reported once/,
  );
});

// -------------------------------------------------------------- Retry-After

Deno.test("Webhook waits the seconds of a 429's Retry-After instead of its shorter backoff", async () => {
  await using fake = fakeWebhook(
    (n) => n === 0 ? status(429, { "retry-after": "7" }) : status(204),
    { backoffMs: 100, maxBackoffMs: 30_000 },
  );
  fake.hook.send(alert(1));
  await expectRequestsAt(fake, [0, 7000]);
  assertEquals(fake.hook.delivered, 1);
  assertMatch(
    fake.log[0],
    /answered 429 Too Many Requests with Retry-After 7 s; retrying/,
  );
});

Deno.test("Webhook waits until the HTTP date of a 503's Retry-After", async () => {
  const date = new Date(START + 12_000).toUTCString();
  await using fake = fakeWebhook(
    (n) => n === 0 ? status(503, { "retry-after": date }) : status(204),
    { backoffMs: 100, maxBackoffMs: 30_000 },
  );
  fake.hook.send(alert(1));
  await expectRequestsAt(fake, [0, 12_000]);
  assertEquals(fake.hook.delivered, 1);
});

Deno.test("Webhook waits no longer than maxBackoffMs for a Retry-After", async () => {
  const tomorrow = new Date(START + 86_400_000).toUTCString();
  await using fake = fakeWebhook(
    (n) =>
      n === 0
        ? status(429, { "retry-after": "3600" })
        : n === 1
        ? status(503, { "retry-after": tomorrow })
        : status(204),
    { backoffMs: 100, maxBackoffMs: 20_000, maxAgeMs: 3_600_000 },
  );
  fake.hook.send(alert(1));
  await expectRequestsAt(fake, [0, 20_000, 40_000]);
  assertEquals(fake.hook.delivered, 1);
  assertMatch(fake.log[0], /Retry-After 3600 s \(waiting at most 20000 ms\)/);
});

Deno.test("Webhook lets Retry-After lengthen the backoff only, and only on 429 and 503", async () => {
  await using fake = fakeWebhook(
    (n) =>
      [
        status(429, { "retry-after": "1" }), // shorter than the backoff
        status(500, { "retry-after": "60" }), // not a 429 or 503
        status(503, { "retry-after": "soon" }), // unreadable
        status(204),
      ][n],
    { backoffMs: 5000, maxBackoffMs: 120_000 },
  );
  fake.hook.send(alert(1));
  await expectRequestsAt(fake, [0, 5000, 15_000, 35_000]);
  assertEquals(fake.hook.delivered, 1);
});

Deno.test("Webhook gives up at once an alert that a Retry-After would make too old", async () => {
  await using fake = fakeWebhook(
    (n) => n === 0 ? status(429, { "retry-after": "120" }) : status(204),
    { backoffMs: 100, maxBackoffMs: 300_000, maxAgeMs: 60_000 },
  );
  fake.hook.send(alert(1));
  fake.hook.send(alert(2));
  await fake.settle();
  assertEquals(fake.hook.givenUp, 1);
  assertEquals(fake.calls.map((c) => [c.at, c.body]), [
    [0, alert(1)],
    [0, alert(2)],
  ]);
  assertEquals(fake.hook.delivered, 1);
});

// -------------------------------------------------------------------- close

Deno.test("Webhook.close() aborts the backoff and the Retry-After wait without waiting them out", async () => {
  for (
    const [what, answer, elapse] of [
      ["backoff", () => status(500), 0],
      ["Retry-After", () => status(429, { "retry-after": "20" }), 100],
    ] as const
  ) {
    await using fake = fakeWebhook(answer, {
      backoffMs: 100,
      maxBackoffMs: 30_000,
    });
    fake.hook.send(alert(1));
    await fake.at(elapse);
    assertEquals(fake.calls.length, 1, what);
    const closing = track(fake.hook.close());
    await fake.settle();
    assert(closing.settled(), `close() waited out the ${what}`);
    assertEquals(fake.calls.length, 1, what);
    assertMatch(fake.log.at(-1)!, /closed with 1 alert not delivered$/);
  }
});

Deno.test("Webhook.close() aborts the request in flight", async () => {
  await using fake = fakeWebhook(() => new Promise<Response>(() => {}));
  fake.hook.send(alert(1));
  fake.hook.send(alert(2));
  await fake.settle();
  assertEquals(fake.calls.length, 1);
  const closing = track(fake.hook.close());
  await fake.settle();
  assert(closing.settled(), "close() waited for the request");
  assertEquals(fake.hook.delivered + fake.hook.givenUp, 0);
  assertMatch(fake.log.at(-1)!, /closed with 2 alerts not delivered$/);
  assertEquals(fake.log.length, 1, fake.log.join("\n"));
});

// ------------------------------------------------------------- real server

Deno.test("Webhook does not retry a 4xx other than 408 and 429", async () => {
  const server = serve((n) =>
    new Response("bad", { status: n === 0 ? 400 : 200 })
  );
  const log: string[] = [];
  const hook = new Webhook(server.url, { ...fast, log: (l) => log.push(l) });
  hook.send(alert(1));
  hook.send(alert(2));
  await waitFor(() => hook.delivered === 1, "the second alert");
  await hook.close();
  await server.close();
  assertEquals(server.requests(), 2);
  assertEquals(hook.givenUp, 1);
  assertEquals(server.received.map((r) => r.body), [alert(2)]);
  assertMatch(log[0], /answered 400 Bad Request; not retrying this alert/);
  assertMatch(log[1], /\(alerts lost: 1 given up\)$/);
});

Deno.test("Webhook keeps the newest alerts when its queue is full", async () => {
  const server = serve(() => new Response(null, { status: 204 }));
  const log: string[] = [];
  const hook = new Webhook(server.url, {
    ...fast,
    capacity: 3,
    log: (l) => log.push(l),
  });
  // The first is taken for sending at once; three of the rest wait.
  for (let n = 1; n <= 10; n++) hook.send(alert(n));
  assertEquals(hook.queued, 3);
  assertEquals(hook.dropped, 6);
  await waitFor(() => hook.delivered === 4, "four deliveries");
  await hook.close();
  await server.close();
  assertEquals(server.received.map((r) => (r.body as Alert).count), [
    1,
    8,
    9,
    10,
  ]);
  assertEquals(log.length, 1, log.join("\n"));
  assertMatch(log[0], /queue full \(3 alerts\), dropping the oldest/);
});

Deno.test("Webhook.send never waits, even while the webhook hangs", async () => {
  const gate = Promise.withResolvers<void>();
  const server = serve(async () => {
    await gate.promise;
    return new Response("late", { status: 503 });
  });
  const hook = new Webhook(server.url, { ...fast, log: () => {} });
  hook.send(alert(0));
  await waitFor(() => server.requests() === 1, "the request in flight");
  const started = performance.now();
  for (let n = 1; n <= 1000; n++) {
    const result: unknown = hook.send(alert(n));
    assertEquals(result, undefined);
  }
  assert(performance.now() - started < 500);
  assertEquals(hook.queued, 100);
  assertEquals(hook.dropped, 900);
  await hook.close();
  gate.resolve();
  await server.close();
  hook.send(alert(1001)); // after close: ignored
  assertEquals(hook.queued, 100);
});

Deno.test("Webhook refuses URLs it cannot post to", () => {
  assertMatch(
    String(
      assertThrows(() =>
        new Webhook("hooks.example/alerts", { log: () => {} })
      ),
    ),
    /Invalid webhook URL "hooks.example\/alerts": use an absolute http/,
  );
  assertMatch(
    String(
      assertThrows(() =>
        new Webhook("ftp://hooks.example/", { log: () => {} })
      ),
    ),
    /use http:\/\/ or https:\/\/, not ftp:/,
  );
  assertMatch(
    String(
      assertThrows(() =>
        new Webhook("http://h/", { log: () => {}, capacity: 0 })
      ),
    ),
    /Invalid webhook capacity 0/,
  );
  assertMatch(
    String(
      assertThrows(() =>
        new Webhook("http://h/", { log: () => {}, attempts: 2.5 })
      ),
    ),
    /Invalid webhook attempts 2.5: use a whole number of at least 1/,
  );
});
