/**
 * Fan-in: the chunks of every follower into one stream, with backpressure.
 * Followers can be added while it runs (files that start to match a glob).
 * Each input is read only while the output has room, so a slow consumer
 * pauses every follower instead of buffering their data.
 */

export interface MergeOptions<T> {
  /** Items queued on the output, as `size` counts them. @default 4 */
  highWaterMark?: number;
  /** What an item counts for in the queue. @default 1 */
  size?: (item: T) => number;
}

/**
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Merge } from "./merge.ts";
 * const merge = new Merge<number>();
 * merge.add(ReadableStream.from([1, 2]));
 * merge.add(ReadableStream.from([3]));
 * merge.close();
 * const all = await Array.fromAsync(merge.readable);
 * assertEquals(all.sort(), [1, 2, 3]);
 * ```
 */
export class Merge<T> {
  readonly readable: ReadableStream<T>;
  #controller!: ReadableStreamDefaultController<T>;
  #room: PromiseWithResolvers<void> | null = null;
  #pumps = new Set<Promise<void>>();
  #readers = new Set<ReadableStreamDefaultReader<T>>();
  #closing = false;
  #cancelled = false;
  #finished = false;

  constructor(options: MergeOptions<T> = {}) {
    this.readable = new ReadableStream<T>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => this.#wake(),
        cancel: (reason) => {
          this.#cancelled = true;
          this.#wake();
          // Inputs waiting for data (a quiet file) must stop too.
          for (const reader of this.#readers) {
            reader.cancel(reason).catch(() => {});
          }
        },
      },
      {
        highWaterMark: options.highWaterMark ?? 4,
        size: options.size ?? (() => 1),
      },
    );
  }

  /** Starts reading `stream` into the output. */
  add(stream: ReadableStream<T>): void {
    if (this.#closing) {
      throw new TypeError("Cannot add a stream to a merge that was closed");
    }
    const pump = this.#pump(stream)
      .catch((error) => {
        // One failed input ends the merge with its error; the others are cancelled.
        if (this.#cancelled) return;
        this.#cancelled = true;
        try {
          this.#controller.error(error);
        } catch {
          // Already closed or errored.
        }
        for (const reader of this.#readers) {
          reader.cancel(error).catch(() => {});
        }
      })
      .finally(() => {
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
    this.#readers.add(reader);
    try {
      while (!this.#cancelled) {
        while (!this.#cancelled && (this.#controller.desiredSize ?? 0) <= 0) {
          this.#room ??= Promise.withResolvers<void>();
          await this.#room.promise;
        }
        if (this.#cancelled) break;
        const { done, value } = await reader.read();
        if (done || this.#cancelled) break;
        this.#controller.enqueue(value);
      }
      if (this.#cancelled) await reader.cancel();
    } finally {
      this.#readers.delete(reader);
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
