"""send.overlap, and one ledger row per (send, subscriber) instead of per (part, subscriber).

Scheduling a part to subscribers who already got it (or are getting it) is
an explicit choice now: `skip` (the default) leaves them out when the
recipients are frozen, `again` sends it to them again. Sending again needs a
second ledger row for the same part and subscriber, so the unique key becomes
(part_id, subscriber_id, send_id): still one row per send and subscriber (a
send has one part), and still led by (part_id, subscriber_id), which the
freeze's "already has it" test looks up. Existing sends keep `skip`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = sa.text("status = 'sending'")
OVERLAP = sa.Enum("skip", "again", name="sendoverlap", native_enum=False, length=20)


def _rebuild_lease_index(batch_op: BatchOperations) -> None:
    # SQLite rebuilds the table in batch mode; the partial index is dropped and
    # made again so it keeps its WHERE whatever the reflection keeps.
    batch_op.drop_index("ix_delivery_sending_lease")
    batch_op.create_index("ix_delivery_sending_lease", ["lease_until"], unique=False,
                          postgresql_where=WHERE, sqlite_where=WHERE)


def upgrade() -> None:
    with op.batch_alter_table("send") as batch:
        batch.add_column(sa.Column("overlap", OVERLAP, nullable=False, server_default="skip"))
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.drop_constraint("uq_delivery_part_subscriber", type_="unique")
        batch_op.create_unique_constraint("uq_delivery_part_subscriber_send",
                                          ["part_id", "subscriber_id", "send_id"])
        _rebuild_lease_index(batch_op)


def downgrade() -> None:
    # Fails if a part was sent again to someone (two rows for one part and
    # subscriber): those rows must be removed first, deliberately.
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.drop_constraint("uq_delivery_part_subscriber_send", type_="unique")
        batch_op.create_unique_constraint("uq_delivery_part_subscriber",
                                          ["part_id", "subscriber_id"])
        _rebuild_lease_index(batch_op)
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), not a copy of the table: with
    # foreign keys on, dropping the old `send` fails while its lists (send_list) refer to it.
    with op.batch_alter_table("send", recreate="never") as batch:
        batch.drop_column("overlap")
