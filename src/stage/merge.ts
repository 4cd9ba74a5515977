/**
 * Fan-in: the chunks of every follower into one stream, with backpressure.
 * Followers can be added while it runs (files that start to match a glob).
 * Each input is read only while the output has room, so a slow consumer
 * pauses every follower instead of buffering their data.
 */

export interface MergeOptions {
  /** Chunks queued on the output. @default 4 */
  highWaterMark?: number;
}

/**
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Merge } from "./merge.ts";
 * const merge = new Merge<number>();
 * merge.add(ReadableStream.from([1, 2]));
 * merge.add(ReadableStream.from([3]));
 * merge.close();
 * const all = await Array.fromAsync(merge.readable);
 * assert.deepEqual(all.sort(), [1, 2, 3]);
 * ```
 */
export class Merge<T> {
  readonly readable: ReadableStream<T>;
  #controller!: ReadableStreamDefaultController<T>;
  #room: PromiseWithResolvers<void> | null = null;
  #pumps = new Set<Promise<void>>();
  #closing = false;
  #cancelled = false;
  #finished = false;

  constructor(options: MergeOptions = {}) {
    this.readable = new ReadableStream<T>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => this.#wake(),
        cancel: () => {
          this.#cancelled = true;
          this.#wake();
        },
      },
      new CountQueuingStrategy({ highWaterMark: options.highWaterMark ?? 4 }),
    );
  }

  /** Starts reading `stream` into the output. */
  add(stream: ReadableStream<T>): void {
    if (this.#closing) {
      throw new TypeError("Cannot add a stream to a merge that was closed");
    }
    const pump = this.#pump(stream).finally(() => {
      this.#pumps.delete(pump);
      this.#maybeFinish();
    });
    this.#pumps.add(pump);
  }

  /** No more inputs will be added; the output ends when the current ones do. */
  close(): void {
    this.#closing = true;
    this.#maybeFinish();
  }

  async #pump(stream: ReadableStream<T>): Promise<void> {
    const reader = stream.getReader();
    try {
      while (!this.#cancelled) {
        while (!this.#cancelled && (this.#controller.desiredSize ?? 0) <= 0) {
          this.#room ??= Promise.withResolvers<void>();
          await this.#room.promise;
        }
        if (this.#cancelled) break;
        const { done, value } = await reader.read();
        if (done) return;
        this.#controller.enqueue(value);
      }
      await reader.cancel();
    } finally {
      reader.releaseLock();
    }
  }

  #wake(): void {
    const room = this.#room;
    this.#room = null;
    room?.resolve();
  }

  #maybeFinish(): void {
    if (!this.#closing || this.#pumps.size > 0 || this.#finished) return;
    this.#finished = true;
    if (this.#cancelled) return;
    try {
      this.#controller.close();
    } catch {
      // Already errored or closed.
    }
  }
}
