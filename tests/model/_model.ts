/**
 * The model of `tail -F` behind tests/model/follow_model_test.ts: a seeded
 * action language over one log file (`app.log`), what each action does to
 * the file, which written lines the follower must deliver, and the checker
 * that compares the delivered events with the model.
 *
 * Every written line is unique (`f<seq>-<padding>`), so a delivered line names
 * the write it came from, and the model knows its exact byte offset.
 */
import type { Event } from "../../src/types.ts";
import { mulberry32 } from "../_fixtures/random.ts";

export { mulberry32 };

/** One line to write: its text (without terminator) and its terminator. */
export interface LineSpec {
  readonly seq: number;
  readonly text: string;
  readonly crlf: boolean;
}

export type Action =
  /** Marks where `Tail.start` runs: actions before it build the file found at start-up. */
  | { readonly kind: "start" }
  /** The writer appends lines to app.log through its long-lived handle. */
  | { readonly kind: "append"; readonly lines: readonly LineSpec[] }
  /** `mv app.log app.log.N`; the writer reopens (creates) app.log. */
  | {
    readonly kind: "renameRotate";
    readonly to: string;
    readonly wait: boolean;
  }
  /** `cp app.log app.log.N; truncate -s0 app.log`; the writer keeps its O_APPEND handle. */
  | { readonly kind: "copytruncate"; readonly to: string }
  /** `truncate -s0 app.log`. */
  | { readonly kind: "truncate" }
  /** `rm app.log`; the writer closes it. */
  | { readonly kind: "delete"; readonly wait: boolean }
  /** The writer appends again after a delete, creating app.log. */
  | { readonly kind: "recreate"; readonly lines: readonly LineSpec[] }
  /** Waits until every line the follower must deliver so far has arrived. */
  | { readonly kind: "pause" }
  /** Time passes (longer than rotateWaitMs): rotated-away files get closed. */
  | { readonly kind: "idle" }
  /** `rm app.log.N`, the oldest rotated file left (logrotate's `rotate` count). */
  | { readonly kind: "expire"; readonly name: string }
  /** The end: a sentinel line, then a pause. */
  | { readonly kind: "settle"; readonly lines: readonly LineSpec[] };

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-_";
const WIDE = ["é", "日", "🙂", "ß"];

/** Random actions for `seed`: up to two appends before start, 15–30 actions, then settle. */
export function generate(seed: number): Action[] {
  const rand = mulberry32(seed);
  const int = (lo: number, hi: number) =>
    lo + Math.floor(rand() * (hi - lo + 1));
  let seq = 0;
  let rotation = 0;
  const line = (): LineSpec => {
    seq++;
    const r = rand();
    const length = r < 0.02
      ? int(70_000, 300_000)
      : r < 0.1
      ? int(500, 8_000)
      : int(0, 40);
    let pad = "";
    if (length > 1000) {
      // Long lines: a random block repeated, cheap to build.
      let block = "";
      for (let i = 0; i < 64; i++) {
        block += ALPHABET[int(0, ALPHABET.length - 1)];
      }
      pad = block.repeat(Math.ceil(length / 64)).slice(0, length);
    } else {
      for (let i = 0; i < length; i++) {
        pad += rand() < 0.05
          ? WIDE[int(0, WIDE.length - 1)]
          : ALPHABET[int(0, ALPHABET.length - 1)];
      }
    }
    return { seq, text: `f${seq}-${pad}`, crlf: rand() < 0.15 };
  };
  const lines = () => {
    const k = rand() < 0.1 ? int(10, 30) : int(1, 4);
    return Array.from({ length: k }, line);
  };

  const actions: Action[] = [];
  let exists = false;
  const before = int(0, 2);
  for (let i = 0; i < before; i++) {
    actions.push({ kind: "append", lines: lines() });
    exists = true;
  }
  actions.push({ kind: "start" });
  const count = int(15, 30);
  const rotated: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = rand() * 100;
    if (rotated.length > 0 && r >= 94) {
      actions.push({ kind: "expire", name: rotated.shift()! });
    } else if (r >= 89) {
      actions.push({ kind: "idle" });
    } else if (!exists) {
      if (r < 70) {
        actions.push({ kind: "recreate", lines: lines() });
        exists = true;
      } else {
        actions.push({ kind: "pause" });
      }
    } else if (r < 36) {
      actions.push({ kind: "append", lines: lines() });
    } else if (r < 48) {
      actions.push({ kind: "pause" });
    } else if (r < 61) {
      const to = `app.log.${++rotation}`;
      rotated.push(to);
      actions.push({ kind: "renameRotate", to, wait: rand() < 0.8 });
    } else if (r < 70) {
      const to = `app.log.${++rotation}`;
      rotated.push(to);
      actions.push({ kind: "copytruncate", to });
    } else if (r < 79) {
      actions.push({ kind: "truncate" });
    } else {
      actions.push({ kind: "delete", wait: rand() < 0.8 });
      exists = false;
    }
  }
  seq++;
  actions.push({
    kind: "settle",
    lines: [{ seq, text: `f${seq}-sentinel`, crlf: false }],
  });
  return actions;
}

