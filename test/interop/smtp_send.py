#!/usr/bin/env python3
"""Sends the message on standard input, unchanged, with Python's smtplib."""
import argparse
import smtplib
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--sender", required=True)
parser.add_argument("recipients", nargs="+")
args = parser.parse_args()

message = sys.stdin.buffer.read()
with smtplib.SMTP("127.0.0.1", args.port, local_hostname="python.client.example", timeout=20) as smtp:
    refused = smtp.sendmail(args.sender, args.recipients, message, mail_options=["BODY=8BITMIME"])
if refused:
    sys.exit("refused: %r" % refused)
