/**
 * A temporary log directory with the file operations rotation schemes use.
 * Appends go through one long-lived handle per file, like a real writer.
 */

export class LogDir implements AsyncDisposable {
  readonly path: string;
  readonly #writers = new Map<string, Deno.FsFile>();
  readonly #encoder = new TextEncoder();

  private constructor(path: string) {
    this.path = path;
  }

  static async create(): Promise<LogDir> {
    return new LogDir(
      await Deno.realPath(await Deno.makeTempDir({ prefix: "tailcast-test-" })),
    );
  }

  /** Absolute path of `name` in the directory. */
  file(name: string): string {
    return `${this.path}/${name}`;
  }

  /** Appends text through the writer handle of `name` (opened on first use). */
  async append(name: string, text: string): Promise<void> {
    let w = this.#writers.get(name);
    if (!w) {
      w = await Deno.open(this.file(name), { append: true, create: true });
      this.#writers.set(name, w);
    }
    const bytes = this.#encoder.encode(text);
    let at = 0;
    while (at < bytes.length) at += await w.write(bytes.subarray(at));
  }

  /** Appends raw bytes. */
  async appendBytes(name: string, bytes: Uint8Array): Promise<void> {
    await this.append(name, "");
    const w = this.#writers.get(name)!;
    let at = 0;
    while (at < bytes.length) at += await w.write(bytes.subarray(at));
  }

  /** Closes the writer of `name` (a writer that reopens after rotation). */
  closeWriter(name: string): void {
    this.#writers.get(name)?.close();
    this.#writers.delete(name);
  }

  /** `mv name to` then the writer reopens `name` (logrotate `create`). */
  async rename(name: string, to: string): Promise<void> {
    await Deno.rename(this.file(name), this.file(to));
    this.closeWriter(name);
    this.closeWriter(to);
  }

  /** `cp name to; truncate -s0 name`: the writer keeps its handle (O_APPEND). */
  async copyTruncate(name: string, to: string): Promise<void> {
    await Deno.copyFile(this.file(name), this.file(to));
    await Deno.truncate(this.file(name), 0);
  }

  /** `truncate -s0 name`. */
  async truncate(name: string): Promise<void> {
    await Deno.truncate(this.file(name), 0);
  }

  /** `rm name`; the writer reopens it on its next append. */
  async remove(name: string): Promise<void> {
    await Deno.remove(this.file(name));
    this.closeWriter(name);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const w of this.#writers.values()) w.close();
    this.#writers.clear();
    await Deno.remove(this.path, { recursive: true });
  }
}
