import { assertEquals } from "@std/assert";
import type { Message } from "../../src/sink/hub.ts";
import { formatNdjson, formatSse } from "../../src/http/format.ts";
import { END, type Event, FILE, type Notice } from "../../src/types.ts";

const TIME = "2026-11-27T10:20:30.456Z";

function event(n: number, source = "/logs/app.log", line = `line ${n}`): Event {
  return {
    id: `1.2:${n.toString(36)}`,
    source,
    offset: n,
    line,
    time: TIME,
    [FILE]: { dev: 1, ino: 2 },
    [END]: n,
  };
}

function line(n: number, source?: string, text?: string): Message {
  return { type: "line", event: event(n, source, text) };
}

function notice(n: Notice): Message {
  return { type: "notice", notice: n };
}

/** Reads chunks until the text read so far has at least `length` characters. */

/** Reads one chunk of the body as text. */

function sseLine(e: Event): string {
  return `event: line\nid: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`;
}

Deno.test("formatSse writes a line event as event, id and one data line", () => {
  const e = event(3, "/x.log", "hi");
  assertEquals(
    formatSse([{ type: "line", event: e }]),
    'event: line\nid: 1.2:3\ndata: {"id":"1.2:3","source":"/x.log","offset":3,' +
      `"line":"hi","time":"${TIME}"}\n\n`,
  );
  // Newlines in a line cannot break the frame: JSON escapes them.
  const tricky = event(4, "/x.log", "a\r\nb\nc\rd");
  const frame = formatSse([{ type: "line", event: tricky }]);
  assertEquals(frame.split("\n").length, 5);
  assertEquals(
    frame,
    `event: line\nid: 1.2:4\ndata: ${JSON.stringify(tricky)}\n\n`,
  );
});

Deno.test("formatSse writes a dropped gap and notices", () => {
  assertEquals(
    formatSse([{ type: "dropped", count: 7, stdin: 0 }]),
    'event: gap\ndata: {"cause":"slow-subscriber","lines":7,' +
      '"message":"7 events were dropped because this client read too slowly"}\n\n',
  );
  assertEquals(
    formatSse([notice({ kind: "truncate", source: "/a", offset: 9, size: 0 })]),
    'event: truncate\ndata: {"kind":"truncate","source":"/a","offset":9,"size":0}\n\n',
  );
  assertEquals(formatSse([]), "");
  assertEquals(
    formatSse([line(1), { type: "dropped", count: 1, stdin: 0 }, line(2)]),
    sseLine(event(1)) + formatSse([{ type: "dropped", count: 1, stdin: 0 }]) +
      sseLine(event(2)),
  );
});

Deno.test("formatNdjson writes lines as JSON records and gaps as type gap; notices are left out", () => {
  const e = event(1, "/x.log", "hi");
  assertEquals(
    formatNdjson([
      { type: "line", event: e },
      { type: "dropped", count: 2, stdin: 0 },
      notice({ kind: "vanish", source: "/x.log" }),
    ]),
    `${JSON.stringify(e)}\n` +
      '{"type":"gap","cause":"slow-subscriber","lines":2}\n',
  );
  assertEquals(formatNdjson([]), "");
});
