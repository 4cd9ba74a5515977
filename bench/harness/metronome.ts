/**
 * Worker: a metronome for the paced writers. The main thread's timers fire
 * about every 2 ms at best (`setTimeout(…, 1)`), too coarse for "one line
 * per ms"; this worker sleeps with `Atomics.wait` to absolute deadlines and
 * posts one message per tick. The main thread writes (and stamps) the lines
 * when it handles the tick, so write times stay on the main thread's clock.
 */

interface Start {
  periodMs: number;
  ticks: number;
}

const flag = new Int32Array(new SharedArrayBuffer(4));
const worker = globalThis as unknown as {
  onmessage: ((e: MessageEvent<Start>) => void) | null;
  postMessage(message: number): void;
};

worker.onmessage = (e) => {
  const { periodMs, ticks } = e.data;
  const start = performance.now();
  for (let i = 1; i <= ticks; i++) {
    const wait = start + i * periodMs - performance.now();
    if (wait > 0) Atomics.wait(flag, 0, 0, wait);
    worker.postMessage(i);
  }
};
