"""subscriber.email_hash: the suppression key of each subscriber's address.

sha256 of the trimmed, lower-cased address (mailer.services.suppression), the
same key `suppression.email_hash` holds, so the ledger's freeze excludes a
suppressed address in any case, and an erased one (hash only), with one
equality per row. Filled for existing rows here; the model keeps it filled.

Revision ID: 0005
Revises: 0004 (0003 on the suppression branch until 0004 lands)
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mailer.services.suppression import email_hash

revision: str = "0005"
# The lead engineer owns 0004: re-point this to "0004" when both are merged.
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5000


def upgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.add_column(sa.Column("email_hash", sa.String(64), nullable=False, server_default=""))
    conn = op.get_bind()
    sub = sa.table("subscriber", sa.column("id", sa.Integer), sa.column("email", sa.String),
                   sa.column("email_hash", sa.String))
    last = 0
    while True:
        rows = conn.execute(sa.select(sub.c.id, sub.c.email).where(sub.c.id > last)
                            .order_by(sub.c.id).limit(CHUNK)).all()
        if not rows:
            break
        conn.execute(sa.update(sub).where(sub.c.id == sa.bindparam("b_id"))
                     .values(email_hash=sa.bindparam("b_hash")),
                     [{"b_id": r.id, "b_hash": email_hash(r.email)} for r in rows])
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_column("email_hash")
