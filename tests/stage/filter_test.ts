import { assert, assertEquals, assertMatch, assertRejects } from "@std/assert";
import {
  eventFilter,
  type Filterable,
  FilterStream,
  type FilterStreamOptions,
} from "../../src/stage/filter.ts";
import { compileWhere } from "../../src/stage/where.ts";
import type { Mark } from "../../src/types.ts";

interface TestEvent extends Filterable {
  readonly id: string;
}

let next = 0;
function ev(line: string, extra: Partial<TestEvent> = {}): TestEvent {
  return { id: `e${next++}`, source: "/logs/app.log", line, ...extra };
}

/** The batches that come out for `batches` (which must hold no marks). */
async function run(
  batches: TestEvent[][],
  options: FilterStreamOptions<TestEvent>,
): Promise<TestEvent[][]> {
  const out = await items(batches, options);
  return out.map((b) => {
    assert(Array.isArray(b), `a mark came out of no mark: ${b}`);
    return b;
  });
}

async function items(
  input: (TestEvent[] | Mark)[],
  options: FilterStreamOptions<TestEvent>,
): Promise<(TestEvent[] | Mark)[]> {
  return await Array.fromAsync(
    ReadableStream.from(input).pipeThrough(
      new FilterStream<TestEvent>(options),
    ),
  );
}

const lines = (batches: TestEvent[][]) =>
  batches.map((b) => b.map((e) => e.line));

Deno.test("FilterStream keeps lines matching any include, in order, batch by batch", async () => {
  const out = await run([
    [ev("GET /a 200"), ev("POST /b 500"), ev("GET /c 404")],
    [ev("PUT /d 200"), ev("POST /e 201")],
  ], { include: [/ 5\d\d$/, /^POST/] });
  assertEquals(lines(out), [["POST /b 500"], ["POST /e 201"]]);
});

Deno.test("FilterStream drops lines matching any exclude", async () => {
  const out = await run([
    [ev("GET /healthz"), ev("GET /a"), ev("GET /metrics"), ev("GET /b")],
  ], { exclude: [/healthz/, /metrics/] });
  assertEquals(lines(out), [["GET /a", "GET /b"]]);
});

Deno.test("FilterStream: exclude wins over include", async () => {
  const out = await run([
    [ev("error db"), ev("error healthz"), ev("info db")],
  ], { include: [/error/], exclude: [/healthz/] });
  assertEquals(lines(out), [["error db"]]);
});

Deno.test("FilterStream applies the where predicate together with the patterns", async () => {
  const out = await run([
    [
      ev("a", { level: "error", fields: { status: 503 } }),
      ev("b", { level: "error", fields: { status: 200 } }),
      ev("c", { level: "info", fields: { status: 503 } }),
      ev("skip d", { level: "error", fields: { status: 500 } }),
    ],
  ], {
    exclude: [/^skip/],
    where: compileWhere("level=error and status>=500"),
  });
  assertEquals(lines(out), [["a"]]);
});

Deno.test("FilterStream does not enqueue batches left empty", async () => {
  const out = await run([
    [ev("x1"), ev("x2")],
    [ev("keep 1")],
    [],
    [ev("x3")],
    [ev("x4"), ev("keep 2"), ev("x5")],
  ], { include: [/keep/] });
  assertEquals(lines(out), [["keep 1"], ["keep 2"]]);
});

Deno.test("FilterStream with no options passes every non-empty batch, as is", async () => {
  const first = [ev("a"), ev("b")];
  const second = [ev("c")];
  const out = await run([first, [], second], {});
  assertEquals(out.length, 2);
  assertEquals(out[0], first);
  assertEquals(out[1], second);
});

Deno.test("FilterStream: an empty include list keeps everything", async () => {
  const out = await run([[ev("a"), ev("b")]], { include: [], exclude: [] });
  assertEquals(lines(out), [["a", "b"]]);
});

Deno.test("FilterStream keeps the events themselves, not copies", async () => {
  const kept = ev("keep", { fields: { n: 1 } });
  const [[only]] = await run([[ev("drop"), kept]], { include: [/keep/] });
  assertEquals(only, kept);
});

Deno.test("FilterStream: global and sticky patterns give the same answer every time", async () => {
  const batch = [ev("error 1"), ev("error 2"), ev("error 3"), ev("error 4")];
  const include = [/error/g];
  const out = await run([batch], { include, exclude: [/zzz/y] });
  assertEquals(lines(out), [["error 1", "error 2", "error 3", "error 4"]]);
  // The caller's pattern is left alone.
  assertEquals(include[0].lastIndex, 0);
  assertEquals(include[0].flags, "g");
});

