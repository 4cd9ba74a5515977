/** Small byte helpers for the source files: positioned reads, prefix checks, finding the last lines. */

const NL = 0x0a;

/** Reads up to `length` bytes at offset `at` (fewer at EOF). Moves the file's position. */
export async function readAt(
  file: Deno.FsFile,
  at: number,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(at, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(out.subarray(got));
    if (n === null) break;
    got += n;
  }
  return out.subarray(0, got);
}

/** Whether `bytes` begins with `prefix`. */
export function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    if (bytes[i] !== prefix[i]) return false;
  }
  return true;
}

/** Whether two non-empty byte strings agree on their common length. */
export function samePrefix(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length === 0 || b.length === 0) return false;
  return a.length <= b.length ? startsWith(b, a) : startsWith(a, b);
}

/** Whether two byte strings are equal. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && startsWith(a, b);
}

/** Offset where the last `count` lines of the file begin (an unterminated last line counts), like `tail -n`. */
export async function lastLinesOffset(
  file: Deno.FsFile,
  size: number,
  count: number,
): Promise<number> {
  if (count <= 0) return size;
  const block = new Uint8Array(64 * 1024);
  let pos = size;
  let seen = 0;
  while (pos > 0) {
    const len = Math.min(block.length, pos);
    pos -= len;
    await file.seek(pos, Deno.SeekMode.Start);
    let got = 0;
    while (got < len) {
      const n = await file.read(block.subarray(got, len));
      if (n === null) break;
      got += n;
    }
    // lastIndexOf scans natively; a byte loop in JS is slow on big files.
    for (
      let i = block.lastIndexOf(NL, got - 1);
      i >= 0;
      i = i > 0 ? block.lastIndexOf(NL, i - 1) : -1
    ) {
      if (pos + i === size - 1) continue;
      seen++;
      if (seen === count) return pos + i + 1;
    }
  }
  return 0;
}

/** Offset where line `line` (counted from 1) begins, or `size` when the file has fewer lines, like `tail -n +N`. */
export async function lineStartOffset(
  file: Deno.FsFile,
  size: number,
  line: number,
): Promise<number> {
  let skip = line - 1;
  if (skip <= 0) return 0;
  const block = new Uint8Array(64 * 1024);
  await file.seek(0, Deno.SeekMode.Start);
  for (let pos = 0; pos < size;) {
    const n = await file.read(
      block.subarray(0, Math.min(block.length, size - pos)),
    );
    if (n === null) break;
    // indexOf scans natively, as in lastLinesOffset.
    for (
      let i = block.indexOf(NL);
      i >= 0 && i < n;
      i = block.indexOf(NL, i + 1)
    ) {
      skip--;
      if (skip === 0) return pos + i + 1;
    }
    pos += n;
  }
  return size;
}
