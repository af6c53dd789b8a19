"""Time a 100,000-row subscriber import (CP932 file, as Excel writes it).

Run: .venv/bin/python benchmarks/bench_import.py [rows] [--postgres ADMIN_URL]

Generates fictional Japanese contacts on example.jp domains in a temporary
directory, then times: reading and validating the file, the first import into
an empty database (all created), and a second import of the same file (all
unchanged). SQLite always; PostgreSQL too when an admin URL is given (or
MAILER_TEST_POSTGRES_URL is set): a scratch database is created and dropped.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session

from mailer.db import make_engine, upgrade
from mailer.services.importer import read_subscriber_file
from mailer.services.subscribers import Consent, apply_import, create_list

SURNAMES = ["佐藤", "鈴木", "髙橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "山﨑",
            "吉田", "山田", "松本", "井上", "木村", "林", "斎藤", "清水", "山口", "森"]
GIVEN = ["一郎", "恵子", "健太", "裕子", "誠", "直子", "大輔", "美穂", "翔", "陽子"]
KINDS = [("特別区", "区"), ("市", "市"), ("町", "町"), ("村", "村")]
TITLES = ["副区長(CIO)", "総務部長兼情報政策担当部長(CIO補佐、CDO)", "情報システム課長(CISO補佐)",
          "デジタル推進室長(CDO)", "企画政策部長(CIO補佐)"]
ROLES = ["CIO", "CIO補佐;CDO", "CISO補佐", "CDO", "CIO補佐"]


def generate(path: Path, rows: int, *, seed: int = 4) -> None:
    rnd = random.Random(seed)
    lines = ["メールアドレス,氏名,敬称,団体名,団体区分,役職,役割,形式,文字コード"]
    for i in range(rows):
        kind, suffix = KINDS[i % len(KINDS)]
        k = rnd.randrange(len(TITLES))
        lines.append(",".join([
            f"user{i:06d}@city{i % 997:03d}.example.jp",
            f"{rnd.choice(SURNAMES)} {rnd.choice(GIVEN)}",
            "様",
            f"第{i % 997}{suffix}",
            kind,
            f'"{TITLES[k]}"',
            ROLES[k],
            "テキスト" if i % 10 == 0 else "HTML",
            "ISO-2022-JP" if i % 20 == 0 else "UTF-8",
        ]))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))


def run(url: str, path: Path) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        create_list(session=session, name="bench")
        session.commit()
    for attempt in ("first import (all created)", "same file again (all unchanged)"):
        t0 = time.perf_counter()
        parsed = read_subscriber_file(path)
        t1 = time.perf_counter()
        with Session(engine) as session:
            report = apply_import(
                session=session, parsed=parsed, list_name="bench",
                consent=Consent(source=f"import:{path.name}", by="bench", at=datetime.now(UTC)))
            session.commit()
        t2 = time.perf_counter()
        c = report.counts
        print(f"  {attempt}: read+validate {t1 - t0:.1f} s, database {t2 - t1:.1f} s, "
              f"total {t2 - t0:.1f} s (created {c.created}, updated {c.updated}, "
              f"unchanged {c.unchanged}, rejected {c.rejected})")
    engine.dispose()


def main() -> None:
    args = sys.argv[1:]
    admin = os.environ.get("MAILER_TEST_POSTGRES_URL")
    if "--postgres" in args:
        i = args.index("--postgres")
        admin = args[i + 1]
        del args[i:i + 2]
    rows = int(args[0]) if args else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "subscribers-cp932.csv"
        generate(path, rows)
        print(f"{rows} rows, {path.stat().st_size / 1024 / 1024:.1f} MB CP932, "
              f"{os.cpu_count()} CPUs")
        print("SQLite:")
        run(f"sqlite:///{Path(tmp) / 'bench.db'}", path)
        if admin:
            import psycopg
            from sqlalchemy.engine import make_url

            plain = admin.replace("postgresql+psycopg://", "postgresql://")
            name = f"mailer_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                print("PostgreSQL:")
                url = make_url(plain).set(drivername="postgresql+psycopg", database=name)
                run(url.render_as_string(hide_password=False), path)
            finally:
                with psycopg.connect(plain, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