/** Plain lines f<from>..f<to> for hand-written sequences. */
export function lineSpecs(from: number, to: number): LineSpec[] {
  return Array.from({ length: to - from + 1 }, (_, i) => {
    const seq = from + i;
    return { seq, text: `f${seq}-${"x".repeat(20)}`, crlf: false };
  });
}

function describeLines(lines: readonly LineSpec[]): string {
  const first = lines[0].seq;
  const last = lines[lines.length - 1].seq;
  const notes = lines.flatMap((l) => {
    const n: string[] = [];
    if (l.crlf) n.push("crlf");
    if (l.text.length > 1000) n.push(`${l.text.length}ch`);
    return n.length ? [`f${l.seq} ${n.join(" ")}`] : [];
  });
  const range = first === last ? `f${first}` : `f${first}..f${last}`;
  return notes.length ? `${range} [${notes.join(", ")}]` : range;
}

/** One action as compact text, for failure messages. */
export function describeAction(action: Action): string {
  switch (action.kind) {
    case "start":
    case "truncate":
    case "pause":
    case "idle":
      return action.kind;
    case "expire":
      return `expire ${action.name}`;
    case "append":
    case "recreate":
    case "settle":
      return `${action.kind} ${describeLines(action.lines)}`;
    case "renameRotate":
    case "copytruncate":
      return `${action.kind}→${action.to}${
        "wait" in action && !action.wait ? " (nowait)" : ""
      }`;
    case "delete":
      return `delete${action.wait ? "" : " (nowait)"}`;
  }
}

/** The whole action list, numbered. */
export function describeActions(actions: readonly Action[]): string {
  return actions.map((a, i) => `  ${i}: ${describeAction(a)}`).join("\n");
}

const encoder = new TextEncoder();

/** A written line and where the model says it is. */
export interface LineRec {
  readonly seq: number;
  readonly text: string;
  readonly crlf: boolean;
  /** Which file app.log named when it was written (bumped by rename and delete). */
  readonly gen: number;
  /** Which truncation epoch of that file (bumped by truncation). */
  readonly epoch: number;
  readonly offset: number;
  /** Offset just past the terminator. */
  readonly end: number;
  /** Index of the action that wrote it. */
  readonly action: number;
  /** Why the line may be lost by design; null when it must be delivered. */
  maybe: string | null;
}

/** What the test did to app.log, and what the follower owes. */
export class Model {
  gen = 0;
  epoch = 0;
  size = 0;
  readonly lines: LineRec[] = [];
  readonly byText = new Map<string, LineRec>();

  /** Records lines appended to the current file; returns the bytes' text. */
  write(specs: readonly LineSpec[], action: number): string {
    let out = "";
    for (const spec of specs) {
      const text = spec.text + (spec.crlf ? "\r\n" : "\n");
      const bytes = encoder.encode(text).length;
      const rec: LineRec = {
        seq: spec.seq,
        text: spec.text,
        crlf: spec.crlf,
        gen: this.gen,
        epoch: this.epoch,
        offset: this.size,
        end: this.size + bytes,
        action,
        maybe: null,
      };
      this.size += bytes;
      this.lines.push(rec);
      this.byText.set(spec.text, rec);
      out += text;
    }
    return out;
  }

  /**
   * Lines of the current file and epoch not delivered yet may be lost: `why`.
   * (Earlier epochs were settled by the truncation that ended them.)
   */
  atRisk(delivered: ReadonlySet<string>, why: string): void {
    for (const rec of this.unread(delivered)) rec.maybe ??= why;
  }

