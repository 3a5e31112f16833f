"""Dialplans and their versions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "dialplans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.UniqueConstraint("owner_id", "name"),
    )
    op.create_table(
        "dialplan_versions",
        sa.Column(
            "dialplan_id",
            sa.Integer(),
            sa.ForeignKey("dialplans.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(64), nullable=True),
        _when("created_at"),
    )


def downgrade() -> None:
    op.drop_table("dialplan_versions")
    op.drop_table("dialplans")
