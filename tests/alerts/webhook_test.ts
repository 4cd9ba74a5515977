import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import type { Alert } from "../../src/types.ts";
import { Webhook } from "../../src/alerts/webhook.ts";
import { waitFor } from "../_fixtures/wait.ts";

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

Deno.test("Webhook retries a failing webhook and delivers the alert once", async () => {
  const server = serve((n) =>
    new Response("no", { status: n < 2 ? 500 : 200 })
  );
  const log: string[] = [];
  const hook = new Webhook(server.url, { ...fast, log: (l) => log.push(l) });
  hook.send(alert(10));
  await waitFor(() => hook.delivered === 1, "the alert to be delivered");
  await hook.close();
  await server.close();
  assertEquals(server.requests(), 3);
  assertEquals(server.received, [{
    body: alert(10),
    contentType: "application/json",
  }]);
  const origin = new URL(server.url).origin;
  assertEquals(log.length, 2, log.join("\n"));
  assertMatch(log[0], /answered 500 Internal Server Error; retrying/);
  assert(log[0].startsWith(`webhook ${origin}/…: `), log[0]);
  assert(!log.join("\n").includes("secret-token"));
  assertMatch(log[1], /delivering again after 2 failed attempts$/);
  assertEquals(hook.givenUp, 0);
});

Deno.test("Webhook reports a webhook that never answers once, and close() returns promptly", async () => {
  const gate = Promise.withResolvers<void>();
  const server = serve(async () => {
    await gate.promise;
    return new Response("late", { status: 503 });
  });
  const log: string[] = [];
  const hook = new Webhook(server.url, {
    ...fast,
    timeoutMs: 30,
    attempts: 2,
    log: (l) => log.push(l),
  });
  hook.send(alert(1));
  hook.send(alert(2));
  hook.send(alert(3));
  await waitFor(() => hook.givenUp >= 1 && server.requests() >= 3, "retries");
  const started = performance.now();
  await hook.close();
  const took = performance.now() - started;
  assert(took < 200, `close() took ${took} ms`);
  gate.resolve();
  await server.close();
  assertEquals(server.received.length, 0);
  const failing = log.filter((l) => l.includes("no answer within 30 ms"));
  assertEquals(failing.length, 1, log.join("\n"));
  assertMatch(failing[0], /retrying with backoff \(up to 2 attempts/);
  assertMatch(log.at(-1)!, /closed with [12] alerts? not delivered$/);
  assertEquals(hook.delivered, 0);
});

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
});
