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
from assets.model import ROLES, SYSTEM_ACTOR
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
    is_feed = path.suffix.lower() == ".json"  # an Open Referral UK feed (assets.oruk)
    if is_feed:
        from assets.oruk import preview_feed_import, read_feed

        feed = read_feed(data, path.name)  # FileRefused → exit 2 in main()
    else:
        table = read_table(data, path.name, sheet=args.sheet)  # FileRefused → exit 2 in main()
    store = _store()
    gazetteer, geography = _geography(store)
    options = {
        "gazetteer": gazetteer,
        "geography": geography,
        "organisation_id": _organisation_id(store, args.org),
        "status": args.status,
        "online": get_settings().online_geocoding or None,
    }
    if is_feed:
        preview = preview_feed_import(store, SYSTEM_ACTOR, feed, **options)
    else:
        preview = preview_import(store, SYSTEM_ACTOR, table, **options)
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
    if args.format in ("oruk", "oruk-csv"):
        from assets import oruk

        services = oruk.export_services(assets, store.list_organisations(SYSTEM_ACTOR))
        if args.format == "oruk":
            oruk.write_feed_json(services, args.output)
        else:
            oruk.write_feed_csv(services, args.output)
        print(f"wrote {len(services)} Open Referral UK services to {args.output}")
        return EXIT_OK
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


def cmd_retention(args: argparse.Namespace) -> int:
    settings = get_settings()
    erased = _store().erase_expired_contacts(SYSTEM_ACTOR)
    print(f"erased organisers' contact details from {erased} record(s) archived over {settings.retention_days} days")
    return EXIT_OK


def cmd_api(args: argparse.Namespace) -> int:
    from assets import oruk_api

    return oruk_api.main(["--host", args.host, "--port", str(args.port)])


def cmd_history(args: argparse.Namespace) -> int:
    from assets.exports import write_csv

    entries = _store().history(SYSTEM_ACTOR, args.asset_id)
    write_csv(entries, args.output)
    print(f"wrote {len(entries)} history entries to {args.output}")
    return EXIT_OK


def _read_password(email: str) -> str:
    """A password from standard input: typed twice at a terminal, else the first line of a pipe."""
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass(f"Password for {email}: ")
        if getpass.getpass("Again: ") != first:
            raise RegisterError("the two passwords differ; nothing was changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _existing_organisation_id(store, name: str | None) -> str | None:
    """The id of the organisation named ``name`` (any case); users never create one by a typo."""
    if not name:
        return None
    organisations = store.list_organisations(SYSTEM_ACTOR)
    for organisation in organisations:
        if organisation.name.casefold() == name.strip().casefold():
            return organisation.id
    known = ", ".join(repr(o.name) for o in organisations) or "none yet"
    msg = f"no organisation named {name!r} (known: {known}); add it first with `python -m assets orgs add`"
    raise RegisterError(msg)


def cmd_users(args: argparse.Namespace) -> int:
    from assets import auth

    store = _store()
    if args.action == "list":
        names = {o.id: o.name for o in store.list_organisations(SYSTEM_ACTOR)}
        for user in store.list_users(SYSTEM_ACTOR):
            state = "disabled" if user.disabled else "enabled"
            password = "password" if user.password_hash else "no password"
            org = names.get(user.organisation_id, "")
            print(f"{user.email}\t{user.name}\t{user.role}\t{org}\t{state}\t{password}")
        return EXIT_OK
    if args.action == "add":
        password_hash = auth.hash_password(_read_password(args.email), args.email) if args.password_stdin else None
        user = store.add_user(
            SYSTEM_ACTOR,
            args.email,
            args.name,
            args.role,
            _existing_organisation_id(store, args.org),
            password_hash=password_hash,
        )
        print(f"added {user.email} as {user.role}" + ("" if password_hash else " (no password: single sign-on only)"))
    elif args.action in ("disable", "enable"):
        user = store.update_user(SYSTEM_ACTOR, args.email, disabled=args.action == "disable")
        print(f"{user.email} is {'disabled' if user.disabled else 'enabled'}")
    elif args.action == "set-role":
        org = _existing_organisation_id(store, args.org)
        user = store.update_user(SYSTEM_ACTOR, args.email, role=args.role, organisation_id=org)
        print(f"{user.email} is now {user.role}")
    elif args.action == "set-password":
        auth.set_password(store, SYSTEM_ACTOR, args.email, _read_password(args.email))
        print(f"password set for {args.email.strip().lower()}")
    return EXIT_OK


def cmd_orgs(args: argparse.Namespace) -> int:
    store = _store()
    if args.action == "list":
        for organisation in store.list_organisations(SYSTEM_ACTOR):
            print(f"{organisation.name}\t{organisation.identifier}\t{organisation.id}")
        return EXIT_OK
    organisation = store.add_organisation(
        SYSTEM_ACTOR, args.name, description=args.description, identifier=args.identifier
    )
    print(f"added organisation {organisation.name} ({organisation.id})")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assets", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="import a CSV or XLSX spreadsheet, or an Open Referral UK JSON feed")
    p.add_argument("file")
    p.add_argument("--org", help="owning organisation (created if new); default: the default organisation")
    p.add_argument("--status", choices=("draft", "published"), default="published")
    p.add_argument("--sheet", help="XLSX sheet name (default: the first)")
    p.add_argument("--dry-run", action="store_true", help="check and report, change nothing")
    p.add_argument("--report", help="write a per-row report CSV here")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="export published records' public fields")
    p.add_argument(
        "--format",
        choices=("csv", "xlsx", "geojson", "oruk", "oruk-csv"),
        required=True,
        help="oruk: Open Referral UK JSON file; oruk-csv: its tables as CSV files in the -o folder",
    )
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("retention", help="erase organisers' contacts of records archived past the retention period")
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("api", help="serve the read-only Open Referral UK API (same as python -m assets.oruk_api)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8502, help="port (default 8502)")
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("history", help="a record's full change history as CSV")
    p.add_argument("asset_id")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_history)

    roles = [role for role in ROLES if role != "public"]
    p = sub.add_parser("users", help="user accounts: add, list, disable, enable, set-role, set-password")
    users = p.add_subparsers(dest="action", required=True)
    q = users.add_parser("add", help="add a user (the password, if any, is read from standard input)")
    q.add_argument("email")
    q.add_argument("--name", required=True)
    q.add_argument("--role", choices=roles, required=True)
    q.add_argument("--org", help="the user's organisation, by name (needed for a coordinator)")
    q.add_argument("--password-stdin", action="store_true", help="read a first password from standard input")
    users.add_parser("list", help="every user: email, name, role, organisation, state")
    for action in ("disable", "enable"):
        users.add_parser(action, help=f"{action} a user's sign-in").add_argument("email")
    q = users.add_parser("set-role", help="change a user's role (and organisation)")
    q.add_argument("email")
    q.add_argument("role", choices=roles)
    q.add_argument("--org", help="the organisation, by name (needed for a coordinator)")
    q = users.add_parser("set-password", help="set a user's password, read from standard input")
    q.add_argument("email")
    p.set_defaults(func=cmd_users)

    p = sub.add_parser("orgs", help="organisations: add, list")
    orgs = p.add_subparsers(dest="action", required=True)
    q = orgs.add_parser("add", help="add an organisation")
    q.add_argument("name")
    q.add_argument("--identifier", default="", help="charity or company number")
    q.add_argument("--description", default="")
    orgs.add_parser("list", help="every organisation: name, number, id")
    p.set_defaults(func=cmd_orgs)
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
