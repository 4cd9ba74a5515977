/**
 * The viewer page (`GET /`) in Debian's Chromium against the real main.ts:
 * picking a source, server-side filters kept in the URL, show in context,
 * pause and resume exactly once, markers, the token prompt, and the
 * screenshots the README links to.
 */
import { assertEquals, assertMatch } from "@std/assert";
import type { Browser, Page } from "playwright-core";
import { launch, pageLines, viewer } from "../_fixtures/browser.ts";
import { LogDir } from "../_fixtures/log_dir.ts";
import { ROOT, TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor } from "../_fixtures/wait.ts";

/** Runs `fn` with a tailcast server and a browser page; closes both. */
async function withViewer(
  args: string[],
  fn: (page: Page, url: string, browser: Browser) => Promise<void>,
  viewport = { width: 1200, height: 700 },
): Promise<void> {
  await using server = new TailcastProcess(["--port", "0", ...args]);
  const url = await server.url();
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport });
    await fn(page, url, browser);
  } finally {
    await browser.close();
  }
  assertEquals((await server.stop()).code, 0);
}

async function untilLines(page: Page, expected: string[], what: string) {
  let last: string[] = [];
  try {
    await waitFor(async () => {
      last = await pageLines(page);
      return last.length === expected.length &&
        last.every((l, i) => l === expected[i]);
    }, what);
  } catch (error) {
    assertEquals(last, expected, String(error));
  }
}

function numbered(prefix: string, from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) out.push(`${prefix}-${i}`);
  return out;
}

const text = (lines: string[]) => lines.map((l) => l + "\n").join("");

const browserTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({
    name,
    // playwright-core keeps its own pipes and timers alive between calls;
    // the browser and every process are closed explicitly.
    sanitizeOps: false,
    sanitizeResources: false,
    fn,
  });

const API = [
  { level: "info", msg: "GET /api/users", status: 200 },
  { level: "error", msg: "GET /api/orders timed out", status: 504 },
  { level: "warn", msg: "GET /api/login slow", status: 429 },
  { level: "debug", msg: "cache hit", status: 200 },
  { level: "error", msg: "POST /api/pay failed", status: 500 },
  { level: "info", msg: "GET /healthz", status: 200 },
  { level: "warn", msg: "POST /api/login retried", status: 503 },
  { level: "info", msg: "GET /api/orders", status: 200 },
].map((o) => JSON.stringify(o));

browserTest(
  "the viewer picks a source, filters by grep, where and level on the server, keeps them in the URL, and copies a line and shows it in context",
  async () => {
    await using dir = await LogDir.create();
    await dir.append("api.log", text(API));
    await dir.append("worker.log", text(["worker started", "job 1 done"]));
    const api = dir.file("api.log");
    await withViewer([
      "--from",
      "start",
      "--format",
      "auto",
      "--alert",
      "boom: grep BOOM 1 in 1m",
      `${dir.path}/*.log`,
    ], async (page, url) => {
      await page.goto(`${url}/`);
      await waitFor(
        async () => (await pageLines(page)).length === API.length + 2,
        "both files' lines",
      );
      await dir.append("worker.log", "BOOM\n");
      await waitFor(
        async () =>
          (await viewer(page, "markers")).some((m) =>
            m.type === "alert" && m.text.startsWith("boom:")
          ),
        "the alert marker",
      );

      await page.keyboard.press("/");
      assertEquals(await page.evaluate("document.activeElement.id"), "grep");
      await page.keyboard.press("Escape");

      // The picker offers all files, the directory's glob and each file.
      const options = await page.evaluate(
        `[...document.querySelectorAll("#source option")].map((o) => o.value)`,
      );
      assertEquals(options, [
        "",
        `${dir.path}/*.log`,
        api,
        dir.file("worker.log"),
      ]);
      await page.selectOption("#source", api);
      await untilLines(page, API, "only api.log");

      await page.fill("#grep", "timed out|failed");
      await page.press("#grep", "Enter");
      await untilLines(page, [API[1], API[4]], "the grep");
      await waitFor(
        async () =>
          (await page.locator("#rows mark").allTextContents()).join() ===
            "timed out,failed",
        "the matches marked",
      );

      // A where the server rejects: its message, with the column, inline.
      await page.fill("#grep", "");
      await page.fill("#where", "status>=");
      await page.press("#where", "Enter");
      await page.waitForSelector("#problem:not([hidden])");
      assertMatch(
        await page.textContent("#problem") ?? "",
        /Invalid where "status>=" at column 9: /,
      );
      assertEquals(await page.getAttribute("#where", "aria-invalid"), "true");
      await page.fill("#where", "status>=500");
      await page.press("#where", "Enter");
      await untilLines(page, [API[1], API[4], API[6]], "the where");
      assertEquals(await page.isHidden("#problem"), true);

      await page.fill("#where", "");
      await page.press("#where", "Enter");
      await page.selectOption("#level", "warn");
      await page.fill("#grep", "login");
      await page.press("#grep", "Enter");
      const shared = [API[2], API[6]];
      await untilLines(page, shared, "level and grep");

      // The view is in the URL: opening it again shows the same.
      const address = new URL(page.url());
      assertEquals(address.searchParams.get("source"), api);
      assertEquals(address.searchParams.get("grep"), "login");
      assertEquals(address.searchParams.get("level"), "warn");
      assertEquals(address.searchParams.has("where"), false);
      await page.reload();
      await untilLines(page, shared, "the shared view");
      assertEquals(await page.inputValue("#grep"), "login");
      assertEquals(await page.inputValue("#level"), "warn");
      assertEquals(await page.inputValue("#source"), api);

      // Reading: times, wrap, copy.
      await page.check("#time");
      await waitFor(
        async () => await page.locator("#rows .row time.ts").count() === 2,
        "a time on every row",
      );
      await page.check("#wrap");
      assertEquals(await page.getAttribute("#view", "class"), "wrap");
      await page.context().grantPermissions([
        "clipboard-read",
        "clipboard-write",
      ]);
      const last = page.locator("#rows .row").last();
      await last.hover();
      await last.locator("button.copy").click();
      assertEquals(
        await page.evaluate("navigator.clipboard.readText()"),
        API[6],
      );

      // Show in context: the lines around the filtered one, from the file.
      await last.hover();
      await last.locator("button.context").click();
      await page.waitForSelector("#context[open] .row.target");
      const around = await page.$$eval(
        "#context-rows .row .text",
        (ts) => ts.map((t) => t.textContent),
      );
      assertEquals(around, API);
      assertEquals(
        await page.textContent("#context-rows .row.target .text"),
        API[6],
      );
      await page.keyboard.press("Escape");
      assertEquals(await page.isHidden("#context"), true);
    });
  },
);

