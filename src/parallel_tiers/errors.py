"""Error text safe to store, return and log: credentials scrubbed, length capped.

A service's exception can carry a secret: a URL with `?api_key=...`, a bearer token echoed
back, a connection string with its password. Every error the package records (task records,
`error` of a run, `save_turn`, tool results, breaker records) and logs at warning goes through
`describe_error`; the full text goes to a debug-level `error_detail` event only.
"""

from __future__ import annotations

import re

from parallel_tiers.logs import get_logger

log = get_logger()

MAX_ERROR_CHARS = 300
"""Longest error text recorded or returned; longer ones end in "…"."""
REDACTED = "[redacted]"

#: Names whose value is a secret: they end in key, token, secret, password... ("api_key",
#: "X-Api-Key", "client_secret"), so "KeyError:" or "AuthenticationError:" are left alone.
_SECRET_NAMES = (
    r"[a-z0-9_.-]*(?:key|token|secret|password|passwd|pwd|auth|credentials?|signature|sig|"
    r"session[_-]?id)"
)
_NOT_DONE = r"(?!\[redacted\])"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # URL query and fragment secrets: ?api_key=..., &token=...
    (re.compile(rf"(?i)([?&#;]{_SECRET_NAMES}=){_NOT_DONE}[^&#\s'\"<>]+"), rf"\1{REDACTED}"),
    # user:password@host in URLs and connection strings
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@"), rf"\1{REDACTED}@"),
    # Authorization headers: Bearer/Basic/Token credentials
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[a-z0-9._~+/=-]{6,}"), rf"\1\2{REDACTED}"),
    # key=value and key: value pairs, quoted or not
    (
        re.compile(rf"(?i)\b({_SECRET_NAMES})(\s*[=:]\s*)(['\"]?){_NOT_DONE}[^\s'\"&,;)}}\]]+"),
        rf"\1\2\3{REDACTED}",
    ),
    # Well-known key prefixes: OpenAI/Anthropic/Stripe, GitHub, Slack, AWS, Google, GitLab
    (
        re.compile(
            r"\b(?:sk|pk|rk)-(?:ant-|live-|test-|proj-)?[A-Za-z0-9_-]{8,}"
            r"|\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"
            r"|\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"
            r"|\bxox[abprs]-[A-Za-z0-9-]{10,}|\b(?:AKIA|ASIA)[A-Z0-9]{16}"
            r"|\bAIza[0-9A-Za-z_-]{30,}|\bglpat-[A-Za-z0-9_-]{20,}"
        ),
        REDACTED,
    ),
    # JSON Web Tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), REDACTED),
)


def scrub(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`text` with credentials replaced by "[redacted]", cut to `limit` characters."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_error(exc: BaseException, limit: int = MAX_ERROR_CHARS) -> str:
    """`"Type: message"` of `exc`, scrubbed and capped; the full text is logged at debug."""
    full = f"{type(exc).__name__}: {exc}"
    log.debug("error_detail", error=full)
    return scrub(full, limit)
