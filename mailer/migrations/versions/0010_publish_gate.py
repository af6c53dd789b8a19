"""part.published_at / published_by: the publish gate.

A part is public (archive page, Atom feed, its images) only once it has been
published: by the start of its first real send, or by an editor. Parts that
already have a started send are published here, at the earliest start, by
"system"; the others stay unpublished until a send starts or an editor
publishes them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("part") as batch:
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("published_by", sa.String(), nullable=False,
                                   server_default=""))
    part = sa.table("part", sa.column("id", sa.Integer),
                    sa.column("published_at", sa.DateTime(timezone=True)),
                    sa.column("published_by", sa.String))
    send = sa.table("send", sa.column("part_id", sa.Integer),
                    sa.column("started_at", sa.DateTime(timezone=True)))
    first_start = (sa.select(sa.func.min(send.c.started_at))
                   .where(send.c.part_id == part.c.id, send.c.started_at.is_not(None))
                   .scalar_subquery())
    op.get_bind().execute(
        sa.update(part).where(part.c.published_at.is_(None), first_start.is_not(None))
        .values(published_at=first_start, published_by="system")
    )


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), not a copy of the table: with
    # foreign keys on, dropping the old `part` fails while sends refer to it.
    with op.batch_alter_table("part", recreate="never") as batch:
        batch.drop_column("published_by")
        batch.drop_column("published_at")
