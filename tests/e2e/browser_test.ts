/**
 * A real browser (Debian Chromium through playwright-core) across a server
 * restart: the viewer page (which reads /events with fetch and resumes with
 * `since=`) and a plain EventSource beside it (which reconnects by itself
 * with Last-Event-ID) both get what they missed, exactly once.
 */
import { assertEquals } from "@std/assert";
import { launch, pageLines as received, viewer } from "../_fixtures/browser.ts";
import { LogDir } from "../_fixtures/log_dir.ts";
import { TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor } from "../_fixtures/wait.ts";

function numbered(prefix: string, from: number, to: number): string {
  let text = "";
  for (let i = from; i < to; i++) text += `${prefix}-${i}\n`;
  return text;
}

Deno.test({
  name:
    "the viewer page and a browser EventSource resume exactly once after a server restart; the page marks the server's bye",
  // playwright-core keeps its own pipes and timers alive between calls; the
  // browser and every process are closed explicitly below.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dir = await LogDir.create();
    await dir.append("app.log", numbered("old", 0, 3));
    const path = dir.file("app.log");
    const first = new TailcastProcess(["--port", "0", "--from", "start", path]);
    const url = await first.url();
    const port = new URL(url).port;
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(`${url}/`);
      await page.evaluate(`
        globalThis.sourceLines = [];
        new EventSource("events?backlog=50").addEventListener("line", (e) => {
          sourceLines.push(JSON.parse(e.data).line);
        });
      `);
      const both = async () => [
        await received(page),
        await page.evaluate("sourceLines") as string[],
      ];
      // Both ask for a backlog first.
      await waitFor(
        async () => (await both()).every((lines) => lines.length === 3),
        "the backlog",
      );
      await dir.append("app.log", numbered("live", 0, 5));
      await waitFor(
        async () => (await both()).every((lines) => lines.length === 8),
        "live lines",
      );
      assertEquals(await page.textContent("#state"), "live");

      assertEquals((await first.stop()).code, 0);
      // The server said goodbye; the page shows it and reconnects by itself.
      await waitFor(
        async () =>
          (await viewer(page, "markers")).some((m) =>
            m.type === "bye" && m.text.includes("shutdown")
          ),
        "the bye marker",
      );
      await dir.append("app.log", numbered("down", 0, 4));
      await using second = new TailcastProcess([
        "--port",
        port,
        "--from",
        "end",
        path,
      ]);
      await second.url();
      await dir.append("app.log", numbered("after", 0, 2));
      // Both retry after the `retry:` delay (2 s): the page with since=,
      // EventSource with Last-Event-ID.
      await waitFor(
        async () => (await both()).every((lines) => lines.length >= 14),
        "the reconnect",
        15_000,
      );
      const expected = [
        ...numbered("old", 0, 3).trim().split("\n"),
        ...numbered("live", 0, 5).trim().split("\n"),
        ...numbered("down", 0, 4).trim().split("\n"),
        ...numbered("after", 0, 2).trim().split("\n"),
      ];
      assertEquals(await both(), [expected, expected]);
      assertEquals(await page.textContent("#state"), "live");
      assertEquals((await second.stop()).code, 0);
    } finally {
      await browser.close();
      await first.stop();
    }
  },
});
