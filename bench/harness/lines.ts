/**
 * The lines the benchmark writes and how they are recognised on the way out.
 *
 * Every line is {@link LINE_BYTES} bytes with its newline:
 *
 *     @<seq> <write time, µs since this process started> xxxx…x\n
 *
 * `@` occurs nowhere else in what the subjects print (tail prints the line,
 * tailcast wraps it in JSON or an SSE frame whose other fields hold no `@`),
 * so a receiver finds records by scanning bytes for `@` without decoding
 * text. `@P` marks a probe line, written until a subject shows it is
 * following the file. Write and receive times come from the same
 * `performance.now()` clock of this process.
 */

export const LINE_BYTES = 120;
const AT = 0x40;
const NL = 0x0a;
const SPACE = 0x20;
const X = 0x78;
const P = 0x50;
/** After a record's header the rest of its line follows: the next `@` is at least this far on. */
const SKIP = 64;

export const PROBE = new TextEncoder().encode("@P probe\n");

/** Microseconds on this process's monotonic clock. */
export function nowMicros(): number {
  return Math.round(performance.now() * 1000);
}

function putDigits(buf: Uint8Array, at: number, n: number): number {
  if (n === 0) {
    buf[at] = 0x30;
    return at + 1;
  }
  let len = 0;
  for (let v = n; v > 0; v = Math.floor(v / 10)) len++;
  for (let i = at + len - 1, v = n; i >= at; i--, v = Math.floor(v / 10)) {
    buf[i] = 0x30 + (v % 10);
  }
  return at + len;
}

/** Builds blocks of benchmark lines in one reused buffer. */
export class LineMaker {
  readonly #block: Uint8Array;
  readonly #max: number;

  constructor(maxLines = 1000) {
    this.#max = maxLines;
    this.#block = new Uint8Array(maxLines * LINE_BYTES).fill(X);
    for (let i = 1; i <= maxLines; i++) this.#block[i * LINE_BYTES - 1] = NL;
  }

  /**
   * Lines `seq … seq+count-1`, all stamped `micros` (default: now). The
   * returned view is overwritten by the next call.
   */
  make(seq: number, count: number, micros = nowMicros()): Uint8Array {
    if (count > this.#max) throw new RangeError("LineMaker: block too small");
    const b = this.#block;
    for (let i = 0; i < count; i++) {
      const at = i * LINE_BYTES;
      b.fill(X, at, at + 40);
      b[at] = AT;
      let j = putDigits(b, at + 1, seq + i);
      b[j++] = SPACE;
      j = putDigits(b, j, micros);
      b[j] = SPACE;
    }
    return b.subarray(0, count * LINE_BYTES);
  }
}

/** Writes all of `bytes` to `file` synchronously (the write time is the stamp). */
export function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.length) at += file.writeSync(bytes.subarray(at));
}

/** Receives each record found: its sequence number, write time (µs) and arrival (ms). */
export interface RecordSink {
  record(seq: number, writtenMicros: number, nowMs: number): void;
}

/** Finds records in a byte stream, across chunk boundaries. */
export class Scanner {
  probes = 0;
  records = 0;
  #carry: Uint8Array | null = null;

  constructor(readonly sink: RecordSink) {}

  push(chunk: Uint8Array, now: number): void {
    let buf = chunk;
    if (this.#carry !== null) {
      buf = new Uint8Array(this.#carry.length + chunk.length);
      buf.set(this.#carry);
      buf.set(chunk, this.#carry.length);
      this.#carry = null;
    }
    const lastNl = buf.lastIndexOf(NL);
    if (lastNl === -1) {
      this.#carry = buf === chunk ? chunk.slice() : buf;
      return;
    }
    const sink = this.sink;
    let i = buf.indexOf(AT);
    while (i !== -1 && i < lastNl) {
      let j = i + 1;
      let c = buf[j];
      if (c === P) {
        this.probes++;
        i = buf.indexOf(AT, j);
        continue;
      }
      let seq = 0;
      while (c >= 0x30 && c <= 0x39) {
        seq = seq * 10 + (c - 0x30);
        c = buf[++j];
      }
      if (c !== SPACE || j === i + 1) {
        i = buf.indexOf(AT, j);
        continue;
      }
      let t = 0;
      c = buf[++j];
      while (c >= 0x30 && c <= 0x39) {
        t = t * 10 + (c - 0x30);
        c = buf[++j];
      }
      this.records++;
      sink.record(seq, t, now);
      i = buf.indexOf(AT, j + SKIP);
    }
    if (lastNl + 1 < buf.length) this.#carry = buf.slice(lastNl + 1);
  }
}

/** Latency samples in ms, kept in a preallocated buffer (samples beyond it are counted, not kept). */
export class Latencies {
  #buf: Float64Array;
  n = 0;
  overflow = 0;

  constructor(capacity: number) {
    this.#buf = new Float64Array(Math.max(1, capacity));
  }

  push(ms: number): void {
    if (this.n < this.#buf.length) this.#buf[this.n++] = ms;
    else this.overflow++;
  }

  /** p50, p90, p99, p99.9 and max, in ms. */
  summary(): LatencySummary {
    const s = this.#buf.subarray(0, this.n).slice().sort();
    const at = (p: number) =>
      s.length === 0
        ? NaN
        : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
    return {
      n: s.length,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      max: s.length === 0 ? NaN : s[s.length - 1],
    };
  }
}

export interface LatencySummary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/**
 * Counts distinct sequence numbers 0…total-1 and duplicates; optionally
 * records latencies. Seq numbers outside the range are ignored.
 */
export class SetTally implements RecordSink {
  readonly seen: Uint8Array;
  unique = 0;
  dup = 0;
  first = NaN;
  last = NaN;

  constructor(readonly total: number, readonly latencies?: Latencies) {
    this.seen = new Uint8Array(total);
  }

  record(seq: number, written: number, now: number): void {
    if (seq >= this.total) return;
    if (this.seen[seq]) this.dup++;
    else {
      this.seen[seq] = 1;
      this.unique++;
    }
    if (this.unique === 1 && Number.isNaN(this.first)) this.first = now;
    this.last = now;
    this.latencies?.push(now - written / 1000);
  }

  get missing(): number {
    return this.total - this.unique;
  }
}

/**
 * For one of many subscribers of an in-order stream: counts records past
 * `from`, duplicates (a seq not above the last one), and latencies into a
 * shared buffer.
 */
export class OrderedTally implements RecordSink {
  unique = 0;
  dup = 0;
  lastSeq = -1;
  last = NaN;

  constructor(readonly latencies: Latencies | null, readonly from = 0) {}

  record(seq: number, written: number, now: number): void {
    if (seq < this.from) return;
    if (seq <= this.lastSeq) this.dup++;
    else {
      this.unique++;
      this.lastSeq = seq;
    }
    this.last = now;
    this.latencies?.push(now - written / 1000);
  }
}
