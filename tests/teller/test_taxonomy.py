import csv
import gzip
import json

from teller.taxonomy import load_taxonomy
from tests.conftest import BANKING77, CFPB, SHARED


def test_every_cfpb_product_in_shared_data_maps_to_a_team():
    taxonomy = load_taxonomy()
    with gzip.open(CFPB, "rt", encoding="utf-8") as handle:
        products = {row["Product"] for row in csv.DictReader(handle)}
    unmapped = sorted(p for p in products if taxonomy.team_for_product(p) is None)
    assert not unmapped
    assert {taxonomy.team_for_product(p) for p in products} == set(taxonomy.team_labels)
    assert len(taxonomy.team_labels) == 5


def test_product_matching_ignores_case_and_spacing():
    taxonomy = load_taxonomy()
    assert taxonomy.team_for_product("  credit  CARD ") == "credit_card"
    assert taxonomy.team_for_product("Checking or savings account") == "retail_banking"
    assert taxonomy.team_for_product("Bank account or service") == "retail_banking"  # pre-2017 name
    assert taxonomy.team_for_product("Timeshare") is None


def test_old_and_new_issue_names_merge_and_rare_issues_become_other():
    taxonomy = load_taxonomy()
    assert taxonomy.issue_for("Incorrect information on credit report") == "Incorrect information on your report"
    assert taxonomy.issue_for("Cont'd attempts collect debt not owed") == "Attempts to collect debt not owed"
    assert taxonomy.issue_for("Lost or stolen money order") == "Other"
    assert taxonomy.issue_for("") is None
    assert taxonomy.issue_labels[-1] == "Other"
    assert len(set(taxonomy.issue_labels)) == len(taxonomy.issue_labels)


def test_vulnerable_unknown_when_tags_not_recorded():
    taxonomy = load_taxonomy()
    assert taxonomy.vulnerable_for("Older American, Servicemember") == 1
    assert taxonomy.vulnerable_for("Servicemember", recorded=False) == 1
    assert taxonomy.vulnerable_for("") == 0
    assert taxonomy.vulnerable_for("", recorded=False) is None


def test_intents_cover_banking77_and_group_into_topics():
    taxonomy = load_taxonomy()
    categories = json.loads((SHARED / "banking77" / "categories.json").read_text())
    with BANKING77.open() as handle:
        used = {row["category"] for row in csv.DictReader(handle)}
    assert set(categories) == used == set(taxonomy.intent_labels) - {"out_of_scope"}
    assert taxonomy.topic_for_intent("lost_or_stolen_card") == "security_fraud"
    assert taxonomy.is_handoff_topic("security_fraud") and taxonomy.is_handoff_topic("out_of_scope")
    assert not taxonomy.is_handoff_topic("card")
    assert 5 <= len(taxonomy.topics) <= 8


def test_issues_belong_to_teams_and_other_to_every_team():
    taxonomy = load_taxonomy()
    mask = taxonomy.issue_mask
    assert mask.shape == (len(taxonomy.team_labels), len(taxonomy.issue_labels))
    assert mask.sum(axis=0).min() >= 1 and mask[:, -1].all()
    debt = taxonomy.team_labels.index("debt_collection")
    assert mask[debt, taxonomy.issue_labels.index("Attempts to collect debt not owed")] == 1
    assert mask[debt, taxonomy.issue_labels.index("Struggling to pay mortgage")] == 0


def test_taxonomy_refuses_issues_no_team_carries_and_unknown_issues():
    import pytest
    import yaml

    from teller.taxonomy import TAXONOMY_PATH, Taxonomy

    raw = yaml.safe_load(TAXONOMY_PATH.read_text())
    orphan = {
        **raw,
        "teams": {k: {**v, "issues": []} if k == "debt_collection" else v for k, v in raw["teams"].items()},
    }
    with pytest.raises(ValueError, match="no team can carry"):
        Taxonomy.model_validate(orphan)
    raw["teams"]["credit_card"]["issues"].append("Lost my pet")
    with pytest.raises(ValueError, match="not canonical"):
        Taxonomy.model_validate(raw)
