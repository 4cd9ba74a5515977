import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import {
  MultilineStream,
  type MultilineStreamOptions,
} from "../../src/stage/multiline.ts";
import { LineStream } from "../../src/stage/lines.ts";
import type { Chunk, FileId, Line, Mark } from "../../src/types.ts";

const encoder = new TextEncoder();
const FILE: FileId = { dev: 1, ino: 2 };
const SOURCE = "/logs/app.log";

/** An event reduced to plain data, so deepEqual shows readable differences. */
interface Seen {
  source: string;
  file: string;
  offset: number;
  end: number;
  text: string;
  truncated: boolean;
  partial: boolean;
  invalidUtf8: boolean;
  crlf: boolean;
}

function seen(line: Line): Seen {
  return {
    source: line.source,
    file: `${line.file.dev}.${line.file.ino}`,
    offset: line.offset,
    end: line.end,
    text: line.text,
    truncated: line.truncated ?? false,
    partial: line.partial ?? false,
    invalidUtf8: line.invalidUtf8 ?? false,
    crlf: line.crlf ?? false,
  };
}

/** Lines of one file, back to back from `from`, each ended by `\n` (or `\r\n`). */
function linesOf(
  texts: string[],
  options: { source?: string; file?: FileId; from?: number; crlf?: boolean } =
    {},
): Line[] {
  let offset = options.from ?? 0;
  return texts.map((text) => {
    const end = offset + encoder.encode(text).length +
      (options.crlf ? 2 : 1);
    const line: Line = {
      source: options.source ?? SOURCE,
      file: options.file ?? FILE,
      offset,
      end,
      text,
      noticed: 0,
      ...(options.crlf ? { crlf: true } : {}),
    };
    offset = end;
    return line;
  });
}

/** The events joined from `batches`, all batches flattened (marks left out). */
async function run(
  batches: (Line[] | Mark)[],
  options: MultilineStreamOptions,
): Promise<Seen[]> {
  const out = await items(batches, options);
  return out.filter((i) => Array.isArray(i)).flat().map(seen);
}

/** Everything that comes out for `input`, in order: batches of events and marks. */
async function items(
  input: (Line[] | Mark)[],
  options: MultilineStreamOptions,
): Promise<(Line[] | Mark)[]> {
  const out = await Array.fromAsync(
    ReadableStream.from(input).pipeThrough(new MultilineStream(options)),
  );
  for (const item of out) {
    if (Array.isArray(item)) assert(item.length > 0, "empty batch");
  }
  return out;
}

/** The events of one item read from the stream, which must be a batch. */
function batchOf(item: Line[] | Mark | undefined): Seen[] {
  assert(Array.isArray(item), `expected a batch of events, got ${item}`);
  return item.map(seen);
}

function expect(
  text: string,
  offset: number,
  end: number,
  flags: Partial<Seen> = {},
): Seen {
  return {
    source: SOURCE,
    file: "1.2",
    offset,
    end,
    text,
    truncated: false,
    partial: false,
    invalidUtf8: false,
    crlf: false,
    ...flags,
  };
}

const LOGBACK = /^\d{4}-\d{2}-\d{2} /;

const JAVA = [
  "2024-03-01 10:00:00.000 INFO  [main] c.e.App - starting",
  "2024-03-01 10:00:01.250 ERROR [main] c.e.App - request failed",
  "java.lang.IllegalStateException: could not load user 42",
  "\tat com.example.UserService.load(UserService.java:88)",
  "\tat com.example.App.handle(App.java:42)",
  "Caused by: java.io.IOException: Connection reset by peer",
  "\tat java.base/sun.nio.ch.SocketDispatcher.read0(Native Method)",
  "\tat java.base/sun.nio.ch.SocketDispatcher.read(SocketDispatcher.java:47)",
  "\t... 12 more",
  "2024-03-01 10:00:02.000 INFO  [main] c.e.App - recovered",
];

Deno.test("Java stack trace with Caused by and ... more joins into one event", async () => {
  const lines = linesOf(JAVA);
  const events = await run([lines], { start: LOGBACK });
  assertEquals(events, [
    expect(JAVA[0], 0, lines[0].end),
    expect(JAVA.slice(1, 9).join("\n"), lines[1].offset, lines[8].end),
    expect(JAVA[9], lines[9].offset, lines[9].end),
  ]);
});

