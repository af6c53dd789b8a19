"""Bad issue folders are refused as a whole, with every problem as file:line: message."""

from __future__ import annotations

from pathlib import Path

import pytest
from compose_helpers import IssueCopy

from mailer.compose.errors import IssueFolderError, Problem
from mailer.compose.parse import parse_issue_folder

SLIDE1_ALT = (
    "武蔵野市のデジタル推進体制の概念図。市長を本部長とするデジタル推進本部の下に、"
    "総務部とデジタル推進課が並び、各課の推進リーダーとつながっている。"
)


def test_problem_str() -> None:
    assert str(Problem("part1.md", 12, "画像がありません：images/x.png")) == (
        "part1.md:12: 画像がありません：images/x.png"
    )


def test_unknown_speaker(issue: IssueCopy) -> None:
    issue.replace("part1.md", "【中村】", "【中田】")
    line = issue.line_of("part1.md", "【中田】")
    assert issue.problems() == [
        f"part1.md:{line}: 話し手【中田】がこの配信回の参加者にいません"
        "（略称：髙橋、山﨑、中村、森本）"
    ]


def test_speaker_must_be_in_this_parts_participants(issue: IssueCopy) -> None:
    # 森本 appears in part 1's list; removing her from part 2's list is enough
    # to make her turns there unknown.
    issue.replace(
        "part2.md",
        "- 森本 彩(森本)\n  - 所属:東京都\n"
        "  - 役職:デジタルサービス局 戦略部 区市町村DX支援担当課長\n",
        "",
    )
    lines = [n for n, t in enumerate(issue.text("part2.md").splitlines(), 1) if t == "【森本】"]
    assert len(lines) == 2
    assert issue.problems() == [
        f"part2.md:{n}: 話し手【森本】がこの配信回の参加者にいません（略称：髙橋、山﨑、中村）"
        for n in lines
    ]


def test_missing_alt_text(issue: IssueCopy) -> None:
    issue.replace("part1.md", f"![{SLIDE1_ALT}]", "![]")
    line = issue.line_of("part1.md", "![](images/slide01.png)")
    assert issue.problems() == [
        f"part1.md:{line}: 画像 images/slide01.png に代替テキストがありません："
        "![何が写っているか](images/slide01.png) と書いてください"
    ]


def test_image_not_found(issue: IssueCopy) -> None:
    (issue.folder / "images" / "slide02.png").unlink()
    line = issue.line_of("part1.md", "(images/slide02.png)")
    assert issue.problems() == [f"part1.md:{line}: 画像がありません：images/slide02.png"]


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("https://cdn.example.com/x.png", "画像の src は号のフォルダの中のファイルにしてください"),
        ("../outside.png", "画像の src が号のフォルダの外を指しています"),
        ("images/slide01.bmp", "画像は PNG、JPEG、GIF のどれかにしてください"),
    ],
)
def test_image_src_rules(issue: IssueCopy, src: str, message: str) -> None:
    issue.replace("part1.md", "(images/slide01.png)", f"({src})")
    line = issue.line_of("part1.md", f"({src})")
    [problem] = issue.problems()
    assert problem.startswith(f"part1.md:{line}: {message}")


@pytest.mark.parametrize(
    ("src", "data", "message"),
    [
        (
            "images/slide01.png",
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
            "画像 images/slide01.png は名前が .png ですが中身は JPEG ファイルです："
            "名前を .jpg に変えるか、PNG で保存してください",
        ),
        (
            "images/slide01.jpg",
            b"GIF89a\x01\x00\x01\x00",
            "画像 images/slide01.jpg は名前が .jpg ですが中身は GIF ファイルです："
            "名前を .gif に変えるか、JPEG で保存してください",
        ),
        (
            "images/slide01.png",
            b"RIFF\x24\x00\x00\x00WEBPVP8 ",
            "画像 images/slide01.png は WebP ファイルです："
            "PNG、JPEG、GIF のどれかで保存してください",
        ),
        (
            "images/slide01.gif",
            "スライド1の原稿メモ".encode(),
            "画像 images/slide01.gif は GIF ファイルではありません："
            "中身が PNG、JPEG、GIF の画像ではありません",
        ),
        (
            "images/slide01.jpeg",
            b"",
            "画像 images/slide01.jpeg は JPEG ファイルではありません："
            "中身が PNG、JPEG、GIF の画像ではありません",
        ),
    ],
)
def test_image_bytes_must_match_the_suffix(
    issue: IssueCopy, src: str, data: bytes, message: str
) -> None:
    (issue.folder / src).write_bytes(data)
    issue.replace("part1.md", "(images/slide01.png)", f"({src})")
    line = issue.line_of("part1.md", f"({src})")
    assert issue.problems() == [f"part1.md:{line}: {message}"]


def test_image_src_too_long(issue: IssueCopy) -> None:
    src = "images/" + "s" * 500 + ".png"
    issue.replace("part1.md", "(images/slide01.png)", f"({src})")
    line = issue.line_of("part1.md", f"({src})")
    assert issue.problems() == [
        f"part1.md:{line}: 画像の src が長すぎます（511 文字、500 文字まで）"
    ]


