import { assert, assertEquals } from "@std/assert";
import { eventId } from "../../src/stage/parse.ts";
import { Hub, type Message } from "../../src/sink/hub.ts";
import { Journal } from "../../src/sink/journal.ts";
import {
  headerNames,
  type TextOptions,
  writeText,
} from "../../src/sink/text.ts";
import { CRLF, END, type Event, FILE } from "../../src/types.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const ID = { dev: 1, ino: 2 };

/**
 * The events of `text` as it is in a file at `source`: split on `\n`, a
 * `\r` before it dropped from the line and kept as the CRLF flag, as the
 * line splitter and the parser do.
 */
function eventsOf(source: string, text: string, from = 0): Event[] {
  const events: Event[] = [];
  let offset = from;
  for (const raw of text.split(/(?<=\n)/)) {
    if (raw === "") continue;
    const end = offset + encoder.encode(raw).length;
    const event: Event = {
      id: eventId(ID, end),
      source,
      offset,
      line: raw.replace(/\r?\n$/, ""),
      time: "",
      [FILE]: ID,
      [END]: end,
      ...(raw.endsWith("\r\n") ? { [CRLF]: true as const } : {}),
    };
    events.push(event);
    offset = end;
  }
  return events;
}

/** What writeText prints for `batches` (each one file's events), and the events it said it wrote. */
async function print(
  batches: Event[][],
  options: TextOptions,
  extra: (hub: Hub, journal: Journal) => void = () => {},
): Promise<{ text: string; written: Event[]; writes: number }> {
  const hub = new Hub();
  const journal = new Journal();
  const sub = hub.subscribe({ capacity: 1000, policy: "block" });
  for (const events of batches) {
    const batch = journal.batch(events[0].source, events[0][FILE], events);
    hub.publish({ type: "batch", batch });
    extra(hub, journal);
  }
  hub.close();
  const chunks: Uint8Array[] = [];
  const written: Event[] = [];
  await writeText(
    sub,
    new WritableStream({ write: (chunk) => void chunks.push(chunk) }),
    options,
    (batch) => written.push(...batch.events),
  );
  return {
    text: chunks.map((c) => decoder.decode(c, { stream: true })).join(""),
    written,
    writes: chunks.length,
  };
}

Deno.test("writeText prints the lines as they are in the file, \\r\\n and non-ASCII included", async () => {
  const file = "plain\nwindows\r\nünïcødé\r\n€ and \\n\n\nlast\n";
  const events = eventsOf("/a.log", file);
  const { text, written, writes } = await print(
    [events.slice(0, 2), events.slice(2)],
    { headers: false, color: false },
  );
  assertEquals(text, file);
  assertEquals(written, events);
  // One write per batch.
  assertEquals(writes, 2);
});

Deno.test("writeText prints tail's header whenever the file changes, with a blank line between", async () => {
  const { text } = await print([
    eventsOf("/a.log", "a1\na2\n"),
    eventsOf("/b.log", "b1\n"),
    eventsOf("/b.log", "b2\n", 3),
    eventsOf("/a.log", "a3\n", 6),
  ], { headers: true, color: false, name: (s) => s.slice(1) });
  assertEquals(
    text,
    "==> a.log <==\na1\na2\n\n==> b.log <==\nb1\nb2\n\n==> a.log <==\na3\n",
  );
});

Deno.test("writeText prints no header when headers are off", async () => {
  const { text } = await print([
    eventsOf("/a.log", "a1\n"),
    eventsOf("/b.log", "b1\n"),
  ], { headers: false, color: false });
  assertEquals(text, "a1\nb1\n");
});

Deno.test("writeText ends a line with \\r\\n only when it ended so in its file; a cut, undecodable or partial line too", async () => {
  const [cut, bad, partial, cutLf] = eventsOf("/a.log", "x\r\ny\r\nz\nw\n");
  const { text } = await print([[
    { ...cut, line: "x", truncated: true },
    { ...bad, line: "\uFFFD", invalidUtf8: true },
    { ...partial, partial: true },
    { ...cutLf, truncated: true },
  ]], { headers: false, color: false });
  assertEquals(text, "x\r\n\uFFFD\r\nz\nw\n");
});

Deno.test("writeText prints only lines: notices and alerts published between batches are left out", async () => {
  const { text, written } = await print(
    [eventsOf("/a.log", "one\n"), eventsOf("/a.log", "two\n", 4)],
    { headers: true, color: false },
    (hub, journal) => {
      const notice = { kind: "vanish", source: "/a.log" } as const;
      const n = journal.message({ type: "notice", notice });
      hub.publish({ type: "notice", ...n, notice });
      const alert = {
        rule: "r",
        kind: "rate",
        message: "m",
        window: "1m",
        time: "",
      } as const;
      const a = journal.message({ type: "alert", alert });
      hub.publish({ type: "alert", ...a, alert });
    },
  );
  assertEquals(text, "==> /a.log <==\none\ntwo\n");
  assertEquals(written.map((e) => e.line), ["one", "two"]);
});

Deno.test({
  name: "writeText colours lines by level only when color is on",
  // std's colours are off for the whole process under NO_COLOR.
  ignore: Deno.noColor,
  fn: async () => {
    const levelled = (level: string | undefined, line: string): Event => {
      const [e] = eventsOf("/a.log", `${line}\n`);
      return { ...e, ...(level ? { level } : {}) };
    };
    const batch = [
      levelled("error", "E"),
      levelled("warn", "W"),
      levelled("info", "I"),
      levelled("debug", "D"),
      levelled(undefined, "P"),
    ];
    const colored = await print([batch], { headers: false, color: true });
    assertEquals(
      colored.text,
      "\x1b[31mE\x1b[39m\n\x1b[33mW\x1b[39m\nI\n\x1b[2mD\x1b[22m\nP\n",
    );
    const plain = await print([batch], { headers: false, color: false });
    assertEquals(plain.text, "E\nW\nI\nD\nP\n");
  },
});

Deno.test("writeText ends quietly when stdout's reader is gone (EPIPE), closing its subscription", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "block" });
  const events = eventsOf("/a.log", "one\n");
  const message: Message = {
    type: "batch",
    batch: new Journal().batch("/a.log", ID, events),
  };
  hub.publish(message);
  await writeText(
    sub,
    new WritableStream({
      write: () => {
        throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
      },
    }),
    { headers: false, color: false },
  );
  assertEquals(sub.reason, "unsubscribed");
  hub.close();
});

Deno.test("writeText passes on any other write error", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "block" });
  hub.publish({
    type: "batch",
    batch: new Journal().batch("/a.log", ID, eventsOf("/a.log", "one\n")),
  });
  let error: unknown = null;
  await writeText(
    sub,
    new WritableStream({
      write: () => {
        throw new Error("disk on fire");
      },
    }),
    { headers: false, color: false },
  ).catch((e) => error = e);
  assert(error instanceof Error && /disk on fire/.test(error.message));
  assertEquals(sub.reason, "unsubscribed");
  hub.close();
});

Deno.test("headerNames names files as tail does: as typed, glob matches relative to the working directory", () => {
  const name = headerNames(
    ["app.log", "../other/x.log", "logs/*.log", "/var/log/*.log", "-"],
    "/home/u",
  );
  assertEquals(name("/home/u/app.log"), "app.log");
  assertEquals(name("/home/other/x.log"), "../other/x.log");
  assertEquals(name("/home/u/logs/a.log"), "logs/a.log");
  assertEquals(name("/var/log/syslog.log"), "/var/log/syslog.log");
  assertEquals(name("-"), "standard input");
  assertEquals(name("/elsewhere.log"), "/elsewhere.log");
});
