/** The default cap of an answer read from Atlassian: 256 KiB, far above a token response or a site list. */
export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024;

/**
 * An HTTP answer was larger than its cap, by its `Content-Length` or by the bytes that arrived;
 * reading stopped there and the rest of the body was cancelled. Carries no byte of the body.
 */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';

  constructor(readonly maxBytes: number) {
    super(`The answer is larger than ${maxBytes} bytes: refused without reading the rest.`);
  }
}

/**
 * Reads `response`'s body, refusing one of more than `maxBytes`: a `Content-Length` above it is
 * refused before anything is read, and a body that streams past it (chunked, or a lying length) is
 * cancelled as soon as it does. So an answer never takes more than `maxBytes` of memory, whatever
 * the server sends. The caller's abort signal (the one given to `fetch`) still ends the read.
 *
 * @throws ResponseTooLargeError past `maxBytes`; whatever the body stream rejects with otherwise
 *   (an abort, a dropped connection).
 */
export async function readCappedBody(
  response: Response,
  maxBytes: number = DEFAULT_MAX_RESPONSE_BYTES,
): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new ResponseTooLargeError(maxBytes);
  }
  if (!response.body) {
    return Buffer.alloc(0);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early (the throw) cancels the stream: the rest of the body is never read.
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      throw new ResponseTooLargeError(maxBytes);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * `response` with its body read through {@link readCappedBody}: a new `Response` of the same
 * status and headers, for code that takes a `Response` (oauth4webapi's processing of a token
 * answer) and would otherwise read the body without a limit.
 *
 * @throws ResponseTooLargeError past `maxBytes`.
 */
export async function cappedResponse(
  response: Response,
  maxBytes: number = DEFAULT_MAX_RESPONSE_BYTES,
): Promise<Response> {
  const body = await readCappedBody(response, maxBytes);
  const nullBody = response.status === 204 || response.status === 205 || response.status === 304;
  return new Response(nullBody ? null : body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
