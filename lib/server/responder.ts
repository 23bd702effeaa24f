/**
 * How a session answers: OK, ERROR and NOTICE frames under a request's id,
 * logged as server events, flushed in batches. Replies made while the
 * session works through requests that arrived together leave in one write
 * when it runs dry; replies made beside it (a finished commit) leave at once.
 *
 * @module
 */

import { ErrorCode, type FerryError, toFerryError } from "../errors.ts";
import { Kind } from "../protocol/frame.ts";
import { encodeError } from "../protocol/replies.ts";
import type { FrameWriter } from "../wire/frame_writer.ts";
import type { ServerEvent, SessionEvent } from "./events.ts";
import { printable } from "../text.ts";

/** Answers the requests of one connection. */
export class Responder {
  readonly writer: FrameWriter;
  readonly log: (event: SessionEvent) => void;
  /** True while the session handles requests already received: it flushes when it runs dry. */
  handlingBuffered = false;

  constructor(writer: FrameWriter, log: (event: SessionEvent) => void) {
    this.writer = writer;
    this.log = log;
  }

  /** Ends request `id` with OK. */
  reply(id: number, payload: Uint8Array): Promise<void> {
    const sent = this.writer.frame(Kind.Ok, id, payload);
    this.flushSoon();
    return sent;
  }

  /** Tells request `id` about one failed entry; the request goes on. */
  async notice(id: number, action: ServerEvent["action"], error: FerryError): Promise<void> {
    this.log({
      action,
      ...(error.path === undefined ? {} : { path: error.path }),
      ok: false,
      code: error.code,
      message: error.message,
    });
    await this.writer.frame(Kind.Notice, id, encodeError(error));
  }

  /** Ends request `id` with ERROR. Protocol errors are rethrown: they end the connection. */
  async refuse(
    id: number,
    action: ServerEvent["action"],
    path: string,
    error: unknown,
    log = true,
  ): Promise<void> {
    const failure = toFerryError(error, action === "put" ? "write" : "read", path);
    if (failure.code === ErrorCode.Protocol) throw failure;
    if (log) {
      this.log({
        action,
        path: printable(path),
        ok: false,
        code: failure.code,
        message: failure.message,
      });
    }
    await this.writer.frame(Kind.Error, id, encodeError(failure));
    this.flushSoon();
  }

  /** A reply made outside the request loop is sent now; the loop flushes its own. */
  flushSoon(): void {
    if (!this.handlingBuffered) this.writer.flushSoon();
  }
}
