"""The one declaration of a subscriber's fields.

Every place that lists subscriber fields derives its list from `FIELDS`: the
CSV importer (the headers it accepts, how a cell is checked), the CSV export
(header and cells), the admin form (inputs, labels, choices), the API's
request and response models and the listings (read models). Adding a field
is a `SubscriberField` here, a column on `mailer.models.Subscriber` and an
Alembic migration; docs/architecture.md has the steps.

A field's rules are the importer's, so a subscriber typed in by hand could
have come from a file and the other way round: control characters and
private-use characters (Windows 外字) are refused, text is at most
`max_length` characters, and each field's normaliser gives the stored form.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from email_validator import EmailNotValidError, validate_email

from mailer.addresses import email_problem
from mailer.i18n import N_, _
from mailer.labels import SUBSCRIBER_LABELS
from mailer.models import SubscriberStatus
from mailer.textcheck import BIDI_CONTROLS

MAX_TEXT = 200  # characters of a name, organisation, title or roles cell

KINDS = ("都", "特別区", "市", "町", "村")
#: KINDS as the catalogue lists them in a message (they are the values to type,
#: so the English keeps them; tests check that the two agree)
KIND_CHOICES = N_("都、特別区、市、町、村")
#: accepted spellings of a format, keyed as header_key() leaves them
FORMATS = {"html": "html", "html形式": "html", "text": "text", "テキスト": "text",
           "テキスト形式": "text", "plain": "text"}
# Keys as header_key() leaves them (no "-"): "UTF-8" -> "utf8".
CHARSETS = {"utf8": "utf-8", "iso2022jp": "iso-2022-jp", "jis": "iso-2022-jp"}
#: How the export writes format and charset (what admins see in Excel and the form).
FORMAT_LABELS = {"html": "HTML", "text": "テキスト"}
CHARSET_LABELS = {"utf-8": "UTF-8", "iso-2022-jp": "ISO-2022-JP"}
STATUS_LABELS = SUBSCRIBER_LABELS

# Full-width ASCII (U+FF01-U+FF5E) and the ideographic space map to ASCII:
# exactly what NFKC does to them, without touching anything else in an address.
_FULL_WIDTH_ASCII = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


class BadValue(ValueError):
    """A value a field refuses. `str()` is the reason, from the message
    catalogue: what an import report prints after the column's header and what
    staff read in the admin and the API."""


def header_key(text: str) -> str:
    """Return the matching key of a header cell: NFKC, no spaces, _ or -, lower case."""
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFKC", text)).lower()


def normalise_email(raw: str) -> str:
    """Return the address to store: full-width ASCII made half-width, domain in
    lower case, local part as given. Raises ValueError with the reason."""
    text = raw.translate(_FULL_WIDTH_ASCII).strip()
    if not text:
        raise ValueError(_("空です"))
    try:
        # Syntax only: municipal domains often resolve only from inside LGWAN.
        # No SMTPUTF8: relays and gateways on the way cannot be assumed to carry it.
        info = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(_("「{value}」は{reason}").format(
            value=raw, reason=email_problem(str(exc)))) from None
    return info.ascii_email or info.normalized




def normalise_roles(raw: str) -> str:
    """Return ";"-joined role tags (NFKC; "；", "、" and "," also separate)."""
    tags: list[str] = []
    for tag in re.split(r"[;、,]", unicodedata.normalize("NFKC", raw)):
        tag = tag.strip()
        if tag and tag not in tags:
            tags.append(tag)
    return ";".join(tags)


# -- normalisers: a stripped, non-blank value in, the stored form out (or BadValue) --


def _email(value: str) -> str:
    try:
        return normalise_email(value)
    except ValueError as exc:
        raise BadValue(str(exc)) from None


def _kept(value: str) -> str:
    # Names, organisations and titles are kept exactly (髙, 﨑, full-width brackets).
    return value


def _kind(value: str) -> str:
    kind = unicodedata.normalize("NFKC", value)
    if kind not in KINDS:
        raise BadValue(_("「{value}」は使えません：{choices} のいずれかです").format(
            value=value, choices=_(KIND_CHOICES)))
    return kind


def _format(value: str) -> str:
    fmt = FORMATS.get(header_key(value))
    if fmt is None:
        raise BadValue(_("「{value}」は使えません：HTML（html）かテキスト（text）です").format(
            value=value))
    return fmt


def _charset(value: str) -> str:
    charset = CHARSETS.get(header_key(value))
    if charset is None:
        raise BadValue(_("「{value}」は使えません：UTF-8 か ISO-2022-JP です").format(value=value))
    return charset


def _status(value: str) -> str:
    known = [s.value for s in SubscriberStatus]
    if value not in known:
        raise BadValue(_("「{value}」は使えません：{choices} のいずれかです").format(
            value=value, choices="、".join(known)))
    return value


@dataclass(frozen=True)
class SubscriberField:
    """One editable field of a subscriber: a column of `Subscriber`, a CSV
    column, an admin form input and an API property, all named `name`."""

    name: str
    #: Japanese, marked N_(): the export's header as it is (files stay Japanese);
    #: look it up with _() where it is shown (form labels, messages)
    label: str
    normalise: Callable[[str], str]  # a stripped, non-blank value -> stored form; BadValue
    #: further CSV headers the importer accepts (the label and the name always are)
    aliases: tuple[str, ...] = ()
    default: str = ""  # what a new subscriber gets, and what a blank value resets to
    #: stored value -> what people see (export cell, form option); empty: free text
    choices: Mapping[str, str] = field(default_factory=dict)
    max_length: int = MAX_TEXT
    required: bool = False  # a blank value is refused (never reset to the default)
    imported: bool = True  # a CSV cell sets it (False: read back without effect)
    on_create: bool = True  # given when a subscriber is created (False: the service sets it)
    value_type: type[str] = str  # how listings and the API give the stored value
    group: Literal["contact", "delivery"] = "contact"  # the form's fieldset
    input_type: Literal["text", "email"] = "text"
    help: str = ""  # shown under the form's input (marked N_(), shown with _())

    @property
    def headers(self) -> tuple[str, ...]:
        """Every CSV header that means this field, the export's first."""
        return tuple(dict.fromkeys((self.label, self.name, *self.aliases)))

    def check(self, raw: str) -> str:
        """Return the stored form of a non-blank value; raise BadValue saying why not."""
        value = raw.strip()
        bad = next((ch for ch in value
                    if unicodedata.category(ch) in ("Cc", "Co") or ch in BIDI_CONTROLS), None)
        if bad is not None:
            if bad in BIDI_CONTROLS:
                # U+202E and friends reverse the text after them, so a name can
                # show as something else in a list, a mail header or a report.
                what = _("文字の向きを変える制御文字（U+{code}）は使えません")
            elif unicodedata.category(bad) == "Co":
                # Windows 外字 (user-defined kanji) decode to private-use code points
                # that no other computer shows as intended.
                what = _("外字（U+{code}）は使えません：ほかのパソコンでは正しく表示されません")
            elif bad in "\r\n":
                what = _("セルの中に改行（U+{code}）があります（Excel の Alt+Enter？）")
            else:
                what = _("制御文字（U+{code}）は使えません")
            raise BadValue(what.format(code=f"{ord(bad):04X}"))
        if len(value) > self.max_length:
            raise BadValue(_("{max} 文字までです").format(max=self.max_length))
        return self.normalise(value)

    def display(self, stored: str) -> str:
        """Return what people see for a stored value (its choice label, else itself)."""
        return self.choices.get(stored, stored)


