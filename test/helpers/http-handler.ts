/**
 * A handler for the HTTP service's own tests (test/http-handler.test.ts):
 * each path exercises one part of HttpReply, so the framing of answers
 * (lengths, chunks, streams, HEAD, errors) is tested apart from the web
 * page. Test code only: it runs in-process, on the node build of the core.
 */
import type { Hal } from "../../firmware/hal";
import { HttpHandler, HttpReply, HttpRequest, plain } from "../../firmware/http";
import type { ChunkSource } from "../../firmware/sender";

/** A source of `count` chunks "chunk N\r\n" (9 octets each); logs when released. */
function chunks(hal: Hal, count: number): () => ChunkSource {
  return () => {
    let n = 0;
    return {
      next: () => (n < count ? `chunk ${++n}\r\n` : undefined),
      release: () => hal.log(`test: stream of ${count} released after ${n}`),
    };
  };
}

function text(reply: HttpReply, body: string): void {
  reply.start(200, "OK", "Content-Type: text/plain\r\n", body.length);
  reply.write(body);
  reply.end();
}

export function testHandler(hal: Hal): HttpHandler {
  return (req: HttpRequest, reply: HttpReply) => {
    switch (req.path) {
      case "/hello":
        return text(reply, "hello\r\n");
      case "/fields":
        // Every field the handler gets, one per line.
        return text(
          reply,
          [
            `method ${req.method}`, `path ${req.path}`, `query ${req.query}`, `host ${req.host}`, `origin ${req.origin}`,
            `cookie ${req.cookie}`, `if-none-match ${req.ifNoneMatch}`, `csrf ${req.csrf}`, `content-type ${req.contentType}`,
            `body ${JSON.stringify(req.body)}`, `client ${req.client === undefined ? "none" : "given"}`,
          ].join("\r\n") + "\r\n",
        );
      case "/chunked":
        reply.start(200, "OK", "Content-Type: text/plain\r\n", -1);
        reply.write("one\r\n");
        reply.write(""); // nothing: no empty chunk, which would end the body
        reply.write("two\r\n");
        reply.end();
        return;
      case "/stream":
        reply.start(200, "OK", "Content-Type: text/plain\r\n", 27);
        reply.stream(chunks(hal, 3));
        reply.end();
        return;
      case "/stream-chunked":
        reply.start(200, "OK", "Content-Type: text/plain\r\n", -1);
        reply.write("first\r\n");
        reply.stream(chunks(hal, 2));
        reply.end();
        return;
      case "/later":
        // Answered from a timer: pipelined requests behind it wait.
        hal.setTimer(50, () => text(reply, "later\r\n"));
        return;
      case "/not-modified":
        reply.start(304, "Not Modified", 'ETag: "abc"\r\n', 0);
        reply.end();
        return;
      case "/no-content":
        reply.start(204, "No Content", "", -1);
        reply.end();
        return;
      case "/throw":
        throw new Error("boom");
      case "/throw-late":
        reply.start(200, "OK", "Content-Type: text/plain\r\n", 10);
        reply.write("part\r\n");
        throw new Error("boom after the head");
      case "/no-answer":
        reply.end();
        return;
      default:
        plain(reply, 404, "Not Found", "");
    }
  };
}
