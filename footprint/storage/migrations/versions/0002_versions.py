"""Versions people can work with: retired layers and the inputs hash of a footprint.

Revision ID: 0002_versions
Revises: 0001_initial
Create Date: 2026-12-01

* ``layers.retired_at`` / ``layers.retired_by``: a retired (superseded) layer is kept for
  the provenance of the versions built with it, but the next build no longer reads it.
* ``footprints.inputs_sha256``: canonical sha256 of everything a build reads (sheet,
  active layers, data files, seed, draws, model version), looked up per field so a build
  whose inputs did not change returns the existing version instead of adding one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from footprint.storage.types import UTCDateTime

revision = "0002_versions"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("layers") as batch:
        batch.add_column(sa.Column("retired_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("retired_by", sa.String(200), nullable=True))
    with op.batch_alter_table("footprints") as batch:
        batch.add_column(sa.Column("inputs_sha256", sa.String(64), nullable=True))
    op.create_index("ix_footprints_field_id_inputs_sha256", "footprints",
                    ["field_id", "inputs_sha256"])


def downgrade() -> None:
    op.drop_index("ix_footprints_field_id_inputs_sha256", table_name="footprints")
    with op.batch_alter_table("footprints") as batch:
        batch.drop_column("inputs_sha256")
    with op.batch_alter_table("layers") as batch:
        batch.drop_column("retired_by")
        batch.drop_column("retired_at")
