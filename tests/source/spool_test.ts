import { assert, assertEquals, assertRejects } from "@std/assert";
import { fileId } from "../../src/source/identity.ts";
import {
  MAX_SEGMENTS,
  Spool,
  SpoolUnavailable,
} from "../../src/source/spool.ts";
import { LogDir } from "../_fixtures/log_dir.ts";

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("Spool.append resolves once its lines are in spool.log; appends made together are written together, in order", async () => {
  await using dir = await LogDir.create();
  const spool = await Spool.open({
    dir: dir.file("web"),
    segmentBytes: 1 << 20,
    maxBytes: 1 << 22,
  });
  await spool.append(bytes("one\n"), []);
  assertEquals(await Deno.readTextFile(dir.file("web/spool.log")), "one\n");
  await Promise.all(
    Array.from({ length: 50 }, (_, i) => spool.append(bytes(`l${i}\n`), [])),
  );
  const text = await Deno.readTextFile(spool.path);
  assertEquals(
    text,
    "one\n" + Array.from({ length: 50 }, (_, i) => `l${i}\n`).join(""),
  );
  assertEquals(spool.unread(), text.length);
  await spool.close();
  await assertRejects(
    () => spool.append(bytes("late\n"), []),
    SpoolUnavailable,
  );
});

Deno.test("Spool rotates spool.log to spool.log.<n> before an append would take it past the segment size", async () => {
  await using dir = await LogDir.create();
  const spool = await Spool.open({
    dir: dir.file("web"),
    segmentBytes: 10,
    maxBytes: 1000,
  });
  const first = fileId(await Deno.stat(spool.path));
  await spool.append(bytes("aaaa\n"), []);
  await spool.append(bytes("bbbb\n"), []); // exactly 10: stays
  await spool.append(bytes("cc\n"), []); // would be 13: rotates
  await spool.append(bytes("dddddddddddd\n"), []); // longer than a segment: a file of its own
  await spool.append(bytes("e\n"), []);
  assertEquals(await names(spool.dir), [
    "keys.ndjson",
    "spool.log",
    "spool.log.1",
    "spool.log.2",
    "spool.log.3",
  ]);
  assertEquals(
    await Promise.all(
      ["spool.log.1", "spool.log.2", "spool.log.3", "spool.log"].map((n) =>
        Deno.readTextFile(`${spool.dir}/${n}`)
      ),
    ),
    ["aaaa\nbbbb\n", "cc\n", "dddddddddddd\n", "e\n"],
  );
  // The first file keeps its identity under its new name.
  assertEquals(fileId(await Deno.stat(`${spool.dir}/spool.log.1`)), first);
  assertEquals(
    spool.segments.map((s) => [s.path.split("/").at(-1), s.size]),
    [["spool.log.1", 10], ["spool.log.2", 3], ["spool.log.3", 13], [
      "spool.log",
      2,
    ]],
  );
  await spool.close();
});

Deno.test("Spool deletes rotated files past its byte bound only once they were read to their end", async () => {
  await using dir = await LogDir.create();
  const spool = await Spool.open({
    dir: dir.file("web"),
    segmentBytes: 10,
    maxBytes: 20,
  });
  for (const l of ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n"]) {
    await spool.append(bytes(l), []);
  }
  // 25 bytes in three files, nothing read: nothing may go.
  assertEquals(spool.segments.length, 3);
  assertEquals(spool.unread(), 25);
  const [oldest, second] = spool.segments;
  spool.consumed(oldest.file, 6);
  await spool.append(bytes("f\n"), []);
  assertEquals(spool.segments.length, 3, "the oldest is not read to its end");
  spool.consumed(oldest.file, 10);
  spool.consumed(second.file, 10);
  await spool.append(bytes("g\n"), []);
  // 29 bytes: the oldest goes (19 left); the second would fit.
  assertEquals(
    spool.segments.map((s) => s.path.split("/").at(-1)),
    ["spool.log.2", "spool.log"],
  );
  assertEquals(await names(spool.dir), [
    "keys.ndjson",
    "spool.log",
    "spool.log.2",
  ]);
  assertEquals(spool.unread(), 9);
  await spool.close();
});

Deno.test("Spool keeps what follows a saved cursor of the previous run (--state) from retention until it is read", async () => {
  await using dir = await LogDir.create();
  const options = { dir: dir.file("web"), segmentBytes: 10, maxBytes: 20 };
  const before = await Spool.open(options);
  for (const l of ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n"]) {
    await before.append(bytes(l), []);
  }
  await before.close();
  const spool = await Spool.open(options);
  const [oldest, second] = spool.segments;
  // Delivered up to "aaaa\n" only: the rest of the oldest file and all of the second were not.
  spool.resumesAt(oldest.file, 5);
  assertEquals(spool.unread(), 5 + 10);
  await spool.append(bytes("eeee\n"), []);
  await spool.append(bytes("ffff\n"), []);
  // 30 bytes, past the bound: still nothing deleted.
  assertEquals(spool.segments.length, 3);
  assert((await names(spool.dir)).includes("spool.log.1"));
  spool.consumed(oldest.file, 10);
  spool.consumed(second.file, 10);
  // Read now: both go (32 bytes, 12 left).
  await spool.append(bytes("g\n"), []);
  assertEquals(
    spool.segments.map((s) => s.path.split("/").at(-1)),
    ["spool.log.3", "spool.log"],
  );
  await spool.close();
});

Deno.test(`Spool keeps at most ${MAX_SEGMENTS} files, deleting the oldest read ones`, async () => {
  await using dir = await LogDir.create();
  const spool = await Spool.open({
    dir: dir.file("web"),
    segmentBytes: 4096,
    maxBytes: 1 << 20,
  });
  for (let i = 0; i < MAX_SEGMENTS + 4; i++) {
    await spool.append(bytes("x".repeat(4095) + "\n"), []);
    for (const s of spool.segments) spool.consumed(s.file, s.size);
  }
  assertEquals(spool.segments.length, MAX_SEGMENTS);
  assertEquals((await names(spool.dir)).length, MAX_SEGMENTS + 1);
  await spool.close();
});

Deno.test("Spool.open finds the files of an earlier run, cuts a torn last line, numbers on, and knows the keys", async () => {
  await using dir = await LogDir.create();
  const options = { dir: dir.file("web"), segmentBytes: 10, maxBytes: 1000 };
  const before = await Spool.open(options);
  await before.append(bytes("aaaa\nbbbb\n"), []);
  await before.append(bytes("cc\n"), [{ key: "k", digest: "d", lines: 1 }]);
  await before.close();
  // Killed in the middle of a write.
  await Deno.writeTextFile(`${options.dir}/spool.log`, "half", {
    append: true,
  });
  const spool = await Spool.open(options);
  assertEquals(await Deno.readTextFile(spool.path), "cc\n");
  assertEquals(spool.segments.map((s) => s.size), [10, 3]);
  assertEquals(
    new TextDecoder().decode(spool.segments[0].head),
    "aaaa\nbbbb\n",
  );
  // What was there at start is not waited for.
  assertEquals(spool.unread(), 0);
  assertEquals(spool.keys.get("k")?.lines, 1);
  await spool.append(bytes("dddddddd\n"), []);
  assert((await names(spool.dir)).includes("spool.log.2"));
  await spool.close();
});
