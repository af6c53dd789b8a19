"""Classify one message that reached the bounce domain (pure: bytes in, result out).

Order of questions, most certain first: was it sent to an unsubscribe address;
is it an ARF complaint; is it a DSN; is it an auto-reply; does it look like a
bounce in some older free-text format (flufl.bounce's heuristics). Anything
else is `unknown`.

Which delivery a message is about is never guessed: it comes from the VERP
envelope recipient, or else from references inside the report that carry our
own MAC (the original's Return-Path, our Message-ID, Postfix's
X-Postfix-Sender, ARF's Original-Mail-From). When those disagree, or there are
none, `delivery_id` is None and nothing is done to any subscriber.
"""

from __future__ import annotations

import email
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from email import policy
from email.message import Message
from email.utils import getaddresses
from enum import StrEnum

from flufl.bounce import all_failures

from mailer.bounces.policy import is_soft_status
from mailer.bounces.reports import (
    STATUS_RE,
    address_of,
    delivery_status_parts,
    feedback_report,
    header,
    is_report,
    original_headers,
    smtp_code,
    status_code,
    text_of,
)
from mailer.delivery.verp import MIN_SECRET_BYTES, parse_return_path
from mailer.tokens import message_id, read_unsubscribe_token


class InboundKind(StrEnum):
    DSN_HARD = "dsn-hard"
    DSN_SOFT = "dsn-soft"
    COMPLAINT = "complaint"
    UNSUBSCRIBE_REQUEST = "unsubscribe-request"
    AUTOREPLY = "autoreply"
    UNKNOWN = "unknown"



#: ARF feedback types that are a recipient's complaint (not auth-failure, not-spam…)
COMPLAINT_TYPES = frozenset({"abuse", "fraud"})

AUTOREPLY_SUBJECT = re.compile(
    r"自動応答|自動返信|自動送信|不在|out of (the )?office|automatic reply|auto[- ]?reply"
    r"|auto[- ]?response|autoreply|vacation|abwesenheit|réponse automatique",
    re.IGNORECASE,
)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery status notification|returned mail|delivery fail"
    r"|mail delivery failed|failure notice|non[- ]?delivery|配信不能|配送エラー|送信エラー"
    r"|配信エラー|宛先不明",
    re.IGNORECASE,
)
#: local parts a mail system or a mail-security gateway sends its notices from
#: (Trend Micro IMSS as imss@, MDaemon as MDaemon@, and postmaster variants)
DAEMONS = frozenset({
    "mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "mdaemon", "imss",
    "imsva", "mail-postmaster", "postmaster-daemon", "mailadmin", "mail.delivery.system",
})
#: display names that mark a mail system whatever its address
DAEMON_NAMES = re.compile(
    r"^(mail delivery (sub)?system|mailer[- ]daemon|postmaster|mail administrator"
    r"|mdaemon|.*\bmail delivery\b.*)$",
    re.IGNORECASE,
)
#: a warning that delivery is late and still being tried (Exim, Sendmail, Postfix, Domino…)
DELAY_SUBJECT = re.compile(
    r"warning: message .* delayed|delayed mail|delivery (status notification )?\(delay\)"
    r"|delivery delayed|still being retried|配信遅延|配送遅延",
    re.IGNORECASE,
)
DELAY_TEXT = re.compile(
    r"has not yet been delivered|not been delivered .* after|will (continue to )?(be )?"
    r"retr(y|ied)|delivery attempts will continue|no action is required on your part",
    re.IGNORECASE,
)
_OUR_MESSAGE_ID = re.compile(r"<(\d+)\.(\d+)\.([0-9a-f]{10})@([^<>\s@]+)>")
_SMTP_REPLY = re.compile(r"(?:^\s*|said:\s*|error[^:]*:\s*|reply:\s*)([45]\d\d)(?:[\s-]|$)",
                         re.IGNORECASE)
_VERP_ADDRESS = re.compile(r"bounces\+[0-9a-z]+@[0-9a-z.-]+", re.IGNORECASE)


