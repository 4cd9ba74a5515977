/**
 * Chain: the publishes of one subject (one followed path of one host), in
 * order, one in flight, each retried until JetStream stores it.
 *
 * A publish carries a message id (see wire.ts) and the subject sequence it
 * must follow (`Nats-Expected-Last-Subject-Sequence`): a retry of a message
 * that was stored but whose answer was lost comes back `duplicate` (or, past
 * the dedupe window, as "wrong last sequence"); nothing is stored twice and
 * nothing overtakes anything.
 *
 * "Wrong last sequence" also means the chain does not know what the stream
 * holds — at start, after a restart, after a publish whose answer was lost
 * for longer than the window — so it looks: the last message of its
 * subject says where each of its files is published to, and events at or
 * before that are not published again, only acknowledged. At start that is
 * done only when cursors were resumed from a state file (`resumes`): without
 * one a run starts where `--from` says, and what it reads is new to it.
 * A truncation (or a file found truncated at start) makes offsets start
 * again, so its notice forgets what the chain knew of the subject's files.
 *
 * Several hub batches of one file become one message, up to 1 MiB (or the
 * server's max payload): one publish in flight, so the larger the message
 * the fewer round trips a busy file costs. A batch is acknowledged (its
 * cursor may move) once all its events are stored.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { JetStreamApiCodes } from "@nats-io/jetstream";
import { retry } from "@std/async/retry";
import type { Message } from "../sink/hub.ts";
import type { Batch } from "../sink/batch.ts";
import { eventJsonAs } from "../sink/json.ts";
import { sameFile } from "../source/identity.ts";
import { END, type Event, FILE } from "../types.ts";
import { describe, type Link, PUBLISH_BACKOFF } from "./link.ts";
import { isCode, isMissing } from "./stream.ts";
import {
  decodeMessage,
  encodeBatch,
  encodeMessage,
  type FileEnd,
  hostSource,
  messageId,
  WireError,
} from "./wire.ts";

/** Files of a subject whose published end a message carries. */
const MAX_FILES = 8;
/** Room kept under the server's max payload for the header's fixed part, bytes. */
const HEADROOM = 4 * 1024;
/** Bytes a message of events takes at most, whatever the server allows. */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** What an event adds to the header besides its JSON: its end offset in `ends`. */
const PER_EVENT = 17;
/**
 * How long a publish waits for JetStream's answer, ms. A publish to a
 * server that died gets none: it is sent again (same id) after this.
 */
const PUBLISH_TIMEOUT_MS = 2000;

/** What a chain needs from its agent. */
export interface ChainContext {
  /** Publishes. */
  readonly js: JetStreamClient;
  /** Reads the subject's last message. */
  readonly jsm: JetStreamManager;
  /** Where problems are told (and `/healthz` reads them). */
  readonly link: Link;
  /** The stream's name. */
  readonly stream: string;
  /** The host name sources are named with. */
  readonly host: string;
  /** Cursors were resumed from a state file: what the stream holds is not published again. */
  readonly resumes: boolean;
  /** The server's largest payload, bytes. */
  readonly maxPayload: number;
  /** Aborted to give up (the stop deadline passed). */
  readonly signal: AbortSignal;
  /** A hub batch is stored, all of it. */
  readonly acked: (batch: Batch) => void;
  /** Message `id` was stored as `seq` with `events` events; `duplicate` when it was already. */
  readonly stored: (
    seq: number,
    id: string,
    events: number,
    duplicate: boolean,
  ) => void;
  /** A publish failed and will be tried again. */
  readonly failed: () => void;
  /** The stream was not found: make it (again). */
  readonly ensure: () => Promise<void>;
  /** Events left the chain (stored or skipped). */
  readonly released: (events: number) => void;
}

/** One queued hub message, and how many of a batch's events are done. */
interface Item {
  readonly message: Message;
  done: number;
}

/** The next message to publish, formed from the head of the queue. */
interface Formed {
  readonly payload: Uint8Array;
  readonly id: string;
  readonly events: number;
  /** Queue items it completes, and the events done in the next one. */
  readonly items: number;
  readonly partial: number;
  /** The file and end it publishes to (a batch), for `files`. */
  readonly end: FileEnd | null;
  /** A truncation notice: the subject's file ends start again. */
  readonly restarts: boolean;
}

/** The publishes of one subject. */
export class Chain {
  /** The subject it publishes to. */
  readonly subject: string;
  readonly #ctx: ChainContext;
  readonly #queue: Item[] = [];
  /** The subject sequence the next publish follows; null when unknown. */
  #after: number | null = null;
  #learned = false;
  /** Where each file of the subject is published to, newest last. */
  #files = new Map<string, FileEnd>();
  /** Events of a file at or before this end are in the stream already. */
  #skip = new Map<string, number>();
  #formed: Formed | null = null;
  /**
   * Bytes of events per message (JSON and header entry), counted as
   * characters: lowered when a message of wider characters came out larger.
   */
  #budget: number;
  #running: Promise<void> | null = null;

