"""Images of stored issues, kept in the database (`issue_asset`).

`load_issue` stores the bytes of every image an issue's documents use, in the
same transaction as the issue and its parts, so any web host serves
`/assets/{slug}/{path}` from the shared database. One row per (issue, path).

Issues stored before this revision have no images yet, and their digest would
make the next `mailer issue load` of an unchanged folder a no-op: the upgrade
clears `issue.source_digest`, so loading (or uploading) the folder again
stores its images (the parts are compared one by one and stay untouched).
The downgrade drops the table; the cleared digests only cost one rewrite of
the issue row on the next load.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issue_asset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("media_type", sa.String(length=50), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issue.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issue_id", "path", name="uq_issue_asset_issue_path"),
    )
    op.execute(sa.text("UPDATE issue SET source_digest = ''"))


def downgrade() -> None:
    op.drop_table("issue_asset")
