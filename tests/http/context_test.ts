/**
 * `/context`: the lines around an event, read from a followed file found by
 * identity, with every input checked and the work bounded.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { eventId } from "../../src/stage/parse.ts";
import { KnownFiles } from "../../src/source/known.ts";
import {
  BEFORE_BYTES,
  contextHandler,
  MAX_CONTEXT_LINES,
} from "../../src/http/context.ts";
import { fileId } from "../../src/source/identity.ts";
import { LineStream } from "../../src/stage/lines.ts";
import { ParseStream } from "../../src/stage/parse.ts";
import { parseFormat } from "../../src/stage/formats.ts";
import type { Event } from "../../src/types.ts";
import { LogDir } from "../_fixtures/log_dir.ts";

function numbered(from: number, to: number): string {
  let text = "";
  for (let i = from; i < to; i++) text += `line-${i}\n`;
  return text;
}

/** The id of the event for line `n` of a file written by {@link numbered} from 0. */
async function idOfLine(path: string, n: number): Promise<string> {
  const end = new TextEncoder().encode(numbered(0, n + 1)).length;
  return eventId(fileId(await Deno.stat(path)), end);
}

/** The files under `sources` now, as tailcast knows the files it follows. */
async function knownOf(sources: string[]): Promise<KnownFiles> {
  const known = new KnownFiles();
  for (const source of sources) {
    try {
      const file = fileId(await Deno.stat(source));
      known.head(source, file, (await Deno.readFile(source)).slice(0, 64));
    } catch {
      // Not there (yet): not known.
    }
  }
  return known;
}

async function ask(
  sources: string[],
  query: Record<string, string>,
  events?: Parameters<typeof contextHandler>[0]["events"],
  known?: KnownFiles,
) {
  const handler = contextHandler({
    sources: () => sources,
    known: known ?? await knownOf(sources),
    events,
  });
  const res = await handler(
    new Request(`http://x/context?${new URLSearchParams(query)}`),
  );
  const text = await res.text();
  return {
    status: res.status,
    text,
    json: () =>
      JSON.parse(text) as {
        before: Event[];
        event: Event;
        after: Event[];
        id: string;
      },
  };
}

const lines = (events: Event[]) => events.map((e) => e.line);

Deno.test("context returns the event with N lines before and after it, as events", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", numbered(0, 100));
  const id = await idOfLine(path, 50);
  const r = await ask([path], { source: path, id, lines: "3" });
  assertEquals(r.status, 200, r.text);
  const body = r.json();
  assertEquals(lines(body.before), ["line-47", "line-48", "line-49"]);
  assertEquals(body.event.line, "line-50");
  assertEquals(body.event.id, id);
  assertEquals(body.event.source, path);
  assertEquals(lines(body.after), ["line-51", "line-52", "line-53"]);
});

Deno.test("context stops at the start and the end of the file, and holds back an unterminated last line", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", numbered(0, 5) + "half");
  const first = await ask([path], {
    source: path,
    id: await idOfLine(path, 1),
    lines: "10",
  });
  assertEquals(lines(first.json().before), ["line-0"]);
  assertEquals(lines(first.json().after), ["line-2", "line-3", "line-4"]);
  const none = await ask([path], {
    source: path,
    id: await idOfLine(path, 0),
    lines: "0",
  });
  assertEquals(lines(none.json().before), []);
  assertEquals(none.json().event.line, "line-0");
  assertEquals(lines(none.json().after), []);
});

Deno.test("context defaults to 20 lines a side and refuses more than the cap", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", numbered(0, 300));
  const id = await idOfLine(path, 150);
  const body = (await ask([path], { source: path, id })).json();
  assertEquals(body.before.length, 20);
  assertEquals(body.after.length, 20);
  const most = await ask([path], {
    source: path,
    id,
    lines: String(MAX_CONTEXT_LINES),
  });
  assertEquals(most.json().before.length, 150);
  assertEquals(most.json().after.length, 149);
  for (const bad of [String(MAX_CONTEXT_LINES + 1), "-1", "ten", "1e2"]) {
    const r = await ask([path], { source: path, id, lines: bad });
    assertEquals(r.status, 400, bad);
    assertMatch(r.text, /^Invalid lines .*: use a whole number from 0 to 200/);
  }
});

