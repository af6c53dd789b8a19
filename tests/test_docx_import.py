"""A Word manuscript becomes a draft issue folder; what it cannot place is listed."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.document import Document as DocxDocument
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from docx.shared import Pt
from typer.testing import CliRunner

from mailer.cli import app
from mailer.compose.document import Figure, Turn
from mailer.compose.parse import parse_issue_folder
from mailer.render.text import render_text
from mailer.render.types import RenderConfig
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services import docx_import
from mailer.services.docx_import import draft_from_docx
from mailer.services.errors import ErrorKind, ServiceError
from mailer.testing.stack import TEST_SECRET

CONFIG = RenderConfig(base_url="https://mailer.example.com", from_name="CIOフォーラム",
                      from_address="cio-forum@mailer.example.com",
                      list_id="cio-forum.mailer.example.com", list_name="都区市町村CIOフォーラム")
SLIDE = (SAMPLE_ISSUE_DIR / "images" / "slide01.png").read_bytes()
PHOTO = (SAMPLE_ISSUE_DIR / "images" / "photo01.png").read_bytes()


def _picture(document: DocxDocument, data: bytes, alt: str) -> None:
    shape = document.add_paragraph().add_run().add_picture(io.BytesIO(data))
    if alt:
        shape._inline.docPr.set("descr", alt)  # Word's 代替テキスト


def _link(paragraph: Any, url: str, text: str) -> None:
    """Append a hyperlink (python-docx reads them but has no call to write one)."""
    rid = paragraph.part.relate_to(url, RT.HYPERLINK, is_external=True)
    paragraph._p.append(parse_xml(
        f'<w:hyperlink {nsdecls("w", "r")} r:id="{rid}"><w:r><w:t>{text}</w:t></w:r></w:hyperlink>'
    ))


def manuscript() -> bytes:
    """A part of the magazine as an editor writes it in Word (numbers: body paragraphs)."""
    d = docx.Document()
    d.add_paragraph("武蔵野市×都CIO座談会(前編)", style="Title")  # 1
    d.add_paragraph("都区市町村CIOフォーラム通信は、"  # 2
                    "都と区市町村のCIOの皆様にお届けする情報誌です。")
    d.add_paragraph("第4回は武蔵野市を訪ねました。")  # 3
    d.add_paragraph("※CIO:Chief Information Officerの略。")  # 4
    d.add_paragraph("開催日:令和8年10月15日(木)")  # 5
    d.add_paragraph("参加者(敬称略)")  # 6
    for line in ("髙橋 健一(髙橋)", "所属:武蔵野市", "役職:総務部長(CIO補佐)",  # 7-9
                 "中村 誠(中村)", "所属:東京都", "役職:デジタルサービス局 戦略部長"):  # 10-12
        d.add_paragraph(line)
    d.add_heading("総務部門がDXを担う理由", level=1)  # 13
    d.add_paragraph("―まず、推進体制について教えてください。")  # 14
    d.add_paragraph("武蔵野市 総務部長(CIO補佐):髙橋 健一(以下「髙橋」)"  # 15
                    "武蔵野市では、令和4年度に推進本部を立ち上げました。")
    d.add_paragraph("兼務にしている理由ははっきりしています。")  # 16
    d.add_paragraph("中村:都でも、技術と組織の両方に目配りしています。")  # 17
    turn = d.add_paragraph("「髙橋」すべての課に")  # 18
    turn.add_run("推進リーダー").bold = True
    turn.add_run("を置いています。詳しくは")
    _link(turn, "https://www.example.jp/dx/plan", "市の計画")
    turn.add_run("をご覧ください。")
    _picture(d, SLIDE, "推進体制の概念図。市長を本部長とする推進本部の下に各課が並ぶ。")  # 19
    d.add_paragraph("スライド1:武蔵野市のデジタル推進体制")  # 20
    table = d.add_table(rows=2, cols=2)  # 21
    table.cell(0, 0).text = "年度"
    table.cell(0, 1).text = "電子決裁率"
    d.add_heading("各課に推進リーダーを置く", level=2)  # 22
    d.add_paragraph("推進リーダーは全部で64名です。", style="Quote")  # 23
    _picture(d, PHOTO, "")  # 24
    d.add_heading("次回予告", level=1)  # 25
    d.add_paragraph("後編は12月8日(火)にお届けします。")  # 26
    d.add_paragraph("執筆者:小林 真理(デジタルサービス局 戦略部 戦略課)")  # 27
    d.add_paragraph("編集:石田 翔(同上)").runs[0].font.size = Pt(9)  # 28
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


# The body of the plain-text mail (between the title rule and the footer rule),
# rendered by the code that sends: everything but the table and the picture
# without alt text, in the manuscript's order.
EXPECTED_BODY = """\
都区市町村CIOフォーラム通信は、都と区市町村のCIOの皆様にお届けする
情報誌です。

