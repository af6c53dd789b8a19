"""The SMTP transaction the transport writes itself: PIPELINING (RFC 2920),
dot-stuffing, and the replies of relays that refuse part of a pipelined group.

aiosmtpd (tests/delivery/test_smtp_transport.py) checks the common paths;
the relays here are scripted socket peers, because the edge cases (a 421
then a closed socket, a DATA accepted after a refused RCPT) are what real
servers do rarely and aiosmtpd never does.
"""

from __future__ import annotations

import smtplib
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.delivery.relay import parse_smtp_url
from mailer.delivery.smtp import FailureKind, SmtpTransport, TransportError, wire_data
from mailer.embedded.smtp_sink import SmtpSink

MESSAGE = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: t\r\n\r\n.hello\r\n..x\r\n"

lines = st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")))


@given(lines, st.booleans())
def test_wire_data_matches_smtplib(parts: list[bytes], final_crlf: bool) -> None:
    data = b"\r\n".join(parts) + (b"\r\n" if final_crlf else b"")
    expected = smtplib._quote_periods(data)  # what smtplib.SMTP.data sends
    if not expected.endswith(b"\r\n"):
        expected += b"\r\n"
    assert wire_data(data) == expected + b".\r\n"


def test_many_dots_fall_back_to_a_full_search() -> None:
    body = b"x." * 100 + b"\r\n.end\r\n"
    assert wire_data(body) == b"x." * 100 + b"\r\n..end\r\n.\r\n"
    assert wire_data(b"x." * 100 + b"\r\n") == b"x." * 100 + b"\r\n.\r\n"


@pytest.mark.parametrize("pipelining", [True, False])
def test_both_ways_deliver_the_same_bytes(tmp_path: Path, pipelining: bool) -> None:
    with SmtpSink(tmp_path / "o", pipelining=pipelining) as sink:
        t = SmtpTransport(parse_smtp_url(sink.url), timeout=5)
        for n in range(3):
            t.send("bounce@example.com", f"r{n}@example.org", MESSAGE)
        assert t._pipelined is pipelining
        t.close()
    assert [a.recipients for a in sink.accepted] == [(f"r{n}@example.org",) for n in range(3)]
    assert {a.data for a in sink.accepted} == {MESSAGE}


def test_a_non_ascii_address_fails_that_row_only(tmp_path: Path) -> None:
    with SmtpSink(tmp_path / "o") as sink:
        t = SmtpTransport(parse_smtp_url(sink.url), timeout=5)
        with pytest.raises(TransportError) as err:
            t.send("bounce@example.com", "高橋@example.org", MESSAGE)
        assert err.value.kind is FailureKind.PERMANENT
        t.send("bounce@example.com", "ok@example.org", MESSAGE)
        t.close()
    assert len(sink.accepted) == 1


Reply = Callable[[bytes], list[bytes] | None]
EndReply = Callable[[bytes], list[bytes] | None]


def _accept_all(message: bytes) -> list[bytes]:
    return [b"250 2.0.0 queued"]


@contextmanager
def scripted_relay(reply: Reply, end: EndReply = _accept_all) -> Iterator[tuple[int, list[bytes]]]:
    """An SMTP peer: `reply(line)` gives the reply lines for each command line
    and `end(message)` those for each message's end of data (None: close the
    socket). Serves connections one after another; records what each recv got."""
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.sendall(b"220 scripted ESMTP\r\n")
            buf, data, in_data = b"", b"", False
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                received.append(chunk)
                buf += chunk
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    if in_data:
                        if line != b".":
                            data += line + b"\r\n"
                            continue
                        in_data, out = False, end(data)
                        data = b""
                    else:
                        out = reply(line)
                        in_data = bool(out) and out[-1].startswith(b"354")
                    if out is None:
                        return
                    conn.sendall(b"".join(r + b"\r\n" for r in out))

    stop = threading.Event()
    server.settimeout(0.05)  # accept() is not woken by close(): poll for the end

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            serve(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], received
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def ehlo_or(rest: Reply) -> Reply:
    def reply(line: bytes) -> list[bytes] | None:
        verb = line[:4].upper()  # smtplib writes "ehlo", "rset", "quit"
        if verb == b"EHLO":
            return [b"250-scripted", b"250-PIPELINING", b"250 8BITMIME"]
        if verb in (b"RSET", b"QUIT"):
            return [b"250 OK" if verb == b"RSET" else b"221 bye"]
        return rest(line)

    return reply


