"""subscriber.reading and subscriber.search_key: search the way names are written.

`reading` is the フリガナ field (empty for existing rows). `search_key` holds
the folded name, reading, address and organisation (mailer.search_text:
NFKC, variant kanji such as 髙 and 﨑 to 高 and 崎, katakana to hiragana,
lower case, no spaces), one per line; a search folds the query the same way
and matches it with LIKE. Filled for existing rows here; the model keeps it
filled (mailer.models.subscriber_search_key).

Revision ID: 0007
Revises: 0008 (0005 on the report branch; after 0008 once merged)
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mailer.models import subscriber_search_key

revision: str = "0007"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5000


def upgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.add_column(sa.Column("reading", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("search_key", sa.Text(), nullable=False, server_default=""))
    conn = op.get_bind()
    sub = sa.table("subscriber", sa.column("id", sa.Integer), sa.column("name", sa.String),
                   sa.column("reading", sa.String), sa.column("email", sa.String),
                   sa.column("organisation", sa.String), sa.column("search_key", sa.Text))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(sub.c.id, sub.c.name, sub.c.reading, sub.c.email, sub.c.organisation)
            .where(sub.c.id > last).order_by(sub.c.id).limit(CHUNK)).all()
        if not rows:
            break
        conn.execute(sa.update(sub).where(sub.c.id == sa.bindparam("b_id"))
                     .values(search_key=sa.bindparam("b_key")),
                     [{"b_id": r.id, "b_key": subscriber_search_key(dict(r._mapping))}
                      for r in rows])
        last = rows[-1].id


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), not a copy of the table: with
    # foreign keys on, dropping the old `subscriber` fails while memberships and events refer to it.
    with op.batch_alter_table("subscriber", recreate="never") as batch:
        batch.drop_column("search_key")
        batch.drop_column("reading")