@dataclass(frozen=True)
class InboundResult:
    """What one inbound message is, and which delivery or subscriber it concerns."""

    kind: InboundKind
    delivery_id: int | None = None
    matched_by: str = ""  # verp, return-path, message-id, x-postfix-sender, …
    recipient: str = ""  # the failed or complaining address as the report gives it
    status: str = ""  # enhanced status code, e.g. "5.1.1"; "" when none was given
    diagnostic: str = ""
    subscriber_id: int | None = None  # unsubscribe-request: from the token
    list_id: int | None = None  # unsubscribe-request: None means every list
    note: str = ""  # why: "no delivery reference", "feedback-type not-spam", …

    @property
    def summary(self) -> str:
        """Return one line for people: kind, code, address, match, diagnostic."""
        bits = [self.kind.value]
        if self.status:
            bits.append(self.status)
        if self.recipient:
            bits.append(self.recipient)
        if self.delivery_id is not None:
            bits.append(f"delivery {self.delivery_id} ({self.matched_by})")
        if self.subscriber_id is not None and self.delivery_id is None:
            bits.append(f"subscriber {self.subscriber_id}")
        text = " ".join(bits)
        if self.diagnostic:
            text += f": {self.diagnostic}"
        if self.note:
            text += f" [{self.note}]"
        return text[:1000]


def classify_inbound(
    raw: bytes, *, rcpt_to: str, secret: bytes, secrets: list[str]
) -> InboundResult:
    """Return what `raw` (one message as received at `rcpt_to`) is.

    `secret` is the VERP secret (the newest key); `secrets` are every accepted
    key (they verify unsubscribe tokens and Message-IDs, and older VERP
    addresses after a key rotation). Never raises on malformed input: anything
    unreadable is `unknown`.
    """
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    local = rcpt_to.strip().strip("<>").rpartition("@")[0]
    if local.lower().startswith("unsubscribe+"):
        return _unsubscribe(local[len("unsubscribe+"):], secrets)

    keys = _verp_keys(secret, secrets)
    envelope_id = _verp_id(rcpt_to, keys)
    result = _read(msg)
    if envelope_id is not None:
        return replace(result, delivery_id=envelope_id, matched_by="verp")
    found = _references(msg, raw, keys, secrets)
    ids = {d for _, d in found}
    if len(ids) == 1:
        return replace(result, delivery_id=found[0][1], matched_by=found[0][0])
    note = "conflicting delivery references" if ids else "no delivery reference"
    return replace(result, note=f"{result.note}; {note}" if result.note else note)


def _unsubscribe(token: str, secrets: list[str]) -> InboundResult:
    read = read_unsubscribe_token(secrets, token)
    if read is None:
        return InboundResult(InboundKind.UNSUBSCRIBE_REQUEST, note="token not valid")
    subscriber_id, list_id = read
    return InboundResult(
        InboundKind.UNSUBSCRIBE_REQUEST, subscriber_id=subscriber_id, list_id=list_id,
        matched_by="token",
    )


def _read(msg: Message) -> InboundResult:
    """Return the kind and failure details, without the delivery."""
    report = feedback_report(msg)
    if report is not None or is_report(msg, "feedback-report"):
        return _complaint(msg, report or {})
    dsn = _dsn(msg)
    if dsn is not None:
        return dsn
    # Mail systems mark their bounces "Auto-Submitted: auto-replied" too
    # (Postfix, Exim), so a free-text bounce is looked for before an auto-reply.
    looks_like_bounce = _looks_like_bounce(msg)
    bounce = _heuristic_bounce(msg) if looks_like_bounce else None
    if looks_like_bounce and _is_delay_warning(msg):
        return _delay_warning(msg, bounce)
    if bounce is not None and bounce.kind is not InboundKind.UNKNOWN:
        return bounce
    auto = _autoreply_reason(msg)
    if auto:
        return InboundResult(InboundKind.AUTOREPLY, note=auto)
    return bounce or InboundResult(InboundKind.UNKNOWN)


def _complaint(msg: Message, report: dict[str, str]) -> InboundResult:
    feedback_type = report.get("feedback-type", "").lower()
    original = original_headers(msg)
    recipient = address_of(report.get("original-rcpt-to", ""))
    if not recipient and original is not None:
        recipient = address_of(header(original, "To"))
    agent = report.get("user-agent", "")
    note = f"feedback-type {feedback_type or 'missing'}" + (f" from {agent}" if agent else "")
    kind = InboundKind.COMPLAINT if feedback_type in COMPLAINT_TYPES else InboundKind.UNKNOWN
    return InboundResult(kind, recipient=recipient, note=note)


def _is_soft(status: str) -> bool:
    # The one rule, shared with SMTP-time rejections (mailer.bounces.policy).
    return is_soft_status(status)


