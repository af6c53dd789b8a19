"""What one SMTP transaction costs the sender and the sink, by way of sending.

Run: .venv/bin/python benchmarks/bench_smtp_transaction.py [N]   (default 20000)

One process sends N copies of an 18 KB message (a base64 body, like the
product's 20 KB part) to Postfix's smtp-sink over one connection, three ways:

* smtplib: `SMTP.sendmail`, as the bench's ceiling does (MAIL, RCPT, DATA
  and the data each wait for their reply: four round trips, and smtplib's
  dot-stuffing regex over the message);
* one by one: the product's SmtpTransport against a relay that does not
  offer PIPELINING (`pipelining=False`): four round trips, no regex;
* pipelined: the product's SmtpTransport as it runs (`submit`/`drain`): the
  previous message's data and this message's MAIL, RCPT and DATA in one
  write, their four replies read together: one round trip a message.

Prints messages per second and the CPU per message of this process and of
the sink (both on the same two CPUs).
"""

from __future__ import annotations

import base64
import os
import random
import smtplib
import sys
import time

from mailer.bench.services import start_sink
from mailer.bench.stats import cpu_seconds
from mailer.delivery.relay import RelayConfig
from mailer.delivery.smtp import SmtpTransport

FROM = "bounces+1a2b3c@mailer.example.jp"


def message() -> bytes:
    body = base64.encodebytes(random.Random(7).randbytes(13_000)).replace(b"\n", b"\r\n")
    return (
        b"From: CIO Forum <cio@mailer.example.jp>\r\nTo: cio@city.example.jp\r\n"
        b"Subject: test\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n'
        b"\r\n" + body
    )


def run(way: str, n: int, host: str, port: int, data: bytes) -> None:
    if way == "smtplib":
        conn = smtplib.SMTP(host, port)
        conn.ehlo()
        for i in range(n):
            conn.sendmail(FROM, [f"cio{i:07d}@city.example.jp"], data)
        conn.quit()
        return
    transport = SmtpTransport(RelayConfig("smtp", host, port), pipelining=way == "pipelined")
    refused = 0
    for i in range(n):
        refused += sum(
            e is not None for _, e in transport.submit(i, FROM, f"cio{i:07d}@city.example.jp", data)
        )
    refused += sum(e is not None for _, e in transport.drain())
    transport.close()
    if refused:
        raise SystemExit(f"{way}: {refused} messages refused")


def main(n: int) -> None:
    data = message()
    sink = start_sink("postfix")
    try:
        if sink.pid is None:
            raise SystemExit("Postfix's smtp-sink is needed (apt-get install -y postfix)")
        print(f"{n} messages of {len(data) / 1024:.1f} KB, one connection each way")
        for way in ("smtplib", "one by one", "pipelined"):
            sink0, cpu0, t0 = cpu_seconds(sink.pid), os.times(), time.perf_counter()
            run(way, n, sink.host, sink.port, data)
            t1, cpu1, sink1 = time.perf_counter(), os.times(), cpu_seconds(sink.pid)
            mine = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / n * 1e6
            print(
                f"  {way:11s} {n / (t1 - t0):7,.0f} msg/s   sender {mine:5.0f} µs/msg"
                f"   sink {(sink1 - sink0) / n * 1e6:5.0f} µs/msg"
            )
    finally:
        sink.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
