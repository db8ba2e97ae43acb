"""Who may see and do what: THE one rule, used by the store, searches and exports.

Five roles (:data:`assets.model.ROLES`):

- **administrator**: everything, including users, organisations, boundaries and settings;
- **coordinator**: belongs to one organisation; adds, edits, publishes, archives and restores
  only that organisation's records, and sees its drafts, archive and organisers' contacts;
- **practitioner**: reads published records with the organisers' contacts; uses Find nearby
  and reports problems;
- **commissioner**: reads published records' public fields, coverage and exports;
- **public**: anyone who has not signed in, and only while the administrators keep the
  public view on.

========================================  ======  ============  ============  ===========  =============
What                                      public  commissioner  practitioner  coordinator  administrator
========================================  ======  ============  ============  ===========  =============
published records, public fields          yes     yes           yes           yes          yes
published records, internal contacts      no      no            yes           own org      yes
drafts and archived records               no      no            no            own org      yes
register export                           public  public        + internal    own org +    all, by choice
                                                                              internal
coverage and its export                   yes     yes           yes           yes          yes
========================================  ======  ============  ============  ===========  =============

Pages only explain this rule (a hidden button is not enforcement): the store calls
:func:`authorise` in every method, and :func:`reader_view` / :func:`internal_visible` decide
which organisers' contacts leave it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Literal

import numpy as np

from assets.errors import NotFound, PermissionDenied
from assets.model import INTERNAL_FIELDS, ROLES, Actor, Asset

Scope = Literal["all", "organisation", "none"]

ADMINISTRATOR = "administrator"
EVERYONE = frozenset(ROLES)

# Actions that change records; each is limited to the coordinator's own organisation.
WRITE_ACTIONS = frozenset({"create", "update", "publish", "archive", "restore", "import"})

# action -> roles allowed besides administrators (who may do everything).
ACTIONS: dict[str, frozenset[str]] = {
    "read": EVERYONE,  # published records' public fields; record-level rules below
    "read_internal": frozenset({"coordinator", "practitioner"}),
    "read_unpublished": frozenset({"coordinator"}),
    **{action: frozenset({"coordinator"}) for action in WRITE_ACTIONS},
    "history": frozenset({"coordinator"}),
    "read_users": frozenset({"coordinator"}),
    "manage": frozenset(),  # organisations, users, boundaries, app settings
    "snapshot": frozenset({"coordinator", "commissioner"}),  # save a coverage baseline
    # Coverage is public: its baselines and the anonymous unmet-demand counts are aggregates.
    "read_snapshots": EVERYONE,
    "read_demand": EVERYONE,
    "record_demand": frozenset({"coordinator", "practitioner"}),
    "report_problem": EVERYONE,
    "review_reports": frozenset({"coordinator"}),
    "export_internal": frozenset({"coordinator", "practitioner"}),
}

# role -> actions it may take only on its own organisation's records.
OWN_ORGANISATION: dict[str, frozenset[str]] = {
    "coordinator": WRITE_ACTIONS
    | {"history", "review_reports", "read_unpublished", "read_internal", "export_internal"},
}

VERBS = {
    "read": "see the register",
    "create": "add records",
    "update": "change records",
    "publish": "publish records",
    "archive": "archive records",
    "restore": "restore records",
    "import": "import records",
    "history": "see the change history",
    "read_users": "see the list of users",
    "manage": "manage organisations, users, boundaries or settings",
    "snapshot": "save coverage baselines",
    "read_snapshots": "read coverage baselines",
    "review_reports": "review problem reports",
    "record_demand": "record unmet demand",
    "read_demand": "see unmet demand",
    "read_internal": "see organisers' contact details",
    "read_unpublished": "see draft or archived records",
    "export_internal": "export organisers' contact details",
    "report_problem": "report a problem",
}

PUBLIC_VIEW_OFF = (
    "the register is open only to signed-in users (an administrator has turned the public view off); "
    "sign in on the Sign in page"
)


def who(actor: Actor) -> str:
    """How an actor is named in messages and the audit trail."""
    return actor.email or actor.name or actor.id


def _check_role(actor: Actor) -> None:
    if actor.role not in ROLES:
        msg = (
            f"{who(actor)} has the unknown role {actor.role!r}; "
            f"ask an administrator to set one of {', '.join(ROLES)}"
        )
        raise PermissionDenied(msg)


def allows(actor: Actor, action: str, organisation_id: str | None = None) -> bool:
    """Whether the actor's role may take ``action`` (on a record of ``organisation_id`` when given).

    Unknown roles are allowed nothing; an unknown action is a programming error (ValueError).
    """
    if action not in ACTIONS:
        msg = f"unknown action {action!r}"  # a programming error, not a user's
        raise ValueError(msg)
    if actor.role not in ROLES:
        return False
    if actor.role == ADMINISTRATOR:
        return True
    if actor.role not in ACTIONS[action]:
        return False
    if organisation_id is not None and action in OWN_ORGANISATION.get(actor.role, ()):
        return bool(actor.organisation_id) and organisation_id == actor.organisation_id
    return True


def admit(actor: Actor, public_view: bool) -> None:
    """Refuse the public actor while the public view is off.

    Raises
    ------
    PermissionDenied
        ``actor`` is the public and ``public_view`` is false.
    """
    if actor.role == "public" and not public_view:
        raise PermissionDenied(PUBLIC_VIEW_OFF)


def authorise(actor: Actor, action: str, asset: Asset | None = None) -> None:
    """Refuse ``action`` (on ``asset`` when given) unless the actor's role allows it.

    Raises
    ------
    PermissionDenied
        The role does not allow the action, or the record belongs to another organisation.
    NotFound
        ``action`` is "read" and the record is one the actor may not see (a draft or archived
        record is not revealed to exist).
    """
    _check_role(actor)
    if action not in ACTIONS:
        msg = f"unknown action {action!r}"  # a programming error, not a user's
        raise ValueError(msg)
    if actor.role == ADMINISTRATOR:
        return
    if action == "read":
        if asset is not None and not may_see(actor, asset.status, asset.organisation_id):
            msg = f"no record with id {asset.id!r} that {who(actor)} may see; check the link or ask a coordinator"
            raise NotFound(msg)
        return
    verb = VERBS.get(action, action)
    if actor.role not in ACTIONS[action]:
        msg = f"{who(actor)} is a {actor.role} and may not {verb}; ask an administrator if this is needed"
        raise PermissionDenied(msg)
    if asset is not None and not allows(actor, action, asset.organisation_id):
        if not actor.organisation_id:
            msg = f"{who(actor)} is a {actor.role} of no organisation and may not {verb}; ask an administrator to set one"
            raise PermissionDenied(msg)
        msg = (
            f"{who(actor)} may not {verb} of another organisation: "
            f"{asset.name!r} belongs to organisation {asset.organisation_name or asset.organisation_id!r}; "
            "ask that organisation's coordinator or an administrator"
        )
        raise PermissionDenied(msg)


def unpublished_scope(actor: Actor) -> Scope:
    """Whose draft and archived records the actor sees: all, their organisation's, or none."""
    return _scope(actor, "read_unpublished")


