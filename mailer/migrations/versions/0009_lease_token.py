"""delivery.lease_token: the fencing token of the claim holding a row.

Each batch claims its rows with a random token; renewing the lease and
recording an outcome only touch rows whose token still matches, so a worker
that stalled past its lease cannot write over the batch that took its rows
(docs/delivery.md, "Leases, heartbeat and fencing").

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
# The brief names "0005"; main's head is "0008" (which revises 0005), and two
# heads would stop `upgrade head`. Re-point when the branches are merged.
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("lease_token", sa.String(32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("lease_token")
