"""Call detail records, one row per leg.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cdrs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey("customers.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("bridge_id", sa.String(32), nullable=True),
        sa.Column("execution_id", sa.String(64), nullable=True),
        sa.Column("from_user", sa.String(255), nullable=True),
        sa.Column("from_name", sa.String(255), nullable=True),
        sa.Column("from_header", sa.Text(), nullable=False),
        sa.Column("dst_user", sa.String(255), nullable=True),
        sa.Column("dst_host", sa.String(255), nullable=False),
        sa.Column("dst_uri", sa.Text(), nullable=False),
        sa.Column("local_socket", sa.String(64), nullable=False),
        sa.Column("remote_socket", sa.String(64), nullable=False),
        _when("created_at", nullable=False),
        _when("progress_at"),
        sa.Column("progress_status", sa.Integer(), nullable=True),
        sa.Column("progress_reason", sa.String(255), nullable=True),
        _when("answered_at"),
        sa.Column("answered_status", sa.Integer(), nullable=True),
        sa.Column("answered_reason", sa.String(255), nullable=True),
        _when("hungup_at"),
        sa.Column("hungup_reason", sa.String(255), nullable=True),
        sa.Column("ring_duration", sa.Float(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
    )
    op.create_index(op.f("ix_cdrs_owner_id"), "cdrs", ["owner_id"])
    op.create_index(op.f("ix_cdrs_call_id"), "cdrs", ["call_id"])
    op.create_index(op.f("ix_cdrs_bridge_id"), "cdrs", ["bridge_id"])
    op.create_index(op.f("ix_cdrs_created_at"), "cdrs", ["created_at"])


def downgrade() -> None:
    op.drop_table("cdrs")
