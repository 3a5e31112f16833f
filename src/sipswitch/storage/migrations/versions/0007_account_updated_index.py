"""Index SIP accounts by ``updated_at``: the registrar re-reads only the accounts that changed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sip_accounts_updated_at", "sip_accounts", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_sip_accounts_updated_at", "sip_accounts")