  /** A chain for `subject`; it publishes once messages are pushed. */
  constructor(subject: string, ctx: ChainContext) {
    this.subject = subject;
    this.#ctx = ctx;
    this.#budget = this.#limit;
  }

  /** Queues a hub message; publishing starts if it was idle. */
  push(message: Message): void {
    this.#queue.push({ message, done: 0 });
    this.#running ??= this.#run().finally(() => this.#running = null);
  }

  /** Resolves once everything queued is stored (or the chain gave up). */
  get idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  async #run(): Promise<void> {
    while (this.#queue.length > 0 && !this.#ctx.signal.aborted) {
      try {
        await retry(() => this.#attempt(), {
          ...PUBLISH_BACKOFF,
          signal: this.#ctx.signal,
        });
      } catch (error) {
        // Given up: only an abort ends the retries.
        if (this.#ctx.signal.aborted) return;
        throw error;
      }
    }
  }

  /** Publishes the head of the queue; throws to be retried. */
  async #attempt(): Promise<void> {
    const ctx = this.#ctx;
    for (;;) {
      if (this.#after === null) {
        try {
          await this.#learn();
        } catch (error) {
          this.#failed(error);
          throw error;
        }
      }
      this.#formed ??= this.#form();
      const formed = this.#formed;
      if (formed.events === 0 && formed.payload.length === 0) {
        // Every event is in the stream already.
        this.#advance(formed);
        if (this.#queue.length === 0) return;
        continue;
      }
      try {
        const publishing = ctx.js.publish(this.subject, formed.payload, {
          msgID: formed.id,
          expect: { lastSubjectSequence: this.#after! },
          timeout: PUBLISH_TIMEOUT_MS,
        });
        // Its answer may come yet; the retry's (same id) is the one awaited.
        publishing.catch(() => {});
        const dropped = ctx.link.dropped.then(() => {
          throw new Error("the connection dropped with the publish in flight");
        });
        dropped.catch(() => {});
        const ack = await Promise.race([publishing, dropped]);
        this.#after = ack.seq;
        this.#advance(formed);
        ctx.stored(ack.seq, formed.id, formed.events, ack.duplicate);
        ctx.link.problem(null);
        return;
      } catch (error) {
        if (isCode(error, JetStreamApiCodes.StreamWrongLastSequence)) {
          // Someone else's message, or ours stored past the window: look.
          this.#after = null;
          continue;
        }
        this.#failed(error);
        throw error;
      }
    }
  }

  #failed(error: unknown): void {
    const ctx = this.#ctx;
    ctx.failed();
    if (isMissing(error) || /jetstream is not enabled/i.test(String(error))) {
      // No stream answers: it was deleted, or a leader is being elected.
      ctx.ensure().catch(() => {});
    }
    if (/max(imum)? payload/i.test(String(error))) {
      this.#budget = Math.max(1024, Math.floor(this.#budget / 2));
      this.#formed = null;
    }
    ctx.link.problem(
      `cannot publish to ${this.subject}: ${describe(error)}`,
    );
  }

  /** Reads the subject's last message: the sequence to follow, and where its files are. */
  async #learn(): Promise<void> {
    const ctx = this.#ctx;
    const last = await ctx.jsm.streams.getMessage(ctx.stream, {
      last_by_subj: this.subject,
    });
    let files: readonly FileEnd[] = [];
    if (last) {
      try {
        files = decodeMessage(last.data).header.files;
      } catch (error) {
        if (!(error instanceof WireError)) throw error;
        ctx.link.problem(
          `the last message of ${this.subject} is not one this tailcast reads (${error.message}); publishing after it`,
        );
      }
    }
    this.#files = new Map(files.map((f) => [key(f[0], f[1]), f]));
    const initial = !this.#learned;
    this.#learned = true;
    this.#skip = initial && !ctx.resumes
      ? new Map()
      : new Map(files.map((f) => [key(f[0], f[1]), f[2]]));
    this.#after = last?.seq ?? 0;
    this.#formed = null;
  }

  /** A message's size at most, bytes. */
  get #limit(): number {
    return Math.min(MAX_MESSAGE_BYTES, this.#ctx.maxPayload) - HEADROOM;
  }

  /**
   * The next message from the head of the queue (none of it consumed yet),
   * within the size limit: counted in characters, checked in bytes.
   */
  #form(): Formed {
    for (;;) {
      const formed = this.#formWithin(this.#budget);
      const over = formed.payload.length - this.#limit;
      if (over <= 0 || formed.events <= 1) return formed;
      this.#budget = Math.max(
        1024,
        Math.floor(this.#budget * this.#limit / formed.payload.length * 0.95),
      );
    }
  }

  #formWithin(budget: number): Formed {
    const head = this.#queue[0];
    const m = head.message;
    if (m.type !== "batch") return this.#formMessage(m);
    const { source, file } = m.batch;
    const named = hostSource(this.#ctx.host, source);
    const quoted = JSON.stringify(named);
    const skip = this.#skip.get(key(file.dev, file.ino)) ?? -1;
    const json: string[] = [];
    const ends: number[] = [];
    let from = -1;
    let chars = 0;
    let items = 0;
    let partial = 0;
    scan: for (let i = 0; i < this.#queue.length; i++) {
      const item = this.#queue[i];
      const next = item.message;
      if (
        next.type !== "batch" || next.batch.source !== source ||
        !sameFile(next.batch.file, file)
      ) break;
      const events = next.batch.events;
      for (let j = item.done; j < events.length; j++) {
        const e = events[j];
        if (e[END] <= skip) continue;
        const text = this.#fit(e, named, quoted);
        if (json.length > 0 && chars + text.length + PER_EVENT > budget) {
          items = i;
          partial = j;
          break scan;
        }
        if (from === -1) from = e.offset;
        json.push(text);
        ends.push(e[END]);
        chars += text.length + PER_EVENT;
      }
      items = i + 1;
      partial = 0;
    }
    if (json.length === 0) {
      return {
        payload: new Uint8Array(0),
        id: "",
        events: 0,
        items,
        partial,
        end: null,
        restarts: false,
      };
    }
    const to = ends[ends.length - 1];
    const end: FileEnd = [file.dev, file.ino, to];
    return {
      payload: encodeBatch({
        host: this.#ctx.host,
        source,
        dev: file.dev,
        ino: file.ino,
        from,
        to,
        ends,
        files: this.#filesWith(end),
      }, json),
      id: messageId(this.subject, this.#after!, { file, from, to }),
      events: json.length,
      items,
      partial,
      end,
      restarts: false,
    };
  }

  #formMessage(m: Exclude<Message, { type: "batch" }>): Formed {
    const host = this.#ctx.host;
    // Offsets start again: nothing known of the files holds any more.
    const restarts = m.type === "notice" &&
      (m.notice.kind === "truncate" ||
        (m.notice.kind === "gap" && m.notice.cause !== "line-too-long"));
    if (restarts) this.#skip.clear();
    const files = restarts ? [] : this.#filesWith(null);
    const payload = m.type === "notice"
      ? encodeMessage({ host, notice: m.notice, files })
      : encodeMessage({ host, alert: m.alert, files });
    return {
      payload,
      id: messageId(this.subject, this.#after!, null),
      events: 0,
      items: 1,
      partial: 0,
      end: null,
      restarts,
    };
  }

  /** The event's JSON under its host's name, cut to fit in one message if it must be. */
  #fit(e: Event, named: string, quoted: string): string {
    const text = eventJsonAs(e, named, quoted);
    const limit = this.#limit;
    if (text.length * 3 <= limit) return text;
    if (new TextEncoder().encode(text).length <= limit) return text;
    // Escaping can make a character 6 bytes: cut to what fits whatever it holds.
    const cut: Event = {
      id: e.id,
      source: e.source,
      offset: e.offset,
      line: e.line.slice(0, Math.floor(limit / 6)),
      time: e.time,
      truncated: true,
      ...(e.invalidUtf8 ? { invalidUtf8: true as const } : {}),
      ...(e.partial ? { partial: true as const } : {}),
      [FILE]: e[FILE],
      [END]: e[END],
    };
    return eventJsonAs(cut, named, quoted);
  }

  /** The subject's file ends with `end` (the message's) as the newest. */
  #filesWith(end: FileEnd | null): FileEnd[] {
    const out = [...this.#files.values()];
    if (end === null) return out;
    const k = key(end[0], end[1]);
    const kept = out.filter((f) => key(f[0], f[1]) !== k);
    kept.push(end);
    return kept.slice(-MAX_FILES);
  }

  /** `formed` is stored (or was, every event): the queue moves on. */
  #advance(formed: Formed): void {
    const ctx = this.#ctx;
    this.#formed = null;
    if (formed.restarts) this.#files.clear();
    if (formed.end !== null) {
      const k = key(formed.end[0], formed.end[1]);
      this.#files.delete(k);
      this.#files.set(k, formed.end);
      while (this.#files.size > MAX_FILES) {
        this.#files.delete(this.#files.keys().next().value!);
      }
    }
    let released = 0;
    for (let i = 0; i < formed.items; i++) {
      const item = this.#queue[i];
      if (item.message.type === "batch") {
        released += item.message.batch.count - item.done;
        ctx.acked(item.message.batch);
      }
    }
    this.#queue.splice(0, formed.items);
    if (formed.partial > 0) {
      const item = this.#queue[0];
      released += formed.partial - item.done;
      item.done = formed.partial;
    }
    ctx.released(released);
  }
}

function key(dev: number, ino: number): string {
  return `${dev}.${ino}`;
}