def _dsn(msg: Message) -> InboundResult | None:
    """Return the DSN reading, or None when `msg` has no delivery-status part."""
    parts = delivery_status_parts(msg)
    if not parts:
        return None
    hard: list[tuple[str, str, str]] = []
    soft: list[tuple[str, str, str]] = []
    for part in parts:
        for r in part.recipients:
            status = r.status or status_code(r.diagnostic)
            if r.action in ("failed", "error"):
                if not status:
                    code = smtp_code(r.diagnostic)
                    status = f"{code[0]}.0.0" if code else "5.0.0"
                (soft if _is_soft(status) else hard).append((r.recipient, status, r.diagnostic))
            elif r.action == "delayed" or (not r.action and status.startswith("4.")):
                soft.append((r.recipient, status or "4.0.0", r.diagnostic))
    if hard:
        recipient, status, diagnostic = hard[0]
        return InboundResult(InboundKind.DSN_HARD, recipient=recipient, status=status,
                             diagnostic=diagnostic[:500])
    if soft:
        recipient, status, diagnostic = soft[0]
        return InboundResult(InboundKind.DSN_SOFT, recipient=recipient, status=status,
                             diagnostic=diagnostic[:500])
    # A delivery-status part that reports no failure we can read: success
    # notices, or a block without Action. flufl.bounce may still see one.
    heuristic = _heuristic_bounce(msg)
    if heuristic.kind is not InboundKind.UNKNOWN:
        return heuristic
    actions = sorted({r.action or "none" for p in parts for r in p.recipients})
    return InboundResult(InboundKind.UNKNOWN,
                         note=f"delivery report, action {', '.join(actions) or 'none'}")


def _autoreply_reason(msg: Message) -> str:
    auto_submitted = header(msg, "Auto-Submitted").lower()
    if auto_submitted.startswith("auto-replied"):
        return "Auto-Submitted: auto-replied"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = header(msg, name).lower()
        if value and value not in ("no", "false", "0"):
            return f"{name}: {value}"
    if header(msg, "Precedence").lower() in ("auto_reply", "auto-reply"):
        return "Precedence: auto_reply"
    subject = header(msg, "Subject")
    if AUTOREPLY_SUBJECT.search(subject):
        return f"subject: {subject[:80]}"
    return ""


def _from_mail_system(msg: Message) -> bool:
    """Return True when From: names a mail system, read with the standard
    library's address parser (`Mail Delivery System <MAILER-DAEMON@…>`,
    `"Postmaster" <postmaster@…>`, `imss@…`, `MDaemon@…`)."""
    for name, address in getaddresses([header(msg, "From")]):
        local = address.rpartition("@")[0] or address
        if local.strip().lower() in DAEMONS:
            return True
        if name and DAEMON_NAMES.match(name.strip()):
            return True
    return False


def _is_delay_warning(msg: Message) -> bool:
    if DELAY_SUBJECT.search(header(msg, "Subject")):
        return True
    return bool(DELAY_TEXT.search(text_of(msg)[:4000]))


def _delay_warning(msg: Message, heuristic: InboundResult | None) -> InboundResult:
    """A notice that delivery is late and still being tried: soft, whatever
    code it quotes (a 5xx in a delay warning is the last attempt's reply)."""
    recipient = heuristic.recipient if heuristic is not None else ""
    if not recipient:
        recipient = header(msg, "X-Failed-Recipients").split(",")[0].strip()
    if not recipient:
        recipient = _only_address(msg, _notice(text_of(msg)))
    status, diagnostic = _status_in_text(text_of(msg))
    if not status.startswith("4."):
        status = "4.0.0"
    return InboundResult(InboundKind.DSN_SOFT, recipient=recipient, status=status,
                         diagnostic=diagnostic, note="delay warning")


#: the line after which a notice quotes our message (Exim, qmail, gateways,
#: GroupWise, Japanese ISPs)
_QUOTE_START = re.compile(
    r"^.*(?:-{2,}.*(?:copy|original|header|ヘッダ|元のメッセージ)|original message follows"
    r"|below this line).*$",
    re.IGNORECASE | re.MULTILINE,
)


def _notice(text: str) -> str:
    """The notice itself, without the copy of our message that follows it."""
    return _QUOTE_START.split(text, maxsplit=1)[0]


def _looks_like_bounce(msg: Message) -> bool:
    """Return True for messages from a mail system about a failure: only then
    are flufl.bounce's free-text heuristics trusted."""
    if _from_mail_system(msg):
        return True
    if header(msg, "X-Failed-Recipients"):
        return True
    if header(msg, "Auto-Submitted").lower().startswith("auto-generated"):
        return True
    return bool(BOUNCE_SUBJECT.search(header(msg, "Subject")))


