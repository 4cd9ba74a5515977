/**
 * Webhook: posts each alert as JSON to a URL, from one sender loop with its
 * own bounded queue, so the caller never waits on the network.
 *
 * `send()` is synchronous: it queues the alert (dropping and counting the
 * oldest when the queue is full) and wakes the loop. The loop posts one
 * alert at a time, each request bounded by a timeout, and retries it with
 * `@std/async`'s `retry` (exponential backoff, half of it jitter) after a
 * network error, a timeout, a 5xx, 408 or 429, until the alert has had its
 * attempts or is too old; any other 4xx is not retried. A 429 or 503 with
 * `Retry-After` (seconds or an HTTP date) waits at least that long, capped
 * by `maxBackoffMs`. A failing webhook is reported through `log` once per
 * streak of failures, and once more when it delivers again: never fatal,
 * never once per retry. `close()` aborts the request in flight and the
 * backoff, and resolves when the loop has ended.
 */
import { delay } from "@std/async/delay";
import { retry } from "@std/async/retry";
import type { Alert } from "../types.ts";

export interface WebhookOptions {
  /** One line for the operator: a webhook failing, recovering or dropping alerts. */
  log: (line: string) => void;
  /** Alerts queued at most; beyond it the oldest is dropped. @default 100 */
  capacity?: number;
  /** Attempts per alert before it is given up. @default 8 */
  attempts?: number;
  /** An alert older than this is given up instead of retried, ms. @default 600000 */
  maxAgeMs?: number;
  /** The first backoff of an alert, ms; it doubles with each of its failed attempts. @default 500 */
  backoffMs?: number;
  /** The longest backoff, ms; it also caps `Retry-After`. @default 30000 */
  maxBackoffMs?: number;
  /** Time allowed per request, ms. @default 10000 */
  timeoutMs?: number;
  /** Extra request headers, e.g. an authorization. */
  headers?: Record<string, string>;
}

interface Queued {
  readonly alert: Alert;
  readonly body: string;
  /** `performance.now()` when queued. */
  readonly queuedAt: number;
  attempts: number;
  /** `performance.now()` before which the webhook asked not to be retried (`Retry-After`). */
  notBefore: number;
}

/** Why an attempt failed, and whether trying the alert again may help. */
class AttemptFailed extends Error {
  readonly retry: boolean;

  constructor(reason: string, retry: boolean) {
    super(reason);
    this.name = "AttemptFailed";
    this.retry = retry;
  }
}

/**
 * Delivers alerts to one URL.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Webhook } from "./webhook.ts";
 * const got: unknown[] = [];
 * const server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   async (req) => {
 *     got.push(await req.json());
 *     return new Response(null, { status: 204 });
 *   },
 * );
 * const hook = new Webhook(`http://127.0.0.1:${server.addr.port}/alerts`, {
 *   log: () => {},
 * });
 * hook.send({
 *   rule: "errors",
 *   kind: "threshold",
 *   message: "errors: 10 lines matching level=error within 1m",
 *   count: 10,
 *   window: "1m",
 *   time: "2026-01-01T00:00:00.000Z",
 * });
 * while (hook.delivered === 0) await new Promise((r) => setTimeout(r, 5));
 * assertEquals((got[0] as { rule: string }).rule, "errors");
 * await hook.close();
 * await server.shutdown();
 * ```
 */
export class Webhook {
  readonly #url: URL;
  /** The URL as logged: its origin only, as paths often hold secrets. */
  readonly #shown: string;
  readonly #log: (line: string) => void;
  readonly #capacity: number;
  readonly #attempts: number;
  readonly #maxAgeMs: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #queue: Queued[] = [];
  readonly #stop = new AbortController();
  #loop: Promise<void> | null = null;
  #waiter: PromiseWithResolvers<void> | null = null;
  #closed = false;
  /** Failed attempts in a row; 0 while the webhook works. */
  #streak = 0;
  #streakGivenUp = 0;
  #streakDropped = 0;
  #dropped = 0;
  #delivered = 0;
  #givenUp = 0;

