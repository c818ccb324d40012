import { IncomingHttpHeaders, createServer } from 'node:http';
import { AddressInfo } from 'node:net';

/** One scripted answer: a status with headers and body (after `delayMs`), no answer at all, or a dropped connection. */
export type ScriptedAnswer =
  | { status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  /** Reads the request and never answers: the client's timeout has to end it. */
  | { hang: true }
  /** Drops the connection without an answer: a network error for the client. */
  | { drop: true };

/** A request the server received. */
export interface ScriptedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A plain HTTP server on 127.0.0.1 that answers from a script, for what a real OAuth server won't do on demand. */
export interface ScriptedHttpServer {
  /** `http://127.0.0.1:<port>/oauth/token` */
  url: string;
  /** Every request so far, in order. Bodies may hold secrets: assert on them, never print them. */
  requests: ScriptedRequest[];
  /** Answers the next requests with these, in order; after them, with the last one. */
  script(...answers: ScriptedAnswer[]): void;
  close(): Promise<void>;
}

/** Starts a {@link ScriptedHttpServer} on a free port of 127.0.0.1; it answers 500 until scripted. */
export async function startScriptedHttpServer(): Promise<ScriptedHttpServer> {
  let answers: ScriptedAnswer[] = [{ status: 500 }];
  const requests: ScriptedRequest[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const answer = answers.length > 1 ? answers.shift() : answers[0];
      if (!answer || 'hang' in answer) {
        return;
      }
      if ('drop' in answer) {
        req.socket.destroy();
        return;
      }
      const send = (): void => {
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.body ?? '');
      };
      if (answer.delayMs === undefined) {
        send();
      } else {
        setTimeout(send, answer.delayMs);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/oauth/token`,
    requests,
    script: (...next) => {
      answers = next.length > 0 ? next : [{ status: 500 }];
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A JSON answer, as a token endpoint gives one. */
export const json = (status: number, value: unknown, headers: Record<string, string> = {}): ScriptedAnswer => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(value),
});
