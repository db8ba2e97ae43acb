"""Geography: postcodes, gazetteer, geocoding, boundaries, areas, nearby search, coverage, maps.

Pure geography over data frames; never imports ``assets``.
"""
