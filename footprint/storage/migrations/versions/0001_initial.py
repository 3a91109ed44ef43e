"""Initial schema: fields, layers, features, footprints, deposits, declarations, jobs,
API keys and audit.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-27

Spatial indexes depend on the backend: GIST on the PostGIS ``geom`` columns; on SQLite a
composite B-tree on the bounding-box columns (see ``footprint/storage/README.md``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from footprint.storage.types import Geometry4326, JSONDoc, UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _bbox() -> list[sa.Column]:
    return [sa.Column(name, sa.Float(), nullable=True) for name in ("minx", "miny", "maxx", "maxy")]


def _pk(table: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint("id", name=f"pk_{table}")


def _spatial_index(table: str, prefix_column: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(f"ix_{table}_geom", table, ["geom"], postgresql_using="gist")
    else:
        op.create_index(f"ix_{table}_bbox", table,
                        [prefix_column, "minx", "maxx", "miny", "maxy"])


def _create_fields() -> None:
    op.create_table(
        "fields",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("participant_iso3", sa.String(3), nullable=False),
        sa.Column("crs_epsg", sa.Integer(), nullable=False),
        sa.Column("aoi", Geometry4326(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        *_bbox(),
        _pk("fields"),
    )


def _create_layers() -> None:
    op.create_table(
        "layers",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("field_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("crs", sa.Text(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("stac", JSONDoc, nullable=True),
        sa.Column("meta", JSONDoc, nullable=False),
        sa.Column("n_features", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        *_bbox(),
        _pk("layers"),
        sa.ForeignKeyConstraint(["field_id"], ["fields.id"], ondelete="CASCADE",
                                name="fk_layers_field_id_fields"),
        sa.UniqueConstraint("field_id", "kind", "version", name="uq_layers_field_id_kind_version"),
        sa.UniqueConstraint("field_id", "kind", "sha256", name="uq_layers_field_id_kind_sha256"),
        sa.CheckConstraint("source IN ('upload', 'bundled')", name="ck_layers_source"),
    )


def _create_layer_features() -> None:
    op.create_table(
        "layer_features",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("layer_id", RowId, nullable=False),
        sa.Column("feature_index", sa.Integer(), nullable=False),
        sa.Column("properties", JSONDoc, nullable=False),
        sa.Column("geom", Geometry4326(), nullable=True),
        *_bbox(),
        _pk("layer_features"),
        sa.ForeignKeyConstraint(["layer_id"], ["layers.id"], ondelete="CASCADE",
                                name="fk_layer_features_layer_id_layers"),
        sa.UniqueConstraint("layer_id", "feature_index",
                            name="uq_layer_features_layer_id_feature_index"),
    )
    _spatial_index("layer_features", "layer_id")


def _create_footprints() -> None:
    op.create_table(
        "footprints",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("field_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("n_draws", sa.Integer(), nullable=False),
        sa.Column("code_version", sa.String(100), nullable=False),
        sa.Column("sheet_sha256", sa.String(64), nullable=True),
        sa.Column("parameters", JSONDoc, nullable=False),
        sa.Column("summaries", JSONDoc, nullable=False),
        sa.Column("provenance", JSONDoc, nullable=False),
        sa.Column("draws_path", sa.Text(), nullable=True),
        sa.Column("rasters", JSONDoc, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n_deposits", sa.Integer(), nullable=False),
        _pk("footprints"),
        sa.ForeignKeyConstraint(["field_id"], ["fields.id"], ondelete="CASCADE",
                                name="fk_footprints_field_id_fields"),
        sa.UniqueConstraint("field_id", "version", name="uq_footprints_field_id_version"),
    )


def _create_deposits() -> None:
    op.create_table(
        "deposits",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("footprint_id", RowId, nullable=False),
        sa.Column("feature_index", sa.Integer(), nullable=False),
        sa.Column("deposit_class", sa.String(64), nullable=True),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.Column("mined_area_m2", sa.Float(), nullable=True),
        sa.Column("mode", sa.String(32), nullable=True),
        sa.Column("properties", JSONDoc, nullable=False),
        sa.Column("geom", Geometry4326(), nullable=True),
        *_bbox(),
        _pk("deposits"),
        sa.ForeignKeyConstraint(["footprint_id"], ["footprints.id"], ondelete="CASCADE",
                                name="fk_deposits_footprint_id_footprints"),
        sa.UniqueConstraint("footprint_id", "feature_index",
                            name="uq_deposits_footprint_id_feature_index"),
    )
    _spatial_index("deposits", "footprint_id")


def _create_declarations() -> None:
    op.create_table(
        "declarations",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("participant_iso3", sa.String(3), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("partner", sa.String(64), nullable=True),
        sa.Column("flow", sa.String(32), nullable=True),
        sa.Column("carats", sa.Float(), nullable=True),
        sa.Column("value_usd", sa.Float(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("upload_sha256", sa.String(64), nullable=False),
        sa.Column("row", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        _pk("declarations"),
        sa.CheckConstraint("kind IN ('production', 'exports', 'certificates')",
                           name="ck_declarations_kind"),
    )
    op.create_index("ix_declarations_kind_participant_iso3_year", "declarations",
                    ["kind", "participant_iso3", "year"])
    op.create_index("ix_declarations_kind_upload_sha256", "declarations",
                    ["kind", "upload_sha256"])


def _create_jobs() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("process_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("inputs", JSONDoc, nullable=False),
        sa.Column("results", JSONDoc, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        _pk("jobs"),
        sa.CheckConstraint(
            "status IN ('accepted', 'running', 'successful', 'failed', 'dismissed')",
            name="ck_jobs_status"),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name="ck_jobs_progress"),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])


def _create_api_keys() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        _pk("api_keys"),
        sa.UniqueConstraint("key_sha256", name="uq_api_keys_key_sha256"),
        sa.CheckConstraint("role IN ('reader', 'surveyor', 'monitor', 'admin')",
                           name="ck_api_keys_role"),
    )
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"])


def _create_audit() -> None:
    op.create_table(
        "audit",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("detail", JSONDoc, nullable=False),
        _pk("audit"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    _create_fields()
    _create_layers()
    _create_layer_features()
    _create_footprints()
    _create_deposits()
    _create_declarations()
    _create_jobs()
    _create_api_keys()
    _create_audit()


def downgrade() -> None:
    for table in ("audit", "api_keys", "jobs", "declarations", "deposits", "footprints",
                  "layer_features", "layers", "fields"):
        op.drop_table(table)