def test_bad_scheduled_at(issue: IssueCopy) -> None:
    issue.replace("part1.md", '"2026-12-01 09:00"', '"2026-02-30 09:00"')
    assert issue.problems() == [
        "part1.md:6: フロントマター: scheduled_at: 日時「2026-02-30 09:00」が正しくありません"
    ]


def test_scheduled_at_format(issue: IssueCopy) -> None:
    issue.replace("part2.md", '"2026-12-08 09:00"', "12月8日 9時")
    assert issue.problems() == [
        "part2.md:6: フロントマター: scheduled_at: 2026-12-01 09:00（日本時間）の形で書いてください"
        "（「12月8日 9時」）"
    ]


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("令和3年2月30日", "その日はありません"),
        ("令和1年4月30日", "令和の期間にありません"),
        ("令和8年10月15日(金)", "その日は木曜日で、金曜日ではありません"),
        ("2026-13-01", "その日はありません"),
        ("10月15日", "令和8年10月15日 か 2026-10-15 の形で書いてください"),
    ],
)
def test_bad_event_date(issue: IssueCopy, written: str, reason: str) -> None:
    issue.replace("part1.md", "開催日:令和8年10月15日(木)", f"開催日:{written}")
    line = issue.line_of("part1.md", "開催日:")
    assert issue.problems() == [
        f"part1.md:{line}: 開催日: 日付「{written}」が正しくありません：{reason}"]


def test_part_without_subject(issue: IssueCopy) -> None:
    issue.replace(
        "part2.md", "subject: 【CIOフォーラム通信】第4回 武蔵野市×都CIO座談会(後編)\n", ""
    )
    assert issue.problems() == ["part2.md:2: フロントマター: subject: 必須の項目がありません"]


def test_part_with_empty_subject(issue: IssueCopy) -> None:
    issue.replace(
        "part2.md", "subject: 【CIOフォーラム通信】第4回 武蔵野市×都CIO座談会(後編)", "subject:  "
    )
    assert issue.problems() == [
        "part2.md:4: フロントマター: subject: 空です：コロンの後に値を書いてください"
    ]


def test_duplicate_part_label(issue: IssueCopy) -> None:
    issue.replace("part2.md", "label: part2", "label: part1")
    assert issue.problems() == [
        "part2.md:2: フロントマター: label: 配信回のラベル「part1」が重複しています"
        "（part1.md にもあります）"
    ]


def test_unknown_front_matter_key(issue: IssueCopy) -> None:
    issue.replace("part1.md", "preheader:", "subjct: 予備の件名\npreheader:")
    assert issue.problems() == ["part1.md:5: フロントマター: subjct: 知らないキーです"]


def test_missing_front_matter(issue: IssueCopy) -> None:
    text = issue.text("part2.md")
    issue.write("part2.md", text[text.index("\n---\n") + 5 :])
    problems = issue.problems()
    assert problems == [
        "part2.md:1: フロントマターがありません：ファイルを --- で始め、"
        "label・title・subject を書いてください"
    ]


def test_empty_part(issue: IssueCopy) -> None:
    text = issue.text("part2.md")
    issue.write("part2.md", text[: text.index("\n---\n") + 5] + "\n\n")
    assert issue.problems() == ["part2.md:7: 配信回が空です：フロントマターの後に本文がありません"]


def test_issue_yaml_missing(issue: IssueCopy) -> None:
    (issue.folder / "issue.yaml").unlink()
    assert issue.problems() == ["issue.yaml:1: issue.yaml がありません"]


def test_issue_yaml_fields(issue: IssueCopy) -> None:
    issue.replace("issue.yaml", "title: 武蔵野市×都CIO座談会\n", "")
    issue.replace("issue.yaml", "number: 4", "number: 第4回")
    issue.replace(
        "issue.yaml",
        "  contact_email: cio-forum@digital.metro.tokyo.example",
        "  contact_email: cio-forum",
    )
    issue.replace("issue.yaml", "https://mailer.example.com/archive/vol02/", "/archive/vol02/")
    issue.replace("issue.yaml", "series:", "volume: 4\nseries:")
    email = issue.line_of("issue.yaml", "contact_email")
    url = issue.line_of("issue.yaml", "/archive/vol02/")
    volume = issue.line_of("issue.yaml", "volume")
    assert issue.problems() == [
        "issue.yaml:2: number: 整数で書いてください",
        "issue.yaml:2: title: 必須の項目がありません",
        f"issue.yaml:{volume}: volume: 知らないキーです",
        f"issue.yaml:{email}: publisher.contact_email: メールアドレス「cio-forum」は@ がありません",
        f"issue.yaml:{url}: back_numbers[2].url: https:// で始まる完全な URL にしてください"
        "（「/archive/vol02/」）",
    ]


def test_issue_yaml_syntax_error(issue: IssueCopy) -> None:
    issue.replace("issue.yaml", "series: 都区市町村CIOフォーラム通信", "series: [都区市町村")
    [problem] = issue.problems()
    assert problem.startswith("issue.yaml:") and "YAML の書き方" in problem


