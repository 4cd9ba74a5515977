/**
 * Webhook: posts each alert as JSON to a URL, from one sender loop with its
 * own bounded queue, so the caller never waits on the network.
 *
 * `send()` is synchronous: it queues the alert (dropping and counting the
 * oldest when the queue is full) and wakes the loop. The loop posts one
 * alert at a time, each request bounded by a timeout; a failure (network
 * error, timeout, 5xx, 408 or 429) is retried with exponential backoff and
 * jitter, until the alert has had its attempts or is too old; any other
 * 4xx is not retried. A failing webhook is reported through `log` once per
 * streak of failures, and once more when it delivers again: never fatal,
 * never once per retry. `close()` aborts the request in flight and the
 * backoff, and resolves when the loop has ended.
 */
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
  /** The first backoff, ms; it doubles each failure in a row. @default 500 */
  backoffMs?: number;
  /** The longest backoff, ms. @default 30000 */
  maxBackoffMs?: number;
  /** Time allowed per request, ms. @default 10000 */
  timeoutMs?: number;
  /** Extra request headers, e.g. an authorization. */
  headers?: Record<string, string>;
  /** Uniform in [0, 1), for jitter. @default Math.random */
  random?: () => number;
}

interface Queued {
  readonly alert: Alert;
  readonly body: string;
  readonly queuedAt: number;
  attempts: number;
}

/** Why an attempt failed, and whether trying again may help. */
interface Failure {
  readonly reason: string;
  readonly retry: boolean;
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
  readonly #random: () => number;
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
    const whole = (name: string, value: number, min: number) => {
      if (!Number.isFinite(value) || value < min) {
        throw new RangeError(
          `Invalid webhook ${name} ${value}: use a number of at least ${min}`,
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
    this.#maxAgeMs = whole("maxAgeMs", options.maxAgeMs ?? 600_000, 0);
    this.#backoffMs = whole("backoffMs", options.backoffMs ?? 500, 0);
    this.#maxBackoffMs = whole(
      "maxBackoffMs",
      options.maxBackoffMs ?? 30_000,
      0,
    );
    this.#timeoutMs = whole("timeoutMs", options.timeoutMs ?? 10_000, 1);
    this.#headers = options.headers ?? {};
    this.#random = options.random ?? Math.random;
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
      current ??= this.#queue.shift();
      if (current === undefined) {
        if (this.#streakDropped > 0 && this.#streak === 0) {
          this.#streakDropped = 0;
        }
        this.#waiter = Promise.withResolvers<void>();
        await this.#waiter.promise;
        continue;
      }
      current.attempts++;
      const failure = await this.#post(current);
      if (this.#closed) break;
      if (failure === null) {
        this.#delivered++;
        current = undefined;
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
        continue;
      }
      this.#streak++;
      if (this.#streak === 1) {
        this.#log(
          `webhook ${this.#shown}: ${failure.reason}; ${
            failure.retry
              ? `retrying with backoff (up to ${this.#attempts} attempts per alert)`
              : "not retrying this alert"
          }; reported once until it delivers again`,
        );
      }
      const wait = this.#delay();
      const tooOld = performance.now() - current.queuedAt + wait >
        this.#maxAgeMs;
      if (!failure.retry || current.attempts >= this.#attempts || tooOld) {
        this.#givenUp++;
        this.#streakGivenUp++;
        current = undefined;
      }
      await this.#sleep(wait);
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

  /** The backoff after the current streak of failures: exponential, half of it jitter. */
  #delay(): number {
    if (this.#streak === 0) return 0;
    const full = Math.min(
      this.#maxBackoffMs,
      this.#backoffMs * 2 ** Math.min(this.#streak - 1, 30),
    );
    return full / 2 + this.#random() * full / 2;
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

  async #post(item: Queued): Promise<Failure | null> {
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
      return {
        reason: `answered ${s} ${response.statusText}`.trimEnd(),
        retry: s >= 500 || s === 408 || s === 429,
      };
    } catch (error) {
      if (this.#stop.signal.aborted) return { reason: "closed", retry: false };
      const e = error as Error;
      if (e.name === "TimeoutError") {
        return {
          reason: `no answer within ${this.#timeoutMs} ms`,
          retry: true,
        };
      }
      return { reason: `request failed: ${e.message}`, retry: true };
    }
  }

  async #sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.#closed) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, ms);
    const onAbort = () => resolve();
    this.#stop.signal.addEventListener("abort", onAbort, { once: true });
    try {
      await promise;
    } finally {
      clearTimeout(timer);
      this.#stop.signal.removeEventListener("abort", onAbort);
    }
  }
}
