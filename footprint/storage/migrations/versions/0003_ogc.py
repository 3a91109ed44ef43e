"""Deposits carry their GeoJSON feature, serialised once when the version is stored.

Revision ID: 0003_ogc
Revises: 0002_versions
Create Date: 2026-12-01

A footprint version never changes, so its deposits are written out as GeoJSON text
(``deposits.feature_json``) at build time and OGC API pages are joined from that text
instead of being serialised on every request. Versions stored before this revision keep
``NULL`` there and are serialised on read, as before. (Re-chained after 0002_versions.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_ogc"
down_revision = "0002_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deposits") as batch:
        batch.add_column(sa.Column("feature_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deposits") as batch:
        batch.drop_column("feature_json")
