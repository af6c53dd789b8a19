"""Reading subscriber files: encodings, headers, row validation, and files that
cannot be read at all (an error naming the file, nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from subscribers_support import HEADER, ROWS, Cli, csv_text, table_counts, write

from mailer.services.importer import (
    MAX_FILE_BYTES,
    SubscriberFileError,
    parse_subscriber_bytes,
    read_subscriber_file,
)


def parse(text: str, encoding: str = "utf-8"):  # type: ignore[no-untyped-def]
    return parse_subscriber_bytes(text.encode(encoding), name="t.csv")


@pytest.mark.parametrize(("encoding", "label"), [
    ("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8 (BOM)"), ("cp932", "Shift_JIS (CP932)"),
])
def test_encodings_are_detected_and_variant_kanji_survive(
    tmp_path: Path, encoding: str, label: str
) -> None:
    path = write(tmp_path / "in.csv", csv_text(*ROWS), encoding)
    parsed = read_subscriber_file(path)
    assert parsed.encoding == label
    assert not parsed.rejected and not parsed.warnings
    names = [row.name for row in parsed.rows]
    assert names == ["佐藤 一郎", "髙橋 健太", "山﨑 直子", "中村 誠"]
    minato = parsed.rows[1]
    assert (minato.format, minato.charset, minato.roles) == ("text", "iso-2022-jp", "CIO補佐;CISO")
    assert minato.job_title == "政策経営部長(CIO補佐、CISO)"  # kept exactly, no NFKC


def test_english_and_full_width_headers_map_unknown_columns_warn() -> None:
    header = " Email ,ＮＡＭＥ,organization,Kind,Job Title,roles,FORMAT,charset,備考"
    parsed = parse(csv_text("a@x.example.jp,佐藤,千代田区,特別区,副区長,CIO,text,utf8,memo",
                            header=header))
    assert not parsed.rejected
    assert parsed.columns["email"] == "Email" and parsed.columns["name"] == "ＮＡＭＥ"
    assert parsed.warnings == ["1 行目: 知らない列「備考」（9 列目）は読み飛ばしました"]
    row = parsed.rows[0]
    assert (row.organisation, row.organisation_kind, row.format, row.charset) == (
        "千代田区", "特別区", "text", "utf-8")


def test_addresses_are_normalised_and_deduplicated_case_insensitively() -> None:
    parsed = parse(csv_text(
        "Taro.Yamada@Example.JP,a",
        "ｔａｒｏ．ｙａｍａｄａ＠ｅｘａｍｐｌｅ．ｊｐ,b",  # full-width: same address
        "　hanako@example.jp　,c",
        header="メールアドレス,氏名"))
    assert [r.email for r in parsed.rows] == ["Taro.Yamada@example.jp", "hanako@example.jp"]
    assert [(r.line, r.reason) for r in parsed.rejected] == [
        (3, "2 行目と重複しています（taro.yamada@example.jp）")]


def test_every_bad_row_is_reported_with_its_line_number() -> None:
    parsed = parse(csv_text(
        "ok@example.jp,,,,特別区,,,HTML,UTF-8",
        "not-an-address,,,,,,,,",
        ",佐藤,,,,,,,",
        "b@example.jp,,,,県,,,PDF,EUC-JP",
        '"c@example.jp","複数\n行",,,,,,,',  # a quoted cell spanning lines 6-7
        "d@example.jp,,,,,,,,,extra",
        "ok@example.jp,,,,,,,,",
    ))
    assert len(parsed.rows) == 1
    reasons = {r.line: r.reason for r in parsed.rejected}
    assert set(reasons) == {3, 4, 5, 6, 8, 9}
    assert reasons[3] == "メールアドレス: 「not-an-address」は@ がありません"
    assert reasons[4] == "メールアドレス: 空です"
    assert "団体区分: 「県」は使えません：都、特別区、市、町、村 のいずれかです" in reasons[5]
    assert "形式: 「PDF」は使えません：HTML（html）かテキスト（text）です" in reasons[5]
    assert "文字コード: 「EUC-JP」は使えません：UTF-8 か ISO-2022-JP です" in reasons[5]
    assert "セルの中に改行（U+000A）があります" in reasons[6]
    assert reasons[8] == "セルが 10 個ありますが、見出しは 9 列です"
    assert reasons[9] == "2 行目と重複しています（ok@example.jp）"


def test_windows_gaiji_in_a_cp932_file_is_rejected_not_garbled() -> None:
    data = "メールアドレス,氏名\r\na@example.jp,".encode("cp932") + b"\xf0\x40\r\n"
    parsed = parse_subscriber_bytes(data, name="t.csv")
    assert parsed.encoding == "Shift_JIS (CP932)" and not parsed.rows
    assert parsed.rejected[0].reason == (
        "氏名: 外字（U+E000）は使えません：ほかのパソコンでは正しく表示されません")


def test_formula_looking_cells_are_kept_as_text() -> None:
    parsed = parse(csv_text('a@example.jp,"=HYPERLINK(""http://x"")",+81,-,@home',
                            header="メールアドレス,氏名,団体名,役職,役割"))
    row = parsed.rows[0]
    assert (row.name, row.organisation, row.job_title, row.roles) == (
        '=HYPERLINK("http://x")', "+81", "-", "@home")


@pytest.mark.parametrize(("content", "message"), [
    (b"", "ファイルが空です"),
    (b"\xef\xbb\xbf\r\n\r\n", "ファイルが空です"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "バイナリデータ"),
    (b"\xff\xfeM\x000\x00", "UTF-16"),
    ("メールアドレス\r\n".encode("cp932") + b"\x82\xa0\x81\x7f@x.jp\r\n",
     "UTF-8 でも"),
    (b"\r\na@example.jp\r\n", "見出しの行がありません（1 行目が空です）"),
    ("a@example.jp,佐藤\r\n".encode(), "1 行目がデータのようです"),
    ("氏名,団体名\r\n佐藤,港区\r\n".encode(), "メールアドレスの列"),
    ("メールアドレス,email\r\na@x.jp,b@x.jp\r\n".encode(), "どちらも email です"),
])
def test_unreadable_files_are_errors_naming_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(SubscriberFileError) as info:
        read_subscriber_file(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_a_file_over_50_mb_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:
        fh.write(HEADER.encode() + b"\r\n")
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: instant
    with pytest.raises(SubscriberFileError, match="上限の 50 MB を超えています"):
        read_subscriber_file(path)


@pytest.mark.parametrize("kind", ["bad-encoding", "empty", "missing-column", "huge", "binary"])
def test_cli_unreadable_file_writes_nothing(
    cli: Cli, engine: Engine, tmp_path: Path, kind: str
) -> None:
    assert cli("subscribers", "import", str(write(tmp_path / "ok.csv", csv_text(*ROWS))),
               "--list", "cio-forum")[0] == 0
    before = table_counts(engine)
    path = tmp_path / f"{kind}.csv"
    if kind == "bad-encoding":
        # CP932 with a byte pair that is neither CP932 nor UTF-8 (as EUC-JP files have).
        path.write_bytes(csv_text(*ROWS).encode("cp932") + b"\x81\x7f\r\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "missing-column":
        write(path, "氏名,団体名\r\n佐藤,港区\r\n")
    elif kind == "huge":
        with path.open("wb") as fh:
            fh.write(csv_text(*ROWS).encode())
            fh.truncate(MAX_FILE_BYTES + 1)
    else:
        path.write_bytes(bytes(range(256)) * 64)
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum")
    assert code == 1
    assert str(path) in out and "何も書いていません" in out
    assert table_counts(engine) == before


def test_cli_reports_rejected_rows_and_imports_the_valid_ones(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path / "mixed.csv", csv_text(ROWS[0], "broken@@example.jp,佐藤,,,,,,,",
                                                  ROWS[1], ROWS[0]), "cp932")
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum")
    assert code == 3, out
    assert "Shift_JIS (CP932)" in out
    assert "受け付けません: 3 行目: メールアドレス: 「broken@@example.jp」は" in out
    assert "受け付けません: 5 行目: 2 行目と重複しています（cio@chiyoda.example.jp）" in out
    assert "作成 2、更新 0、変更なし 0、受け付けず 2、抑止のため飛ばした 0" in out
    assert table_counts(engine)["Subscriber"] == 2


def test_cli_unknown_list_writes_nothing(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    before = table_counts(engine)
    code, out = cli("subscribers", "import", str(write(tmp_path / "a.csv", csv_text(*ROWS))),
                    "--list", "no-such-list")
    assert code == 1 and "リスト「no-such-list」はありません" in out
    assert table_counts(engine) == before