def _transport(port: int) -> SmtpTransport:
    return SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{port}"), timeout=5)


def test_mail_rcpt_and_data_leave_in_one_write() -> None:
    def rest(line: bytes) -> list[bytes]:
        return [b"354 go on"] if line == b"DATA" else [b"250 OK"]

    with scripted_relay(ehlo_or(rest)) as (port, received):
        t = _transport(port)
        t.send("bounce@example.com", "cio@example.org", MESSAGE)
        t.close()
    assert b"MAIL FROM:<bounce@example.com>\r\nRCPT TO:<cio@example.org>\r\nDATA\r\n" in received


def test_refused_rcpt_then_accepted_data_is_not_sent() -> None:
    """A server that says 354 after refusing the only RCPT gets an empty
    message; the transport reports the RCPT refusal and the connection lives."""

    def rest(line: bytes) -> list[bytes]:
        if line.startswith(b"RCPT TO:<gone@"):
            return [b"550 5.1.1 no such user"]
        return [b"354 go on"] if line == b"DATA" else [b"250 OK"]

    with scripted_relay(ehlo_or(rest)) as (port, received):
        t = _transport(port)
        with pytest.raises(TransportError) as err:
            t.send("bounce@example.com", "gone@example.org", MESSAGE)
        t.send("bounce@example.com", "cio@example.org", MESSAGE)
        t.close()
    assert (err.value.kind, err.value.code) == (FailureKind.PERMANENT, 550)
    sent = b"".join(received)
    assert sent.count(b"hello") == 1  # only the second message's data went out


def test_421_at_mail_then_closed_backs_off_the_relay() -> None:
    def rest(line: bytes) -> list[bytes] | None:
        if line.startswith(b"MAIL"):
            return [b"421 4.3.2 shutting down"]
        return None  # closes before answering RCPT and DATA

    with scripted_relay(ehlo_or(rest)) as (port, _):
        t = _transport(port)
        with pytest.raises(TransportError) as err:
            t.send("bounce@example.com", "cio@example.org", MESSAGE)
    assert (err.value.kind, err.value.code) == (FailureKind.RELAY, 421)
    assert t._conn is None


def test_connection_lost_before_any_reply_is_not_ambiguous() -> None:
    with scripted_relay(ehlo_or(lambda line: None)) as (port, _):
        t = _transport(port)
        with pytest.raises(TransportError) as err:
            t.send("bounce@example.com", "cio@example.org", MESSAGE)
    assert err.value.kind is FailureKind.RELAY


def _ok(line: bytes) -> list[bytes]:
    return [b"354 go on"] if line == b"DATA" else [b"250 OK"]


def message(n: int) -> bytes:
    return b"From: a@example.com\r\nTo: b@example.org\r\nSubject: t\r\n\r\nmessage %d\r\n" % n


def test_one_write_per_message_carries_the_previous_data_and_the_next_commands() -> None:
    with scripted_relay(ehlo_or(_ok)) as (port, received):
        t = _transport(port)
        assert t.submit(1, "bounce@example.com", "r1@example.org", message(1)) == []
        assert t.submit(2, "bounce@example.com", "r2@example.org", message(2)) == [(1, None)]
        assert t.drain() == [(2, None)]
        t.close()
    # the second write: message 1's data with its end, then message 2's commands
    assert received[2] == (
        message(1) + b".\r\nMAIL FROM:<bounce@example.com>\r\nRCPT TO:<r2@example.org>\r\nDATA\r\n"
    )