第4回は武蔵野市を訪ねました。

※CIO:Chief Information Officerの略。

開催日：令和8年10月15日

【参加者(敬称略)】
・髙橋 健一（武蔵野市）
　総務部長(CIO補佐)
・中村 誠（東京都）
　デジタルサービス局 戦略部長

【総務部門がDXを担う理由】

―まず、推進体制について教えてください。

武蔵野市 総務部長(CIO補佐):髙橋 健一(以下「髙橋」)
髙橋：武蔵野市では、令和4年度に推進本部を立ち上げました。
　　　兼務にしている理由ははっきりしています。

東京都 デジタルサービス局 戦略部長:中村 誠(以下「中村」)
中村：都でも、技術と組織の両方に目配りしています。

髙橋：すべての課に推進リーダーを置いています。詳しくは市の計画［1］を
　　　ご覧ください。
［1］市の計画
https://www.example.jp/dx/plan

［スライド1］武蔵野市のデジタル推進体制
　（画像の説明：推進体制の概念図。市長を本部長とする推進本部の下に
　各課が並ぶ。）

■各課に推進リーダーを置く

推進リーダーは全部で64名です。

後編は12月8日(火)にお届けします。

執筆者：小林 真理　デジタルサービス局 戦略部 戦略課
編集：石田 翔　(同上)
"""


def _write(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def test_a_manuscript_becomes_a_draft_folder(tmp_path: Path) -> None:
    draft = draft_from_docx(manuscript(), slug="vol05")
    folder = _write(tmp_path / "vol05", draft.files())
    issue = parse_issue_folder(folder)  # the draft is a folder `issue load` accepts
    assert issue == draft.document
    part = issue.parts[0]
    assert part.title == "武蔵野市×都CIO座談会(前編)"
    assert sorted(draft.images) == ["images/word-01.png", "images/word-02.png"]
    assert draft.images["images/word-01.png"] == SLIDE

    turns = [b for b in part.blocks if isinstance(b, Turn)]
    assert [(t.speaker, t.label) for t in turns] == [
        ("髙橋", "武蔵野市 総務部長(CIO補佐):髙橋 健一(以下「髙橋」)"),
        ("中村", "東京都 デジタルサービス局 戦略部長:中村 誠(以下「中村」)"),
        ("髙橋", "髙橋"),
    ]
    assert len(turns[0].paragraphs) == 2  # the plain paragraph after a turn continues it
    figures = [b for b in part.blocks if isinstance(b, Figure)]
    assert [(f.src, f.label, f.caption) for f in figures] == [
        ("images/word-01.png", "スライド1", "武蔵野市のデジタル推進体制")]

    text = render_text(issue=issue, part=part, config=CONFIG)
    rule = "─" * 35
    body = text.split(rule + "\n", 3)[2]  # after the greeting rule and the title's rule
    assert body.split("\n" + rule)[0].strip("\n") + "\n" == EXPECTED_BODY

    listed = [str(u) for u in draft.unplaced]
    # ... but listed, with its paragraph number, as are the picture without alt
    # text and the style the magazine does not have.
    assert any(u.startswith("段落 21: 表(2行×2列)") and "年度 電子決裁率" in u for u in listed)
    assert any(u.startswith("段落 24: 代替テキストのない画像") and "images/word-02.png" in u
               for u in listed)
    assert any(u.startswith("段落 23: スタイル「Quote」") for u in listed)
    assert any(u.startswith("段落 0: issue.yaml") for u in listed)
    assert len(listed) == 4, listed


def test_text_boxes_footnotes_and_unknown_speakers_are_listed() -> None:
    d = docx.Document()
    d.add_paragraph("題名", style="Title")
    d.add_paragraph("参加者(敬称略)")
    d.add_paragraph("髙橋 健一(髙橋)")
    d.add_paragraph("所属:武蔵野市")
    d.add_paragraph("役職:総務部長")
    d.add_paragraph("【山田】参加者にいない人の発言です。")
    d.add_paragraph("箇条書き", style="List Bullet")
    boxed = d.add_paragraph("本文")  # 8: a text box anchored in a paragraph, and a footnote
    boxed._p.append(parse_xml(
        f'<w:r {nsdecls("w")} xmlns:v="urn:schemas-microsoft-com:vml">'
        "<w:pict><v:shape><v:textbox><w:txbxContent>"
        "<w:p><w:r><w:t>囲み記事の文</w:t></w:r></w:p>"
        "</w:txbxContent></v:textbox></v:shape></w:pict></w:r>"
    ))
    boxed._p.append(parse_xml(f'<w:r {nsdecls("w")}><w:footnoteReference w:id="1"/></w:r>'))
    d.add_paragraph("東京都デジタルサービス局(以下「局」)は、区市町村を支援します。")  # 9
    out = io.BytesIO()
    d.save(out)
    draft = draft_from_docx(out.getvalue(), slug="vol05")
    listed = [str(u) for u in draft.unplaced]
    assert any("発言者「山田」が参加者の一覧にありません" in u for u in listed), listed
    assert any(u.startswith("段落 7: スタイル「List Bullet」") for u in listed), listed
    assert any(u.startswith("段落 8: テキストボックス") and "囲み記事の文" in u
               for u in listed), listed
    assert any(u.startswith("段落 8: 脚注") for u in listed), listed
    assert "囲み記事の文" not in draft.texts["part1.md"]
    # An abbreviation in prose is not a speaker once the participants are known.
    assert "(以下「局」)は、区市町村を支援します。" in draft.texts["part1.md"]
    assert not any("「局」" in u for u in listed), listed


def test_a_file_that_is_not_word_is_refused_in_japanese(monkeypatch: pytest.MonkeyPatch) -> None:
    for data in (b"PK\x03\x04 not really a zip", _zip({"hello.txt": b"not a docx"})):
        with pytest.raises(ServiceError) as info:
            draft_from_docx(data, slug="vol05")
        assert info.value.kind == ErrorKind.UNREADABLE
        assert "Word(.docx)のファイルとして読めません" in info.value.message
    # What it unpacks to is bounded before python-docx reads it all into memory.
    monkeypatch.setattr(docx_import, "MAX_UNPACKED_BYTES", 10_000)
    with pytest.raises(ServiceError) as info:
        draft_from_docx(manuscript(), slug="vol05")
    assert info.value.kind == ErrorKind.TOO_LARGE and "展開すると" in info.value.message


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_cli_import_docx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MAILER_BASE_URL", "https://mailer.example.com")
    source = tmp_path / "原稿.docx"
    source.write_bytes(manuscript())
    runner = CliRunner()
    result = runner.invoke(app, ["issue", "import-docx", str(source), str(tmp_path / "vol05")])
    assert result.exit_code == 0, result.output
    assert "段落 21: 表(2行×2列)" in result.output
    assert (tmp_path / "vol05" / "part1.md").is_file()
    assert (tmp_path / "vol05" / "images" / "word-01.png").read_bytes() == SLIDE
    # Not over a folder that has something in it.
    again = runner.invoke(app, ["issue", "import-docx", str(source), str(tmp_path / "vol05")])
    assert again.exit_code == 1 and "空ではありません" in again.output
    # Nor under a file: one Japanese line (it was a FileExistsError traceback).
    under_file = runner.invoke(app, ["issue", "import-docx", str(source),
                                     str(source / "vol05")])
    assert under_file.exit_code == 1 and isinstance(under_file.exception, SystemExit)
    assert f"{source / 'vol05'} に書き出せません" in under_file.output

    # --like takes the series, publisher and back numbers of a stored issue.
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["issue", "load", str(SAMPLE_ISSUE_DIR)]).exit_code == 0
    liked = runner.invoke(app, ["issue", "import-docx", str(source), str(tmp_path / "vol06"),
                                "--like", "vol04"])
    assert liked.exit_code == 0, liked.output
    issue = parse_issue_folder(tmp_path / "vol06")
    sample = parse_issue_folder(SAMPLE_ISSUE_DIR)
    assert (issue.number, issue.series, issue.publisher, issue.back_numbers) == (
        5, sample.series, sample.publisher, sample.back_numbers)
    assert "issue.yaml の回数・誌名・発行者は仮の値です" not in liked.output

    # A draft the folder rules refuse is still written, with what to fix before loading.
    d = docx.Document()
    d.add_paragraph("題名", style="Title")
    d.add_paragraph("【山田】参加者にいない人の発言です。")
    odd = tmp_path / "odd.docx"
    d.save(str(odd))
    result = runner.invoke(app, ["issue", "import-docx", str(odd), str(tmp_path / "vol07")])
    assert result.exit_code == 0, result.output
    assert "下書きを読み込む前に直すところ" in result.output
    assert "part1.md:" in result.output
    assert "話し手【山田】がこの配信回の参加者にいません" in result.output


def test_a_draft_holding_its_stand_ins_is_a_preflight_error_until_they_are_replaced() -> None:
    """Without --like the draft's 誌名, 発行者 and 住所 are stand-ins; `issue load`
    takes the folder (it is a draft to look at), but preflight refuses to send
    「【(誌名)】第0回 …」 to 62 CIOs until the values are real."""
    from mailer.compose.document import Publisher
    from mailer.render.preflight import check_part

    issue = draft_from_docx(manuscript(), slug="vol05").document
    part = issue.parts[0]
    found = [f for f in check_part(issue=issue, part=part, config=CONFIG)
             if f.code == "draft_placeholder"]
    assert {f.where for f in found} == {
        "issue.yaml: series", "issue.yaml: publisher.name", "issue.yaml: publisher.address",
        "part1: subject"}
    assert all(f.severity == "error" for f in found)
    assert "「(誌名)」は mailer issue import-docx が入れた仮の値です" in next(
        f.message for f in found if f.where == "issue.yaml: series")

    real = issue.model_copy(update={
        "series": "都区市町村CIOフォーラム通信",
        "publisher": Publisher(name="東京都 デジタルサービス局 戦略部",
                               address="東京都新宿区西新宿二丁目8番1号",
                               contact_email="cio-forum@digital.metro.tokyo.example")})
    subject = f"【都区市町村CIOフォーラム通信】第5回 {part.title}"
    real_part = part.model_copy(update={"subject": subject})
    assert not [f for f in check_part(issue=real, part=real_part, config=CONFIG)
                if f.code == "draft_placeholder"]
    sample = parse_issue_folder(SAMPLE_ISSUE_DIR)
    assert not [f for p in sample.parts for f in check_part(issue=sample, part=p, config=CONFIG)
                if f.code == "draft_placeholder"]
