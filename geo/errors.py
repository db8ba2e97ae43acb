"""Errors raised by the geography package; messages name the input, the value and the fix."""

from __future__ import annotations


class GeoError(ValueError):
    """Base class for geography errors a user can cause."""


class InvalidPostcode(GeoError):
    """Text that is not a UK postcode (or sector, or outward code)."""


class UnknownPostcode(GeoError):
    """A well-formed postcode that Code-Point Open does not list (mistyped or terminated)."""


class GazetteerError(GeoError):
    """The postcode gazetteer cannot be read or built."""


class BoundaryError(GeoError):
    """A boundary file that cannot be used, with the reason."""


class MapScriptsMissing(GeoError):
    """The map scripts (Leaflet) are not installed under static/vendor."""


class PopulationError(GeoError):
    """A population, LSOA-to-ward lookup or deprivation (IMD) file that cannot be used."""


class CoverageError(GeoError):
    """Coverage cannot be computed or exported from the inputs given (names the input and the fix)."""
