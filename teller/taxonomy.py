"""The label taxonomy (teller/config/taxonomy.yaml): CFPB products to teams, issue names, tags, intents."""

from __future__ import annotations

from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TAXONOMY_PATH = Path(__file__).parent / "config" / "taxonomy.yaml"
HEADS = ("team", "issue", "vulnerable", "intent")


def _key(text: str) -> str:
    return " ".join(text.lower().split())


class Team(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(description="Display name of the product team.")
    products: list[str] = Field(description="CFPB product strings routed to this team.")
    issues: list[str] = Field(description="Canonical issues this team's products can carry ('Other' is implied).")


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(description="Display name of the CSR topic.")
    handoff: bool = Field(description="Whether conversations on this topic always go to a human.")
    intents: list[str] = Field(description="Banking77 intents in this topic.")
    kb_topics: list[str] = Field(default_factory=list, description="KB topics whose answers suit this topic.")


class CustomLabel(BaseModel):
    """A label the bank added (`teller labels accept`): its description and examples, and where it lives."""

    model_config = ConfigDict(extra="forbid")
    head: Literal["issue", "topic"] = Field(description="issue: a complaint issue; topic: a chat topic (one intent).")
    description: str = Field(min_length=1, description="One sentence saying what the label means.")
    examples: list[str] = Field(default_factory=list, description="Example texts (masked) of the label.")
    teams: list[str] = Field(default_factory=list, description="issue: the teams whose complaints can carry it.")
    handoff: bool = Field(True, description="topic: whether conversations on it always go to a human.")
    threshold: float | None = Field(None, description="Similarity threshold the zero-shot assignments used.")
    accepted: str | None = Field(None, description="When it was accepted (ISO date).")

    @model_validator(mode="after")
    def _issue_has_teams(self) -> CustomLabel:
        if not self.description.strip():
            raise ValueError("description is blank")
        if self.head == "issue" and not self.teams:
            raise ValueError("an issue label needs at least one team in 'teams'")
        return self


def fold_custom_labels(data: dict[str, Any]) -> dict[str, Any]:
    """Raw taxonomy data with every custom label added where its head reads labels (idempotent).

    An issue label becomes a canonical issue carried by its teams; a topic label becomes a topic with one
    intent of the same name. The rest of Teller then sees an ordinary taxonomy.
    """
    custom = data.get("custom_labels") or {}
    if not isinstance(custom, dict):
        raise ValueError("custom_labels must map label names to {head, description, examples, ...}")
    if not custom:
        return data
    data = {**data, "issues": dict(data.get("issues") or {}), "topics": dict(data.get("topics") or {})}
    teams = data.get("teams") or {}
    data["teams"] = {k: dict(v) if isinstance(v, dict) else v.model_dump() for k, v in teams.items()}
    reserved = {data.get("issue_other"), data.get("out_of_scope_intent")}
    for name, spec in custom.items():
        try:
            label = spec if isinstance(spec, CustomLabel) else CustomLabel.model_validate(spec)
        except ValidationError as exc:
            raise ValueError(f"custom label {name!r}: {exc}") from None
        if not str(name).strip() or name in reserved:
            raise ValueError(f"custom label {name!r}: the name is blank or reserved")
        if label.head == "issue":
            if unknown := [t for t in label.teams if t not in data["teams"]]:
                raise ValueError(f"custom label {name!r}: unknown team(s) {unknown}; use {sorted(data['teams'])}")
            data["issues"].setdefault(name, [])
            for team in label.teams:
                issues = data["teams"][team].get("issues") or []
                data["teams"][team]["issues"] = issues if name in issues else [*issues, name]
        else:
            data["topics"].setdefault(name, {"label": name, "handoff": label.handoff, "intents": [name]})
    return data


class Taxonomy(BaseModel):
    """Validated taxonomy with lookups for every head."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int
    teams: dict[str, Team]
    issue_other: str
    issues: dict[str, list[str]] = Field(description="Canonical issue -> other names meaning the same.")
    vulnerable_tags: list[str]
    out_of_scope_intent: str
    topics: dict[str, Topic]
    clinc_in_scope_domains: list[str]
    custom_labels: dict[str, CustomLabel] = Field(
        default_factory=dict, description="Labels added by `teller labels accept` (folded into issues/topics)."
    )

    @model_validator(mode="before")
    @classmethod
    def _fold_custom(cls, data: Any) -> Any:
        return fold_custom_labels(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _issues_belong_to_teams(self) -> Taxonomy:
        listed = {i for team in self.teams.values() for i in team.issues}
        if unknown := listed - set(self.issues):
            raise ValueError(f"teams list issues that are not canonical issues: {sorted(unknown)}")
        if orphans := [i for i in self.issues if i not in listed]:
            raise ValueError(f"issues no team can carry (add them to a team's issues): {orphans}")
        return self

    @property
    def issue_teams(self) -> dict[str, list[str]]:
        """Team -> the issues it can carry, 'Other' included (a bundle stores this in labels.json)."""
        return {name: [*team.issues, self.issue_other] for name, team in self.teams.items()}

    @property
    def issue_mask(self) -> np.ndarray:
        return issue_mask(self.team_labels, self.issue_labels, self.issue_teams)

    @cached_property
    def _product_to_team(self) -> dict[str, str]:
        return {_key(p): team for team, spec in self.teams.items() for p in spec.products}

    @cached_property
    def _issue_alias(self) -> dict[str, str]:
        table = {_key(name): name for name in self.issues}
        table.update({_key(a): name for name, aliases in self.issues.items() for a in aliases})
        return table

    @cached_property
    def _intent_topic(self) -> dict[str, str]:
        return {i: topic for topic, spec in self.topics.items() for i in spec.intents}

    @property
    def team_labels(self) -> list[str]:
        return list(self.teams)

    @property
    def issue_labels(self) -> list[str]:
        return [*self.issues, self.issue_other]

    @property
    def intent_labels(self) -> list[str]:
        return [*sorted(self._intent_topic), self.out_of_scope_intent]

    def labels(self, head: str) -> list[str]:
        """Class names of a head, in the order the model's logits use."""
        return {
            "team": self.team_labels,
            "issue": self.issue_labels,
            "vulnerable": ["no", "yes"],
            "intent": self.intent_labels,
        }[head]

    def team_for_product(self, product: str) -> str | None:
        """The routing team of a CFPB product string, or None if the product is unknown."""
        return self._product_to_team.get(_key(product))

    def issue_for(self, issue: str) -> str | None:
        """Canonical issue of a CFPB issue string; None when empty (unknown), Other when infrequent."""
        if not issue.strip():
            return None
        return self._issue_alias.get(_key(issue), self.issue_other)

    def vulnerable_for(self, tags: str, recorded: bool = True) -> int | None:
        """1 if the Tags name a vulnerable group, 0 if not, None when Tags were not recorded."""
        present = {_key(t) for t in tags.split(",")}
        if any(_key(t) in present for t in self.vulnerable_tags):
            return 1
        return 0 if recorded else None

    def topic_for_intent(self, intent: str) -> str:
        """The CSR topic of an intent; out-of-scope intents map to the out-of-scope topic."""
        return self._intent_topic.get(intent, self.out_of_scope_intent)

    def is_handoff_topic(self, topic: str) -> bool:
        return topic == self.out_of_scope_intent or self.topics[topic].handoff


def issue_mask(teams: list[str], issues: list[str], issue_teams: dict[str, list[str]]) -> np.ndarray:
    """Team x issue matrix in label order: 1 where the team can carry the issue."""
    mask = np.zeros((len(teams), len(issues)), dtype=np.float32)
    for t, team in enumerate(teams):
        mask[t, [issues.index(i) for i in issue_teams[team]]] = 1.0
    return mask


@lru_cache
def load_taxonomy(path: Path = TAXONOMY_PATH) -> Taxonomy:
    """Load and validate the taxonomy YAML."""
    return Taxonomy.model_validate(yaml.safe_load(path.read_text()))
