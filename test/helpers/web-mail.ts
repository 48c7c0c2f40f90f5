/**
 * The mail the web page's browser tests deliver (issue 18's scenario): a
 * plain message, multipart/alternative, an HTML part with an inline cid:
 * image beside a PDF attachment (RFC 2231 file name), mail in GB2312, GBK,
 * Big5 and UTF-8 with RFC 2047 subjects in Q and B encoding, and a hostile
 * HTML mail whose every remote reference points at `trap` (a test server
 * that counts what reaches it). Messages are Buffers of raw octets, CRLF.
 */
import { crc32 } from "crc";
import * as zlib from "node:zlib";

export interface TestMail {
  key: string;
  /** The Subject as the page must show it (decoded). */
  subject: string;
  /** The sender's display name (or address) as the list shows it. */
  from: string;
  /** Text the message view must show. */
  shows: string;
  raw: Buffer;
}

/** `text` in a legacy two-byte charset, found by asking Node's TextDecoder (WHATWG encodings) which pair decodes to each character. */
export function encodeLegacy(text: string, charset: "gbk" | "big5"): Buffer {
  const decoder = new TextDecoder(charset);
  const out: number[] = [];
  for (const ch of text) {
    if (ch.charCodeAt(0) < 0x80) {
      out.push(ch.charCodeAt(0));
      continue;
    }
    let found = false;
    for (let a = 0x81; a <= 0xfe && !found; a++) {
      for (let b = 0x40; b <= 0xfe && !found; b++) {
        if (decoder.decode(new Uint8Array([a, b])) === ch) {
          out.push(a, b);
          found = true;
        }
      }
    }
    if (!found) throw new Error(`${ch} has no ${charset} code`);
  }
  return Buffer.from(out);
}

const b64 = (b: Buffer) => b.toString("base64");
const wrap = (s: string) => s.replace(/.{1,76}/g, "$&\r\n");
/** RFC 2047 Q encoding of octets. */
const q = (b: Buffer) => Array.from(b, (c) => (c > 0x20 && c < 0x7f && c !== 0x3d && c !== 0x3f && c !== 0x5f ? String.fromCharCode(c) : c === 0x20 ? "_" : "=" + c.toString(16).toUpperCase().padStart(2, "0"))).join("");
/** Quoted-printable body (RFC 2045 6.7) of octets, lines kept. */
const qp = (b: Buffer) =>
  b
    .toString("latin1")
    .split("\r\n")
    .map((line) => q(Buffer.from(line, "latin1")).replace(/_/g, " ").replace(/.{73}(?=.)/g, "$&=\r\n"))
    .join("\r\n");

/** A small PNG (RGB, `size` pixels square, a diagonal two-colour pattern). */
export function png(size = 48): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const rows: number[] = [];
  for (let y = 0; y < size; y++) {
    rows.push(0);
    for (let x = 0; x < size; x++) rows.push(...((x + y) % 16 < 8 ? [0x2a, 0x6f, 0xdb] : [0xf5, 0xa6, 0x23]));
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(Buffer.from(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A one-page PDF, followed by every octet value (so a download that alters any byte is caught). */
export function pdf(): Buffer {
  const body = "BT /F1 18 Tf 40 90 Td (letterbox test invoice) Tj ET";
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    `<< /Length ${body.length} >>\nstream\n${body}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  let out = "%PDF-1.4\n";
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n` + offsets.map((o) => String(o).padStart(10, "0") + " 00000 n \n").join("");
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  const every = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) every[i] = i;
  return Buffer.concat([Buffer.from(out, "latin1"), Buffer.from("%"), every, Buffer.from("\n")]);
}

const DATE = "Tue, 01 Dec 2026 09:00:00 +0000";

function mail(headers: string[], body: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from(headers.join("\r\n") + "\r\n\r\n", "latin1"), typeof body === "string" ? Buffer.from(body, "latin1") : body]);
}

