/**
 * Published positions (src/sink/positions.ts): per followed path, how far
 * each file identity's events were published; the snapshot a subscriber
 * takes is the seam between its replay and the live stream.
 */
import { assertEquals, assertNotStrictEquals } from "@std/assert";
import { Positions } from "../../src/sink/positions.ts";
import { type FileId, MAX_FILES_PER_SOURCE } from "../../src/types.ts";

const A = "/logs/a.log";
const B = "/logs/b.log";
const f = (ino: number, dev = 1): FileId => ({ dev, ino });

Deno.test("Positions starts empty: no count, no paths, an empty snapshot", () => {
  const p = new Positions();
  assertEquals(p.count, 0);
  assertEquals([...p.all], []);
  assertEquals(p.snapshot(), new Map());
});

Deno.test("Positions.appear records where a file starts and never moves a position it already has", () => {
  const p = new Positions();
  p.appear(A, f(1), 100);
  assertEquals(p.snapshot(), new Map([[A, [{ file: f(1), offset: 100 }]]]));
  p.advance(A, f(1), 150);
  // A second appear (the follower reopened it) keeps the published position.
  p.appear(A, f(1), 0);
  assertEquals(p.snapshot().get(A), [{ file: f(1), offset: 150 }]);
  assertEquals(p.count, 1);
});

Deno.test("Positions.advance moves a file's position to the newest event, even backwards after a truncation", () => {
  const p = new Positions();
  p.advance(A, f(1), 10);
  p.advance(A, f(1), 40);
  assertEquals(p.snapshot().get(A), [{ file: f(1), offset: 40 }]);
  p.advance(A, f(1), 6);
  assertEquals(p.snapshot().get(A), [{ file: f(1), offset: 6 }]);
  assertEquals(p.count, 1);
});

Deno.test("Positions.advance of an unseen file adds it after the others of its path", () => {
  const p = new Positions();
  p.appear(A, f(1), 0);
  p.advance(A, f(2), 12);
  assertEquals(p.snapshot().get(A), [
    { file: f(1), offset: 0 },
    { file: f(2), offset: 12 },
  ]);
});

Deno.test("Positions tells files apart by device and inode, not by inode alone", () => {
  const p = new Positions();
  p.advance(A, f(7, 1), 5);
  p.advance(A, f(7, 2), 9);
  assertEquals(p.snapshot().get(A), [
    { file: f(7, 1), offset: 5 },
    { file: f(7, 2), offset: 9 },
  ]);
  assertEquals(p.count, 2);
});

Deno.test("Positions keeps per path the newest MAX_FILES_PER_SOURCE identities, dropping the oldest, and counts what it keeps", () => {
  const p = new Positions();
  const n = MAX_FILES_PER_SOURCE + 2;
  for (let i = 1; i <= n; i++) p.advance(A, f(i), i * 10);
  p.appear(B, f(100), 0);
  const kept = p.snapshot().get(A)!;
  assertEquals(kept.length, MAX_FILES_PER_SOURCE);
  assertEquals(
    kept.map((x) => x.file.ino),
    Array.from({ length: MAX_FILES_PER_SOURCE }, (_, i) => i + 3),
  );
  assertEquals(p.count, MAX_FILES_PER_SOURCE + 1);
  // A dropped identity that comes back is new again, at the end.
  p.advance(A, f(1), 1);
  assertEquals(p.snapshot().get(A)!.map((x) => x.file.ino), [4, 5, 6, 1]);
  assertEquals(p.count, MAX_FILES_PER_SOURCE + 1);
});

Deno.test("Positions.count is the number of positions over all paths", () => {
  const p = new Positions();
  p.appear(A, f(1), 0);
  p.appear(A, f(2), 0);
  p.appear(B, f(1), 0);
  p.advance(B, f(1), 3);
  assertEquals(p.count, 3);
});

Deno.test("Positions.snapshot selects paths with its predicate and keeps their order of appearance", () => {
  const p = new Positions();
  p.appear(B, f(2), 0);
  p.appear(A, f(1), 0);
  p.appear("/other/c.log", f(3), 0);
  assertEquals([...p.snapshot().keys()], [B, A, "/other/c.log"]);
  assertEquals(
    [...p.snapshot((s) => s.startsWith("/logs/")).keys()],
    [B, A],
  );
  assertEquals(p.snapshot(() => false), new Map());
});

Deno.test("Positions.snapshot is a copy: later advances do not change it, and changing it does not change the positions", () => {
  const p = new Positions();
  p.advance(A, f(1), 10);
  const before = p.snapshot();
  p.advance(A, f(1), 20);
  p.advance(A, f(2), 5);
  p.appear(B, f(3), 0);
  assertEquals(before, new Map([[A, [{ file: f(1), offset: 10 }]]]));
  before.get(A)!.push({ file: f(9), offset: 99 });
  before.set("/x", []);
  assertEquals(
    p.snapshot(),
    new Map([[A, [
      { file: f(1), offset: 20 },
      { file: f(2), offset: 5 },
    ]], [B, [{ file: f(3), offset: 0 }]]]),
  );
  assertNotStrictEquals(p.snapshot().get(A), p.all.get(A));
});

Deno.test("Positions.all is live: it shows an advance made after it was read", () => {
  const p = new Positions();
  p.advance(A, f(1), 10);
  const all = p.all;
  p.advance(A, f(1), 30);
  p.appear(B, f(2), 0);
  assertEquals(all.get(A), [{ file: f(1), offset: 30 }]);
  assertEquals(all.get(B), [{ file: f(2), offset: 0 }]);
});
