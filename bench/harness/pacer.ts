/**
 * Paced writing: `ticks` ticks `periodMs` apart from a worker metronome
 * (see metronome.ts), each handled on this thread by `onTick(i, elapsedMs)`.
 */

export async function paced(
  periodMs: number,
  ticks: number,
  onTick: (tick: number, elapsedMs: number) => void,
): Promise<void> {
  const worker = new Worker(new URL("./metronome.ts", import.meta.url), {
    type: "module",
  });
  const done = Promise.withResolvers<void>();
  const start = performance.now();
  worker.onmessage = (e: MessageEvent<number>) => {
    try {
      onTick(e.data, performance.now() - start);
    } catch (error) {
      done.reject(error);
    }
    if (e.data >= ticks) done.resolve();
  };
  worker.onerror = (e) => {
    e.preventDefault();
    done.reject(new Error(`metronome: ${e.message}`));
  };
  worker.postMessage({ periodMs, ticks });
  try {
    await done.promise;
  } finally {
    worker.terminate();
  }
}
