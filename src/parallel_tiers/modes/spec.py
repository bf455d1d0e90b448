"""The four modes: who picks the expert, who approves tools, how many turns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Mode:
    """One way of answering."""

    number: int
    name: str
    manual: bool
    """The caller picks the expert (`agent_id`) and confirms the tools."""
    chat: bool
    """Multi-turn: `messages` kept on the checkpointer thread, each turn saved to memory."""


MODES: dict[int, Mode] = {
    1: Mode(number=1, name="manual", manual=True, chat=False),
    2: Mode(number=2, name="automatic", manual=False, chat=False),
    3: Mode(number=3, name="chat_manual", manual=True, chat=True),
    4: Mode(number=4, name="chat_automatic", manual=False, chat=True),
}