Deno.test("context reads only followed files: another path, a bad id or another file's identity is refused", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", numbered(0, 10));
  await dir.append("secret.txt", numbered(0, 10));
  const secret = dir.file("secret.txt");
  const secretId = await idOfLine(secret, 4);

  const other = await ask([path], { source: secret, id: secretId });
  assertEquals(other.status, 400);
  assertMatch(other.text, /^Invalid source .*: not a file tailcast follows/);
  // The right path with the identity of a file that is neither it nor one
  // of its rotated siblings: nothing is read.
  const foreign = await ask([path], { source: path, id: secretId });
  assertEquals(foreign.status, 404);
  assertMatch(foreign.text, /no longer under .*app\.log or its rotated/);
  assert(!foreign.text.includes("line-"));

  for (const id of ["", "nope", "1~a.b.c.d", "x".repeat(300)]) {
    const r = await ask([path], { source: path, id });
    assertEquals(r.status, 400, id);
  }
  const missing = await ask([path], { id: await idOfLine(path, 1) });
  assertEquals(missing.status, 400);
  assertMatch(missing.text, /^Missing source or id/);
});

Deno.test("context finds the event's file among the rotated siblings after a rename", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", numbered(0, 10));
  const id = await idOfLine(path, 5);
  // Followed before the rotation: tailcast knows the file it renames.
  const known = await knownOf([path]);
  await dir.rename("app.log", "app.log.1");
  await dir.append("app.log", "new-0\nnew-1\n");
  known.add(path, fileId(await Deno.stat(path)));
  const r = await ask(
    [path],
    { source: path, id, lines: "1" },
    undefined,
    known,
  );
  assertEquals(r.status, 200, r.text);
  assertEquals(
    [...lines(r.json().before), r.json().event.line, ...lines(r.json().after)],
    ["line-4", "line-5", "line-6"],
  );
  assertEquals(r.json().event.source, path);
});

Deno.test("context answers 404 for an id that is not a line end of the file (rewritten or truncated)", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", numbered(0, 10));
  const file = fileId(await Deno.stat(path));
  const midLine = await ask([path], {
    source: path,
    id: eventId(file, 3),
  });
  assertEquals(midLine.status, 404);
  assertMatch(midLine.text, /No line ends at event/);
  const past = await ask([path], { source: path, id: eventId(file, 10_000) });
  assertEquals(past.status, 404);
});

Deno.test("context parses events with the stages it is given", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append(
    "app.log",
    '{"level":"info","msg":"a"}\n{"level":"error","msg":"b"}\n',
  );
  const json = parseFormat("json");
  const id = eventId(
    fileId(await Deno.stat(path)),
    (await Deno.stat(path)).size,
  );
  const r = await ask(
    [path],
    { source: path, id, lines: "5" },
    (chunks) =>
      chunks.pipeThrough(new LineStream()).pipeThrough(
        new ParseStream({ formatFor: () => json }),
      ),
  );
  assertEquals(r.status, 200, r.text);
  assertEquals(r.json().event.level, "error");
  assertEquals(r.json().before[0].level, "info");
});

Deno.test("context reads a bounded window: a line longer than it is refused, and a line ending past it is not given", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("app.log");
  await dir.append("app.log", "short\n" + "x".repeat(BEFORE_BYTES) + "\n");
  const file = fileId(await Deno.stat(path));
  const long = await ask([path], {
    source: path,
    id: eventId(file, 6 + BEFORE_BYTES + 1),
  });
  assertEquals(long.status, 413);
  const short = await ask([path], {
    source: path,
    id: eventId(file, 6),
    lines: "5",
  });
  assertEquals(short.status, 200, short.text);
  // The next line ends past the window read after the event: not given.
  assertEquals(short.json().after.length, 0);
});
