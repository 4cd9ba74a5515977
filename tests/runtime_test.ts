import { assertEquals } from "@std/assert";
import { RUNTIME_V8_FLAGS } from "../src/runtime.ts";

Deno.test("every task that runs tailcast passes the runtime's V8 flags, the same as the tests and the bench", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  const tasks: Record<string, string> = config.tasks;
  const runs = [
    "start",
    "test:unit",
    "test:e2e",
    "test:e2e:1",
    "compile",
    "bench:micro",
  ];
  for (const name of runs) {
    const flags = tasks[name].split(/\s+/).filter((w) =>
      w.startsWith("--v8-flags=")
    );
    assertEquals(flags, [`--v8-flags=${RUNTIME_V8_FLAGS}`], `task ${name}`);
  }
  // And those that share a port between threads can.
  for (
    const name of ["start", "test:unit", "test:e2e", "test:e2e:1", "compile"]
  ) {
    assertEquals(
      tasks[name].split(/\s+/).includes("--unstable-net"),
      true,
      `task ${name} passes --unstable-net`,
    );
  }
});