#: Every editable field, in export column order.
FIELDS: tuple[SubscriberField, ...] = (
    SubscriberField(
        "email", N_("メールアドレス"), _email, required=True, max_length=320, input_type="email",
        aliases=("メール", "電子メール", "e-mail", "mail", "email address", "mail address")),
    SubscriberField("name", N_("氏名"), _kept, aliases=("名前", "full name")),
    SubscriberField("reading", N_("フリガナ"), _kept,
                    aliases=("ふりがな", "よみがな", "読み仮名", "よみ", "カナ", "kana"),
                    help=N_("氏名の読み（カタカナでもひらがなでも検索できます）")),
    SubscriberField("honorific", N_("敬称"), _kept, default="様"),
    SubscriberField("organisation", N_("団体名"), _kept, aliases=("自治体名", "organization")),
    SubscriberField("organisation_kind", N_("団体区分"), _kind, choices={k: k for k in KINDS},
                    aliases=("organization_kind", "kind")),
    SubscriberField("job_title", N_("役職"), _kept, aliases=("job title", "title")),
    SubscriberField("roles", N_("役割"), normalise_roles, aliases=("role",),
                    help=N_("「;」区切り。例：CIO;CISO補佐")),
    SubscriberField("format", N_("形式"), _format, default="html", choices=FORMAT_LABELS,
                    aliases=("配信形式",), group="delivery"),
    SubscriberField("charset", N_("文字コード"), _charset, default="utf-8", choices=CHARSET_LABELS,
                    aliases=("encoding",), group="delivery"),
    # Written by the export and read back without effect: a file never changes a
    # status. Set by editing only, where a change is a transition with its event.
    SubscriberField(
        "status", N_("状態"), _status, default=SubscriberStatus.ACTIVE.value,
        choices={s.value: label for s, label in STATUS_LABELS.items()}, max_length=20,
        required=True, imported=False, on_create=False, value_type=SubscriberStatus,
        group="delivery",
        help=N_("「配信中」に戻すと、あなたの操作を同意として記録します。"
                "本人の同意がある場合に限ってください。")),
)
BY_NAME: dict[str, SubscriberField] = {f.name: f for f in FIELDS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
#: the fields a CSV file sets, in export order (the address first)
IMPORTED: tuple[str, ...] = tuple(f.name for f in FIELDS if f.imported)
#: the fields given when a subscriber is created
ON_CREATE: tuple[str, ...] = tuple(f.name for f in FIELDS if f.on_create)


def defaults() -> dict[str, str]:
    """Return the values of a new subscriber's fields, by name."""
    return {f.name: f.default for f in FIELDS}


def labels() -> dict[str, str]:
    """Return name -> Japanese label of every field."""
    return {f.name: f.label for f in FIELDS}
