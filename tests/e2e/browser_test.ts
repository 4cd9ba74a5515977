/**
 * The viewer page in a real browser (Debian Chromium through playwright-core):
 * EventSource receives lines, and after a server restart reconnects by
 * itself with Last-Event-ID and gets what it missed, exactly once.
 */
import { assertEquals } from "@std/assert";
import { type Browser, chromium, type Page } from "playwright-core";
import { LogDir } from "../_fixtures/log_dir.ts";
import { TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor } from "../_fixtures/wait.ts";

const CHROMIUM = "/usr/bin/chromium";

async function launch(): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `${CHROMIUM} is missing: install it with apt-get install -y chromium (.ci/run does)`,
    );
  }
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--headless",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** The lines the page's EventSource received, in order. */
function received(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    (globalThis as unknown as { tailcast: { lines: string[] } }).tailcast
      .lines
  );
}

function numbered(prefix: string, from: number, to: number): string {
  let text = "";
  for (let i = from; i < to; i++) text += `${prefix}-${i}\n`;
  return text;
}

Deno.test({
  name:
    "browser EventSource shows live lines and resumes exactly once after a server restart",
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
      // The page asks for a backlog of 50 lines first.
      await waitFor(
        async () => (await received(page)).length === 3,
        "the backlog",
      );
      await dir.append("app.log", numbered("live", 0, 5));
      await waitFor(
        async () => (await received(page)).length === 8,
        "live lines",
      );
      assertEquals(await page.textContent("#state"), "live");

      assertEquals((await first.stop()).code, 0);
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
      // EventSource retries after the `retry:` delay (2 s) with Last-Event-ID.
      await waitFor(
        async () => (await received(page)).length >= 14,
        "the reconnect",
        15_000,
      );
      assertEquals(await received(page), [
        ...numbered("old", 0, 3).trim().split("\n"),
        ...numbered("live", 0, 5).trim().split("\n"),
        ...numbered("down", 0, 4).trim().split("\n"),
        ...numbered("after", 0, 2).trim().split("\n"),
      ]);
      assertEquals(await page.textContent("#state"), "live");
      assertEquals((await second.stop()).code, 0);
    } finally {
      await browser.close();
      await first.stop();
    }
  },
});
