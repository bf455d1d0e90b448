"""The expert registry: loading agents, looking one up, and ranking them for a query.

Registry file format (JSON)::

    {"agents": [{"id": "neurology", "name": "Neurology expert",
                 "description": "Brain, spinal cord and nerve conditions ...",
                 "domains": ["stroke", "migraine", ...],
                 "allowed_tools": ["calculator", "knowledge_base_lookup"],
                 "system_prompt": "You are ..."}]}

`id` is what manual modes take as `agent_id`; `domains` and `description` are what automatic
modes rank against the question; `allowed_tools` bounds which tools may ever run for the agent.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from parallel_tiers.services.text import tokenize

DEFAULT_REGISTRY = "agents.json"


class UnknownAgentError(ValueError):
    """An `agent_id` that is not in the registry."""


@dataclass(frozen=True)
class Agent:
    """One expert."""

    id: str
    name: str
    description: str
    domains: tuple[str, ...] = ()
    allowed_tools: tuple[str, ...] = ()
    system_prompt: str = "You are a careful expert assistant."

    def summary(self) -> dict[str, Any]:
        """The fields recorded in `selected_agent`."""
        return {"id": self.id, "name": self.name, "allowed_tools": list(self.allowed_tools)}


@dataclass(frozen=True)
class Selection:
    """The outcome of ranking the registry against a question."""

    agent: Agent
    ranking: list[dict[str, Any]]
    reason: str


@dataclass
class AgentRegistry:
    """A set of experts, addressable by id, rankable against a question."""

    agents: dict[str, Agent]
    default_id: str | None = None
    _profiles: dict[str, Counter[str]] = field(init=False, repr=False)
    _idf: dict[str, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.agents:
            raise ValueError("agents: the registry needs at least one agent")
        self._profiles = {
            a.id: Counter(tokenize(" ".join(a.domains)) * 2 + tokenize(f"{a.name} {a.description}"))
            for a in self.agents.values()
        }
        df = Counter(t for profile in self._profiles.values() for t in profile)
        n = len(self.agents)
        self._idf = {t: math.log(1 + n / c) for t, c in df.items()}

    @classmethod
    def from_agents(cls, agents: Iterable[Agent], default_id: str | None = None) -> AgentRegistry:
        """Build a registry from `Agent`s (ids must be unique)."""
        by_id: dict[str, Agent] = {}
        for agent in agents:
            if agent.id in by_id:
                raise ValueError(f"agents: duplicate agent id {agent.id!r}")
            by_id[agent.id] = agent
        return cls(by_id, default_id=default_id)

    @classmethod
    def from_file(cls, path: str | Path) -> AgentRegistry:
        """Load a registry JSON file (format in this module's docstring)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_mapping(data, origin=str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], origin: str = "registry") -> AgentRegistry:
        """Build a registry from parsed JSON."""
        rows = data.get("agents") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise ValueError(f"{origin}: expected an object with an 'agents' list")
        agents = []
        for i, row in enumerate(rows):
            missing = [k for k in ("id", "name", "description") if not row.get(k)]
            if missing:
                raise ValueError(f"{origin}: agents[{i}] lacks {', '.join(missing)}")
            agents.append(
                Agent(
                    id=str(row["id"]),
                    name=str(row["name"]),
                    description=str(row["description"]),
                    domains=tuple(row.get("domains", ())),
                    allowed_tools=tuple(row.get("allowed_tools", ())),
                    system_prompt=str(row.get("system_prompt") or Agent.system_prompt),
                )
            )
        return cls.from_agents(agents, default_id=data.get("default_agent"))

    @property
    def ids(self) -> list[str]:
        """The registered agent ids, sorted."""
        return sorted(self.agents)

    def get(self, agent_id: str) -> Agent:
        """The agent with this id, or an `UnknownAgentError` listing the known ids."""
        try:
            return self.agents[agent_id]
        except KeyError:
            raise UnknownAgentError(
                f"agent_id: unknown agent {agent_id!r}; known agents: {', '.join(self.ids)}"
            ) from None

    def select(self, query: str, history: Sequence[str] = ()) -> Selection:
        """Rank every agent against the question (and, more weakly, the earlier turns).

        Score: sum over the question's content words of idf x term weight in the agent's
        profile (domains count twice, name and description once); earlier turns count half.
        Scores are normalised to shares of the total. With no match at all, the registry's
        `default_agent` (else the first agent) answers, and the reason says so.
        """
        weights: dict[str, float] = dict.fromkeys(tokenize(query), 0.0)
        for t in tokenize(query):
            weights[t] += 1.0
        for turn in history:
            for t in tokenize(turn):
                weights[t] = weights.get(t, 0.0) + 0.5
        raw: dict[str, float] = {}
        matched: dict[str, list[str]] = {}
        for agent_id, profile in self._profiles.items():
            hits = [t for t in weights if t in profile]
            raw[agent_id] = sum(
                weights[t] * self._idf[t] * (1 + math.log(profile[t])) for t in hits
            )
            matched[agent_id] = hits
        total = sum(raw.values())
        order = sorted(raw, key=lambda a: (-raw[a], a))
        ranking: list[dict[str, Any]] = [
            {
                "agent_id": a,
                "score": round(raw[a] / total, 4) if total else 0.0,
                "raw": round(raw[a], 4),
            }
            for a in order
        ]
        if total == 0:
            fallback = self.default_id or next(iter(self.agents))
            reason = f"no domain terms matched the question; fell back to {fallback!r}"
            return Selection(self.agents[fallback], ranking, reason)
        best = order[0]
        terms = ", ".join(sorted(matched[best])[:6])
        reason = f"highest domain match ({ranking[0]['score']:.0%} of total); matched: {terms}"
        return Selection(self.agents[best], ranking, reason)


@lru_cache(maxsize=8)
def load_registry(path: str | None = None) -> AgentRegistry:
    """The registry at `path`, or the bundled experts (cached per path)."""
    if path:
        return AgentRegistry.from_file(path)
    text = resources.files("parallel_tiers.data").joinpath(DEFAULT_REGISTRY).read_text("utf-8")
    return AgentRegistry.from_mapping(json.loads(text), origin=DEFAULT_REGISTRY)
