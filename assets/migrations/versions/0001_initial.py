"""Initial schema: organisations, users, assets, audit, boundaries, meta and feature tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

The table definitions are written out here rather than imported from ``assets.store`` so
that this migration keeps creating the same schema when the store's tables change later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_AUDIT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Text columns of the assets table, in Asset field order within each group.
_ASSET_TEXT = (
    "description",
    "organisation_name",
    "run_by",
    "run_by_number",
    "address",
    "town",
    "postcode",
    "location_precision",
    "ward_code",
    "ward_name",
    "constituency_code",
    "constituency_name",
    "district_code",
    "district_name",
    "boundary_vintage",
    "geocode_source",
    "public_phone",
    "public_email",
    "website",
    "organiser_name",
    "organiser_phone",
    "organiser_email",
    "schedule_notes",
    "cost",
    "cost_note",
    "communities",
    "external_id",
    "created_by",
    "updated_by",
)


def _text(name: str) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=False, server_default="")


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        _text("description"),
        _text("identifier"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("name", name="uq_organisations_name"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("email", sa.Text(), nullable=False),
        _text("name"),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column(
            "organisation_id",
            sa.String(36),
            sa.ForeignKey("organisations.id", name="fk_users_organisation_id"),
            nullable=True,
        ),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_seen", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    asset_columns = [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False, server_default="[]"),
        sa.Column(
            "organisation_id",
            sa.String(36),
            sa.ForeignKey("organisations.id", name="fk_assets_organisation_id"),
            nullable=False,
        ),
        *(_text(name) for name in _ASSET_TEXT),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("easting", sa.Float(), nullable=True),
        sa.Column("northing", sa.Float(), nullable=True),
        sa.Column("private_address", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("sessions", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("by_arrangement", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("accessibility", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("for_whom", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("status", sa.Text(), nullable=False, server_default="published"),
        sa.Column("last_verified", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.Column("match_key", sa.Text(), nullable=False, server_default=""),
    ]
    op.create_table("assets", *asset_columns)
    for column in ("match_key", "external_id", "status", "organisation_id", "ward_code"):
        op.create_index(f"ix_assets_{column}", "assets", [column])

    op.create_table(
        "audit",
        sa.Column("id", _AUDIT_ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_id", sa.Text(), nullable=False),
        _text("actor_email"),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("changes", _JSON, nullable=False),
        _text("note"),
    )
    op.create_index("ix_audit_entity", "audit", ["entity", "entity_id"])
    op.create_index("ix_audit_at", "audit", ["at"])

    op.create_table(
        "boundary_layers",
        sa.Column("layer", sa.Text(), primary_key=True),
        _text("source"),
        _text("vintage"),
        sa.Column("loaded_at", sa.DateTime(), nullable=True),
        sa.Column("approximate", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("notes", sa.Text(), nullable=False, server_default="[]"),
    )
    op.create_table(
        "boundary_features",
        sa.Column(
            "layer",
            sa.Text(),
            sa.ForeignKey("boundary_layers.layer", name="fk_boundary_features_layer", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("code", sa.Text(), primary_key=True),
        _text("name"),
        sa.Column("geometry", sa.LargeBinary(), nullable=False),
    )
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.bulk_insert(meta, [{"key": "data_version", "value": "0"}])
    op.create_table(
        "app_settings",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("value", _JSON, nullable=True),
    )
    op.create_table(
        "coverage_snapshots",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _text("created_by"),
        _text("area_code"),
        sa.Column("payload", _JSON, nullable=False),
    )
    op.create_table(
        "unmet_demand",
        sa.Column("ward_code", sa.Text(), primary_key=True),
        sa.Column("category", sa.Text(), primary_key=True),
        sa.Column("day", sa.Text(), primary_key=True),
        sa.Column("period", sa.Text(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "problem_reports",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "asset_id",
            sa.String(36),
            sa.ForeignKey("assets.id", name="fk_problem_reports_asset_id"),
            nullable=False,
        ),
        _text("reported_by"),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
        _text("reason"),
        _text("note"),
        sa.Column("status", sa.Text(), nullable=False, server_default="open"),
        _text("outcome"),
        _text("closed_by"),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_problem_reports_asset_id", "problem_reports", ["asset_id"])

    if op.get_bind().dialect.name == "postgresql":
        _postgis_geometry()


def _postgis_geometry() -> None:
    """assets.geom: a BNG point kept in step with easting/northing by a trigger on every write."""
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("ALTER TABLE assets ADD COLUMN geom geometry(Point, 27700)")
    op.execute("CREATE INDEX ix_assets_geom ON assets USING gist (geom)")
    # A trigger rather than store code: no write path (including a manual fix in psql) can
    # leave geom out of step with the coordinates it is derived from.
    op.execute(
        """
        CREATE FUNCTION cam_assets_geom() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.easting IS NULL OR NEW.northing IS NULL
               OR NEW.easting = 'NaN'::float8 OR NEW.northing = 'NaN'::float8 THEN
                NEW.geom := NULL;
            ELSE
                NEW.geom := ST_SetSRID(ST_MakePoint(NEW.easting, NEW.northing), 27700);
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER trg_assets_geom BEFORE INSERT OR UPDATE ON assets "
        "FOR EACH ROW EXECUTE FUNCTION cam_assets_geom()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_assets_geom ON assets")
        op.execute("DROP FUNCTION IF EXISTS cam_assets_geom()")
    for table in (
        "problem_reports",
        "unmet_demand",
        "coverage_snapshots",
        "app_settings",
        "meta",
        "boundary_features",
        "boundary_layers",
        "audit",
        "assets",
        "users",
        "organisations",
    ):
        op.drop_table(table)
