/**
 * Awkward messages for the MIME structure reader (firmware/mimestruct.ts):
 * its unit tests and the comparison with Dovecot read them. Each is built
 * with CRLF line ends unless it says otherwise. Portable (the Lua
 * comparison compiles it): 8-bit octets come from String.fromCharCode.
 */

/** Lines joined with CRLF. */
export function crlf(...lines: string[]): string {
  return lines.join("\r\n");
}

const B64 = "SGVsbG8gd29ybGQhIFRoaXMgaXMgYSBiYXNlNjQgYXR0YWNobWVudCBmb3IgdGVzdGluZy4gSGVs\r\nbG8gd29ybGQhIFRoaXMgaXMgYSBiYXNlNjQgYXR0YWNobWVudC4=";

export interface CorpusMessage {
  name: string;
  text: string;
}

export const CORPUS: CorpusMessage[] = [
  { name: "no MIME headers", text: crlf("From: a@b.test", "Subject: plain", "", "Hello", "world", "") },
  { name: "no final line end", text: crlf("From: a@b.test", "", "Hello", "world") },
  { name: "empty body", text: crlf("From: a@b.test", "Subject: x", "", "") },
  { name: "no blank line", text: crlf("From: a@b.test", "Subject: all header") },
  { name: "header only with line end", text: crlf("From: a@b.test", "Subject: all header", "") },
  { name: "bare LF", text: "From: a@b.test\nContent-Type: multipart/mixed; boundary=xx\n\npre\n--xx\n\nbody one\n--xx\nContent-Type: text/html\n\n<b>two</b>\n\n--xx--\nepi\n" },
  {
    name: "addresses",
    text: crlf(
      'From: "Joe Q. Public" <john.q.public@example.com>',
      "Sender: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
      "Reply-To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
      "To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>, undisclosed-recipients:;",
      'Cc: <boss@nil.test>, "Giant; \\"Big\\" Box" <sysservices@example.net>',
      "Bcc: =?utf-8?q?J=C3=B6rg?= <joerg@x.test>, <@route.test,@two.test:user@host.test>",
      "In-Reply-To: <1234@local.machine.example>",
      "Message-ID: <5678.21-Nov-1997@example.com>",
      "Date: Tue, 1 Jul 2003 10:52:37 +0200",
      "Subject: =?utf-8?q?hi?= there",
      "  folded\tand tabbed",
      "",
      "body",
      "",
    ),
  },
  {
    name: "bad addresses",
    text: crlf(
      "From: nodomain",
      "To: @, <>, a@, @b, \"quoted local\"@x.test, x@[1.2.3.4], Name Only <broken",
      "Cc: ,,a@b.test,,",
      "Reply-To:",
      "Subject: \"quoted\" and \\back",
      "",
      "x",
    ),
  },
  { name: "8-bit header", text: "From: J" + String.fromCharCode(0xf6) + "rg <j@x.test>\r\nSubject: caf" + String.fromCharCode(0xc3, 0xa9) + "\r\n\r\nbody\r\n" },
  {
    name: "multipart with preamble and epilogue",
    text: crlf(
      "From: a@b.test",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="=_b 1"; foo=bar',
      "",
      "This is a preamble.",
      "--=_b 1",
      "Content-Type: text/plain; charset=utf-8; format=flowed",
      "Content-Transfer-Encoding: quoted-printable",
      "Content-ID: <part1@x.test>",
      "Content-Description: the text",
      "",
      "Hello=20there",
      "line 2",
      "--=_b 1",
      "Content-Type: application/octet-stream; name=\"report.pdf\"",
      "Content-Transfer-Encoding: base64",
      "Content-Disposition: attachment; filename=\"report.pdf\"; size=90",
      "Content-Language: en, de",
      "Content-Location: http://x.test/r.pdf",
      "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==",
      "",
      B64,
      "--=_b 1--",
      "This is the epilogue.",
      "",
    ),
  },
  {
    name: "missing end boundary",
    text: crlf("Content-Type: multipart/mixed; boundary=b", "", "--b", "", "one", "--b", "Content-Type: text/plain", "", "two", "three", ""),
  },
  {
    name: "nested alternative",
    text: crlf(
      "Subject: nested",
      "Content-Type: multipart/mixed; boundary=outer",
      "",
      "--outer",
      "Content-Type: multipart/alternative; boundary=inner",
      "",
      "--inner",
      "Content-Type: text/plain",
      "",
      "plain",
      "--inner",
      "Content-Type: text/html; charset=\"ISO-8859-1\"",
      "",
      "<p>html</p>",
      "--inner--",
      "",
      "--outer",
      "Content-Type: image/png",
      "Content-Transfer-Encoding: BASE64",
      "Content-Disposition: inline",
      "",
      B64,
      "--outer--",
      "",
    ),
  },
  {
    name: "message/rfc822 in multipart",
    text: crlf(
      "From: outer@x.test",
      "Subject: fwd",
      "Content-Type: multipart/mixed; boundary=\"outer\"",
      "",
      "--outer",
      "",
      "see attached",
      "--outer",
      "Content-Type: message/rfc822",
      "Content-Disposition: attachment",
      "",
      "From: inner@y.test",
      "To: someone@z.test",
      "Subject: inner one",
      "Message-ID: <inner@y.test>",
      "Content-Type: multipart/alternative; boundary=\"in\"",
      "",
      "--in",
      "Content-Type: text/plain",
      "",
      "inner text",
      "--in",
      "Content-Type: text/html",
      "",
      "<p>inner</p>",
      "--in--",
      "",
      "--outer--",
      "",
    ),
  },
  {
    name: "top-level message/rfc822",
    text: crlf("From: a@b.test", "Content-Type: message/rfc822", "", "From: c@d.test", "Subject: inside", "", "inner body", "two", ""),
  },
  {
    name: "message/rfc822 without header",
    text: crlf("Content-Type: multipart/mixed; boundary=q", "", "--q", "Content-Type: message/rfc822", "", "--q--", ""),
  },
  {
    name: "digest",
    text: crlf(
      "Content-Type: multipart/digest; boundary=d",
      "",
      "--d",
      "",
      "From: one@x.test",
      "Subject: first",
      "",
      "first body",
      "--d",
      "Content-Type: text/plain",
      "",
      "not a message",
      "--d--",
      "",
    ),
  },
  {
    name: "rfc2231 parameters",
    text: crlf(
      "Content-Type: multipart/mixed; boundary=z",
      "",
      "--z",
      "Content-Type: application/x-stuff;",
      " title*0*=us-ascii'en'This%20is%20even%20more%20;",
      " title*1*=%2A%2A%2Afun%2A%2A%2A%20;",
      " title*2=\"isn't it!\"",
      "Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.txt",
      "",
      "data",
      "--z--",
    ),
  },
  {
    name: "upper case and comments",
    text: crlf(
      "CONTENT-TYPE: TEXT/HTML (a comment); CHARSET=\"UTF-8\" (another)",
      "content-transfer-encoding: 8BIT",
      "",
      "<p>caf" + String.fromCharCode(0xc3, 0xa9) + "</p>",
      "",
    ),
  },
  { name: "type without subtype", text: crlf("Content-Type: text", "", "x", "") },
  { name: "garbage content type", text: crlf("Content-Type: ;;; =", "", "x", "") },
  { name: "multipart without boundary", text: crlf("Content-Type: multipart/mixed", "", "--x", "", "a", "--x--", "") },
  {
    name: "part without header",
    text: crlf("Content-Type: multipart/mixed; boundary=b", "", "--b", "no blank line here", "--b", "", "", "--b--", ""),
  },
  {
    name: "boundary prefix of line",
    text: crlf("Content-Type: multipart/mixed; boundary=ab", "", "--abc", "", "x", "--ab  ", "", "y", "--ab--x", ""),
  },
  {
    name: "outer boundary closes inner",
    text: crlf(
      "Content-Type: multipart/mixed; boundary=o",
      "",
      "--o",
      "Content-Type: multipart/alternative; boundary=i",
      "",
      "--i",
      "",
      "unfinished",
      "--o",
      "",
      "last",
      "--o--",
      "",
    ),
  },
  {
    name: "whitespace before colon and duplicates",
    text: crlf("Subject : first", "Subject: second", "From: a@b.test", "From: c@d.test", "Content-Type : text/plain; charset = \"x\"", "", "b", ""),
  },
  {
    name: "encoded-word filename and long subject",
    text: crlf(
      "Subject: =?UTF-8?B?w6TDtsO8?= =?UTF-8?B?w6TDtsO8?=",
      "\t=?UTF-8?B?w6TDtsO8?=",
      "Content-Type: multipart/mixed; boundary=\"----=_Part_0_12345.6789\"",
      "",
      "------=_Part_0_12345.6789",
      "Content-Type: application/pdf; name=\"=?UTF-8?B?w6TDtsO8LnBkZg==?=\"",
      "Content-Disposition: attachment;",
      "\tfilename=\"=?UTF-8?B?w6TDtsO8LnBkZg==?=\"",
      "Content-Transfer-Encoding: base64",
      "",
      B64,
      "------=_Part_0_12345.6789--",
      "",
    ),
  },
  {
    name: "comment names and a single language",
    text: crlf(
      "From: john@x.test (John Doe)",
      "To: \"Smith,  Jane\"  <jane@x.test>",
      "Subject: two  spaces inside",
      "Content-Type: text/plain; charset=us-ascii",
      "Content-Language: fr",
      "Content-Description: a  description",
      "",
      "bonjour",
      "",
    ),
  },
  {
    name: "message/rfc822 inside message/rfc822",
    text: crlf(
      "Subject: outer",
      "Content-Type: message/rfc822",
      "",
      "Subject: middle",
      "Content-Type: message/rfc822",
      "",
      "Subject: inner",
      "Content-Type: multipart/mixed; boundary=m",
      "",
      "--m",
      "Content-Type: application/zip",
      "Content-Transfer-Encoding: base64",
      "",
      "UEsDBBQ=",
      "--m--",
      "",
    ),
  },
];

/** A message nested `depth` multiparts deep, each holding one more and a text part. */
export function deepMessage(depth: number): string {
  let head = "Content-Type: multipart/mixed; boundary=b0.\r\n\r\n";
  let tail = "";
  for (let i = 0; i < depth; i++) {
    head += "--b" + i + ".\r\nContent-Type: " + (i + 1 < depth ? "multipart/mixed; boundary=b" + (i + 1) + "." : "text/plain") + "\r\n\r\n";
    tail = (i + 1 < depth ? "\r\n" : "") + "--b" + i + ".\r\n\r\nleaf " + i + "\r\n--b" + i + ".--\r\n" + tail;
  }
  return head + "deepest\r\n" + tail;
}
