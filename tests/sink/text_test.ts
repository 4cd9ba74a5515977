import { assertEquals, fail } from "@std/assert";
import { eventId } from "../../src/stage/parse.ts";
import { Hub, type Message } from "../../src/sink/hub.ts";
import {
  headerNames,
  type TextOptions,
  writeText,
} from "../../src/sink/text.ts";
import { END, type Event, FILE } from "../../src/types.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const ID = { dev: 1, ino: 2 };

/**
 * Line messages for `text` as it is in a file at `source`: split on `\n`,
 * a `\r` before it dropped from the line as the line splitter does.
 */
function linesOf(source: string, text: string, from = 0): Message[] {
  const messages: Message[] = [];
  let offset = from;
  for (const raw of text.split(/(?<=\n)/)) {
    const end = offset + encoder.encode(raw).length;
    const event: Event = {
      id: eventId(ID, end),
      source,
      offset,
      line: raw.replace(/\r?\n$/, ""),
      time: "",
      [FILE]: ID,
      [END]: end,
    };
    messages.push({ type: "line", event });
    offset = end;
  }
  return messages;
}

/** What writeText prints for `batches`, and the events it said it wrote. */
async function print(
  batches: Message[][],
  options: TextOptions,
): Promise<{ text: string; written: Event[] }> {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 1000, policy: "block" });
  for (const batch of batches) hub.publish(batch);
  hub.close();
  const chunks: Uint8Array[] = [];
  const written: Event[] = [];
  await writeText(
    sub,
    new WritableStream({ write: (chunk) => void chunks.push(chunk) }),
    options,
    (events) => written.push(...events),
  );
  return {
    text: chunks.map((c) => decoder.decode(c, { stream: true })).join(""),
    written,
  };
}

Deno.test("writeText prints the lines as they are in the file, \\r\\n and non-ASCII included", async () => {
  const file = "plain\nwindows\r\nünïcødé\r\n€ and \\n\n\nlast\n";
  const lines = linesOf("/a.log", file);
  const { text, written } = await print([lines.slice(0, 2), lines.slice(2)], {
    headers: false,
    color: false,
  });
  assertEquals(text, file);
  assertEquals(written.length, lines.length);
});

Deno.test("writeText prints tail's header whenever the file changes, with a blank line between", async () => {
  const { text } = await print([
    [...linesOf("/a.log", "a1\na2\n"), ...linesOf("/b.log", "b1\n")],
    linesOf("/b.log", "b2\n", 3),
    linesOf("/a.log", "a3\n", 6),
  ], { headers: true, color: false, name: (s) => s.slice(1) });
  assertEquals(
    text,
    "==> a.log <==\na1\na2\n\n==> b.log <==\nb1\nb2\n\n==> a.log <==\na3\n",
  );
});

Deno.test("writeText prints no header when headers are off", async () => {
  const { text } = await print([
    [...linesOf("/a.log", "a1\n"), ...linesOf("/b.log", "b1\n")],
  ], { headers: false, color: false });
  assertEquals(text, "a1\nb1\n");
});

Deno.test("writeText ends a cut, undecodable or partial line with \\n", async () => {
  const [cut, bad, partial] = linesOf("/a.log", "x\r\ny\r\nz\r\n").map((m) =>
    m.type === "line" ? m.event : fail()
  );
  const { text } = await print([[
    { type: "line", event: { ...cut, line: "x\r", truncated: true } },
    { type: "line", event: { ...bad, line: "\uFFFD", invalidUtf8: true } },
    { type: "line", event: { ...partial, partial: true } },
  ]], { headers: false, color: false });
  assertEquals(text, "x\r\n\uFFFD\nz\n");
});

Deno.test({
  name: "writeText colours lines by level only when color is on",
  // std's colours are off for the whole process under NO_COLOR.
  ignore: Deno.noColor,
  fn: async () => {
    const levelled = (level: string | undefined, line: string): Message => {
      const [m] = linesOf("/a.log", `${line}\n`);
      return m.type === "line"
        ? { type: "line", event: { ...m.event, ...(level ? { level } : {}) } }
        : fail();
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
  hub.publish(linesOf("/a.log", "one\n"));
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
