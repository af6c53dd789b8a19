"""The importer's and the issue loader's messages all come from the catalogue (#14).

With the test-only pseudo language `MAILER_LANGUAGE=qps` every catalogued text
shows inside ⟦ ⟧. The data here is ASCII only, so a Japanese character outside
those brackets is a text that bypassed the catalogue; with `MAILER_LANGUAGE=en`
the same reasons are English (no kana or kanji at all).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from mailer.addresses import email_hash
from mailer.compose.errors import IssueFolderError
from mailer.compose.parse import parse_issue_folder
from mailer.i18n import PSEUDO_CLOSE, PSEUDO_OPEN, use_language
from mailer.labels import tokyo
from mailer.models import Subscriber, SubscriberStatus, Suppression
from mailer.services.errors import ServiceError
from mailer.services.exporter import HEADER
from mailer.services.importer import parse_subscriber_bytes
from mailer.services.listings import subscriber_detail
from mailer.services.subscriber_edit import SubscriberInput, clean
from mailer.services.subscribers import Consent, apply_import

#: what a Japanese sentence is made of: kana, kanji, CJK punctuation (「」、。【】)
#: and full-width forms (（）：)
JAPANESE = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
#: kana and kanji only (English messages keep the 【speaker】 brackets of the syntax)
KANA_KANJI = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def outside_catalogue(text: str) -> str:
    """Return the Japanese characters of `text` that lie outside every ⟦ ⟧."""
    depth, found = 0, []
    for ch in text:
        if ch == PSEUDO_OPEN:
            depth += 1
        elif ch == PSEUDO_CLOSE:
            depth = max(depth - 1, 0)
        elif depth == 0 and JAPANESE.match(ch):
            found.append(ch)
    return "".join(found)


def test_the_checker_finds_a_bypassing_text() -> None:
    """The check itself can fail: Japanese outside the brackets is found."""
    assert outside_catalogue("⟦重複⟧ line 3") == ""
    assert outside_catalogue("⟦a ⟦b⟧ 行⟧") == ""
    assert outside_catalogue("⟦重複⟧ 行 3") == "行"
    assert outside_catalogue("duplicate of line 4（x）") == "（）"


# -- the importer ---------------------------------------------------------------

CSV = "\r\n".join([
    "email,name,organisation_kind,format,memo",
    "ok@example.jp,Sato,,,",
    "no-at-sign.example.jp,Suzuki,,,",  # line 3: bad address
    "OK@example.jp,Tanaka,,,",  # line 4: duplicate of line 2
    "ward@example.jp,Ito,ward,,",  # line 5: bad choice of kind
    "pdf@example.jp,Kato,,pdf,",  # line 6: bad choice of format
    "taro@example,Abe,,,",  # line 7: bad domain
    ",Ueda,,,",  # line 8: no address
    "gone@example.jp,Mori,,,",  # line 9: unsubscribed before: skipped
    "blocked@example.jp,Kudo,,,",  # line 10: suppressed: skipped
    "new@example.jp,Ono,,,",  # line 11: imported
    "",
]).encode()


def _import(engine: Engine) -> tuple[list[str], int]:
    """Import CSV (after a previous unsubscribe and a suppression); return every
    text the report and the new subscriber's history show, and that subscriber's id."""
    now = datetime.now(UTC)
    with Session(engine) as session:
        session.add(Subscriber(email="gone@example.jp", email_hash=email_hash("gone@example.jp"),
                               status=SubscriberStatus.UNSUBSCRIBED))
        session.add(Suppression(email="blocked@example.jp",
                                email_hash=email_hash("blocked@example.jp"), reason=""))
        session.commit()
    parsed = parse_subscriber_bytes(CSV, name="readers.csv")
    with Session(engine) as session:
        report = apply_import(session=session, parsed=parsed, list_name=None,
                              consent=Consent(source="import:readers.csv", by="tester", at=now))
        session.commit()
    new = next(s for s in _subscribers(engine) if s.email == "new@example.jp")
    texts = [r.reason for r in report.rejected] + [s.reason for s in report.skipped]
    texts += report.warnings
    assert [r.line for r in report.rejected] == [3, 4, 5, 6, 7, 8]
    assert [s.line for s in report.skipped] == [9, 10]
    assert report.warnings  # the unknown column "memo"
    return texts, new.id  # type: ignore[return-value]


def _subscribers(engine: Engine) -> list[Subscriber]:
    from sqlmodel import select

    with Session(engine) as session:
        return list(session.exec(select(Subscriber)).all())


def _history(engine: Engine, subscriber_id: int) -> list[str]:
    """The history staff see (kind and memo of each event); the consent is
    Japan time."""
    detail = subscriber_detail(engine, subscriber_id)
    assert detail is not None and detail.events
    sub = next(s for s in _subscribers(engine) if s.id == subscriber_id)
    assert detail.consent == f"import:readers.csv / tester / {tokyo(sub.consent_at)}"
    return [t for e in detail.events for t in (e.kind_label, e.detail_shown)]


def test_import_reasons_are_all_catalogued(engine: Engine,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_LANGUAGE", "qps")
    texts, new = _import(engine)
    history = _history(engine, new)
    for text in texts + history:
        assert PSEUDO_OPEN in text, text
        assert outside_catalogue(text) == "", text
    by_line = dict(zip([3, 4, 5, 6, 7, 8], texts, strict=False))
    assert by_line[3] == "email: ⟦「no-at-sign.example.jp」は⟦@ がありません⟧⟧"
    assert by_line[4] == "⟦2 行目と重複しています（OK@example.jp）⟧"
    assert "⟦都、特別区、市、町、村⟧" in by_line[5]
    assert "⟦取り込み⟧" in history and "⟦tester が取り込み⟧" in history


def test_import_reasons_in_english(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_LANGUAGE", "en")
    texts, new = _import(engine)
    history = _history(engine, new)
    for text in texts + history:
        assert not KANA_KANJI.search(text.replace("都, 特別区, 市, 町, 村", "")), text
    assert texts[:2] == ['email: "no-at-sign.example.jp" has no @-sign',
                         "duplicate of line 2 (OK@example.jp)"]
    assert texts[2] == 'organisation_kind: "ward" is not one of 都, 特別区, 市, 町, 村'
    assert texts[4] == 'email: "taro@example" has an invalid domain'
    assert texts[6:8] == ["status is Unsubscribed", "suppressed (no reason given)"]
    assert "Imported" in history and "by tester" in history


# -- the issue loader -----------------------------------------------------------

ISSUE_YAML = """\
number: 9
title: Test issue
series: Test series
publisher:
  name: Test office
  address: 1-1 Test Street
  contact_email: not-an-address
  url: https://example.com/
