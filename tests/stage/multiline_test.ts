import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import {
  MultilineStream,
  type MultilineStreamOptions,
} from "../../src/stage/multiline.ts";
import type { FileId, Line } from "../../src/types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
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
}

function seen(line: Line): Seen {
  return {
    source: line.source,
    file: `${line.file.dev}.${line.file.ino}`,
    offset: line.offset,
    end: line.end,
    text: decoder.decode(line.bytes),
    truncated: line.truncated ?? false,
    partial: line.partial ?? false,
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
    const bytes = encoder.encode(text);
    const end = offset + bytes.length + (options.crlf ? 2 : 1);
    const line: Line = {
      source: options.source ?? SOURCE,
      file: options.file ?? FILE,
      offset,
      end,
      bytes,
      noticed: 0,
    };
    offset = end;
    return line;
  });
}

async function run(
  batches: Line[][],
  options: MultilineStreamOptions,
): Promise<Seen[]> {
  const out = await Array.fromAsync(
    ReadableStream.from(batches).pipeThrough(new MultilineStream(options)),
  );
  for (const batch of out) assert(batch.length > 0, "empty batch");
  return out.flat().map(seen);
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
    expect("ERR naïve €\n  😀 frame\n\n  last", 100, 140),
    expect("ERR next", 140, 150),
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
  const { readable, writable } = new TransformStream<Line[], Line[]>();
  const reader = readable
    .pipeThrough(new MultilineStream({ start: /^\S/, flushMs: 10 }))
    .getReader();
  const writer = writable.getWriter();
  const lines = linesOf(["first", "second", "  cont"]);
  await writer.write(lines);
  // "first" is emitted at once by the next start line.
  const one = await reader.read();
  assertEquals(one.value?.map(seen), [expect("first", 0, 6)]);
  // Nothing more is written: only the timer can emit "second".
  const two = await reader.read();
  assertEquals(two.value?.map(seen), [expect("second\n  cont", 6, 20)]);
  // A later continuation has no event to join: it passes through.
  await writer.write(linesOf(["  late"], { from: 20 }));
  const three = await reader.read();
  assertEquals(three.value?.map(seen), [expect("  late", 20, 27)]);
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
  )).flat();
  assertEquals(
    out.map((l) => [l.end, l.last && decoder.decode(l.last)]),
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
  const { readable, writable } = new TransformStream<Line[], Line[]>();
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
  assertEquals((await reader.read()).value?.map(seen), [
    expect("P", 0, 2, { source: plain }),
    expect(" p", 2, 5, { source: plain }),
  ]);
  // The first source's event: cut at its own 8 bytes, flushed after its 5 ms.
  assertEquals((await reader.read()).value?.map(seen), [
    expect("S 123456", 0, 15, { truncated: true }),
  ]);
  // The second one waits for its next start line (flushMs Infinity), uncut.
  await writer.write(linesOf(["T next"], { source: other, from: 15 }));
  assertEquals((await reader.read()).value?.map(seen), [
    expect("T 123456789\n y", 0, 15, { source: other }),
  ]);
  await writer.close();
  assertEquals((await reader.read()).value?.map(seen), [
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
  const { readable, writable } = new TransformStream<Line[], Line[]>();
  const reader = readable
    .pipeThrough(new MultilineStream({ start: /^\S/, flushMs: Infinity }))
    .getReader();
  const writer = writable.getWriter();
  const lines = linesOf(["E", " f"]);
  const last: Line = { ...lines[1], end: lines[1].end - 1, partial: true };
  await writer.write([lines[0], last]);
  const { value } = await reader.read();
  assertEquals(value?.map(seen), [
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
  const { readable, writable } = new TransformStream<Line[], Line[]>();
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
  const { readable, writable } = new TransformStream<Line[], Line[]>();
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
  assertEquals((await read).value?.map(seen), [
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
