/**
 * Debian's Chromium through playwright-core, for the viewer page tests. No
 * test tool ever downloads a browser: a missing Chromium fails with how to
 * install it.
 */
import { type Browser, chromium, type Page } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";

/** Headless Chromium; close it with `browser.close()`. */
export async function launch(): Promise<Browser> {
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

/** What the page exposes as `window.tailcast`. */
export interface ViewerHook {
  /** The text of every line kept, oldest first (bounded by the Keep setting). */
  lines: string[];
  markers: Array<{ type: string; text: string }>;
  received: number;
  keep: number;
  following: boolean;
  newLines: number;
  state: string;
}

/** Reads one property of the page's `window.tailcast`. */
export function viewer<K extends keyof ViewerHook>(
  page: Page,
  key: K,
): Promise<ViewerHook[K]> {
  return page.evaluate(
    (k) =>
      (globalThis as unknown as { tailcast: ViewerHook }).tailcast[
        k as keyof ViewerHook
      ],
    key,
  ) as Promise<ViewerHook[K]>;
}

/** The lines the page holds now, in order. */
export function pageLines(page: Page): Promise<string[]> {
  return viewer(page, "lines");
}
