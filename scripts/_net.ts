/**
 * Ports for the scripts' own servers: a free one to start on, and waiting
 * until something listens there.
 *
 * @module
 */

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** Waits until a server accepts connections on `port` (bounded: 20 s). */
export async function waitForPort(port: number): Promise<void> {
  for (let tries = 0; tries < 400; tries++) {
    const up = await Deno.connect({ hostname: "127.0.0.1", port }).then(
      (c) => (c.close(), true),
      () => false,
    );
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Nothing listens on 127.0.0.1:${port} after 20 s`);
}