  constructor(url: string | URL, options: WebhookOptions) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(
        `Invalid webhook URL ${
          JSON.stringify(String(url))
        }: use an absolute http:// or https:// URL`,
      );
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new TypeError(
        `Invalid webhook URL ${
          JSON.stringify(String(url))
        }: use http:// or https://, not ${parsed.protocol}`,
      );
    }
    const number = (name: string, value: number, min: number) => {
      if (!Number.isFinite(value) || value < min) {
        throw new RangeError(
          `Invalid webhook ${name} ${value}: use a number of at least ${min}`,
        );
      }
      return value;
    };
    const whole = (name: string, value: number, min: number) => {
      if (!Number.isInteger(value) || value < min) {
        throw new RangeError(
          `Invalid webhook ${name} ${value}: use a whole number of at least ${min}`,
        );
      }
      return value;
    };
    this.#url = parsed;
    this.#shown = parsed.pathname === "/" && parsed.search === ""
      ? parsed.origin
      : `${parsed.origin}/…`;
    this.#log = options.log;
    this.#capacity = whole("capacity", options.capacity ?? 100, 1);
    this.#attempts = whole("attempts", options.attempts ?? 8, 1);
    this.#maxAgeMs = number("maxAgeMs", options.maxAgeMs ?? 600_000, 0);
    this.#backoffMs = number("backoffMs", options.backoffMs ?? 500, 0);
    this.#maxBackoffMs = number(
      "maxBackoffMs",
      options.maxBackoffMs ?? 30_000,
      0,
    );
    this.#timeoutMs = number("timeoutMs", options.timeoutMs ?? 10_000, 1);
    this.#headers = options.headers ?? {};
  }

  /** Alerts waiting (not counting the one being sent). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Alerts dropped because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Alerts the webhook accepted (2xx). */
  get delivered(): number {
    return this.#delivered;
  }

  /** Alerts given up after their attempts, their age, or a 4xx. */
  get givenUp(): number {
    return this.#givenUp;
  }

  /** Queues `alert` for delivery. Never waits; does nothing once closed. */
  send(alert: Alert): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#capacity) {
      this.#queue.shift();
      this.#dropped++;
      if (this.#streakDropped++ === 0) {
        this.#log(
          `webhook ${this.#shown}: queue full (${this.#capacity} alerts), dropping the oldest`,
        );
      }
    }
    this.#queue.push({
      alert,
      body: JSON.stringify(alert),
      queuedAt: performance.now(),
      attempts: 0,
      notBefore: 0,
    });
    this.#loop ??= this.#run();
    const w = this.#waiter;
    this.#waiter = null;
    w?.resolve();
  }

  /** Stops sending and retrying; resolves when the sender loop has ended. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#stop.abort();
      this.#waiter?.resolve();
      this.#waiter = null;
    }
    await this.#loop;
  }

  async #run(): Promise<void> {
    let current: Queued | undefined;
    while (!this.#closed) {
      current = this.#queue.shift();
      if (current === undefined) {
        if (this.#streakDropped > 0 && this.#streak === 0) {
          this.#streakDropped = 0;
        }
        this.#waiter = Promise.withResolvers<void>();
        await this.#waiter.promise;
        continue;
      }
      try {
        await this.#deliver(current);
      } catch {
        // Closed: `current` is reported as not delivered below.
        if (this.#closed) break;
        // Out of attempts, too old, or not worth retrying.
        this.#givenUp++;
        this.#streakGivenUp++;
        current = undefined;
        continue;
      }
      current = undefined;
      this.#delivered++;
      if (this.#streak > 0) {
        this.#log(
          `webhook ${this.#shown}: delivering again after ${this.#streak} failed ${
            this.#streak === 1 ? "attempt" : "attempts"
          }${this.#lossSummary()}`,
        );
      }
      this.#streak = 0;
      this.#streakGivenUp = 0;
      this.#streakDropped = 0;
    }
    if (current !== undefined || this.#queue.length > 0) {
      const left = this.#queue.length + (current === undefined ? 0 : 1);
      this.#log(
        `webhook ${this.#shown}: closed with ${left} ${
          left === 1 ? "alert" : "alerts"
        } not delivered`,
      );
    }
  }

  /** Posts `item` until it is accepted; rejects when it is given up or the webhook is closed. */
  #deliver(item: Queued): Promise<void> {
    // One retry() per alert: its backoff restarts with each alert, where the
    // hand-written loop kept doubling it across a streak of failing alerts.
    return retry(() => this.#attempt(item), {
      maxAttempts: this.#attempts,
      // retry() refuses a cap of 0 or a first backoff above the cap; ours caps it.
      minTimeout: Math.min(this.#backoffMs, this.#maxBackoffMs),
      maxTimeout: Math.max(this.#maxBackoffMs, 1),
      multiplier: 2,
      jitter: 0.5,
      isRetriable: (error) =>
        error instanceof AttemptFailed && error.retry &&
        Math.max(performance.now(), item.notBefore) - item.queuedAt <=
          this.#maxAgeMs,
      signal: this.#stop.signal,
    });
  }

  async #attempt(item: Queued): Promise<void> {
    // retry() computes each backoff itself and cannot be told a longer one,
    // so the rest of a Retry-After is waited here, after its backoff.
    const rest = item.notBefore - performance.now();
    if (rest > 0) await delay(rest, { signal: this.#stop.signal });
    // retry() cannot know the next backoff's length when deciding to retry,
    // so an alert that aged past maxAgeMs during it is given up here.
    if (
      item.attempts > 0 &&
      performance.now() - item.queuedAt > this.#maxAgeMs
    ) {
      throw new AttemptFailed("too old", false);
    }
    item.attempts++;
    const failure = await this.#post(item);
    if (failure === null) return;
    if (this.#stop.signal.aborted) throw this.#stop.signal.reason;
    this.#streak++;
    if (this.#streak === 1) {
      this.#log(
        `webhook ${this.#shown}: ${failure.message}; ${
          failure.retry
            ? `retrying with backoff (up to ${this.#attempts} attempts per alert)`
            : "not retrying this alert"
        }; reported once until it delivers again`,
      );
    }
    throw failure;
  }

  #lossSummary(): string {
    const parts: string[] = [];
    if (this.#streakGivenUp > 0) {
      parts.push(`${this.#streakGivenUp} given up`);
    }
    if (this.#streakDropped > 0) {
      parts.push(`${this.#streakDropped} dropped from the full queue`);
    }
    return parts.length === 0 ? "" : ` (alerts lost: ${parts.join(", ")})`;
  }

  /** Posts `item` once: null when accepted, else why not. */
  async #post(item: Queued): Promise<AttemptFailed | null> {
    const signal = AbortSignal.any([
      this.#stop.signal,
      AbortSignal.timeout(this.#timeoutMs),
    ]);
    try {
      const response = await fetch(this.#url, {
        method: "POST",
        headers: {
          ...this.#headers,
          "content-type": "application/json",
        },
        body: item.body,
        signal,
      });
      await response.body?.cancel();
      if (response.ok) return null;
      const s = response.status;
      let reason = `answered ${s} ${response.statusText}`.trimEnd();
      if (s === 429 || s === 503) {
        const asked = retryAfterMs(
          response.headers.get("retry-after"),
          Date.now(),
        );
        if (asked !== null) {
          const wait = Math.min(asked, this.#maxBackoffMs);
          item.notBefore = performance.now() + wait;
          reason += ` with Retry-After ${Math.ceil(asked / 1000)} s${
            wait < asked ? ` (waiting at most ${this.#maxBackoffMs} ms)` : ""
          }`;
        }
      }
      return new AttemptFailed(
        reason,
        s >= 500 || s === 408 || s === 429,
      );
    } catch (error) {
      if (this.#stop.signal.aborted) return new AttemptFailed("closed", false);
      const e = error as Error;
      if (e.name === "TimeoutError") {
        return new AttemptFailed(
          `no answer within ${this.#timeoutMs} ms`,
          true,
        );
      }
      return new AttemptFailed(`request failed: ${e.message}`, true);
    }
  }
}

/**
 * A `Retry-After` value (RFC 9110): whole seconds or an HTTP date, as ms
 * from `now`; null when absent or unreadable.
 */
function retryAfterMs(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Every HTTP date names its month; Date.parse alone takes "1.5" for a date.
  if (!/[a-z]/i.test(text)) return null;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