Deno.test("events are the same whatever the batching", async () => {
  const lines = linesOf(JAVA);
  const whole = await run([lines], { start: LOGBACK });
  const single = await run(lines.map((l) => [l]), { start: LOGBACK });
  const pairs = await run(
    [lines.slice(0, 2), lines.slice(2, 5), lines.slice(5)],
    { start: LOGBACK },
  );
  assertEquals(single, whole);
  assertEquals(pairs, whole);
});

Deno.test("Python traceback with start ^\\S joins the indented lines", async () => {
  const texts = [
    "Traceback (most recent call last):",
    '  File "/app/main.py", line 12, in <module>',
    "    main()",
    '  File "/app/main.py", line 8, in main',
    "    1 / 0",
    "ZeroDivisionError: division by zero",
    "done",
  ];
  const lines = linesOf(texts);
  const events = await run([lines], { start: /^\S/ });
  assertEquals(events, [
    expect(texts.slice(0, 5).join("\n"), 0, lines[4].end),
    // With ^\S the exception line starts its own event.
    expect(texts[5], lines[5].offset, lines[5].end),
    expect(texts[6], lines[6].offset, lines[6].end),
  ]);
});

Deno.test("offsets and end of a joined event are exact with CRLF and UTF-8", async () => {
  const texts = ["ERR naïve €", "  😀 frame", "", "  last", "ERR next"];
  const lines = linesOf(texts, { from: 100, crlf: true });
  const events = await run([lines], { start: /^ERR/ });
  // 100 + (14+2) + (12+2) + (0+2) + (6+2) = 140: ï is 2 bytes, € 3, 😀 4.
  assertEquals(events, [
    expect("ERR naïve €\n  😀 frame\n\n  last", 100, 140, { crlf: true }),
    expect("ERR next", 140, 150, { crlf: true }),
  ]);
});

Deno.test("lines before the first start line pass through on their own", async () => {
  const texts = ["  orphan 1", "  orphan 2", "START a", "  more"];
  const lines = linesOf(texts);
  const events = await run([lines], { start: /^START/ });
  assertEquals(events, [
    expect("  orphan 1", 0, 11),
    expect("  orphan 2", 11, 22),
    expect("START a\n  more", 22, 37),
  ]);
});

Deno.test("the flush timeout emits the last event while the stream stays open", async () => {
  const { readable, writable } = new TransformStream<
    Line[] | Mark,
    Line[] | Mark
  >();
  const reader = readable
    .pipeThrough(new MultilineStream({ start: /^\S/, flushMs: 10 }))
    .getReader();
  const writer = writable.getWriter();
  const lines = linesOf(["first", "second", "  cont"]);
  await writer.write(lines);
  // "first" is emitted at once by the next start line.
  const one = await reader.read();
  assertEquals(batchOf(one.value), [expect("first", 0, 6)]);
  // Nothing more is written: only the timer can emit "second".
  const two = await reader.read();
  assertEquals(batchOf(two.value), [expect("second\n  cont", 6, 20)]);
  // A later continuation has no event to join: it passes through.
  await writer.write(linesOf(["  late"], { from: 20 }));
  const three = await reader.read();
  assertEquals(batchOf(three.value), [expect("  late", 20, 27)]);
  await writer.close();
  assertEquals((await reader.read()).done, true);
});

Deno.test("flushMs Infinity waits for the end of the stream", async () => {
  const events = await run([linesOf(["a", " b"])], {
    start: /^\S/,
    flushMs: Infinity,
  });
  assertEquals(events, [expect("a\n b", 0, 5)]);
});

Deno.test("the size cap cuts the event and drops the rest of it", async () => {
  // "START" (5) + "\n0123456789" (11) = 16; the cap of 20 cuts "\nabcdefghij" after "\nabc".
  const texts = ["START", "0123456789", "abcdefghij", "dropped", "START 2"];
  const lines = linesOf(texts);
  const events = await run([lines], { start: /^START/, maxBytes: 20 });
  assertEquals(events, [
    expect("START\n0123456789\nabc", 0, lines[3].end, { truncated: true }),
    expect("START 2", lines[4].offset, lines[4].end),
  ]);
  // An event of exactly the cap is not truncated.
  const exact = await run([linesOf(["START", "0123456789", "abc"])], {
    start: /^START/,
    maxBytes: 20,
  });
  assertEquals(exact, [expect("START\n0123456789\nabc", 0, 21)]);
  // A start line longer than the cap is cut too.
  const long = await run([linesOf(["START-0123456789ABCDEF", "x"])], {
    start: /^START/,
    maxBytes: 8,
  });
  assertEquals(long, [expect("START-01", 0, 25, { truncated: true })]);
});