export const PDF_NAME = "Rechnung März.pdf";

/** The scenario's mail to `to`; remote references of the hostile one point at `trap` (an origin, e.g. http://127.0.0.1:4567). */
export function webMails(to: string, trap: string): TestMail[] {
  const out: TestMail[] = [];
  const add = (m: TestMail) => out.push(m);
  const common = (from: string, subject: string, minute: number) => [
    `From: ${from}`,
    `To: <${to}>`,
    `Subject: ${subject}`,
    `Date: ${DATE.replace("09:00", "09:" + String(minute).padStart(2, "0"))}`,
    `Message-ID: <web-${minute}@test.example>`,
    "MIME-Version: 1.0",
  ];

  add({
    key: "plain",
    subject: "Plain hello",
    from: "Bob",
    shows: "Hi Alice,\r\n\r\nthis is plain text with <b>no markup</b> & no HTML.",
    raw: mail([...common("Bob <bob@test.example>", "Plain hello", 1), "Content-Type: text/plain; charset=us-ascii"], "Hi Alice,\r\n\r\nthis is plain text with <b>no markup</b> & no HTML.\r\n"),
  });

  add({
    key: "alternative",
    subject: "Alternative parts",
    from: "Carol",
    shows: "The rich version",
    raw: mail(
      [...common('"Carol" <carol@test.example>', "Alternative parts", 2), 'Content-Type: multipart/alternative; boundary="alt1"'],
      [
        "--alt1",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "The plain version.",
        "--alt1",
        "Content-Type: text/html; charset=utf-8",
        "",
        '<html><head><style>h1 { color: #2a6fdb; }</style></head><body><h1>The rich version</h1><p style="font-size:18px">with <i>style</i>.</p></body></html>',
        "--alt1--",
        "",
      ].join("\r\n"),
    ),
  });

  const image = png();
  const doc = pdf();
  add({
    key: "cid-pdf",
    subject: "Invoice with logo",
    from: "Shop",
    shows: "Your invoice is attached",
    raw: mail(
      [...common("Shop <shop@test.example>", "Invoice with logo", 3), 'Content-Type: multipart/mixed; boundary="mix1"'],
      [
        "--mix1",
        'Content-Type: multipart/related; boundary="rel1"',
        "",
        "--rel1",
        "Content-Type: text/html; charset=utf-8",
        "",
        '<p><img src="cid:logo@test.example" alt="logo" width="48" height="48"></p><p>Your invoice is attached.</p>',
        "--rel1",
        "Content-Type: image/png",
        "Content-Transfer-Encoding: base64",
        "Content-ID: <logo@test.example>",
        'Content-Disposition: inline; filename="logo.png"',
        "",
        wrap(b64(image)),
        "--rel1--",
        "--mix1",
        "Content-Type: application/pdf",
        "Content-Transfer-Encoding: base64",
        "Content-Disposition: attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf",
        "",
        wrap(b64(doc)),
        "--mix1--",
        "",
      ].join("\r\n"),
    ),
  });

  const gb = "你好，世界：简体中文邮件";
  add({
    key: "gb2312",
    subject: gb,
    from: "李明",
    shows: "这是一封简体中文邮件。",
    raw: mail(
      [
        ...common(`=?GB2312?B?${b64(encodeLegacy("李明", "gbk"))}?= <li@test.example>`, `=?GB2312?B?${b64(encodeLegacy(gb, "gbk"))}?=`, 4),
        "Content-Type: text/plain; charset=GB2312",
        "Content-Transfer-Encoding: base64",
      ],
      wrap(b64(encodeLegacy("这是一封简体中文邮件。\r\n", "gbk"))),
    ),
  });

  // 們, 說 and 體 are in GBK, not in GB2312.
  const gbk = "我們說繁體字";
  add({
    key: "gbk",
    subject: gbk,
    from: "王芳",
    shows: "GBK 也有繁體字：我們說。",
    raw: mail(
      [...common(`=?GBK?Q?${q(encodeLegacy("王芳", "gbk"))}?= <wang@test.example>`, `=?GBK?Q?${q(encodeLegacy(gbk, "gbk"))}?=`, 5), "Content-Type: text/plain; charset=GBK", "Content-Transfer-Encoding: quoted-printable"],
      qp(encodeLegacy("GBK 也有繁體字：我們說。\r\n", "gbk")),
    ),
  });

  const big5 = "中文郵件測試";
  add({
    key: "big5",
    subject: big5,
    from: "陳大文",
    shows: "這是正體中文的郵件。",
    raw: mail(
      [...common(`=?Big5?B?${b64(encodeLegacy("陳大文", "big5"))}?= <chan@test.example>`, `=?Big5?B?${b64(encodeLegacy(big5, "big5"))}?=`, 6), "Content-Type: text/plain; charset=Big5", "Content-Transfer-Encoding: 8bit"],
      Buffer.concat([encodeLegacy("這是正體中文的郵件。", "big5"), Buffer.from("\r\n")]),
    ),
  });

  const utf = "Grüße aus Köln – 🎉 ready";
  add({
    key: "utf8",
    subject: utf,
    from: "Jürgen Groß",
    shows: "Schöne Grüße, Jürgen 🎉",
    raw: mail(
      [
        ...common(`=?UTF-8?Q?${q(Buffer.from("Jürgen Groß"))}?= <juergen@test.example>`, `=?UTF-8?Q?${q(Buffer.from(utf.slice(0, 12)))}?= =?UTF-8?B?${b64(Buffer.from(utf.slice(12)))}?=`, 7),
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: quoted-printable",
      ],
      qp(Buffer.from("Schöne Grüße, Jürgen 🎉\r\n")),
    ),
  });

  add({
    key: "hostile",
    subject: "<img src=x onerror=alert(1)> Totally safe",
    from: "<script>alert(1)</script>",
    shows: "Nothing to see here",
    raw: mail(
      [
        ...common('"<script>alert(1)</script>" <evil@test.example>', "<img src=x onerror=alert(1)> Totally safe", 8),
        "Content-Type: text/html; charset=utf-8",
      ],
      [
        "<html><head>",
        `<meta http-equiv="refresh" content="0;url=${trap}/refresh">`,
        `<link rel="stylesheet" href="${trap}/link.css">`,
        `<style>@import "${trap}/import.css"; body { background: url('${trap}/style-bg.png'); }</style>`,
        `<base href="${trap}/base/">`,
        "</head><body>",
        "<script>parent.document.title = 'pwned'; document.title = 'pwned'; fetch('" + trap + "/script');</script>",
        `<p>Nothing to see here.</p>`,
        `<img src="${trap}/pixel.gif" width="1" height="1" alt="">`,
        `<img src="x" onerror="fetch('${trap}/onerror')">`,
        `<img srcset="${trap}/srcset.png 1x, ${trap}/srcset2.png 2x" alt="">`,
        `<div style="background-image: url(${trap}/inline-bg.png)">styled</div>`,
        `<div style='background-image: image-set("${trap}/image-set.png" 1x)'>image-set</div>`,
        `<table background="${trap}/table-bg.png"><tr><td>cell</td></tr></table>`,
        `<video poster="${trap}/poster.png"></video>`,
        `<svg><image href="${trap}/svg-image.png" width="10" height="10"/></svg>`,
        `<iframe src="${trap}/iframe"></iframe>`,
        `<object data="${trap}/object"></object>`,
        `<form action="${trap}/form"><input name="q" value="x"></form>`,
        `<a href="javascript:fetch('${trap}/js-link')">a javascript: link</a>`,
        `<a href="${trap}/tracked-link" ping="${trap}/ping">a link</a>`,
        "</body></html>",
        "",
      ].join("\r\n"),
    ),
  });
  return out;
}