Deno.test("FilterStream errors the stream when where throws", async () => {
  const stream = ReadableStream.from([[ev("a")]]).pipeThrough(
    new FilterStream<TestEvent>({
      where: () => {
        throw new Error("boom");
      },
    }),
  );
  assertMatch(
    String(await assertRejects(() => Array.fromAsync(stream))),
    /boom/,
  );
});

Deno.test("FilterStream applies backpressure: a slow reader stops pulling from the source", async () => {
  const turn = () => new Promise((resolve) => setTimeout(resolve, 0));
  let pulled = 0;
  const source = new ReadableStream<TestEvent[]>({
    async pull(controller) {
      await turn();
      pulled++;
      controller.enqueue([ev(`line ${pulled}`)]);
    },
  }, new CountQueuingStrategy({ highWaterMark: 0 }));
  const filtered = source.pipeThrough(
    new FilterStream<TestEvent>({ highWaterMark: 2 }),
  );
  for (let i = 0; i < 50; i++) await turn();
  // Two batches queued on each side and one in hand: bounded, not 50.
  assert(pulled > 0 && pulled <= 8, `pulled ${pulled}`);
  await filtered.cancel();
});

Deno.test("FilterStream keeps pulling while everything is filtered out", async () => {
  const out = await run(
    Array.from({ length: 100 }, (_, i) => [ev(`drop ${i}`)]).concat([[
      ev("keep"),
    ]]),
    { include: [/keep/] },
  );
  assertEquals(lines(out), [["keep"]]);
});

Deno.test("FilterStream passes marks through untouched and in order, even between batches it drops", async () => {
  const rotate: Mark = {
    kind: "rotate",
    source: "/logs/app.log",
    how: "renamed",
  };
  const flush: Mark = { kind: "flush", source: "/logs/app.log" };
  const carry: Mark = { kind: "carry", value: [1, 2] };
  const out = await items([
    carry,
    [ev("drop 1")],
    rotate,
    [ev("keep 1"), ev("drop 2")],
    flush,
    [ev("drop 3")],
  ], { include: [/keep/] });
  assertEquals(
    out.map((b) => Array.isArray(b) ? b.map((e) => e.line) : b.kind),
    ["carry", "rotate", ["keep 1"], "flush"],
  );
  assert(out[0] === carry && out[1] === rotate && out[3] === flush);
});

Deno.test("FilterStream never calls where on a mark", async () => {
  const seen: unknown[] = [];
  const out = await items([
    { kind: "vanish", source: "/logs/app.log" },
    [ev("a")],
  ], {
    where: (e) => {
      seen.push(e);
      return true;
    },
  });
  assertEquals(seen.length, 1);
  assertEquals(out.length, 2);
});

Deno.test("eventFilter: include, exclude and where each decide", () => {
  const keep = eventFilter<TestEvent>({
    include: [/GET|POST/],
    exclude: [/healthz/],
    where: (e) => e.level !== "debug",
  });
  assertEquals(keep(ev("GET /a")), true);
  assertEquals(keep(ev("PUT /a")), false, "no include matches");
  assertEquals(keep(ev("GET /healthz")), false, "an exclude matches");
  assertEquals(
    keep(ev("POST /a", { level: "debug" })),
    false,
    "where is false",
  );
  assertEquals(keep(ev("POST /a", { level: "info" })), true);
});

Deno.test("eventFilter with no options keeps everything", () => {
  const keep = eventFilter();
  assertEquals(keep(ev("")), true);
  assertEquals(keep(ev("anything", { level: "debug" })), true);
});

Deno.test("eventFilter tests the raw line, not msg or fields", () => {
  const keep = eventFilter({ include: [/needle/] });
  assertEquals(keep(ev("needle in line", { msg: "x" })), true);
  assertEquals(
    keep(ev("hay", { msg: "needle", fields: { needle: "needle" } })),
    false,
  );
});

Deno.test("eventFilter gives each subscriber its own answer", () => {
  const errors = eventFilter({ where: compileWhere("level=error") });
  const api = eventFilter({ include: [/\/api\//] });
  const e1 = ev("GET /api/x", { level: "ERROR" });
  const e2 = ev("GET /web", { level: "error" });
  const e3 = ev("GET /api/y", { level: "info" });
  assertEquals([e1, e2, e3].filter(errors), [e1, e2]);
  assertEquals([e1, e2, e3].filter(api), [e1, e3]);
});
