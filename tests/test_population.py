"""Population, LSOA-to-ward lookup and IMD readers; aggregation into wards with unmatched LSOAs reported."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.errors import PopulationError
from geo.population import (
    deprivation_by_ward,
    population_by_ward,
    read_imd,
    read_lsoa_ward_lookup,
    read_population,
)

FIXTURES = Path(__file__).resolve().parent / "data"
POP = "population/lsoa11_population_mid2019_birmingham_york_camden.csv"
LOOKUP = "lookups/lsoa21_ward22_lad22_birmingham_york_camden.csv"
FILE1 = "deprivation/imd2019_file1_imd_birmingham_york_camden.csv"
MYSOCIETY = "deprivation/mysociety_uk_imd_e_birmingham_york_camden.csv"
FILE6 = "deprivation/iod2019_file6_population_denominators_birmingham_york_camden.csv"
BIRMINGHAM = "E08000025"

LSOA_POP = b'lsoa,pop\nE01000001,"1,000"\nE01000002,500\nE01000003,"2,500"\nE01000004,250\n'
LOOKUP_CSV = (
    b"LSOA21CD,LSOA21NM,WD22CD,WD22NM,LAD22CD,LAD22NM\n"
    b"E01000001,A 001A,E05000001,Alpha,E08000001,Fixture\n"
    b"E01000002,A 001B,E05000001,Alpha,E08000001,Fixture\n"
    b"E01000003,A 002A,E05000002,Beta,E08000001,Fixture\n"
    b"E01099999,A 003A,E05000002,Beta,E08000001,Fixture\n"
)
IMD_MYSOCIETY = (
    b"nation,lsoa,overall_local_score,original_decile\n"
    b"E,E01000001,50.0,1\nE,E01000002,20.0,5\nE,E01000003,10.0,8\nE,E01000004,70.0,1\n"
)


# --------------------------------------------------------------------------- readers


def test_ward_population_with_title_rows_separators_and_notes():
    table = read_population(FIXTURES / "ward_population_sape_style.csv")
    assert table.level == "ward"
    assert table.vintage == "2022"
    assert table.value_column == "Total"
    assert table.population.to_dict() == {"E05000001": 2000.0, "E05000002": 1500.0, "E05000003": 4000.0}
    assert table.names["E05000002"] == '=HYPERLINK("http://x")'
    assert table.skipped_rows == 2  # the blank row and the note row


def test_lsoa_population_detected_from_bytes():
    table = read_population(LSOA_POP, filename="upload.csv")
    assert table.level == "lsoa"
    assert table.total == 4250.0
    assert table.source == "upload.csv"


def test_generic_code_column_is_read_by_its_codes():
    table = read_population(b"Geography code,Observation\nE05000001,10\nE05000002,20\n")
    assert table.level == "ward"
    assert table.total == 30.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"lsoa,pop\nE01000001,lots\nE01000002,-5\n",
            r"column 'pop' must hold a number.*line 2: 'lots'; line 3: '-5'",
        ),
        (b"lsoa,pop\nE01000001,1\nE01000001,2\n", r"repeated: E01000001 \(lines 2, 3\)"),
        (b"lsoa,people\nE01000001,1\n", "no header row"),
        (b"lsoa,pop\nBirmingham,1\n", r"must hold ONS codes.*line 2: 'Birmingham'"),
        (b"WD22CD,population\nE01000001,1\n", r"should hold ward codes.*line 2"),
        (b"PK\x03\x04rest-of-a-zip", "save the sheet as CSV"),
        (b"code,pop\nX123,1\n", "cannot tell whether column 'code' holds ward or LSOA codes"),
    ],
)
def test_bad_population_files_name_the_problem(data, message):
    with pytest.raises(PopulationError, match=message):
        read_population(data, filename="bad.csv")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(PopulationError, match=r"missing\.csv.*cannot be read"):
        read_population(tmp_path / "missing.csv")


def test_lookup_reader_and_conflicts():
    lookup = read_lsoa_ward_lookup(LOOKUP_CSV, filename="lookup.csv")
    assert (lookup.lsoa_vintage, lookup.ward_vintage) == ("2021", "2022")
    assert lookup.frame.loc["E01000003", "ward_name"] == "Beta"
    assert lookup.frame.loc["E01000003", "district_code"] == "E08000001"
    conflict = LOOKUP_CSV + b"E01000001,A 001A,E05000002,Beta,E08000001,Fixture\n"
    with pytest.raises(PopulationError, match=r"E01000001 -> E05000001, E05000002"):
        read_lsoa_ward_lookup(conflict)
    with pytest.raises(PopulationError, match="LSOA and ward code columns"):
        read_lsoa_ward_lookup(b"lsoa,pop\nE01000001,1\n")


def test_imd_readers():
    imd = read_imd(IMD_MYSOCIETY, filename="uk_imd.csv")
    assert imd.kind == "mySociety" and imd.has_score
    assert imd.frame.loc["E01000001", "score"] == 50.0
    file1 = read_imd(
        b"LSOA code (2011),LSOA name (2011),Index of Multiple Deprivation (IMD) Rank,"
        b'Index of Multiple Deprivation (IMD) Decile\nE01000001,A,"26,391",9\n'
    )
    assert file1.kind == "MHCLG" and not file1.has_score
    assert file1.frame.loc["E01000001", "rank"] == 26391.0
    with pytest.raises(PopulationError, match=r"deciles 1 to 10.*line 2: 11"):
        read_imd(b"lsoa,imd_decile\nE01000001,11\n")
    with pytest.raises(PopulationError, match="whole number"):
        read_imd(b"lsoa,imd_decile\nE01000001,2.5\n")


# --------------------------------------------------------------------------- aggregation


def test_population_by_ward_reports_unmatched_lsoas():
    ward_pop = population_by_ward(read_population(LSOA_POP), read_lsoa_ward_lookup(LOOKUP_CSV))
    assert ward_pop.by_ward.to_dict() == {"E05000001": 1500.0, "E05000002": 2500.0}
    assert ward_pop.matched_lsoas == 3
    assert ward_pop.unmatched.to_dict("records") == [{"lsoa": "E01000004", "population": 250.0}]
    assert ward_pop.share_covered == pytest.approx(4000 / 4250)
    assert "1 LSOAs (250 residents) not in the LSOA-to-ward lookup" in ward_pop.describe()
    with pytest.raises(PopulationError, match="load an LSOA-to-ward lookup"):
        population_by_ward(read_population(LSOA_POP))


def test_ward_level_population_passes_through():
    ward_pop = population_by_ward(read_population(FIXTURES / "ward_population_sape_style.csv"))
    assert ward_pop.share_covered == 1.0 and ward_pop.unmatched.empty
    assert ward_pop.by_ward.sum() == 7500.0


def test_deprivation_is_population_weighted():
    pop = read_population(LSOA_POP)
    lookup = read_lsoa_ward_lookup(LOOKUP_CSV)
    result = deprivation_by_ward(read_imd(IMD_MYSOCIETY), pop, lookup)
    alpha = result.by_ward.loc["E05000001"]
    # (50 x 1000 + 20 x 500) / 1500 = 40; decile 1 holds 1000 of 1500 residents.
    assert alpha["imd_score"] == pytest.approx(40.0)
    assert alpha["most_deprived_10_share"] == pytest.approx(2 / 3)
    assert alpha["imd_mean_decile"] == pytest.approx((1 * 1000 + 5 * 500) / 1500)
    assert result.by_ward.loc["E05000002", "most_deprived_10_share"] == 0.0
    assert result.unmatched.to_dict("records") == [
        {"lsoa": "E01000004", "population": 250.0, "reason": "not in the LSOA-to-ward lookup"}
    ]
    ward_level = read_population(FIXTURES / "ward_population_sape_style.csv")
    with pytest.raises(PopulationError, match="needs population by LSOA"):
        deprivation_by_ward(read_imd(IMD_MYSOCIETY), ward_level, lookup)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real(shared_data):
    """The real population, lookup and IMD files."""
    return (
        read_population(shared_data / POP),
        read_lsoa_ward_lookup(shared_data / LOOKUP),
        read_imd(shared_data / FILE1),
        read_imd(shared_data / MYSOCIETY),
    )


def test_real_files_are_read(real, shared_data):
    pop, lookup, file1, mysociety = real
    assert pop.level == "lsoa" and len(pop.population) == 892
    assert pop.total == 1_622_463
    assert len(lookup.frame) == 910
    assert file1.kind == "MHCLG" and mysociety.kind == "mySociety"
    # The two IMD files agree on every decile.
    assert (file1.frame["decile"] == mysociety.frame["decile"].reindex(file1.frame.index)).all()
    denominators = read_population(shared_data / FILE6)
    assert denominators.value_column.startswith("Total population: mid 2015")


def test_real_unmatched_lsoas_are_reported(real):
    pop, lookup, file1, _ = real
    all_three = population_by_ward(pop, lookup)
    assert len(all_three.unmatched) == 33
    assert all_three.unmatched_population == 93_931
    assert all_three.by_ward.sum() + 93_931 == pop.total
    # 109 of the 110 wards: York's E05010317 is made only of LSOAs new in 2021, so it gets no
    # population by direct matching (coverage then says so in per_1000_note).
    assert len(all_three.by_ward) == 69 + 21 + 20 - 1
    assert "E05010317" not in all_three.by_ward.index


def test_real_birmingham_unmatched_and_deprivation(real, shared_data):
    pop, lookup, _, mysociety = real
    # Which 2011 LSOAs are Birmingham's, read independently from IMD File 1.
    file1 = pd.read_csv(shared_data / FILE1, dtype=str)
    codes = file1.loc[file1["Local Authority District code (2019)"] == BIRMINGHAM, "LSOA code (2011)"]
    assert len(codes) == 639
    birmingham = replace(pop, population=pop.population.loc[sorted(codes)])
    ward_pop = population_by_ward(birmingham, lookup)
    assert len(ward_pop.unmatched) == 23
    assert ward_pop.unmatched_population == 72_559
    assert len(ward_pop.by_ward) == 69
    assert ward_pop.share_covered == pytest.approx(1 - 72_559 / birmingham.total)
    deprivation = deprivation_by_ward(mysociety, birmingham, lookup)
    assert deprivation.matched_lsoas == 639 - 23
    assert set(deprivation.unmatched["lsoa"]) == set(ward_pop.unmatched["lsoa"])
    by_ward = deprivation.by_ward
    assert len(by_ward) == 69
    assert by_ward["most_deprived_10_share"].between(0, 1).all()
    # Population-weighted mean of one ward recomputed by hand from the files.
    ward = by_ward.index[0]
    lsoas = lookup.frame.index[lookup.frame["ward_code"] == ward].intersection(birmingham.population.index)
    weights = birmingham.population.loc[lsoas].to_numpy()
    scores = mysociety.frame.loc[lsoas, "score"].to_numpy()
    assert by_ward.loc[ward, "imd_score"] == pytest.approx(np.average(scores, weights=weights))
