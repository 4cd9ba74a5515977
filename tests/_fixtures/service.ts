/**
 * A Service started in-process as a run starts it, from a command line and
 * a config file, with stdout and its log captured.
 */
import { parseCommandLine } from "../../src/config.ts";
import { parseConfigFile } from "../../src/config_file.ts";
import { Service } from "../../src/service.ts";
import type { LogDir } from "./log_dir.ts";

/** How a test starts its service. */
export interface StartOptions {
  /** The config file's text. */
  file?: string;
  /** Stdout; by default collected into `out`. */
  stdout?: WritableStream<Uint8Array>;
  flushMs?: number;
  onStart?: (service: Service) => void;
}

/** A service started in `dir` from `args` (and the config file `file`), writing to `out`. */
export async function startService(
  dir: LogDir,
  args: string[],
  options: StartOptions = {},
): Promise<{ service: Service; out: Uint8Array[]; log: string[] }> {
  const command = parseCommandLine(
    args,
    {},
    options.file === undefined
      ? null
      : parseConfigFile("tailcast.json", options.file),
  );
  if (command.kind !== "run") throw new Error(`${args} is not a run`);
  const out: Uint8Array[] = [];
  const log: string[] = [];
  const service = await Service.start({
    config: command.config,
    stdout: options.stdout ??
      new WritableStream({ write: (chunk) => void out.push(chunk) }),
    log: (line) => log.push(line),
    cwd: dir.path,
    flushMs: options.flushMs,
    onStart: options.onStart,
  });
  return { service, out, log };
}
