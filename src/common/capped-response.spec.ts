import { DEFAULT_MAX_RESPONSE_BYTES, ResponseTooLargeError, cappedResponse, readCappedBody } from './capped-response';

/** A streamed (chunked) body of `chunks` chunks of `size` bytes, counting how many were pulled and whether it was cancelled. */
function streamedBody(
  chunks: number,
  size: number,
): { body: ReadableStream<Uint8Array>; pulled: () => number; cancelled: () => boolean } {
  let pulled = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled === chunks) {
        controller.close();
        return;
      }
      pulled += 1;
      controller.enqueue(new Uint8Array(size).fill(0x61));
    },
    cancel() {
      cancelled = true;
    },
  });
  return { body, pulled: () => pulled, cancelled: () => cancelled };
}

describe(readCappedBody.name, () => {
  it('reads a body up to the cap whole', async () => {
    const { body } = streamedBody(4, 1024);

    await expect(readCappedBody(new Response(body), 4096)).resolves.toHaveLength(4096);
  });

  it('stops at the first chunk past the cap and cancels the rest of the stream', async () => {
    const stream = streamedBody(1000, 64 * 1024);

    await expect(readCappedBody(new Response(stream.body))).rejects.toThrow(ResponseTooLargeError);
    expect(stream.pulled()).toBeLessThanOrEqual(DEFAULT_MAX_RESPONSE_BYTES / (64 * 1024) + 2);
    expect(stream.cancelled()).toBe(true);
  });

  it('refuses a declared Content-Length past the cap before reading anything', async () => {
    const stream = streamedBody(1, 10);
    const response = new Response(stream.body, {
      headers: { 'content-length': String(DEFAULT_MAX_RESPONSE_BYTES + 1) },
    });

    const error = await readCappedBody(response).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ResponseTooLargeError);
    expect(error).toMatchObject({
      maxBytes: DEFAULT_MAX_RESPONSE_BYTES,
      message: expect.stringContaining('262144 bytes'),
    });
    expect(stream.pulled()).toBe(0);
  });

  it('reads an empty body as no bytes', async () => {
    await expect(readCappedBody(new Response(null, { status: 204 }))).resolves.toHaveLength(0);
  });
});

describe(cappedResponse.name, () => {
  it('keeps the status and headers, and its body reads as the original', async () => {
    const original = new Response('{"a":1}', { status: 400, headers: { 'content-type': 'application/json' } });

    const capped = await cappedResponse(original);

    expect(capped.status).toBe(400);
    expect(capped.headers.get('content-type')).toBe('application/json');
    await expect(capped.json()).resolves.toEqual({ a: 1 });
  });
});
