/**
 * Standard input as a source (`-`): its bytes as chunks of source "-", with
 * offsets counted from the first byte read. At end of input the last
 * unterminated line is flushed (marked partial) and the source ends.
 */
import { type Chunk, UNSTORED } from "../types.ts";

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
          file: UNSTORED,
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
        file: UNSTORED,
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