Deno.test("a joined event carries its last line, the one ending where the event ends", async () => {
  const texts = ["START", "  one", "  two", "START 2", "START 3", "  cut off"];
  const lines = linesOf(texts);
  const out = (await Array.fromAsync(
    ReadableStream.from([lines]).pipeThrough(
      new MultilineStream({ start: /^START/, maxBytes: 8 }),
    ),
  )).flat() as Line[];
  assertEquals(
    out.map((l) => [l.end, l.last]),
    [
      [lines[2].end, "  two"],
      // One line: it is its own last line.
      [lines[3].end, undefined],
      // Dropped by the cap, still the line the event ends with.
      [lines[5].end, "  cut off"],
    ],
  );
});

Deno.test("each source joins with its own rule: start, size cap and flush time", async () => {
  const other = "/logs/other.log";
  const plain = "/logs/plain.log";
  const { readable, writable } = new TransformStream<
    Line[] | Mark,
    Line[] | Mark
  >();
  const reader = readable
    .pipeThrough(
      new MultilineStream({
        ruleFor: (source) =>
          source === SOURCE
            ? { start: /^S/, maxBytes: 8, flushMs: 5 }
            : source === other
            ? { start: /^T/, flushMs: Infinity }
            : null,
      }),
    )
    .getReader();
  const writer = writable.getWriter();
  await writer.write([
    ...linesOf(["S 123456789", " x"]),
    ...linesOf(["T 123456789", " y"], { source: other }),
    ...linesOf(["P", " p"], { source: plain }),
  ]);
  // Another source's lines pass unjoined, at once.
  assertEquals(((await reader.read()).value as Line[]).map(seen), [
    expect("P", 0, 2, { source: plain }),
    expect(" p", 2, 5, { source: plain }),
  ]);
  // The first source's event: cut at its own 8 bytes, flushed after its 5 ms.
  assertEquals(((await reader.read()).value as Line[]).map(seen), [
    expect("S 123456", 0, 15, { truncated: true }),
  ]);
  // The second one waits for its next start line (flushMs Infinity), uncut.
  await writer.write(linesOf(["T next"], { source: other, from: 15 }));
  assertEquals(((await reader.read()).value as Line[]).map(seen), [
    expect("T 123456789\n y", 0, 15, { source: other }),
  ]);
  await writer.close();
  assertEquals(((await reader.read()).value as Line[]).map(seen), [
    expect("T next", 15, 22, { source: other }),
  ]);
  assertEquals((await reader.read()).done, true);
});

Deno.test("the size cap bounds memory on an endless continuation", async () => {
  const cont = "  " + "x".repeat(1000);
  const batches: Line[][] = [linesOf(["START"])];
  let from = batches[0][0].end;
  for (let i = 0; i < 2000; i++) {
    const batch = linesOf([cont], { from });
    from = batch[0].end;
    batches.push(batch);
  }
  const events = await run(batches, { start: /^START/, maxBytes: 4096 });
  assertEquals(events.length, 1);
  assertEquals(encoder.encode(events[0].text).length, 4096);
  assertEquals(events[0].truncated, true);
  assertEquals(events[0].end, from);
});

Deno.test("a truncated line makes its event truncated", async () => {
  const lines = linesOf(["START", "  long"]);
  const cut: Line = { ...lines[1], truncated: true };
  const events = await run([[lines[0], cut]], { start: /^START/ });
  assertEquals(events, [
    expect("START\n  long", 0, 13, { truncated: true }),
  ]);
});

