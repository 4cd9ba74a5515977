import { assertEquals } from "@std/assert";
import { WatchedProcess } from "../src/pid.ts";

Deno.test({
  name:
    "WatchedProcess says a process has ended once it exits, and waitForEnd resolves then",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
    const watched = await WatchedProcess.find(child.pid);
    assertEquals(await watched.ended(), false);
    const abort = new AbortController();
    const waiting = watched.waitForEnd(10, abort.signal);
    child.kill("SIGKILL");
    await child.status;
    assertEquals(await waiting, true);
    assertEquals(await watched.ended(), true);
  },
});

Deno.test({
  name: "WatchedProcess of a process not running at start-up has ended",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const child = new Deno.Command("true").spawn();
    await child.status;
    const watched = await WatchedProcess.find(child.pid);
    assertEquals(await watched.ended(), true);
  },
});

Deno.test({
  name:
    "WatchedProcess.waitForEnd resolves false when aborted while the process runs",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const watched = await WatchedProcess.find(Deno.pid);
    const abort = new AbortController();
    const waiting = watched.waitForEnd(60_000, abort.signal);
    abort.abort();
    assertEquals(await waiting, false);
  },
});