browserTest(
  "the viewer pauses while lines arrive and resumes with every line exactly once, in order, across rotations",
  async () => {
    await using dir = await LogDir.create();
    const path = dir.file("app.log");
    const written = numbered("start", 0, 5);
    await dir.append("app.log", text(written));
    await withViewer(["--from", "start", path], async (page, url) => {
      await page.goto(`${url}/`);
      await untilLines(page, written, "the first lines");

      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing; i += 10) {
          const batch = numbered("live", i, i + 10);
          await dir.append("app.log", text(batch));
          written.push(...batch);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      await waitFor(
        async () => (await pageLines(page)).length >= 50,
        "lines while following",
      );
      await page.keyboard.press(" ");
      assertEquals(await viewer(page, "following"), false);
      assertEquals(await page.textContent("#state"), "paused");
      const shown = await pageLines(page);
      await waitFor(
        async () => await viewer(page, "newLines") >= 100,
        "new lines counted while paused",
      );
      writing = false;
      await writer;
      // Rotated while paused: resuming reads the old file, then the new one.
      await dir.rename("app.log", "app.log.1");
      const rotated = numbered("rotated", 0, 30);
      await dir.append("app.log", text(rotated));
      written.push(...rotated);
      await waitFor(
        async () =>
          await viewer(page, "newLines") === written.length - shown.length,
        "every new line counted",
      );
      assertEquals(
        await pageLines(page),
        shown,
        "nothing added while paused",
      );
      assertMatch(await page.textContent("#more") ?? "", /new lines — resume/);
      await page.click("#more");
      await untilLines(page, written, "every line once after resuming");

      // Scrolling up pauses too; G follows again.
      await page.mouse.move(600, 300);
      await page.mouse.wheel(0, -600);
      await waitFor(
        async () => !(await viewer(page, "following")),
        "the pause by scrolling",
      );
      const more = numbered("scrolled", 0, 20);
      await dir.append("app.log", text(more));
      written.push(...more);
      await waitFor(
        async () => await viewer(page, "newLines") === more.length,
        "new lines while scrolled up",
      );
      await page.keyboard.press("Shift+G");
      await untilLines(page, written, "every line once after G");

      // Rotated while following: a marker, and still every line once.
      await dir.rename("app.log", "app.log.2");
      const last = numbered("last", 0, 10);
      await dir.append("app.log", text(last));
      written.push(...last);
      await untilLines(page, written, "the lines after the rotation");
      await waitFor(
        async () =>
          (await viewer(page, "markers")).some((m) => m.type === "rotate"),
        "the rotate marker",
      );

      // g goes to the oldest line kept, which stops following.
      await page.keyboard.press("g");
      await waitFor(
        async () =>
          !(await viewer(page, "following")) &&
          await page.evaluate("document.getElementById('view').scrollTop") ===
            0,
        "the top",
      );
    });
  },
);

