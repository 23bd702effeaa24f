/**
 * `send --from-command CMD`: a command's standard output as the body of one
 * remote file, which ends (and so is committed) only when the command
 * exited 0. A plain pipe cannot give this: `pg_dump … | ferry send -`
 * shows ferry the same end of input whether the producer finished or died,
 * and only the shell learns the producer's status, after ferry committed.
 *
 * @module
 */

import { ErrorCode, FerryError } from "../lib/errors.ts";
import { printable } from "../lib/text.ts";

/** A running command whose output is a file's body. */
export interface Producer {
  /** Its standard output; errors instead of ending when the command failed. */
  readonly output: ReadableStream<Uint8Array>;
  /** Stops the command when the transfer failed first (it would block on a full pipe). */
  stop(): Promise<void>;
}

/**
 * Starts `command` with `sh -c`, as cron and ssh run a command line, with
 * standard input and error passed through.
 */
export function startProducer(command: string): Producer {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("sh", {
      args: ["-c", command],
      stdin: "inherit",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    throw new FerryError(
      ErrorCode.Io,
      `Cannot run --from-command: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const reader = child.stdout.getReader();
  const output = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await reader.read();
      if (!next.done) return controller.enqueue(next.value);
      const status = await child.status;
      if (status.success) return controller.close();
      controller.error(producerFailed(command, status));
    },
    async cancel() {
      await stop();
    },
  });
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    await reader.cancel().catch(() => {});
    await child.status;
  };
  return { output, stop };
}

function producerFailed(command: string, status: Deno.CommandStatus): FerryError {
  const how = status.signal === null
    ? `exited with status ${status.code}`
    : `was killed by ${status.signal}`;
  return new FerryError(
    ErrorCode.Partial,
    `The command "${printable(command)}" ${how}: its output was not stored, ` +
      `and the file on the server (if any) was kept`,
  );
}
