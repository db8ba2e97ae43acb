"""Command line for the register: ``python -m assets import|export ...``.

The command line acts as the built-in administrator (whoever can run it can read the
database). The database comes from DATABASE_URL; the area from CAM_AREA.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from datetime import date
from pathlib import Path

from assets.errors import RegisterError
from assets.model import SYSTEM_ACTOR
from settings import CODEPOINT_ATTRIBUTION, get_settings

warnings.filterwarnings("ignore", message=".*OSTN15.*")

EXIT_OK, EXIT_REFUSED = 0, 2


def _store():
    from assets.store import open_store

    return open_store(get_settings().database_url)


def _geography(store):
    from assets.geography import area_geography
    from geo.gazetteer import load_gazetteer

    settings = get_settings()
    gazetteer = load_gazetteer(settings.codepoint_zip, progress=lambda text: print(text, file=sys.stderr))
    return gazetteer, area_geography(store, SYSTEM_ACTOR, settings.area_code, gazetteer)


def _organisation_id(store, name: str | None) -> str | None:
    if not name:
        return None
    for organisation in store.list_organisations(SYSTEM_ACTOR):
        if organisation.name.casefold() == name.strip().casefold():
            return organisation.id
    return store.add_organisation(SYSTEM_ACTOR, name).id


def cmd_import(args: argparse.Namespace) -> int:
    from assets.exports import write_csv
    from assets.importer import commit_import, preview_import, report_rows
    from assets.tabular import read_table

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return EXIT_REFUSED
    table = read_table(data, path.name, sheet=args.sheet)  # FileRefused → exit 2 in main()
    store = _store()
    gazetteer, geography = _geography(store)
    preview = preview_import(
        store,
        SYSTEM_ACTOR,
        table,
        gazetteer=gazetteer,
        geography=geography,
        organisation_id=_organisation_id(store, args.org),
        status=args.status,
        online=get_settings().online_geocoding or None,
    )
    if args.report:
        write_csv(report_rows(preview), args.report)
    if args.dry_run:
        counts = preview.counts()
        print(
            f"dry run: imported {counts['new']}, updated {counts['update']}, unchanged {counts['unchanged']}, "
            f"rejected {counts['rejected']}, duplicates {counts['duplicate']}"
        )
        return EXIT_OK
    summary = commit_import(store, SYSTEM_ACTOR, preview)
    print(summary.line())
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from assets import exports

    settings = get_settings()
    store = _store()
    assets = store.list_assets(SYSTEM_ACTOR, statuses=("published",))
    rows = exports.export_rows(assets, include_internal=False, stale_months=settings.stale_months)
    gazetteer_version = ""
    if args.format in ("xlsx",):
        gazetteer, geography = _geography(store)
        gazetteer_version = gazetteer.version
    if args.format == "csv":
        exports.write_csv(rows, args.output)
    elif args.format == "xlsx":
        about = {
            "Exported": date.today().isoformat(),
            "Area": settings.area_code,
            "Records": f"{len(rows)} published records, public fields only",
            "Postcodes": gazetteer_version,
            "Attribution": CODEPOINT_ATTRIBUTION,
        }
        exports.write_xlsx(rows, args.output, about=about)
    elif args.format == "geojson":
        exports.write_geojson(rows, args.output)
    print(f"wrote {len(rows)} records to {args.output}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assets", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="import a CSV or XLSX spreadsheet")
    p.add_argument("file")
    p.add_argument("--org", help="owning organisation (created if new); default: the default organisation")
    p.add_argument("--status", choices=("draft", "published"), default="published")
    p.add_argument("--sheet", help="XLSX sheet name (default: the first)")
    p.add_argument("--dry-run", action="store_true", help="check and report, change nothing")
    p.add_argument("--report", help="write a per-row report CSV here")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="export published records' public fields")
    p.add_argument("--format", choices=("csv", "xlsx", "geojson"), required=True)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (RegisterError, ValueError) as exc:  # domain errors carry the row, field, value and fix
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
