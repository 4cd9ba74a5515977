/**
 * The pool with a real worker thread: the worker alone listens (the
 * reader's socket is closed once the worker joined the port), so every
 * request here is served by it.
 */
import { assert, assertEquals } from "@std/assert";
import { type Config, parseCommandLine } from "../../src/config.ts";
import { Admission } from "../../src/http/guard.ts";
import { Pool } from "../../src/pool/pool.ts";
import { Hub } from "../../src/sink/hub.ts";
import { Journal } from "../../src/sink/journal.ts";
import { KnownFiles } from "../../src/source/known.ts";

import { eventId } from "../../src/stage/parse.ts";
import {
  END,
  type Event,
  FILE,
  type FileId,
  UNSTORED,
} from "../../src/types.ts";

const MAIN = new URL("../../main.ts", import.meta.url);

function events(
  source: string,
  file: FileId,
  from: number,
  lines: string[],
): Event[] {
  let offset = from;
  return lines.map((line) => {
    const end = offset + line.length + 1;
    const e: Event = {
      id: eventId(file, end),
      source,
      offset,
      line,
      time: "t",
      [FILE]: file,
      [END]: end,
    };
    offset = end;
    return e;
  });
}

/** A stream's text, read until `until` says it has enough (or 5 s). */
async function readUntil(
  response: Response,
  until: (text: string) => boolean,
): Promise<string> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = setTimeout(() => reader.cancel(), 5000);
  try {
    while (!until(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(deadline);
    await reader.cancel().catch(() => {});
  }
  return text;
}

interface Setup {
  pool: Pool;
  hub: Hub;
  journal: Journal;
  port: number;
  dir: string;
  path: string;
  file: FileId;
  admission: Admission;
  forwarded: string[];
}

async function setup(options: { perIp?: number } = {}): Promise<Setup> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/a.log`;
  await Deno.writeTextFile(path, "one\ntwo\nthree\n");
  const info = await Deno.stat(path);
  const file = { dev: info.dev!, ino: info.ino! };
  const command = parseCommandLine(
    ["--port", "0", "--max-clients-per-ip", String(options.perIp ?? 16), path],
    {},
  );
  assert(command.kind === "run");
  const config: Config = command.config;
  const hub = new Hub();
  const journal = new Journal({ epoch: "e", unstored: UNSTORED });
  const known = new KnownFiles();
  known.add(path, file, 0);
  known.head(path, file, new TextEncoder().encode("one\ntwo\nthree\n"));
  const admission = new Admission(100, config.maxClientsPerIp);
  const pool = new Pool({
    workers: 1,
    entry: MAIN,
    config,
    cwd: dir,
    version: "test",
    maxClients: 100,
    hub,
    journal,
    known,
    admission,
    log: () => {},
  });
  // The reader's socket holds the port until the worker shares it.
  const reader = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    reusePort: true,
    onListen: () => {},
  }, () => new Response("reader", { status: 418 }));
  const port = reader.addr.port;
  const forwarded: string[] = [];
  const serving = await pool.listen(port, (request, client) => {
    forwarded.push(`${new URL(request.url).pathname} from ${client}`);
    return Promise.resolve(new Response("from the reader\n"));
  });
  assertEquals(serving, 1);
  await reader.shutdown();
  return { pool, hub, journal, port, dir, path, file, admission, forwarded };
}

async function teardown(s: Setup): Promise<void> {
  s.hub.close();
  await s.pool.close(2000);
  await Deno.remove(s.dir, { recursive: true });
}

Deno.test("pool: a worker serves the batches the reader published, with the reader's ids, and resumes from them exactly", async () => {
  const s = await setup();
  try {
    const first = s.journal.batch(
      s.path,
      s.file,
      events(s.path, s.file, 0, ["one", "two"]),
    );
    s.hub.publish({ type: "batch", batch: first });
    // Subscribed after the first batch: live from the second on.
    const live = await fetch(`http://127.0.0.1:${s.port}/events`);
    assertEquals(live.status, 200);
    const second = s.journal.batch(
      s.path,
      s.file,
      events(s.path, s.file, 8, ["three"]),
    );
    s.hub.publish({ type: "batch", batch: second });
    const text = await readUntil(live, (t) => t.includes('"three"'));
    assert(text.includes(`id: ${second.id(0)}\n`), text);
    assert(!text.includes('"one"'), "live only");
    // Resuming from the first line: the rest of the first batch (from the
    // worker's copy of it in memory), then the second.
    const resumed = await fetch(`http://127.0.0.1:${s.port}/events`, {
      headers: { "last-event-id": first.id(0) },
    });
    const again = await readUntil(resumed, (t) => t.includes('"three"'));
    const ids = [...again.matchAll(/^id: (.*)$/gm)].map((m) => m[1]);
    assertEquals(ids, [first.id(1), second.id(0)]);
  } finally {
    await teardown(s);
  }
});

Deno.test("pool: places are the reader's (per address, across threads); other routes are answered by the reader", async () => {
  const s = await setup({ perIp: 1 });
  try {
    const one = await fetch(`http://127.0.0.1:${s.port}/events`);
    assertEquals(one.status, 200);
    assertEquals(s.admission.count, 1);
    const two = await fetch(`http://127.0.0.1:${s.port}/events`);
    assertEquals(two.status, 429);
    await two.body?.cancel();
    await one.body!.cancel();
    // The place comes back once the worker saw the stream end.
    for (let i = 0; i < 100 && s.admission.count > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(s.admission.count, 0);
    const health = await fetch(`http://127.0.0.1:${s.port}/healthz`);
    assertEquals(await health.text(), "from the reader\n");
    assertEquals(s.forwarded, ["/healthz from 127.0.0.1"]);
    const gauges = await s.pool.gauges();
    assertEquals(gauges.clients, 0);
  } finally {
    await teardown(s);
  }
});

Deno.test("pool: at shutdown a worker's subscribers are sent bye after everything published", async () => {
  const s = await setup();
  const live = await fetch(`http://127.0.0.1:${s.port}/events`);
  const reading = readUntil(live, (t) => t.includes("event: bye"));
  // Wait for the worker to have the subscriber.
  for (let i = 0; i < 100 && s.admission.count === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const batch = s.journal.batch(
    s.path,
    s.file,
    events(s.path, s.file, 0, ["last"]),
  );
  s.hub.publish({ type: "batch", batch });
  await teardown(s);
  const text = await reading;
  assert(text.indexOf('"last"') < text.indexOf("event: bye"), text);
  assert(text.includes('"reason":"shutdown"'), text);
});