Deno.test("two interleaved files each keep their own event", async () => {
  const other: FileId = { dev: 1, ino: 3 };
  const a = linesOf(["A1", " a1.1", " a1.2", "A2", " a2.1"]);
  const b = linesOf(["B1", " b1.1", "B2"], { file: other, from: 1000 });
  // Same inode, other source: a third identity.
  const c = linesOf(["C1", " c1.1"], { source: "/logs/other.log" });
  const events = await run(
    [[a[0], b[0], c[0], a[1]], [b[1], c[1], a[2], b[2]], [a[3], a[4]]],
    { start: /^\S/ },
  );
  assertEquals(events, [
    expect("B1\n b1.1", 1000, 1009, { file: "1.3" }),
    expect("A1\n a1.1\n a1.2", 0, 15),
    // At the end, pending events come out in the order they began.
    expect("C1\n c1.1", 0, 9, { source: "/logs/other.log" }),
    expect("B2", 1009, 1012, { file: "1.3" }),
    expect("A2\n a2.1", 15, 24),
  ]);
});

Deno.test("a partial line ends its event at once", async () => {
  const { readable, writable } = new TransformStream<
    Line[] | Mark,
    Line[] | Mark
  >();
  const reader = readable
    .pipeThrough(new MultilineStream({ start: /^\S/, flushMs: Infinity }))
    .getReader();
  const writer = writable.getWriter();
  const lines = linesOf(["E", " f"]);
  const last: Line = { ...lines[1], end: lines[1].end - 1, partial: true };
  await writer.write([lines[0], last]);
  const { value } = await reader.read();
  assertEquals(batchOf(value), [
    expect("E\n f", 0, 4, { partial: true }),
  ]);
  await writer.close();
  assertEquals((await reader.read()).done, true);
});

Deno.test("a line that does not continue the event (file restarted) ends it", async () => {
  const before = linesOf(["E1", " x"]);
  const after = linesOf([" y", "E2"]);
  const events = await run([before, after], { start: /^E/ });
  assertEquals(events, [
    expect("E1\n x", 0, 6),
    // The restarted file begins with a continuation: it passes through.
    expect(" y", 0, 3),
    expect("E2", 3, 6),
  ]);
});

Deno.test("a global start pattern matches every line", async () => {
  const events = await run([linesOf(["E1", "E2", "E3", " c"])], {
    start: /^E/g,
  });
  assertEquals(events.map((e) => e.text), ["E1", "E2", "E3\n c"]);
});

Deno.test("cancel clears the pending timers", async () => {
  const { readable, writable } = new TransformStream<
    Line[] | Mark,
    Line[] | Mark
  >();
  const stream = readable.pipeThrough(
    new MultilineStream({ start: /^\S/, flushMs: 60_000 }),
  );
  const writer = writable.getWriter();
  await writer.write(linesOf(["pending"]));
  // The sanitizers fail this test if the 60 s timer is still set.
  await stream.cancel("done");
  await writer.closed.catch(() => {});
});

Deno.test("aborting the signal stops the flush timers", async () => {
  const abort = new AbortController();
  const { readable, writable } = new TransformStream<
    Line[] | Mark,
    Line[] | Mark
  >();
  const reader = readable
    .pipeThrough(
      new MultilineStream({ start: /^\S/, flushMs: 5, signal: abort.signal }),
    )
    .getReader();
  const writer = writable.getWriter();
  await writer.write(linesOf(["pending"]));
  abort.abort();
  // A line after the abort must not arm a timer either.
  await writer.write(linesOf([" more"], { from: 8 }));
  const read = reader.read();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const quiet = new Promise<"quiet">((resolve) => {
    timer = setTimeout(() => resolve("quiet"), 50);
  });
  assertEquals(await Promise.race([read, quiet]), "quiet");
  clearTimeout(timer);
  // The event still comes out at the end of the stream.
  await writer.close();
  assertEquals(batchOf((await read).value), [
    expect("pending\n more", 0, 14),
  ]);
  assertEquals((await reader.read()).done, true);
});

Deno.test("options are checked with actionable messages", () => {
  assertMatch(
    String(
      assertThrows(() =>
        new MultilineStream({ start: "^\\S" as unknown as RegExp })
      ),
    ),
    /pass start as a RegExp/,
  );
  for (const maxBytes of [0, -1, 1.5, NaN]) {
    assertMatch(
      String(assertThrows(() => new MultilineStream({ start: /x/, maxBytes }))),
      /maxBytes .*: use a whole number of at least 1/,
    );
  }
  for (const flushMs of [-1, NaN]) {
    assertMatch(
      String(assertThrows(() => new MultilineStream({ start: /x/, flushMs }))),
      /flushMs .*: use a number of milliseconds/,
    );
  }
});