def _heuristic_bounce(msg: Message) -> InboundResult:
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector choking on a malformed message is "unknown"
        return InboundResult(InboundKind.UNKNOWN, note="bounce detectors failed")
    addresses = sorted(permanent) or sorted(temporary)
    text = text_of(msg)
    status, diagnostic = _status_in_text(text)
    if addresses:
        recipient = addresses[0].decode("ascii", errors="replace")
    else:
        # flufl.bounce knows no format for this notice (gateways, Japanese
        # ISPs): accept it only with a failure code and exactly one address.
        recipient = _only_address(msg, _notice(text)) if status else ""
        if not recipient:
            return InboundResult(InboundKind.UNKNOWN,
                                 note="looks like a bounce; no recipient found")
    if not status:
        status = "5.0.0" if permanent else "4.0.0"
    kind = InboundKind.DSN_SOFT if _is_soft(status) else InboundKind.DSN_HARD
    return InboundResult(kind, recipient=recipient, status=status, diagnostic=diagnostic,
                         note="free-text bounce")


_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _only_address(msg: Message, notice: str) -> str:
    """The one address a notice names, besides its sender and us; else ""."""
    ignore = {a.lower() for _, a in getaddresses([header(msg, "From"), header(msg, "To")])}
    found = {
        a.lower() for a in _ADDRESS.findall(notice)
        if a.lower() not in ignore and not _VERP_ADDRESS.fullmatch(a)
        and not _OUR_MESSAGE_ID.fullmatch(f"<{a}>")
    }
    return found.pop() if len(found) == 1 else ""


def _status_in_text(text: str) -> tuple[str, str]:
    """Return (status, the line it is on) for the first failure code in a
    free-text bounce: an enhanced code, or a basic SMTP code as X.0.0."""
    for line in text.splitlines():
        m = STATUS_RE.search(line)
        if m and m.group(1) in "45":
            return ".".join(m.groups()), line.strip()[:500]
    for line in text.splitlines():
        m = _SMTP_REPLY.search(line)
        if m:
            return f"{m.group(1)[0]}.0.0", line.strip()[:500]
    return "", ""


# -- delivery references --------------------------------------------------------


def _verp_keys(secret: bytes, secrets: Iterable[str]) -> list[bytes]:
    keys = [secret, *(s.encode() for s in reversed(list(secrets)))]
    unique = list(dict.fromkeys(keys))
    return [k for k in unique if len(k) >= MIN_SECRET_BYTES]


def _verp_id(address: str, keys: list[bytes]) -> int | None:
    for key in keys:
        found = parse_return_path(address, secret=key)
        if found is not None:
            return found
    return None


def _our_message_id(value: str, secrets: list[str]) -> int | None:
    m = _OUR_MESSAGE_ID.search(value)
    if not m:
        return None
    part_id, delivery_id, domain = int(m.group(1)), int(m.group(2)), m.group(4)
    for key in secrets:
        expected = message_id(delivery_id=delivery_id, part_id=part_id, secret=key,
                              domain=domain)
        if hmac.compare_digest(expected, m.group(0)):
            return delivery_id
    return None


def _references(
    msg: Message, raw: bytes, keys: list[bytes], secrets: list[str]
) -> list[tuple[str, int]]:
    """Return (where, delivery id) for every verified reference in a report,
    structured fields first; the whole text is searched only when they have none."""
    found: list[tuple[str, int]] = []

    def add(where: str, delivery_id: int | None) -> None:
        if delivery_id is not None:
            found.append((where, delivery_id))

    original = original_headers(msg)
    if original is not None:
        add("return-path", _verp_id(address_of(header(original, "Return-Path")), keys))
        add("message-id", _our_message_id(header(original, "Message-ID"), secrets))
    for part in delivery_status_parts(msg):
        add("x-postfix-sender", _verp_id(address_of(part.fields.get("x-postfix-sender", "")),
                                         keys))
        add("x-original-message-id",
            _our_message_id(part.fields.get("x-original-message-id", ""), secrets))
    report = feedback_report(msg)
    if report:
        add("original-mail-from", _verp_id(address_of(report.get("original-mail-from", "")),
                                           keys))
    if found:
        return found
    text = raw.decode("utf-8", errors="replace")
    for m in _VERP_ADDRESS.finditer(text):
        add("text", _verp_id(m.group(0), keys))
    for m in _OUR_MESSAGE_ID.finditer(text):
        add("text", _our_message_id(m.group(0), secrets))
    return found