def test_a_message_refused_after_its_data_does_not_disturb_the_next() -> None:
    def end(data: bytes) -> list[bytes]:
        return [b"554 5.7.1 content rejected"] if b"message 1" in data else [b"250 OK"]

    with scripted_relay(ehlo_or(_ok), end) as (port, _):
        t = _transport(port)
        got = t.submit(1, "bounce@example.com", "r1@example.org", message(1))
        got += t.submit(2, "bounce@example.com", "r2@example.org", message(2))
        got += t.drain()
        t.close()
    (tag1, err1), (tag2, err2) = got
    assert (tag1, tag2, err2) == (1, 2, None)
    assert err1 is not None and (err1.kind, err1.code) == (FailureKind.PERMANENT, 554)


def test_a_connection_lost_after_data_is_ambiguous_and_the_next_goes_on_a_new_one() -> None:
    def end(data: bytes) -> list[bytes] | None:
        return None if b"message 1" in data else [b"250 OK"]  # 1: close, no reply

    with scripted_relay(ehlo_or(_ok), end) as (port, received):
        t = _transport(port)
        got = t.submit(1, "bounce@example.com", "r1@example.org", message(1))
        got += t.submit(2, "bounce@example.com", "r2@example.org", message(2))
        got += t.drain()
        t.close()
    (tag1, err1), (tag2, err2) = got
    assert err1 is not None and err1.kind is FailureKind.AMBIGUOUS and tag1 == 1
    assert (tag2, err2) == (2, None)
    assert sum(chunk.count(b"message 2") for chunk in received) == 1


def test_a_421_after_data_sends_both_messages_to_the_next_relay() -> None:
    from mailer.delivery.relays import RelayPool

    class Health:
        def __init__(self) -> None:
            self.down: set[str] = set()

        def is_down(self, relay: str) -> bool:
            return relay in self.down

        def mark_down(self, relay: str, seconds: float) -> None:
            self.down.add(relay)

    def closing(data: bytes) -> list[bytes]:
        return [b"421 4.3.2 shutting down"]

    with (
        scripted_relay(ehlo_or(_ok), closing) as (first, _),
        scripted_relay(ehlo_or(_ok)) as (second, received),
    ):
        health = Health()
        pool = RelayPool([_transport(first), _transport(second)], health, backoff_seconds=30)
        got = pool.submit(1, "bounce@example.com", "r1@example.org", message(1))
        got += pool.submit(2, "bounce@example.com", "r2@example.org", message(2))
        got += pool.drain()
        pool.close()
    assert sorted((h.tag, h.relay, h.error) for h in got) == [
        (1, f"127.0.0.1:{second}", None),
        (2, f"127.0.0.1:{second}", None),
    ]
    assert health.down == {f"127.0.0.1:{first}"}
    sent = b"".join(received)
    assert sent.count(b"message 1") == sent.count(b"message 2") == 1


def test_a_message_failing_over_while_draining_to_a_relay_drained_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first relay is down when the message is handed over, so it goes to
    the second; the second answers its data with 421 while the pool drains,
    and by then the first is back: the message goes there, and the drain
    goes round again to read its reply."""
    from mailer.delivery import relays
    from mailer.delivery.relays import RelayPool

    monkeypatch.setattr(relays, "HEALTH_CACHE_SECONDS", 0.0)

    def closing(data: bytes) -> list[bytes]:
        return [b"421 4.3.2 shutting down"]

    with (
        scripted_relay(ehlo_or(_ok)) as (first, received),
        scripted_relay(ehlo_or(_ok), closing) as (second, _),
    ):
        down = {f"127.0.0.1:{first}"}

        class Health:
            def is_down(self, relay: str) -> bool:
                return relay in down

            def mark_down(self, relay: str, seconds: float) -> None:
                down.clear()  # the first relay is back as the second goes
                down.add(relay)

        pool = RelayPool([_transport(first), _transport(second)], Health(), backoff_seconds=30)
        assert pool.submit(1, "bounce@example.com", "r1@example.org", message(1)) == []
        got = pool.drain()
        pool.close()
    assert [(h.tag, h.relay, h.error) for h in got] == [(1, f"127.0.0.1:{first}", None)]
    assert b"".join(received).count(b"message 1") == 1
