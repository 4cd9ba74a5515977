import { assertEquals } from "@std/assert";
import { IdempotencyKeys } from "../../src/source/keys.ts";
import { LogDir } from "../_fixtures/log_dir.ts";

const record = (n: number) => ({ key: `k${n}`, digest: `d${n}`, lines: n });

Deno.test("IdempotencyKeys remembers the newest keys of its window, in memory", async () => {
  const keys = await IdempotencyKeys.open(null, 3);
  await keys.add([record(1), record(2)]);
  await keys.add([record(3), record(4)]);
  assertEquals(keys.get("k1"), undefined, "the oldest left the window");
  assertEquals(keys.get("k4"), record(4));
  assertEquals(keys.get("k2"), record(2));
});

Deno.test("IdempotencyKeys kept in a file are known after a reopen; a torn last line is skipped", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("keys.ndjson");
  const keys = await IdempotencyKeys.open(path, 100);
  await keys.add([record(1)]);
  await keys.add([record(2)]);
  keys.close();
  // A crash while a line was written.
  await Deno.writeTextFile(path, '{"key":"k3","dig', { append: true });
  const again = await IdempotencyKeys.open(path, 100);
  assertEquals([again.get("k1"), again.get("k2"), again.get("k3")], [
    record(1),
    record(2),
    undefined,
  ]);
  again.close();
});

Deno.test("IdempotencyKeys rewrites its file with only the window once it holds twice as many lines", async () => {
  await using dir = await LogDir.create();
  const path = dir.file("keys.ndjson");
  const keys = await IdempotencyKeys.open(path, 2);
  await keys.add([record(1), record(2), record(3)]);
  assertEquals((await Deno.readTextFile(path)).split("\n").length - 1, 3);
  await keys.add([record(4)]);
  const lines = (await Deno.readTextFile(path)).trim().split("\n");
  assertEquals(lines.map((l) => JSON.parse(l).key), ["k3", "k4"]);
  await keys.add([record(5)]);
  keys.close();
  const again = await IdempotencyKeys.open(path, 2);
  assertEquals([again.get("k3"), again.get("k4"), again.get("k5")], [
    undefined,
    record(4),
    record(5),
  ]);
  again.close();
});
