/**
 * The JetStream stream agents publish to and gateways read: its settings
 * (from the flags), made when missing, looked up otherwise.
 */
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import type { StreamSettings } from "./settings.ts";
import { streamSubjects } from "./wire.ts";

const NS_PER_MS = 1_000_000;
/** The JetStream API code of a stream made with another configuration meanwhile. */
const STREAM_NAME_IN_USE = 10058;

/** The stream's configuration for `settings`. */
export function streamConfig(
  settings: StreamSettings,
): Partial<StreamConfig> & { name: string } {
  return {
    name: settings.name,
    subjects: [streamSubjects(settings.prefix)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    // Any replica answers a gateway's reads, while a new leader is elected too.
    allow_direct: true,
    num_replicas: settings.replicas,
    max_age: settings.maxAgeMs * NS_PER_MS,
    max_bytes: settings.maxBytes,
    // The server wants the window within the age limit.
    duplicate_window:
      (settings.maxAgeMs > 0
        ? Math.min(settings.dedupeWindowMs, settings.maxAgeMs)
        : settings.dedupeWindowMs) * NS_PER_MS,
  };
}

/** The stream exists but cannot hold what the agent publishes. */
export class StreamMismatch extends Error {
  /** The stream's subjects are not the prefix's: `message` says which. */
  constructor(message: string) {
    super(message);
    this.name = "StreamMismatch";
  }
}

/**
 * The stream's info, after making it if it does not exist. An existing
 * stream keeps its own settings (they may have been changed on purpose);
 * the ones that differ from the flags are told once through `log`.
 *
 * @throws {StreamMismatch} when it does not take this prefix's subjects.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  settings: StreamSettings,
  log: (line: string) => void,
): Promise<StreamInfo> {
  const wanted = streamConfig(settings);
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(settings.name);
  } catch (error) {
    if (!isMissing(error)) throw error;
    try {
      return await jsm.streams.add(wanted);
    } catch (raced) {
      // Another agent made it in the meantime.
      if (!isCode(raced, STREAM_NAME_IN_USE)) throw raced;
      info = await jsm.streams.info(settings.name);
    }
  }
  const subject = streamSubjects(settings.prefix);
  if (!info.config.subjects?.includes(subject)) {
    throw new StreamMismatch(
      `the stream ${settings.name} holds ${
        JSON.stringify(info.config.subjects ?? [])
      }, not ${subject} (choose another --stream, or the --subject-prefix it was made for)`,
    );
  }
  const differ = (
    ["num_replicas", "max_age", "max_bytes", "allow_direct"] as const
  ).filter(
    (k) => info.config[k] !== wanted[k],
  );
  if (differ.length > 0) {
    log(
      `tailcast: NATS: the stream ${settings.name} exists with its own ${
        differ.map((k) => `${k} ${info.config[k]}`).join(", ")
      }; kept as it is (the flags apply when the stream is made)`,
    );
  }
  return info;
}

/** Whether `error` says the stream does not exist. */
export function isMissing(error: unknown): boolean {
  return isCode(error, JetStreamApiCodes.StreamNotFound);
}

/** Whether `error` is a JetStream API error with code `code`. */
export function isCode(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}