  /** Lines of the current file and epoch not delivered yet. */
  unread(delivered: ReadonlySet<string>): LineRec[] {
    return this.lines.filter((l) =>
      l.gen === this.gen && l.epoch === this.epoch && !delivered.has(l.text)
    );
  }

  /** The current file was truncated to 0. */
  truncated(): void {
    this.epoch++;
    this.size = 0;
  }

  /** app.log names a new (empty or not yet existing) file. */
  replaced(): void {
    this.gen++;
    this.epoch = 0;
    this.size = 0;
  }

  /** Lines that must be delivered and were not. */
  missing(delivered: ReadonlySet<string>): LineRec[] {
    return this.lines.filter((l) => l.maybe === null && !delivered.has(l.text));
  }
}

/** Short form of a line for messages. */
export function brief(rec: LineRec): string {
  return `f${rec.seq} (gen ${rec.gen}, epoch ${rec.epoch}, bytes ${rec.offset}..${rec.end}, by action ${rec.action}${
    rec.maybe ? `, may be lost: ${rec.maybe}` : ""
  })`;
}

function shortText(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…(${text.length}ch)` : text;
}

/** `<dev>.<ino>:<end>` in base 36 → file key and end offset. */
export function parseId(id: string): { file: string; end: number } | null {
  const m = /^([0-9a-z]+)\.([0-9a-z]+):([0-9a-z]+)$/.exec(id);
  if (!m) return null;
  return {
    file: `${parseInt(m[1], 36)}.${parseInt(m[2], 36)}`,
    end: parseInt(m[3], 36),
  };
}

/**
 * Compares the delivered events (in arrival order) with the model. Returns
 * the problems found, empty when every invariant holds.
 */
export function check(
  model: Model,
  events: readonly Event[],
  source: string,
): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const genFile = new Map<number, string>();
  const last = new Map<string, { rec: LineRec; end: number; at: number }>();
  events.forEach((e, at) => {
    const where = `event #${at} "${shortText(e.line)}"`;
    if (e.source !== source) {
      problems.push(`${where}: source ${e.source}, expected ${source}`);
    }
    if (e.partial || e.truncated || e.invalidUtf8) {
      problems.push(
        `${where}: flagged ${
          JSON.stringify({
            partial: e.partial,
            truncated: e.truncated,
            invalidUtf8: e.invalidUtf8,
          })
        }`,
      );
    }
    const rec = model.byText.get(e.line);
    if (!rec) {
      problems.push(`${where} at offset ${e.offset}: never written`);
      return;
    }
    const before = seen.get(e.line);
    if (before !== undefined) {
      problems.push(
        `${where}: f${rec.seq} delivered twice (first as event #${before})`,
      );
      return;
    }
    seen.set(e.line, at);
    const id = parseId(e.id);
    if (!id) {
      problems.push(`${where}: malformed id ${e.id}`);
      return;
    }
    if (e.offset !== rec.offset || id.end !== rec.end) {
      problems.push(
        `${where}: bytes ${e.offset}..${id.end}, model says ${brief(rec)}`,
      );
    }
    const file = genFile.get(rec.gen);
    if (file === undefined) genFile.set(rec.gen, id.file);
    else if (file !== id.file) {
      problems.push(
        `${where}: f${rec.seq} of gen ${rec.gen} came from file ${id.file}, earlier lines of that gen from ${file}`,
      );
    }
    const prev = last.get(id.file);
    if (prev) {
      if (rec.seq <= prev.rec.seq) {
        problems.push(
          `${where}: f${rec.seq} arrived after f${prev.rec.seq} (event #${prev.at}) from the same file ${id.file}`,
        );
      } else if (
        prev.rec.gen === rec.gen && prev.rec.epoch === rec.epoch &&
        model.lines.indexOf(prev.rec) + 1 === model.lines.indexOf(rec) &&
        e.offset !== prev.end
      ) {
        problems.push(
          `${where}: offset ${e.offset} does not continue f${prev.rec.seq} which ended at ${prev.end}`,
        );
      }
    }
    last.set(id.file, { rec, end: id.end, at });
  });
  const delivered = new Set(seen.keys());
  for (const rec of model.missing(delivered)) {
    problems.push(`lost: ${brief(rec)}`);
  }
  return problems;
}
