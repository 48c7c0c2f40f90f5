#!/usr/bin/env python3
"""Fetches every message of a POP3 maildrop with Python's poplib.

Writes each message to OUTDIR/<n>.eml exactly as poplib hands it over (lines
joined with CRLF), and prints the listing as JSON: the count and octets from
STAT, and each message's LIST size and UIDL id.
"""
import argparse
import json
import os
import poplib

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--user", required=True)
parser.add_argument("--password", required=True)
parser.add_argument("--apop", action="store_true", help="log in with APOP instead of USER/PASS")
parser.add_argument("--delete", action="store_true", help="delete the messages after retrieving them")
parser.add_argument("--outdir", required=True)
args = parser.parse_args()

pop = poplib.POP3("127.0.0.1", args.port, timeout=20)
if args.apop:
    pop.apop(args.user, args.password)
else:
    pop.user(args.user)
    pop.pass_(args.password)
count, octets = pop.stat()
sizes = {}
for entry in pop.list()[1]:
    number, size = entry.split()
    sizes[int(number)] = int(size)
uids = {}
for entry in pop.uidl()[1]:
    number, uid = entry.split()
    uids[int(number)] = uid.decode("ascii")
for n in range(1, count + 1):
    _, lines, _ = pop.retr(n)
    with open(os.path.join(args.outdir, "%d.eml" % n), "wb") as f:
        f.write(b"\r\n".join(lines) + b"\r\n")
    if args.delete:
        pop.dele(n)
pop.quit()
print(json.dumps({"count": count, "octets": octets, "sizes": sizes, "uids": uids}))
