"""Providers name the account their incoming calls go to; accounts may allow REFER from their phone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("providers", sa.Column("incoming_account", sa.String(200), nullable=True))
    with op.batch_alter_table("sip_accounts") as batch:
        batch.add_column(
            sa.Column("allow_refer", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sip_accounts") as batch:
        batch.drop_column("allow_refer")
    op.drop_column("providers", "incoming_account")
