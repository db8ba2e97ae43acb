"""Command line for geography: ``python -m geo geocode|boundaries|map|nearby|coverage|vendor``.

This entry point wires the store (assets) to the geography (geo), as pages do; it acts
as the built-in administrator. The database comes from DATABASE_URL.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import pandas as pd

from geo.escaping import neutralise_cell
from settings import CODEPOINT_ATTRIBUTION_SHORT, get_settings

warnings.filterwarnings("ignore", message=".*OSTN15.*")

POSTCODE_HEADERS = ("postcode", "post code", "postcodes", "pc", "post_code", "postal code", "zip")
GEOCODE_COLUMNS = (
    "postcode_normalised",
    "lat",
    "lon",
    "easting",
    "northing",
    "ward_code",
    "ward_name",
    "constituency_code",
    "constituency_name",
    "district_code",
    "district_name",
    "geocode_status",
    "geocode_source",
    "geocode_message",
)


def _context(area: str | None = None):
    """Store, actor, gazetteer and area geography for a command."""
    from assets.geography import area_geography
    from assets.model import SYSTEM_ACTOR
    from assets.store import open_store
    from geo.gazetteer import load_gazetteer

    settings = get_settings()
    store = open_store(settings.database_url)
    gazetteer = load_gazetteer(settings.codepoint_zip, progress=lambda text: print(text, file=sys.stderr))
    geography = area_geography(store, SYSTEM_ACTOR, area or settings.area_code, gazetteer)
    return store, SYSTEM_ACTOR, gazetteer, geography


def find_postcode_column(headers: list[str]) -> str | None:
    """The header that holds postcodes, by common names (case and spacing ignored)."""
    folded = {h.strip().lower().replace("_", " "): h for h in headers}
    for name in POSTCODE_HEADERS:
        if name.replace("_", " ") in folded:
            return folded[name.replace("_", " ")]
    return None


def cmd_geocode(args: argparse.Namespace) -> int:
    from assets.geography import locate_frame

    frame = pd.read_csv(args.input, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    column = args.postcode_column or find_postcode_column(list(frame.columns))
    if column is None and not {"latitude", "longitude", "lat", "lon", "easting", "northing"} & {
        c.lower() for c in frame.columns
    }:
        print(
            f"error: no postcode column found among {', '.join(frame.columns)}; name it with --postcode-column",
            file=sys.stderr,
        )
        return 2
    if column is not None and column not in frame.columns:
        print(f"error: column {column!r} is not in {args.input}", file=sys.stderr)
        return 2
    _, _, gazetteer, geography = _context()
    work = frame.rename(columns={c: c.strip().lower() for c in frame.columns})
    if column is not None:
        work["postcode"] = frame[column]
    for short, long in (("lat", "latitude"), ("lon", "longitude"), ("lng", "longitude")):
        if short in work.columns and long not in work.columns:
            work[long] = work[short]
    located = locate_frame(work, gazetteer, geography, online=get_settings().online_geocoding or None)
    out = frame.copy()
    for name in GEOCODE_COLUMNS:
        out[name] = located[name].to_numpy()
    # Input cells go back out as written, so they pass the same formula guard as every export.
    out.map(neutralise_cell).to_csv(args.output, index=False)
    counts = located["geocode_status"].value_counts()
    print(", ".join(f"{status} {count}" for status, count in counts.items()) + f" ({gazetteer.version})")
    return 0


def cmd_boundaries_load(args: argparse.Namespace) -> int:
    from assets.model import SYSTEM_ACTOR
    from assets.store import open_store
    from geo.boundaries import read_boundary_file

    layer = read_boundary_file(
        Path(args.file),
        args.layer,
        code_field=args.code_field,
        name_field=args.name_field,
        vintage=args.vintage,
    )
    open_store(get_settings().database_url).save_boundary_layer(SYSTEM_ACTOR, layer)
    print(f"loaded {len(layer.frame)} {args.layer} boundaries from {layer.source} (vintage {layer.vintage})")
    for note in layer.notes:
        print(f"note: {note}")
    return 0


def cmd_boundaries_list(args: argparse.Namespace) -> int:
    from assets.model import SYSTEM_ACTOR
    from assets.store import open_store

    rows = open_store(get_settings().database_url).boundary_layer_info(SYSTEM_ACTOR)
    if not rows:
        print("no boundary layers loaded (wards are derived from postcodes, labelled approximate)")
    for row in rows:
        print(
            f"{row['layer']}: {row['features']} features from {row['source']}, vintage {row['vintage']}, "
            f"loaded {row['loaded_at']}{' (approximate)' if row.get('approximate') else ''}"
        )
    return 0


def cmd_boundaries_export(args: argparse.Namespace) -> int:
    from geo.boundaries import layer_to_wgs84_geojson

    _, _, _, geography = _context(args.area)
    if args.layer not in geography.layers:
        print(
            f"error: no {args.layer} layer is loaded; load one with `python -m geo boundaries load`",
            file=sys.stderr,
        )
        return 2
    layer = geography.layers[args.layer]
    if args.layer == "constituency":
        from geo.boundaries import select_codes

        layer = select_codes(layer, list(geography.constituencies["code"]))
    Path(args.output).write_text(json.dumps(layer_to_wgs84_geojson(layer)), encoding="utf-8")
    print(f"wrote {len(layer.frame)} {args.layer} boundaries to {args.output}")
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    from assets.coverage_report import area_coverage, export_coverage

    store, actor, gazetteer, geography = _context(args.area)
    result = area_coverage(store, actor, gazetteer, geography, verified_only=args.verified_only, baseline_id=args.baseline)
    data = export_coverage(result, geography, args.format, by=args.by, verified_only=args.verified_only)
    Path(args.output).write_bytes(data)
    rows = result.wards if args.by == "ward" else result.constituencies
    noun = "wards" if args.by == "ward" else "constituencies"
    print(f"wrote coverage of {len(rows)} {noun} of {geography.area_name} to {args.output}")
    for problem in result.meta.get("reference_problems", []):
        print(f"note: {problem}", file=sys.stderr)
    return 0


def cmd_nearby(args: argparse.Namespace) -> int:
    from assets.exports import write_csv
    from assets.nearby_service import search_nearby
    from assets.taxonomy import ACCESSIBILITY, CATEGORIES
    from geo.nearby import NearbyQuery, nearby_rows

    store, actor, gazetteer, geography = _context()
    query = NearbyQuery(
        radius_m=args.radius,
        categories=tuple(args.category or ()),
        day=args.day.upper()[:2] if args.day else None,
        time=args.time,
        free_only=args.free,
        step_free=args.step_free,
    )
    unknown = [c for c in query.categories if c not in CATEGORIES]
    if unknown:
        print(f"error: unknown category {unknown[0]!r}; use one of: {', '.join(CATEGORIES)}", file=sys.stderr)
        return 2
    result = search_nearby(store, actor, gazetteer, geography, query, text=args.query)
    rows = nearby_rows(result.frame, category_labels=CATEGORIES, access_labels=ACCESSIBILITY)
    write_csv(rows, args.output)
    print(f"{result.found} options {result.description} written to {args.output}")
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    from assets.taxonomy import ACCESSIBILITY, CATEGORIES, KINDS
    from geo.maps import build_assets_map, render_map_html

    store, actor, _, geography = _context(args.area)
    frame = store.assets_frame(actor, statuses=("published",))
    layers = {"ward": geography.ward_layer}
    if len(geography.constituencies):
        layers["constituency"] = geography.constituencies
    fmap = build_assets_map(
        frame,
        layers=layers,
        tiles=get_settings().tiles,
        mode="inline",
        attribution=CODEPOINT_ATTRIBUTION_SHORT,
        category_labels=CATEGORIES,
        access_labels=ACCESSIBILITY,
        kind_labels=KINDS,
    )
    Path(args.output).write_text(render_map_html(fmap), encoding="utf-8")
    print(f"wrote a map of {len(frame)} assets in {geography.area_name} to {args.output} (works offline)")
    return 0


def cmd_vendor(args: argparse.Namespace) -> int:
    from geo.mapscripts import vendor_scripts

    written = vendor_scripts()
    print(f"map scripts installed: {len(written)} files under static/vendor")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m geo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("geocode", help="geocode a CSV of postcodes or coordinates")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--postcode-column")
    p.set_defaults(func=cmd_geocode)

    b = sub.add_parser("boundaries", help="load, list or export boundary layers")
    bsub = b.add_subparsers(dest="action", required=True)
    p = bsub.add_parser("load")
    p.add_argument("file")
    p.add_argument("--layer", required=True, choices=("ward", "constituency", "district"))
    p.add_argument("--code-field")
    p.add_argument("--name-field")
    p.add_argument("--vintage")
    p.set_defaults(func=cmd_boundaries_load)
    p = bsub.add_parser("list")
    p.set_defaults(func=cmd_boundaries_list)
    p = bsub.add_parser("export")
    p.add_argument("--layer", required=True, choices=("ward", "constituency", "district"))
    p.add_argument("--area")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_boundaries_export)

    p = sub.add_parser("coverage", help="coverage-gap table by ward or constituency")
    p.add_argument("--area")
    p.add_argument("--by", choices=("ward", "constituency"), default="ward")
    p.add_argument("--format", choices=("csv", "xlsx", "geojson", "gpkg"), default="csv")
    p.add_argument("--verified-only", action="store_true", help="count only records verified in the last 12 months")
    p.add_argument("--baseline", help="a saved snapshot id: adds the change since then")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_coverage)

    p = sub.add_parser("nearby", help="community options near a postcode, sector or outward code")
    p.add_argument("query", help='a full postcode, a sector ("B13 9") or an outward code ("B13")')
    p.add_argument("--radius", type=float, default=1609.0, help="metres (default 1,609: one mile)")
    p.add_argument("--category", action="append", help="a category slug; repeat for several")
    p.add_argument("--day", help="MO, TU, … or Monday, Tuesday, …")
    p.add_argument("--time", choices=("morning", "afternoon", "evening"))
    p.add_argument("--free", action="store_true")
    p.add_argument("--step-free", action="store_true")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_nearby)

    p = sub.add_parser("map", help="the Map page's map as one self-contained HTML file")
    p.add_argument("--area")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_map)

    p = sub.add_parser("vendor", help="copy the npm-installed map scripts under static/vendor")
    p.set_defaults(func=cmd_vendor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # every domain error (GeoError, RegisterError) is a ValueError with a clear message
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