Deno.test("the size cap counts UTF-8 bytes and never splits a character", async () => {
  // "S" (1) + "\n" (1) + "€" (3) = 5; a second "€" would make 8 > 6.
  const lines = linesOf(["S", "€€€", "x", "S2"]);
  const joined = await run([lines], { start: /^S/, maxBytes: 6 });
  assertEquals(joined, [
    expect("S\n€", 0, lines[2].end, { truncated: true }),
    expect("S2", lines[3].offset, lines[3].end),
  ]);
  // A start line over the cap keeps whole characters only.
  const head = await run([linesOf(["Séé", "S2"])], {
    start: /^S/,
    maxBytes: 4,
  });
  assertEquals(head, [
    expect("Sé", 0, 6, { truncated: true }),
    expect("S2", 6, 9),
  ]);
  // Bytes, not UTF-16 code units: "😀😀" is 4 units but 8 bytes.
  const emoji = linesOf(["😀😀"]);
  assertEquals(await run([emoji], { start: /^/, maxBytes: 8 }), [
    expect("😀😀", 0, 9),
  ]);
  assertEquals(await run([emoji], { start: /^/, maxBytes: 7 }), [
    expect("😀", 0, 9, { truncated: true }),
  ]);
});

Deno.test("a cut event keeps none of the lines after the cut, even when the cut leaves a few bytes of room", async () => {
  // Cutting "€€€" at a character boundary leaves 2 bytes of the cap of 7
  // unused; "ab" must not slip into them: the rest of the event is dropped.
  const lines = linesOf(["S", "€€€", "ab", "", "S2"]);
  assertEquals(await run([lines], { start: /^S/, maxBytes: 7 }), [
    expect("S\n€", 0, lines[3].end, { truncated: true }),
    expect("S2", lines[4].offset, lines[4].end),
  ]);
  // The same when the start line itself is cut.
  const head = linesOf(["€€€", "a", "€"]);
  assertEquals(await run([head], { start: /^€/, maxBytes: 8 }), [
    expect("€€", 0, head[1].end, { truncated: true }),
    expect("€", head[2].offset, head[2].end),
  ]);
});

Deno.test("the size cap does not count the CR of a CRLF line", async () => {
  // "START\n0123456789" is 16 bytes: exactly the cap, so nothing is cut.
  const lines = linesOf(["START", "0123456789"], { crlf: true });
  assertEquals(await run([lines], { start: /^START/, maxBytes: 16 }), [
    expect("START\n0123456789", 0, 19, { crlf: true }),
  ]);
  assertEquals(await run([lines], { start: /^START/, maxBytes: 15 }), [
    expect("START\n012345678", 0, 19, { crlf: true, truncated: true }),
  ]);
});

Deno.test("an event is flagged invalidUtf8 when any of its lines is, and crlf when its last line is", async () => {
  const [start, bad, last] = linesOf(["E \uFFFD", "  frame", "  end"]);
  const events = await run([[
    { ...start, invalidUtf8: true },
    bad,
    { ...last, crlf: true, end: last.end + 1 },
  ]], { start: /^E/ });
  assertEquals(events, [
    expect("E \uFFFD\n  frame\n  end", 0, last.end + 1, {
      invalidUtf8: true,
      crlf: true,
    }),
  ]);
  const [a, b] = linesOf(["E", " \uFFFD"]);
  assertEquals(
    await run([[{ ...a, crlf: true, end: a.end + 1 }, {
      ...b,
      offset: b.offset + 1,
      end: b.end + 1,
      invalidUtf8: true,
    }]], { start: /^E/ }),
    [expect("E\n \uFFFD", 0, b.end + 1, { invalidUtf8: true })],
  );
});