"""

PART = """\
---
label: part1
title: Test part
subject: Test subject
colour: red
---

Hello, readers.

![](images/pic.png)

【Nobody】 Hello there.

See [the plan](/plan/) for more.

# A heading level one
"""


def _problems(tmp_path: Path) -> tuple[list[str], str]:
    folder = tmp_path / "vol09"
    (folder / "images").mkdir(parents=True)
    (folder / "issue.yaml").write_text(ISSUE_YAML, encoding="utf-8")
    (folder / "part1.md").write_text(PART, encoding="utf-8")
    with pytest.raises(IssueFolderError) as info:
        parse_issue_folder(folder)
    problems = [str(p) for p in info.value.problems]
    assert [p.split(":")[0] for p in problems] == ["issue.yaml"] + ["part1.md"] * 6
    return problems, str(info.value)


def test_loader_problems_are_all_catalogued(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_LANGUAGE", "qps")
    problems, summary = _problems(tmp_path)
    for text in [*problems, summary]:
        assert PSEUDO_OPEN in text, text
        assert outside_catalogue(text) == "", text
    alt = next(p for p in problems if "代替テキスト" in p)
    assert alt == ("part1.md:10: ⟦画像 images/pic.png に代替テキストがありません："
                   "![何が写っているか](images/pic.png) と書いてください⟧")
    assert ("part1.md:12: ⟦話し手【Nobody】がこの配信回の参加者にいません（略称：⟦なし⟧）⟧"
            in problems)


def test_loader_problems_in_english(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_LANGUAGE", "en")
    problems, summary = _problems(tmp_path)
    for text in [*problems, summary]:
        assert not KANA_KANJI.search(text), text
    assert problems == [
        'issue.yaml:7: publisher.contact_email: email address "not-an-address" has no @-sign',
        "part1.md:5: front matter: colour: unknown key",
        "part1.md:10: image images/pic.png has no alt text: write ![what it shows](images/pic.png)",
        "part1.md:10: image not found: images/pic.png",
        "part1.md:12: unknown speaker 【Nobody】: not in this part's participants "
        "(short names: none)",
        'part1.md:14: link must be an absolute https:// URL, got "/plan/"',
        "part1.md:16: heading level 1 is not used: write ## for a section, ### for a subsection",
    ]
    assert summary.startswith("7 problems in the issue folder:\nissue.yaml:7: ")


# -- subscriber field labels -------------------------------------------------------


def test_field_labels_are_looked_up_where_shown_but_csv_headers_stay_japanese() -> None:
    """A field's label names it in a message in the reader's language, while the
    export's header row (the file format) stays the stored Japanese text."""
    def refusal() -> str:
        with pytest.raises(ServiceError) as caught:
            clean(SubscriberInput(values={"email": ""}), creating=True)
        return caught.value.message

    with use_language("en"):
        assert refusal() == "email: enter the email"
        assert HEADER[:3] == ["メールアドレス", "氏名", "フリガナ"]
    assert refusal() == "email: メールアドレスを入力してください"
    with use_language("qps"):
        assert outside_catalogue(refusal()) == ""
