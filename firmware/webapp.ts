/**
 * The web page's requests: the API, log-in sessions and the page's files
 * (issue 18). For now every request is answered 404.
 */
import type { Config } from "./config";
import type { Hal } from "./hal";
import { HttpHandler, HttpReply, HttpRequest, plain } from "./http";
import type { Mailbox } from "./mailbox";

export function webHandler(hal: Hal, config: Config, mailbox: Mailbox): HttpHandler {
  return function (req: HttpRequest, reply: HttpReply) {
    plain(reply, 404, "Not Found", "");
  };
}
