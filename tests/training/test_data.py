import gzip
import zipfile

import pytest

from teller.errors import DataError
from teller.taxonomy import load_taxonomy
from tests.conftest import BANKING77, CFPB, CLINC150, sample_rows, write_csv
from training.data import LoadStats, detect_format, iter_banking77, iter_cfpb, iter_clinc150_out_of_scope


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


@pytest.fixture
def cfpb_sample(tmp_path):
    header, rows = sample_rows(CFPB, 40)
    return header, rows, write_csv(tmp_path / "complaints.csv", header, rows)


def test_cfpb_csv_gz_and_zip_load_the_same(tmp_path, taxonomy, cfpb_sample):
    _header, _rows, path = cfpb_sample
    gz = tmp_path / "complaints.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    zipped = tmp_path / "complaints.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(path, "complaints.csv")
    loaded = [[(e.text, e.team, e.issue) for e in iter_cfpb(p, taxonomy)] for p in (path, gz, zipped)]
    assert loaded[0] == loaded[1] == loaded[2]
    assert len(loaded[0]) == 40


def test_cfpb_labels_follow_the_taxonomy(taxonomy, cfpb_sample):
    _, rows, path = cfpb_sample
    examples = list(iter_cfpb(path, taxonomy))
    for row, e in zip(rows, examples, strict=True):
        assert e.team == taxonomy.team_for_product(row["Product"])
        assert e.issue == taxonomy.issue_for(row["Issue"])
        if row["Tags recorded"] == "No":
            assert e.vulnerable is None
        else:
            assert e.vulnerable == int(bool(row["Tags"]))


def test_real_export_without_tags_recorded_column_counts_every_row_as_recorded(tmp_path, taxonomy):
    header, rows = sample_rows(CFPB, 20, where=lambda r: not r["Tags"])
    header = [h for h in header if h != "Tags recorded"]
    path = write_csv(tmp_path / "export.csv", header, [{k: r[k] for k in header} for r in rows])
    assert {e.vulnerable for e in iter_cfpb(path, taxonomy)} == {0}


def test_rows_without_narrative_are_skipped_and_counted(tmp_path, taxonomy, cfpb_sample):
    header, rows, _ = cfpb_sample
    rows[3] = {**rows[3], "Consumer complaint narrative": ""}
    path = write_csv(tmp_path / "gaps.csv", header, rows)
    stats = LoadStats()
    assert len(list(iter_cfpb(path, taxonomy, stats))) == 39
    assert stats.skipped == {"empty narrative": 1} and stats.read == 40


def test_loading_streams_rather_than_reading_the_whole_file(taxonomy):
    stream = iter_cfpb(CFPB, taxonomy)
    first = next(stream)
    assert first.text and first.team
    stream.close()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h, r: ([c for c in h if c != "Product"], r), "row 1.*missing column.*'Product'"),
        (lambda h, r: (h, [{**x, "Consumer complaint narrative": ""} for x in r]), "empty narrative in every"),
        (lambda h, r: (h, [*r[:5], {**r[5], "Product": "Timeshare"}]), "row 7.*unknown product 'Timeshare'"),
    ],
)
def test_bad_cfpb_files_name_file_row_and_problem(tmp_path, taxonomy, cfpb_sample, mutate, message):
    header, rows, _ = cfpb_sample
    header, rows = mutate(header, rows)
    path = write_csv(tmp_path / "bad.csv", header, [{k: r.get(k, "") for k in header} for r in rows])
    with pytest.raises(DataError, match=message) as err:
        list(iter_cfpb(path, taxonomy))
    assert str(path) in err.value.message and "Fix:" in err.value.message


def test_unknown_encoding_is_a_clear_error(tmp_path, taxonomy):
    path = tmp_path / "latin1.csv"
    path.write_bytes("Product,Issue,Consumer complaint narrative\nMortgage,Other,caf\xe9 fee\n".encode("latin-1"))
    with pytest.raises(DataError, match="unknown text encoding") as err:
        list(iter_cfpb(path, taxonomy))
    assert "UTF-8" in err.value.message


def test_utf16_export_is_read(tmp_path, taxonomy):
    path = tmp_path / "utf16.csv"
    path.write_bytes("Product,Issue,Consumer complaint narrative\nMortgage,,late fee\n".encode("utf-16"))
    assert [e.team for e in iter_cfpb(path, taxonomy)] == ["loans_mortgages"]


def test_malformed_row_is_reported_with_its_number(tmp_path, taxonomy):
    path = tmp_path / "ragged.csv"
    path.write_text("Product,Issue,Consumer complaint narrative\nMortgage,,ok\nMortgage,,too,many,fields\n")
    with pytest.raises(DataError, match="row 3"):
        list(iter_cfpb(path, taxonomy))


def test_missing_file_is_a_clear_error(tmp_path, taxonomy):
    with pytest.raises(DataError, match="file not found"):
        list(iter_cfpb(tmp_path / "nope.csv", taxonomy))


def test_banking77_loads_and_rejects_unknown_intents(tmp_path, taxonomy):
    assert sum(1 for _ in iter_banking77(BANKING77, taxonomy)) == 10003
    path = tmp_path / "intents.csv"
    path.write_text("text,category\nwhere is my card,card_arrival\nbook a flight,book_flight\n")
    with pytest.raises(DataError, match=r"row 3.*unknown intent 'book_flight'"):
        list(iter_banking77(path, taxonomy))


def test_clinc150_out_of_scope_excludes_banking_domains(taxonomy):
    examples = list(iter_clinc150_out_of_scope(CLINC150, taxonomy))
    assert {e.intent for e in examples} == {"out_of_scope"}
    texts = {e.text for e in examples}
    assert "how do i say 'hotel' in finnish" in texts
    assert not any("routing number" in t for t in texts)  # a banking-domain CLINC intent


def test_detect_format(tmp_path, cfpb_sample):
    assert detect_format(cfpb_sample[2]) == "cfpb"
    assert detect_format(BANKING77) == "banking77"
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not a CFPB export or Banking77 CSV"):
        detect_format(other)
