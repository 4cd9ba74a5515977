/**
 * Standard input as a source (`-`): its bytes as chunks of source "-", with
 * offsets counted from the first byte read. At end of input the last
 * unterminated line is flushed (marked partial) and the source ends.
 */
import type { Chunk, FileId } from "../types.ts";

/**
 * The identity every stdin chunk carries: stdin has no inode to resume
 * from. Numbers no file has (where stat gives no inode, a file is 0.0), so
 * it is told apart by value, also in a copy (a pool worker's).
 */
export const STDIN_ID: FileId = { dev: -1, ino: -1 };

/** Turns a byte stream into chunks of source "-"; stops reading when `signal` aborts. */
export function stdinChunks(
  input: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): ReadableStream<Chunk> {
  const reader = input.getReader();
  let offset = 0;
  const onAbort = () => {
    reader.cancel().catch(() => {});
  };
  signal.addEventListener("abort", onAbort, { once: true });
  const finish = () => {
    signal.removeEventListener("abort", onAbort);
    reader.releaseLock();
  };
  return new ReadableStream<Chunk>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch {
        result = { done: true, value: undefined };
      }
      const noticed = performance.now();
      if (result.done) {
        controller.enqueue({
          source: "-",
          file: STDIN_ID,
          offset,
          bytes: new Uint8Array(0),
          noticed,
          end: true,
        });
        controller.close();
        finish();
        return;
      }
      controller.enqueue({
        source: "-",
        file: STDIN_ID,
        offset,
        bytes: result.value,
        noticed,
      });
      offset += result.value.length;
    },
    async cancel() {
      await reader.cancel().catch(() => {});
      finish();
    },
  }, new CountQueuingStrategy({ highWaterMark: 4 }));
}
