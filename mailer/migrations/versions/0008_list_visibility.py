"""mailing_list.visibility: public lists are offered to readers, internal ones are not.

The preferences page used to show every list, internal ones included, and a
POST naming any list joined it. Existing lists become internal: a reader still
sees (and can leave) the lists they are on; an administrator makes a list
public with `mailer lists set-visibility NAME public`.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        batch.add_column(sa.Column("visibility", sa.String(16), nullable=False,
                                   server_default="internal"))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), not a copy of the table: with
    # foreign keys on, dropping the old `mailing_list` fails while memberships
    # and sends refer to it.
    with op.batch_alter_table("mailing_list", recreate="never") as batch:
        batch.drop_column("visibility")
