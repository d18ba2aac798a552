"""Fault injection for the sandbox, one set of rules shared by every half.

A spec is a comma-separated list of rules, ``<half>.<operation>=<action>[:<chance>]``,
plus an optional ``seed=N`` item::

    graph.create=drop:0.2,graph.create=500:0.1,graph.any=code:4:0.05,
    zalo.create=drop:0.2,zalo.verify=code:-214:0.5,seed=7

Actions (what the half does when a rule fires):

- ``code:N`` or ``code:N/SUB``: answer the platform's own error body for that
  code *before* processing (nothing is created);
- ``drop``: process the request (the post IS created), then close the socket
  without answering: the client sees a dropped connection;
- ``500``: process the request, then answer HTTP 500 with a generic error body;
- ``null``: only for the entries of a Graph batch (op ``batch_entry``, or the entry's own
  ops): leave the entry unprocessed, so the batch answers ``null`` in its place (as Graph
  does for a batch that ran out of time). Other requests never pick a ``null`` rule.

Chance: a probability ``0.2`` (drawn from a seeded RNG, so a given seed and
request order give the same run), or a count ``x1`` / ``x3``: fire on exactly the
next one / three matching requests (deterministic tests). Omitted: always.

Operations every half understands: ``create`` (any call that creates a post,
photo or article), ``read`` (any GET), ``any`` (every request). Half-specific
names are listed in each half's module docstring (Graph: ``feed``, ``photo``,
``upload``, ``update``, ``delete``, ``ids``, ``insights``, ``token``, ``batch``,
``batch_entry``).
Rules are checked in the order given; the first that fires wins.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_RULE = re.compile(
    r"^(?P<half>[a-z_]+)\.(?P<op>[a-z_]+)=(?P<action>drop|500|null|code:-?\d+(?:/\d+)?)"
    r"(?::(?P<chance>x\d+|\d*\.?\d+))?$"
)


#: what a whole HTTP request may suffer; a batch entry may also be left ``null``
REQUEST_KINDS = ("code", "drop", "500")
ENTRY_KINDS = (*REQUEST_KINDS, "null")


@dataclass(frozen=True)
class Fault:
    """One fired fault; ``kind`` is ``code``, ``drop``, ``500`` or ``null``."""

    kind: str
    code: int | None = None
    subcode: int | None = None

    @property
    def before_processing(self) -> bool:
        return self.kind == "code"


@dataclass
class _Rule:
    half: str
    op: str
    fault: Fault
    probability: float | None
    remaining: int | None
    text: str


def _parse_rule(text: str) -> _Rule:
    match = _RULE.match(text)
    if not match:
        raise ValueError(
            f"bad fault rule {text!r}: expected <half>.<op>=drop|500|null|code:N[/SUB][:P|:xN]"
        )
    action = match["action"]
    if action.startswith("code:"):
        code_text, _, sub_text = action[5:].partition("/")
        fault = Fault("code", int(code_text), int(sub_text) if sub_text else None)
    else:
        fault = Fault(action)
    chance = match["chance"]
    probability: float | None = 1.0
    remaining: int | None = None
    if chance and chance.startswith("x"):
        probability, remaining = None, int(chance[1:])
    elif chance:
        probability = float(chance)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"bad fault rule {text!r}: probability must be within 0..1")
    return _Rule(match["half"], match["op"], fault, probability, remaining, text)


def parse_spec(spec: str | None) -> tuple[list[_Rule], int | None]:
    """Rules and seed from a spec string (empty or None: no faults)."""
    rules: list[_Rule] = []
    seed: int | None = None
    for item in (spec or "").replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("seed="):
            seed = int(item[5:])
            continue
        rules.append(_parse_rule(item))
    return rules, seed


class Faults:
    """The rules in force; thread-safe, changeable at run time (``set``/``add``/``clear``)."""

    def __init__(self, spec: str | None = None, *, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._rng = random.Random(seed)
        self.fired: Counter[str] = Counter()
        self.set(spec, seed=seed)

    def set(self, spec: str | None, *, seed: int | None = None) -> None:
        """Replace every rule (a ``seed=`` in the spec, or ``seed``, reseeds the RNG)."""
        rules, spec_seed = parse_spec(spec)
        with self._lock:
            self._rules = rules
            if spec_seed is not None or seed is not None:
                self._rng = random.Random(spec_seed if spec_seed is not None else seed)

    def add(self, spec: str) -> None:
        """Append rules after the existing ones."""
        rules, spec_seed = parse_spec(spec)
        with self._lock:
            self._rules.extend(rules)
            if spec_seed is not None:
                self._rng = random.Random(spec_seed)

    def clear(self) -> None:
        with self._lock:
            self._rules = []
            self.fired.clear()

    def pick(
        self, half: str, ops: Iterable[str], *, kinds: Iterable[str] = REQUEST_KINDS
    ) -> Fault | None:
        """The fault to apply to one request of ``half`` doing ``ops``, or None.

        Rules whose action is not in ``kinds`` are skipped without being used up
        (``null`` only means something for a batch entry).
        """
        wanted = {*ops, "any"}
        allowed = set(kinds)
        with self._lock:
            for rule in self._rules:
                if rule.half != half or rule.op not in wanted or rule.fault.kind not in allowed:
                    continue
                if rule.remaining is not None:
                    if rule.remaining <= 0:
                        continue
                    rule.remaining -= 1
                elif rule.probability is None or self._rng.random() >= rule.probability:
                    continue
                self.fired[rule.text] += 1
                return rule.fault
        return None

    def describe(self) -> dict[str, object]:
        with self._lock:
            return {
                "rules": [
                    {
                        "rule": r.text,
                        "remaining": r.remaining,
                        "probability": r.probability,
                    }
                    for r in self._rules
                ],
                "fired": dict(self.fired),
            }
