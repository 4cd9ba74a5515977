/**
 * Guards at the door, before a request costs anything: the bearer token a
 * request must carry, which `Host` names a server without a token answers
 * (a browser page elsewhere cannot reach a loopback tailcast by DNS
 * rebinding), how many connections one client address may hold, and how
 * many subscribers the open-file limit allows.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Whether a request carries `token`: as `Authorization: Bearer <token>`
 * (the scheme in any case, RFC 7235) or, for clients that cannot set
 * headers (EventSource, some log drains), as `?token=`. Compared in
 * constant time.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { bearerCheck } from "./guard.ts";
 * const ok = bearerCheck("s3cret-token");
 * assert(ok("Bearer s3cret-token", undefined) && ok(undefined, "s3cret-token"));
 * assert(!ok("Bearer wrong", undefined) && !ok(undefined, undefined));
 * ```
 */
export function bearerCheck(
  token: string,
): (authorization: string | undefined, query: string | undefined) => boolean {
  const expected = digest(token);
  return (authorization, query) => {
    const bearer = authorization === undefined
      ? null
      : /^bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    const given = bearer ? bearer[1] : query;
    return given !== undefined && timingSafeEqual(digest(given), expected);
  };
}

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

/** Host names that always mean this machine. */
const LOOPBACK = new Set(["localhost", "127.0.0.1", "::1"]);
const WILDCARD = new Set(["0.0.0.0", "::", ""]);

/** The host name of a `Host` header value, lower-case, without port or IPv6 brackets. */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end === -1 ? h : h.slice(1, end);
  }
  const colon = h.indexOf(":");
  // One colon is a port; more is a bare IPv6 address.
  return colon !== -1 && colon === h.lastIndexOf(":") ? h.slice(0, colon) : h;
}

/** Whether `name` is an IP address written out (no DNS name can be one). */
function isIpLiteral(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(":");
}

/**
 * Which `Host` values a server listening on `listen` answers without a
 * token: its own address, loopback names, and `allowed` (reverse proxies).
 * Listening on every address, any IP address written out is its own too.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { hostCheck } from "./guard.ts";
 * const ok = hostCheck("127.0.0.1", []);
 * assert(ok("127.0.0.1:8787") && ok("localhost:8787"));
 * assert(!ok("evil.example:8787"));
 * ```
 */
export function hostCheck(
  listen: string,
  allowed: readonly string[],
): (host: string | null) => boolean {
  const own = hostName(listen);
  const names = new Set([...LOOPBACK, own, ...allowed.map(hostName)]);
  const anyIp = WILDCARD.has(own);
  return (host) => {
    if (host === null) return false;
    const name = hostName(host);
    return names.has(name) || (anyIp && isIpLiteral(name));
  };
}

/** Whether a subscriber may connect: yes, or which limit it is over. */
export type Verdict = "ok" | "full" | "per-ip";

/**
 * Who may hold a subscription: at most `maxClients` at once, and at most
 * `maxPerIp` from one client address. Counted in one place for the whole
 * server: a pool worker asks the reader's over a message (see pool/).
 */
export interface Doorkeeper {
  readonly maxClients: number;
  readonly maxPerIp: number;
  /** Takes a place for a subscriber from `address`, or says which limit refuses it. */
  take(address: string): Verdict | Promise<Verdict>;
  /** Gives back a place `take` gave. */
  give(address: string): void;
}

/** The places themselves: open subscriptions, in all and per client address. */
export class Admission implements Doorkeeper {
  readonly maxClients: number;
  readonly maxPerIp: number;
  readonly #open = new Map<string, number>();
  #count = 0;

  constructor(maxClients: number, maxPerIp: number) {
    this.maxClients = maxClients;
    this.maxPerIp = maxPerIp;
  }

  /** Places taken. */
  get count(): number {
    return this.#count;
  }

  take(address: string): Verdict {
    if (this.#count >= this.maxClients) return "full";
    const n = this.#open.get(address) ?? 0;
    if (n >= this.maxPerIp) return "per-ip";
    this.#open.set(address, n + 1);
    this.#count++;
    return "ok";
  }

  give(address: string): void {
    const n = this.#open.get(address);
    if (n === undefined) return;
    if (n <= 1) this.#open.delete(address);
    else this.#open.set(address, n - 1);
    this.#count--;
  }
}

/** The soft limit of open files of this process, where the platform says (Linux). */
export async function openFileLimit(): Promise<number | null> {
  try {
    const text = await Deno.readTextFile("/proc/self/limits");
    const line = text.split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? null : Number(soft);
  } catch {
    return null;
  }
}

/**
 * Subscribers the open-file limit allows: a quarter of it (at least 64) is
 * kept for followed files, rotated ones being drained, the state file, the
 * watcher and short requests, so a flood of clients gets 503 before any
 * file open fails.
 */
export function clientsWithin(limit: number): number {
  const reserve = Math.max(64, Math.ceil(limit / 4));
  return Math.max(1, limit - reserve);
}