def test_relative_link(issue: IssueCopy) -> None:
    issue.replace("part1.md", "(https://forum.example.jp/cio/training/)", "(/cio/training/)")
    line = issue.line_of("part1.md", "(/cio/training/)")
    assert issue.problems() == [
        f"part1.md:{line}: リンク先は https:// で始まる完全な URL にしてください"
        "（「/cio/training/」）"
    ]


def test_http_link_is_allowed(issue: IssueCopy) -> None:
    issue.replace(
        "part1.md", "(https://forum.example.jp/cio/training/)", "(http://forum.example.jp/)"
    )
    parse_issue_folder(issue.folder)


def test_unsupported_markdown(issue: IssueCopy) -> None:
    issue.replace("part1.md", "## 総務部門", "# 総務部門")
    issue.replace("part1.md", "::: 次回予告", "::: 予告")
    issue.replace("part2.md", "【山﨑】\n市民", "- 一つ目\n- 二つ目\n\n【山﨑】\n市民")
    h1 = issue.line_of("part1.md", "# 総務部門")
    block = issue.line_of("part1.md", "::: 予告")
    lst = issue.line_of("part2.md", "- 一つ目")
    assert issue.problems() == [
        f"part1.md:{h1}: 見出しのレベル 1 は使いません：節は ##、小見出しは ### で書いてください",
        f"part1.md:{block}: 知らないブロック ::: 予告 です"
        "（使えるもの：クレジット、リード、参加者、次回予告）",
        f"part2.md:{lst}: 使えない Markdown です：::: ブロックの外の箇条書きは誌面に置けません"
        "（docs/authoring.md を見てください）",
    ]


def test_participant_and_credit_shapes(issue: IssueCopy) -> None:
    issue.replace("part1.md", "  - 所属:武蔵野市\n", "", count=1)
    issue.replace("part1.md", "- 編集:石田 翔(同上)", "- 編集 石田 翔")
    person = issue.line_of("part1.md", "- 髙橋 健一(髙橋)")
    credit = issue.line_of("part1.md", "- 編集 石田 翔")
    problems = issue.problems()
    assert f"part1.md:{person}: 参加者 髙橋 健一: 所属がありません" in problems
    assert (
        f"part1.md:{credit}: クレジットは「執筆者:氏名(所属)」の形で書いてください"
        "（「編集 石田 翔」）" in problems
    )


def test_every_problem_is_reported_at_once(issue: IssueCopy) -> None:
    issue.replace("issue.yaml", "title: 武蔵野市×都CIO座談会\n", "")
    issue.replace("part1.md", "【中村】", "【中田】")
    (issue.folder / "images" / "slide03.png").unlink()
    issue.replace("part2.md", "label: part2", "label: part1")
    with pytest.raises(IssueFolderError) as info:
        parse_issue_folder(issue.folder)
    files = [p.file for p in info.value.problems]
    assert files == ["issue.yaml", "part1.md", "part2.md", "part2.md"]
    assert str(info.value).startswith("号のフォルダに問題が 4 件あります：\nissue.yaml:2: ")


def test_no_parts(tmp_path: Path, issue: IssueCopy) -> None:
    for name in ("part1.md", "part2.md"):
        (issue.folder / name).unlink()
    assert issue.problems() == [
        "issue.yaml:1: 配信回のファイルがありません：part1.md、part2.md … を置いてください"]


def test_not_utf8(issue: IssueCopy) -> None:
    (issue.folder / "part2.md").write_bytes(
        "---\nlabel: part2\n".encode("shift_jis") + b"\x82\xa0\xff\n"
    )
    [problem] = issue.problems()
    assert problem.startswith("part2.md:1: UTF-8 のテキストではありません")


def test_front_matter_must_be_a_mapping(issue: IssueCopy) -> None:
    text = issue.text("part2.md")
    body = text[text.index("\n---\n") + 5 :]
    issue.write("part2.md", "---\n- label\n- part2\n---\n" + body)
    assert issue.problems() == [
        "part2.md:2: フロントマター: 「キー: 値」の形で書いてください"]


def test_self_referencing_yaml_alias(issue: IssueCopy) -> None:
    issue.replace("issue.yaml", "series: 都区市町村CIOフォーラム通信", "series: &s [*s]")
    line = issue.line_of("issue.yaml", "series:")
    assert issue.problems() == [
        f"issue.yaml:{line}: YAML: 自分自身を含むエイリアス（*name）は使えません"
    ]


def test_image_too_large(issue: IssueCopy) -> None:
    path = issue.folder / "images" / "slide01.png"
    path.write_bytes(path.read_bytes() + b"\0" * (5 * 2**20 + 1))  # a PNG head, 5 MB more
    line = issue.line_of("part1.md", "(images/slide01.png)")
    [problem] = issue.problems()
    assert problem.startswith(
        f"part1.md:{line}: 画像 images/slide01.png は 5.0 MB あり、5 MB を超えています"
    )
