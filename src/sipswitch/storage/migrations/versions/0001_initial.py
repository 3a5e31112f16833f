"""Initial schema: customers, domains and aliases, SIP accounts, providers, kv.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _owner(nullable: bool = False, primary_key: bool = False) -> sa.Column[object]:
    return sa.Column(
        "owner_id",
        sa.Integer(),
        sa.ForeignKey("customers.id", ondelete="CASCADE"),
        nullable=nullable,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        _when("created_at"),
    )
    op.create_table(
        "domains",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(253), nullable=False, unique=True),
        _owner(nullable=True),
        _when("created_at"),
    )
    op.create_index(op.f("ix_domains_owner_id"), "domains", ["owner_id"])
    op.create_table(
        "domain_aliases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "domain_id",
            sa.Integer(),
            sa.ForeignKey("domains.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("alias", sa.String(253), nullable=False, unique=True),
    )
    op.create_index(op.f("ix_domain_aliases_domain_id"), "domain_aliases", ["domain_id"])
    op.create_table(
        "sip_accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        _owner(),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column(
            "domain_id",
            sa.Integer(),
            sa.ForeignKey("domains.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("ha1_md5", sa.String(32), nullable=False),
        sa.Column("ha1_sha256", sa.String(64), nullable=False),
        sa.Column("in_dialplan", sa.String(64), nullable=True),
        sa.Column("out_dialplan", sa.String(64), nullable=True),
        sa.Column("incoming_only", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("admin_disabled", sa.Boolean(), nullable=False),
        sa.Column("nat_keepalive", sa.Boolean(), nullable=False),
        sa.Column("ip_acl", sa.Text(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.UniqueConstraint("username", "domain_id"),
    )
    op.create_index(op.f("ix_sip_accounts_owner_id"), "sip_accounts", ["owner_id"])
    op.create_table(
        "providers",
        sa.Column("id", sa.Integer(), primary_key=True),
        _owner(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("server", sa.String(255), nullable=False),
        sa.Column("username", sa.String(128), nullable=True),
        sa.Column("auth_username", sa.String(128), nullable=True),
        sa.Column("password", sa.String(255), nullable=True),
        sa.Column("outbound_proxy", sa.String(255), nullable=True),
        sa.Column("from_header", sa.String(512), nullable=True),
        sa.Column("custom_headers", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("register", sa.Boolean(), nullable=False),
        sa.Column("register_contact", sa.String(512), nullable=True),
        sa.Column("register_expiry", sa.Integer(), nullable=False),
        sa.Column("register_server", sa.String(255), nullable=True),
        sa.Column("registration_status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _when("next_attempt_at", nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.UniqueConstraint("owner_id", "name"),
    )
    op.create_index(op.f("ix_providers_owner_id"), "providers", ["owner_id"])
    op.create_table(
        "kv",
        _owner(primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        _when("updated_at"),
    )


def downgrade() -> None:
    for table in ("kv", "providers", "sip_accounts", "domain_aliases", "domains", "customers"):
        op.drop_table(table)
