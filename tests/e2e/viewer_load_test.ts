/**
 * The viewer page under load: 10,000 lines/s for 10 s into an open page in
 * Chromium. The issue's own criteria, measured inside the page: no long
 * task (PerformanceObserver `longtask`, which reports tasks over 50 ms) and
 * a DOM that stays the same size however many lines arrive.
 */
import { assert, assertEquals } from "@std/assert";
import { launch, pageLines, viewer } from "../_fixtures/browser.ts";
import { LogDir } from "../_fixtures/log_dir.ts";
import { TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor } from "../_fixtures/wait.ts";
import { lineText, parseSeq } from "../_fixtures/writer.ts";

/** Elements the page may have, whatever the number of lines: the rows in view and the page itself. */
const MAX_ELEMENTS = 1500;

Deno.test({
  name:
    "the viewer takes 10,000 lines/s for 10 s with no long task and a bounded DOM, keeping the newest lines in order",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dir = await LogDir.create();
    const path = dir.file("app.log");
    await dir.append("app.log", "");
    await using server = new TailcastProcess(["--port", "0", path]);
    const url = await server.url();
    const browser = await launch();
    try {
      const page = await browser.newPage({
        viewport: { width: 1200, height: 700 },
      });
      await page.goto(`${url}/`);
      await waitFor(
        async () => await viewer(page, "state") === "live",
        "the page connected",
      );
      // An open page shows a log: its first rows (fonts loaded, first
      // paint) are drawn before the measurement starts.
      await dir.append("app.log", "first\nsecond\nthird\n");
      await waitFor(
        async () => await page.locator("#rows .row").count() === 3,
        "the first rows",
      );
      // From here on: the page is open, the lines are about to come.
      // Long animation frames say which script a long task ran, for the
      // message when one appears.
      await page.evaluate(`
        globalThis.longTasks = [];
        globalThis.longFrames = [];
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) longTasks.push(Math.round(e.duration));
        }).observe({ type: "longtask" });
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) {
            if (e.blockingDuration === 0 || longFrames.length >= 20) continue;
            const render = e.renderStart ? Math.round(e.startTime + e.duration - e.renderStart) : 0;
            longFrames.push(Math.round(e.duration) + " ms: render " + render + " ms; " +
              e.scripts.map((s) => s.invoker + " " + Math.round(s.duration) + " ms").join(", "));
          }
        }).observe({ type: "long-animation-frame" });
      `);
      const keep = await viewer(page, "keep");

      // 10,000 lines/s for 10 s, in a write every 20 ms (a logger that
      // flushes its buffer); the DOM is counted every 250 ms meanwhile.
      const RATE = 10_000;
      const TOTAL = 100_000;
      let written = 0;
      let maxElements = 0;
      let samples = 0;
      const began = performance.now();
      for (let tick = 0; written < TOTAL; tick++) {
        const due = Math.min(
          TOTAL,
          Math.floor((performance.now() - began) * RATE / 1000),
        );
        if (due > written) {
          let text = "";
          for (let seq = written; seq < due; seq++) {
            text += lineText(seq) + "\n";
          }
          await dir.append("app.log", text);
          written = due;
        }
        if (tick % 12 === 0) {
          const count = await page.evaluate(
            "document.getElementsByTagName('*').length",
          ) as number;
          maxElements = Math.max(maxElements, count);
          samples++;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await waitFor(
        async () => await viewer(page, "received") === TOTAL + 3,
        `all ${TOTAL} lines received`,
        30_000,
      );

      const longTasks = await page.evaluate("longTasks") as number[];
      const frames = await page.evaluate("longFrames") as string[];
      assertEquals(
        longTasks,
        [],
        `long tasks (ms): ${longTasks}; long frames:\n${frames.join("\n")}`,
      );
      assert(samples >= 20, `${samples} samples of the DOM`);
      assert(
        maxElements <= MAX_ELEMENTS,
        `${maxElements} elements at most during the run`,
      );
      const lines = await pageLines(page);
      assertEquals(lines.length, keep);
      assertEquals(
        lines.map(parseSeq),
        Array.from({ length: keep }, (_, i) => TOTAL - keep + i),
      );
    } finally {
      await browser.close();
    }
    assertEquals((await server.stop()).code, 0);
  },
});
