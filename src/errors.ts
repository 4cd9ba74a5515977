/**
 * The errors tailcast reports to the user at start-up. Each message names the
 * input and says what to do; `main.ts` prints it on one line and exits 2.
 * Problems the service survives at run time are notices, not errors.
 */

/** A bad flag, value or pattern on the command line. */
export class ConfigError extends TypeError {
  /** The flag or argument at fault, as the user typed it. */
  readonly flag: string;

  constructor(flag: string, message: string) {
    super(message);
    this.name = "ConfigError";
    this.flag = flag;
  }
}

/** A path given on the command line that cannot be followed. */
export class SourceError extends Error {
  readonly path: string;

  constructor(path: string, message: string) {
    super(message);
    this.name = "SourceError";
    this.path = path;
  }
}