browserTest(
  "the viewer asks for the token, keeps it for this tab only, and streams with it",
  async () => {
    await using dir = await LogDir.create();
    const lines = numbered("secret", 0, 3);
    await dir.append("app.log", text(lines));
    await withViewer(
      ["--from", "start", "--token", "s3cret-token", dir.file("app.log")],
      async (page, url, browser) => {
        await page.goto(`${url}/`);
        await page.waitForSelector("#auth[open]");
        await page.fill("#token", "wrong-token");
        await page.press("#token", "Enter");
        await waitFor(
          async () =>
            /refused/.test(await page.textContent("#auth-note") ?? "") &&
            await page.isVisible("#auth[open]"),
          "the prompt again after a wrong token",
        );
        await page.fill("#token", "s3cret-token");
        await page.press("#token", "Enter");
        await untilLines(page, lines, "the lines with the token");
        // Kept in the tab's session storage: not in the address, not in
        // local storage.
        assertEquals(
          await page.evaluate(() => ({
            session: sessionStorage.getItem("tailcast.token"),
            local: Object.values(localStorage).join(" ").includes("s3cret"),
            address: location.href,
          })),
          { session: "s3cret-token", local: false, address: `${url}/` },
        );
        // The same tab keeps it; another tab asks again.
        await page.reload();
        await untilLines(page, lines, "the lines after a reload");
        assertEquals(await page.isVisible("#auth[open]"), false);
        const other = await browser.newPage();
        await other.goto(`${url}/`);
        await other.waitForSelector("#auth[open]");
      },
    );
  },
);

browserTest(
  "the viewer in light and dark (the README's screenshots)",
  async () => {
    await using dir = await LogDir.create();
    const methods = ["GET", "GET", "POST", "GET", "PUT"];
    const paths = ["/api/users", "/api/orders", "/api/login", "/healthz"];
    const lines: string[] = [];
    for (let i = 0; i < 40; i++) {
      const level = i % 13 === 5
        ? "error"
        : i % 7 === 3
        ? "warn"
        : i % 5 === 1
        ? "debug"
        : "info";
      const status = level === "error" ? 504 : level === "warn" ? 429 : 200;
      lines.push(JSON.stringify({
        time: `2026-11-27T03:02:${String(10 + i).padStart(2, "0")}.${
          String((i * 137) % 1000).padStart(3, "0")
        }Z`,
        level,
        msg: level === "error" ? "upstream timed out" : "request served",
        method: methods[i % methods.length],
        path: paths[i % paths.length],
        status,
        ms: (i * 37) % 900,
      }));
    }
    await dir.append("api.log", text(lines.slice(0, 30)));
    // Written once the page shows api.log, so that the picture is the same
    // on every run.
    await dir.append("worker.log", "");
    await withViewer([
      "--from",
      "start",
      "--format",
      "auto",
      "--alert",
      "errors: level=error 3 in 1m",
      `${dir.path}/*.log`,
    ], async (page, url) => {
      await page.goto(`${url}/`);
      await waitFor(
        async () => (await pageLines(page)).length === 30,
        "the first lines",
      );
      await dir.append("worker.log", "worker: 12 jobs queued\n");
      await waitFor(
        async () => (await pageLines(page)).length === 31,
        "the worker's line",
      );
      await dir.rename("api.log", "api.log.1");
      await dir.append("api.log", text(lines.slice(30)));
      await waitFor(
        async () =>
          (await pageLines(page)).length === 41 &&
          (await viewer(page, "markers")).some((m) => m.type === "rotate"),
        "the lines after a rotation",
      );
      await dir.append(
        "worker.log",
        "worker: job 7 failed: deadline exceeded\n",
      );
      await waitFor(
        async () =>
          (await viewer(page, "markers")).some((m) => m.type === "alert") &&
          (await pageLines(page)).length === 42,
        "the alert",
      );
      const open = page.locator("#rows .row.lv-error").last();
      await open.hover();
      await open.locator("button.exp").click();
      await waitFor(
        async () =>
          (await page.locator("#rows dl.fields dt").allTextContents())
            .join() ===
            "time,level,msg,method,path,status,ms",
        "the fields of the line",
      );
      await page.mouse.move(0, 0);
      await page.evaluate("document.activeElement.blur()");
      // The rate in the status line reads 0/s once the lines stopped.
      await waitFor(
        async () => /· 0\/s$/.test(await page.textContent("#stats") ?? ""),
        "a quiet status line",
        5000,
      );
      await Deno.mkdir(`${ROOT}docs/screenshots`, { recursive: true });
      const backgrounds: string[] = [];
      for (const colorScheme of ["light", "dark"] as const) {
        await page.emulateMedia({ colorScheme });
        backgrounds.push(
          await page.evaluate(
            "getComputedStyle(document.body).backgroundColor",
          ),
        );
        await page.screenshot({
          path: `${ROOT}docs/screenshots/page-${colorScheme}.png`,
        });
      }
      assertEquals(backgrounds, ["rgb(255, 255, 255)", "rgb(13, 17, 23)"]);
    });
  },
);
