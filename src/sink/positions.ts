/**
 * Published positions: for every followed path, how far its events have been
 * handed to the hub, per file identity (the current file and rotated ones
 * still being drained). Updated by the dispatcher right before each publish,
 * so a snapshot taken in the same tick as a subscription is the exact seam
 * between what a subscriber must replay from disk and what it gets live.
 */
import { sameFile } from "../source/identity.ts";
import {
  END,
  type Event,
  FILE,
  type FileId,
  type FilePosition,
  MAX_FILES_PER_SOURCE,
  type ResumeCursor,
} from "../types.ts";

export class Positions {
  readonly #bySource = new Map<string, FilePosition[]>();

  /** A follower opened `file` for `source` at `from`. */
  appear(source: string, file: FileId, from: number): void {
    this.#set(source, file, from, false);
  }

  /** An event is about to be published; returns the offset just past its line. */
  record(event: Event): number {
    const file = event[FILE];
    const offset = event[END];
    if (event.source !== "-") this.#set(event.source, file, offset, true);
    return offset;
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
      if (list.length > MAX_FILES_PER_SOURCE) list.shift();
    } else if (advance) {
      // Truncation restarts a file at 0, so the newest event wins, not the largest offset.
      list[at] = { file, offset };
    }
  }
}
