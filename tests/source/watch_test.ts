import { assertEquals, assertMatch } from "@std/assert";
import type { Notice } from "../../src/types.ts";
import { Wakeup, Watcher } from "../../src/source/watch.ts";
import { LogDir } from "../_fixtures/log_dir.ts";
import { settle, track, within } from "../_fixtures/wait.ts";

Deno.test("Wakeup resolves the first next() at once", async () => {
  const w = new Wakeup(() => {});
  assertEquals(await w.next(), true);
  w.close();
});

Deno.test("Wakeup coalesces many wake() calls into one next()", async () => {
  const w = new Wakeup(() => {});
  await w.next();
  for (let i = 0; i < 100; i++) w.wake();
  assertEquals(await w.next(), true);
  const pending = w.next();
  const state = track(pending);
  await settle();
  assertEquals(
    state.settled(),
    false,
    "100 wake() calls counted more than once",
  );
  w.wake();
  assertEquals(await pending, true);
  const after = track(w.next());
  await settle();
  assertEquals(
    after.settled(),
    false,
    "a wake() for a waiting next() was kept",
  );
  w.close();
});

Deno.test("Wakeup close() resolves a pending next() with false and tells its owner once", async () => {
  let closed = 0;
  const w = new Wakeup(() => closed++);
  await w.next();
  const pending = w.next();
  w.close();
  w.close();
  assertEquals(await pending, false);
  assertEquals(await w.next(), false);
  w.wake();
  assertEquals(await w.next(), false);
  assertEquals(closed, 1);
});

Deno.test("Watcher wakes a file's follower on append in events mode", async () => {
  await using dir = await LogDir.create();
  await dir.append("app.log", "first\n");
  let calls = 0;
  const watcher = new Watcher({
    // The safety poll is far away: a wake-up within the test comes from events.
    safetyPollMs: 60_000,
    watchFs: (path, options) => {
      calls++;
      return Deno.watchFs(path, options);
    },
  });
  try {
    assertEquals(watcher.mode, "events");
    const wakeup = watcher.file(dir.file("app.log"));
    assertEquals(calls, 1);
    assertEquals(await wakeup.next(), true);
    const next = wakeup.next();
    await dir.append("app.log", "second\n");
    assertEquals(await within(next, 5000, "a wake-up from an event"), true);
    // A second file in the same directory shares the watch.
    const other = watcher.file(dir.file("other.log"));
    assertEquals(calls, 1);
    assertEquals(await other.next(), true);
    const created = other.next();
    await dir.append("other.log", "hello\n");
    assertEquals(await within(created, 5000, "a wake-up on create"), true);
  } finally {
    await watcher.close();
  }
});

Deno.test("Watcher wakes a tree on a new file in events mode", async () => {
  await using dir = await LogDir.create();
  const watcher = new Watcher({ safetyPollMs: 60_000 });
  try {
    const tree = watcher.tree(dir.path, false);
    assertEquals(await tree.next(), true);
    const next = tree.next();
    await Deno.writeTextFile(dir.file("new.log"), "x\n");
    assertEquals(await within(next, 5000, "a wake-up on a new file"), true);
  } finally {
    await watcher.close();
  }
});

Deno.test("Watcher wakes followers from the poll timer in polling mode", async () => {
  await using dir = await LogDir.create();
  let calls = 0;
  const watcher = new Watcher({
    mode: "polling",
    pollMs: 20,
    watchFs: () => {
      calls++;
      throw new Error("polling mode must not watch");
    },
  });
  try {
    assertEquals(watcher.mode, "polling");
    assertMatch(watcher.reason, /--poll/);
    const wakeup = watcher.file(dir.file("app.log"));
    assertEquals(await wakeup.next(), true);
    for (let i = 0; i < 3; i++) {
      assertEquals(await within(wakeup.next(), 2000, `poll tick ${i}`), true);
    }
    assertEquals(calls, 0);
  } finally {
    await watcher.close();
  }
});

Deno.test("Watcher falls back to polling when watching fails, with a mode notice", async () => {
  await using dir = await LogDir.create();
  const notices: Notice[] = [];
  const watcher = new Watcher({
    pollMs: 20,
    safetyPollMs: 60_000,
    notice: (n) => notices.push(n),
    watchFs: () => {
      throw new Error("OS file watch limit reached");
    },
  });
  try {
    assertEquals(watcher.mode, "events");
    const wakeup = watcher.file(dir.file("app.log"));
    assertEquals(watcher.mode, "polling");
    assertEquals(notices.length, 1);
    const [n] = notices;
    assertEquals(n.kind, "mode");
    if (n.kind === "mode") {
      assertEquals(n.mode, "polling");
      assertMatch(n.reason, /OS file watch limit reached/);
      assertMatch(n.reason, /polling every 20 ms/);
    }
    assertEquals(watcher.reason, n.kind === "mode" ? n.reason : "");
    assertEquals(await wakeup.next(), true);
    // Wake-ups keep coming, from the 20 ms poll (the safety poll is 60 s).
    for (let i = 0; i < 3; i++) {
      assertEquals(await within(wakeup.next(), 2000, `poll tick ${i}`), true);
    }
    // Later files do not try to watch again, nor repeat the notice.
    watcher.file(dir.file("b.log"));
    assertEquals(notices.length, 1);
  } finally {
    await watcher.close();
  }
});

Deno.test("Watcher close() resolves pending next() with false and ends every wake-up", async () => {
  await using dir = await LogDir.create();
  const watcher = new Watcher({ safetyPollMs: 60_000 });
  const file = watcher.file(dir.file("app.log"));
  const tree = watcher.tree(dir.path, true);
  await file.next();
  await tree.next();
  const pendingFile = file.next();
  const pendingTree = tree.next();
  await watcher.close();
  assertEquals(await pendingFile, false);
  assertEquals(await pendingTree, false);
  assertEquals(await file.next(), false);
  await watcher.close();
});
