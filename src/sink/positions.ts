/**
 * Published positions: for every followed path, how far its events have been
 * published, per file identity (the current file and rotated ones still
 * being drained). The journal moves them as it records each batch, so a
 * snapshot taken in the same tick as a subscription is the seam between what
 * a subscriber replays from disk and what it gets live.
 */
import { sameFile } from "../source/identity.ts";
import {
  type FileId,
  type FilePosition,
  MAX_FILES_PER_SOURCE,
  type ResumeCursor,
} from "../types.ts";

export class Positions {
  readonly #bySource = new Map<string, FilePosition[]>();
  #count = 0;

  /** A follower opened `file` for `source` at `from`. */
  appear(source: string, file: FileId, from: number): void {
    this.#set(source, file, from, false);
  }

  /** The events of `file` up to `offset` were published. */
  advance(source: string, file: FileId, offset: number): void {
    this.#set(source, file, offset, true);
  }

  /** Positions known, over all paths. */
  get count(): number {
    return this.#count;
  }

  /** Every path's positions, live (not a copy): for reading in the same tick. */
  get all(): ReadonlyMap<string, readonly FilePosition[]> {
    return this.#bySource;
  }

  /** A copy of the positions of the paths `wanted` selects. */
  snapshot(wanted: (source: string) => boolean = () => true): ResumeCursor {
    const out: ResumeCursor = new Map();
    for (const [source, list] of this.#bySource) {
      if (wanted(source)) out.set(source, [...list]);
    }
    return out;
  }

  #set(source: string, file: FileId, offset: number, advance: boolean): void {
    let list = this.#bySource.get(source);
    if (!list) this.#bySource.set(source, list = []);
    const at = list.findIndex((p) => sameFile(p.file, file));
    if (at === -1) {
      list.push({ file, offset });
      this.#count++;
      if (list.length > MAX_FILES_PER_SOURCE) {
        list.shift();
        this.#count--;
      }
    } else if (advance) {
      // Truncation restarts a file at 0, so the newest event wins, not the largest offset.
      list[at] = { file, offset };
    }
  }
}
