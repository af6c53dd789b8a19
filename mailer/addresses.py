"""How an address is compared: the normalised form and the suppression key.

Pure functions importing only the message catalogue, so the models (which
keep the key beside each subscriber), the issue loader and the services can
all use them.
"""

from __future__ import annotations

import hashlib

from mailer.i18n import N_, _


def normalise(email: str) -> str:
    """Return the address as compared: trimmed and lower-cased."""
    return email.strip().lower()


def email_hash(email: str) -> str:
    """Return the hex sha256 of the normalised address (the suppression key)."""
    return hashlib.sha256(normalise(email).encode("utf-8")).hexdigest()


#: email-validator's reasons (English, matched by a phrase of them) as what
#: staff read; the first match wins, so the specific phrases come first.
_EMAIL_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("must have an @-sign", N_("@ がありません")),
    ("something before the @-sign", N_("@ の前が空です")),
    ("something after the @-sign", N_("@ の後（ドメイン）が空です")),
    ("too long", N_("長すぎます")),
    ("two periods in a row", N_("ピリオド（.）が続いています")),
    ("Internationalized characters", N_("@ の前に全角文字など使えない字があります")),
    ("after the @-sign", N_("ドメインが正しくありません")),
    ("before the @-sign", N_("@ の前に使えない字があります")),
    ("anything after the email address", N_("アドレスの後に余分な文字があります")),
    ("display name", N_("名前や <> を付けずにアドレスだけを書いてください")),
    ("period", N_("ピリオド（.）の位置が正しくありません")),
    ("hyphen", N_("ハイフン（-）の位置が正しくありません")),
)


def email_problem(reason: str) -> str:
    """Return what is wrong with an address, from email-validator's English
    `reason`, as a Japanese text of the catalogue (its English never reaches
    staff)."""
    for phrase, message in _EMAIL_PROBLEMS:
        if phrase.lower() in reason.lower():
            return _(message)
    return _("メールアドレスの形式が正しくありません")
