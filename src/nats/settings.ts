/**
 * The stream's settings and their defaults, apart from the NATS client:
 * the command line reads them in every process, and only an agent or a
 * gateway loads the client (see `../service.ts`, `../../main.ts`).
 */

/** How the stream is named and kept. */
export interface StreamSettings {
  /** Its name (`--stream`). */
  readonly name: string;
  /** The first tokens of every subject (`--subject-prefix`). */
  readonly prefix: string;
  /** Copies in a cluster (`--replicas`). */
  readonly replicas: number;
  /** Messages older than this are removed, ms; 0 keeps them (within maxBytes). */
  readonly maxAgeMs: number;
  /** The stream's size at most, bytes; the oldest messages go first. */
  readonly maxBytes: number;
  /** How long a message id is remembered to drop a second copy, ms. */
  readonly dedupeWindowMs: number;
}

/** `--stream`'s default. */
export const DEFAULT_STREAM = "tailcast";
/** `--subject-prefix`'s default. */
export const DEFAULT_PREFIX = "tailcast";
/** `--max-age`'s default: a day. */
export const DEFAULT_MAX_AGE_MS = 24 * 3600_000;
/** `--max-bytes`'s default: 1 GiB. */
export const DEFAULT_MAX_BYTES = 1024 ** 3;
/** `--dedupe-window`'s default: JetStream's own, 2 minutes. */
export const DEFAULT_DEDUPE_WINDOW_MS = 120_000;
