/**
 * The errors tailcast reports to the user at start-up. Each message names the
 * input and says what to do; `main.ts` prints it on one line and exits 2.
 * Problems the service survives at run time are notices, not errors.
 */

/** A bad flag, value or pattern on the command line. */
export class ConfigError extends TypeError {
  /** The flag or argument at fault, as the user typed it. */
  readonly flag: string;

  /** `message` is made one line: control characters in it are escaped. */
  constructor(flag: string, message: string) {
    super(oneLine(message));
    this.name = "ConfigError";
    this.flag = flag;
  }
}

const ESCAPES: Record<string, string> = {
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

/**
 * `text` with line breaks and other control characters written as escapes
 * (`\n`, `\u001b`): a value quoted in a message cannot break it over lines
 * or send a terminal escape sequence to stderr.
 */
function oneLine(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\0-\x1f\x7f-\x9f\u2028\u2029]/g,
    (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** A path given on the command line that cannot be followed. */
export class SourceError extends Error {
  /** The path as the user gave it. */
  readonly path: string;

  /** `message` says what is wrong with `path` and what to do. */
  constructor(path: string, message: string) {
    super(message);
    this.name = "SourceError";
    this.path = path;
  }
}

/** What to tell the user for each kind of file-system failure. */
export interface ErrorHints {
  /** After "Deno permission denied": the flag that would allow it. */
  readonly denied: string;
  /** After "permission denied by the operating system": what to check. */
  readonly os: string;
  /** For a missing path, when that needs its own words. */
  readonly missing?: string;
}

/** A file-system error in words a user can act on. */
export function describeError(error: unknown, hints: ErrorHints): string {
  if (error instanceof Deno.errors.NotCapable) {
    return `Deno permission denied (${hints.denied})`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `permission denied by the operating system (${hints.os})`;
  }
  if (error instanceof Deno.errors.NotFound && hints.missing) {
    return hints.missing;
  }
  return error instanceof Error ? error.message : String(error);
}
