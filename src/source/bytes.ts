/** Small byte helpers for the source files: positioned reads and prefix checks. */

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