Deno.test("a flush mark first emits the pending events of its source (all its files), then passes on; a notice emits none", async () => {
  const other: FileId = { dev: 1, ino: 3 };
  const a = linesOf(["A", " a"]);
  const rotated = linesOf(["R", " r"], { file: other, from: 100 });
  const b = linesOf(["B", " b"], { source: "/logs/b.log" });
  // A rotated file may still be drained: its event is not complete yet.
  const rotate: Mark = { kind: "rotate", source: SOURCE, how: "renamed" };
  const flushA: Mark = { kind: "flush", source: SOURCE };
  const flushB: Mark = { kind: "flush", source: "/logs/b.log" };
  const out = await items([[...a, ...rotated, ...b], rotate, flushA, flushB], {
    start: /^\S/,
    flushMs: Infinity,
  });
  assertEquals(out.map(describe), [
    "rotate",
    // Both files of the flushed source, not the other source's event.
    "A\n a | R\n r",
    "flush",
    "B\n b",
    "flush",
  ]);
  assert(out[0] === rotate && out[2] === flushA, "the marks themselves");
});

Deno.test("mode notices and carried values pass without emitting pending events", async () => {
  const mode: Mark = { kind: "mode", mode: "polling", reason: "asked" };
  const carry: Mark = { kind: "carry", value: 1 };
  const out = await items(
    [linesOf(["A"]), mode, carry, linesOf([" a"], { from: 2 })],
    { start: /^\S/, flushMs: Infinity },
  );
  assertEquals(out.map(describe), ["mode", "carry", "A\n a"]);
});

Deno.test("a mark about a source with nothing pending passes on alone", async () => {
  const gap: Mark = {
    kind: "gap",
    source: SOURCE,
    offset: 0,
    bytes: 3,
    cause: "line-too-long",
  };
  const out = await items([gap, linesOf(["A", "B"])], {
    start: /^\S/,
    flushMs: Infinity,
  });
  assertEquals(out.map(describe), ["gap", "A", "B"]);
});

Deno.test("ruleFor gives each source its own start pattern, and null leaves a source's lines unjoined", async () => {
  const java = linesOf(["2024 x", "\tat y", "2024 z"], {
    source: "/logs/java.log",
  });
  const py = linesOf(["Traceback", "  File", "Error"], {
    source: "/logs/py.log",
  });
  const raw = linesOf(["r1", "  r2"], { source: "/logs/raw.log" });
  const events = await run([[...java, ...py, ...raw]], {
    ruleFor: (source) =>
      source.endsWith("java.log")
        ? { start: /^\d{4} / }
        : source.endsWith("py.log")
        ? { start: /^\S/ }
        : null,
    flushMs: Infinity,
  });
  assertEquals(events.map((e) => [e.source, e.text]), [
    ["/logs/java.log", "2024 x\n\tat y"],
    ["/logs/py.log", "Traceback\n  File"],
    ["/logs/raw.log", "r1"],
    ["/logs/raw.log", "  r2"],
    // The events still pending at the end, in the order they began.
    ["/logs/java.log", "2024 z"],
    ["/logs/py.log", "Error"],
  ]);
});

Deno.test("an event with an over-long continuation line is the same whatever the chunk boundaries", async () => {
  // The splitter cuts the 22-byte frame (cap 10) and says so with a gap
  // notice; that notice must not end the event the frame belongs to.
  const bytes = encoder.encode(
    "START\n  frame 1\n  " + "x".repeat(20) + "\n  frame 3\nSTART 2\n",
  );
  const joined = async (cuts: number[]) => {
    const points = [0, ...cuts, bytes.length];
    const chunks: Chunk[] = points.slice(1).map((to, i) => ({
      source: SOURCE,
      file: FILE,
      offset: points[i],
      bytes: bytes.slice(points[i], to),
      noticed: 0,
    }));
    const out = await Array.fromAsync(
      ReadableStream.from(chunks)
        .pipeThrough(new LineStream({ maxLineBytes: 10 }))
        .pipeThrough(
          new MultilineStream({ start: /^START/, flushMs: Infinity }),
        ),
    );
    return out.filter((i) => Array.isArray(i)).flat().map(seen);
  };
  const whole = await joined([]);
  assertEquals(whole.map((e) => e.text), [
    "START\n  frame 1\n  xxxxxxxx\n  frame 3",
    "START 2",
  ]);
  for (let cut = 1; cut < bytes.length; cut++) {
    assertEquals(await joined([cut]), whole, `split at byte ${cut}`);
  }
});

/** An item of the stream in brief: a batch's texts joined by ` | `, or a mark's kind. */
function describe(item: Line[] | Mark): string {
  return Array.isArray(item) ? item.map((l) => l.text).join(" | ") : item.kind;
}
