"""Registrar bindings and security bans.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "bindings",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("sip_accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("aor", sa.String(320), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("q", sa.Float(), nullable=True),
        _when("expires_at"),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("cseq", sa.Integer(), nullable=False),
        sa.Column("source_ip", sa.String(45), nullable=False),
        sa.Column("source_port", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("local", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(255), nullable=False),
        sa.Column("instance", sa.String(255), nullable=True),
        sa.Column("reg_id", sa.Integer(), nullable=True),
        sa.Column("keepalive", sa.Boolean(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_index(op.f("ix_bindings_account_id"), "bindings", ["account_id"])
    op.create_index(op.f("ix_bindings_aor"), "bindings", ["aor"])
    op.create_table(
        "security_bans",
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _when("created_at"),
        _when("until"),
    )


def downgrade() -> None:
    op.drop_table("security_bans")
    op.drop_index(op.f("ix_bindings_aor"), "bindings")
    op.drop_index(op.f("ix_bindings_account_id"), "bindings")
    op.drop_table("bindings")
