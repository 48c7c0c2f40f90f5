#!/usr/bin/env python3
"""Runs a script of Python imaplib calls against an IMAP server.

Reads JSON from standard input: {"port": N, "ops": [[method, arg, ...], ...]},
where each op is a call of an imaplib.IMAP4 method (login, select, append,
uid, store, response, ...) with its arguments; an argument {"b": base64} is
passed as bytes. Prints JSON: the server's capabilities and, per op, imaplib's
(type, data) with every bytes value as {"b": base64}. An exception (imaplib
raises on BAD, and on a NO to LOGIN) ends the script with exit code 1.
"""
import base64
import imaplib
import json
import sys


def encode(value):
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(value):
    if isinstance(value, dict) and "b" in value:
        return base64.b64decode(value["b"])
    return value


request = json.load(sys.stdin)
imap = imaplib.IMAP4("127.0.0.1", request["port"], timeout=30)
results = []
for op in request["ops"]:
    name, args = op[0], [decode(a) for a in op[1:]]
    typ, data = getattr(imap, name)(*args)
    results.append([typ, encode(data)])
print(json.dumps({"capabilities": sorted(imap.capabilities), "results": results}))
