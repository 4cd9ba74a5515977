import { assertEquals } from "@std/assert";
import { formatNotice } from "../../src/sink/notices.ts";

Deno.test("formatNotice says how a command source ended and when it starts again", () => {
  assertEquals(
    formatNotice({
      kind: "restart",
      source: "exec:journal",
      code: 3,
      signal: null,
      restarts: 2,
      delayMs: 1000,
    }),
    "tailcast: exec:journal: exited (status 3); starting it again in 1 s (restart 2)",
  );
  assertEquals(
    formatNotice({
      kind: "restart",
      source: "exec:journal",
      code: null,
      signal: "SIGKILL",
      restarts: 1,
      delayMs: 500,
    }),
    "tailcast: exec:journal: exited (signal SIGKILL); starting it again in 0.5 s (restart 1)",
  );
});

Deno.test("formatNotice prefixes a command's standard error line with its source", () => {
  assertEquals(
    formatNotice({ kind: "stderr", source: "exec:k", line: "W0101 lost" }),
    "tailcast: exec:k: stderr: W0101 lost",
  );
});
