import { assertEquals } from "@std/assert";
import { Pacer } from "../../src/source/replay.ts";

/** One turn of the event loop: timers scheduled before this one have fired. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("Pacer: replays together read at most its budget per turn of the event loop, in the order they asked", async () => {
  const pacer = new Pacer(64);
  const done: number[] = [];
  const all = Array.from(
    { length: 7 },
    (_, i) => pacer.take(32).then(() => done.push(i)),
  );
  for (let i = 0; i < 10; i++) await Promise.resolve();
  assertEquals(done, [0, 1], "the first turn: 64 bytes");
  await nextTurn();
  assertEquals(done, [0, 1, 2, 3], "the next turn: 64 more");
  await nextTurn();
  assertEquals(done.length, 6);
  await Promise.all(all);
  assertEquals(done, [0, 1, 2, 3, 4, 5, 6]);
});

Deno.test("Pacer: a read larger than the budget still goes, alone in its turn", async () => {
  const pacer = new Pacer(64);
  await pacer.take(1000);
  let second = false;
  const next = pacer.take(1).then(() => second = true);
  for (let i = 0; i < 10; i++) await Promise.resolve();
  assertEquals(second, false);
  await next;
  assertEquals(second, true);
});

Deno.test("Pacer: once the work counted in a turn reaches its budget, the next one waits for the next turn", async () => {
  const pacer = new Pacer(64, 10);
  const done: number[] = [];
  const work = async (i: number) => {
    for (let turn; (turn = pacer.busy()) !== null;) await turn;
    done.push(i);
    pacer.spent(6);
  };
  const all = [0, 1, 2, 3].map(work);
  assertEquals(done, [0, 1], "6 + 6 ms reach the 10 ms of the first turn");
  await nextTurn();
  assertEquals(done, [0, 1, 2, 3]);
  await Promise.all(all);
});