def internal_scope(actor: Actor) -> Scope:
    """Whose organisers' contacts the actor sees: all, their organisation's, or none."""
    return _scope(actor, "read_internal")


def _scope(actor: Actor, action: str) -> Scope:
    if not allows(actor, action):
        return "none"
    if actor.role != ADMINISTRATOR and action in OWN_ORGANISATION.get(actor.role, ()):
        return "organisation" if actor.organisation_id else "none"
    return "all"


def may_see(actor: Actor, status: str, organisation_id: str) -> bool:
    """Whether the actor may see a record with this status and owner at all."""
    if actor.role not in ROLES:
        return False
    if status == "published":
        return True
    return allows(actor, "read_unpublished", organisation_id)


def internal_visible(actor: Actor, organisation_id: str) -> bool:
    """Whether the actor may see the organisers' contacts of a record of this organisation."""
    return allows(actor, "read_internal", organisation_id)


def internal_visible_mask(actor: Actor, organisation_ids: Iterable[str]) -> np.ndarray:
    """:func:`internal_visible` for many records at once (one bool per organisation id)."""
    ids = np.asarray(list(organisation_ids), dtype=object)
    scope = internal_scope(actor)
    if scope == "all":
        return np.ones(len(ids), dtype=bool)
    if scope == "none":
        return np.zeros(len(ids), dtype=bool)
    return ids == actor.organisation_id


def reader_view(actor: Actor, asset: Asset) -> Asset:
    """The record as the actor may see it: organisers' contacts blanked unless allowed."""
    if internal_visible(actor, asset.organisation_id):
        return asset
    return replace(asset, **dict.fromkeys(INTERNAL_FIELDS, ""))


def authorise_export(actor: Actor, include_internal: bool) -> None:
    """Refuse a register export with organisers' contacts to a role that may not see any.

    Raises
    ------
    PermissionDenied
        ``include_internal`` is asked for by the public or a commissioner.
    """
    _check_role(actor)
    if include_internal and not allows(actor, "export_internal"):
        msg = (
            f"{who(actor)} is a {actor.role} and may not export organisers' contact details; "
            "export the public fields instead"
        )
        raise PermissionDenied(msg)
