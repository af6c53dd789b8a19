"""Who created and who approved a send, as a person (user id), not a credential.

The four-eyes rule compares people: a user who created a send in the admin
cannot approve it with an API token of theirs, nor from the CLI with
`--as`. `created_by` / `approved_by` keep the name shown on the pages; the
new columns hold the user id when the actor has a staff account (NULL for a
CLI operator without one, whose name is then compared instead).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("send") as batch:
        batch.add_column(sa.Column("created_by_user_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("approved_by_user_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("send") as batch:
        batch.drop_column("approved_by_user_id")
        batch.drop_column("created_by_user_id")
