"""The fixed taxonomy: categories, kinds, accessibility features, who an asset is for.

Slugs are stable (more may be added, none renamed). Labels, slugs and kinds are matched
without regard to case, spacing or apostrophe style, so "Carers’ support",
"carers' support" and "CARERS_SUPPORT" are the same category.
"""

from __future__ import annotations

import re
import uuid

CATEGORIES: dict[str, str] = {
    "social_friendship": "Social and friendship groups",
    "physical_activity": "Physical activity",
    "arts_crafts": "Arts and crafts",
    "music": "Music",
    "faith": "Faith",
    "learning_skills": "Learning and skills",
    "peer_support_wellbeing": "Peer support and mental wellbeing",
    "carers_support": "Carers' support",
    "food_lunch_clubs": "Food and lunch clubs",
    "advice_information": "Advice and information",
    "volunteering": "Volunteering",
    "digital_inclusion": "Digital inclusion",
    "nature_gardening": "Nature and gardening",
    "warm_spaces": "Warm spaces",
    "health_wellbeing": "Health and wellbeing",
}

KINDS: dict[str, str] = {"group": "Group", "venue": "Venue", "activity": "Activity"}

ACCESSIBILITY: dict[str, str] = {
    "step_free": "Step-free access",
    "accessible_toilet": "Accessible toilet",
    "hearing_loop": "Hearing loop",
    "seating": "Seating available",
    "parking": "Parking",
    "quiet_space": "Quiet space",
    "bsl": "British Sign Language",
    "large_print": "Large print materials",
    "dementia_friendly": "Dementia friendly",
    "public_transport": "Near public transport",
}

FOR_WHOM: dict[str, str] = {
    "everyone": "Everyone",
    "older_people": "Older people (65+)",
    "adults": "Adults",
    "young_people": "Young people",
    "children_families": "Children and families",
    "carers": "Carers",
    "disabled_people": "Disabled people",
    "people_with_dementia": "People living with dementia",
    "men": "Men",
    "women": "Women",
    "lgbtq": "LGBTQ+ people",
    "specific_communities": "Specific communities",
}

COSTS: dict[str, str] = {"free": "Free", "low": "Low cost", "paid": "Paid"}

# A stable namespace so taxonomy term ids are the same in every export (Open Referral).
TAXONOMY_NAMESPACE = uuid.UUID("6f1c2b7e-9a55-4f38-8d1e-3a2f1c0b5e71")

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'"})
_SEPARATORS = re.compile(r"[\s_\-]+")


def match_key(text: str) -> str:
    """Fold case, spacing, underscores, hyphens and apostrophe style for matching."""
    folded = str(text).translate(_APOSTROPHES).replace("'", "").replace("&", " and ").lower()
    return _SEPARATORS.sub(" ", folded).strip()


def _index(vocabulary: dict[str, str]) -> dict[str, str]:
    index: dict[str, str] = {}
    for slug, label in vocabulary.items():
        index[match_key(slug)] = slug
        index[match_key(label)] = slug
    return index


_CATEGORY_INDEX = _index(CATEGORIES)
_KIND_INDEX = _index(KINDS)
_ACCESS_INDEX = _index(ACCESSIBILITY)
_FOR_WHOM_INDEX = _index(FOR_WHOM)
_COST_INDEX = _index(COSTS) | {"low": "low", "lowcost": "low", "no charge": "free", "0": "free", "£0": "free"}


def match_category(text: str) -> str | None:
    """The category slug for a label or slug, or None when it is not in the taxonomy."""
    return _CATEGORY_INDEX.get(match_key(text))


def match_kind(text: str) -> str | None:
    """The kind (group, venue, activity) for a label, or None."""
    return _KIND_INDEX.get(match_key(text))


def match_accessibility(text: str) -> str | None:
    """The accessibility feature slug for a label or slug, or None."""
    return _ACCESS_INDEX.get(match_key(text))


def match_for_whom(text: str) -> str | None:
    """The audience slug for a label or slug, or None."""
    return _FOR_WHOM_INDEX.get(match_key(text))


def match_cost(text: str) -> str | None:
    """The cost band (free, low, paid) for a label or slug, or None."""
    return _COST_INDEX.get(match_key(text))


def split_list(cell: str) -> list[str]:
    """Split a cell of ";"-separated values (commas too when no ";" is present)."""
    text = str(cell or "").strip()
    if not text:
        return []
    parts = text.split(";") if ";" in text else text.split(",")
    return [part.strip() for part in parts if part.strip()]


def parse_categories(cell: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Categories in a cell (labels or slugs separated by ";").

    Returns
    -------
    The matched slugs (in order, without repeats) and the values not in the taxonomy.
    """
    slugs: list[str] = []
    unknown: list[str] = []
    for part in split_list(cell):
        slug = match_category(part)
        if slug is None:
            unknown.append(part)
        elif slug not in slugs:
            slugs.append(slug)
    return tuple(slugs), tuple(unknown)


def category_labels(slugs) -> str:
    """Labels joined with "; ", the form exports write and imports read back."""
    return "; ".join(CATEGORIES.get(slug, slug) for slug in slugs)


def labels(slugs, vocabulary: dict[str, str]) -> str:
    """Labels of any vocabulary joined with "; "."""
    return "; ".join(vocabulary.get(slug, slug) for slug in slugs)


def taxonomy_term_id(slug: str) -> str:
    """A stable UUID for a category slug (the same in every export)."""
    return str(uuid.uuid5(TAXONOMY_NAMESPACE, f"category:{slug}"))
