"""How a traffic split shares its environment's replica bounds between its sides.

An environment scales from `min_replicas` to `max_replicas`. Split by `traffic:` weights,
each side is a Deployment of its own with an autoscaler of its own (on the in-flight
requests of its own pods, so it follows the share of the load it is sent); the
environment's bounds are divided between the sides:

- A side with a weight above 0 keeps at least one replica. It is a weighted backend of the
  environment's route, reached directly: the scale-from-zero interceptor fronts one
  Service per route, and Gateway API says a backend with no ready endpoints SHOULD get 503
  for its share of the requests (reference/k8s-serving.md §4.1).
- Its maximum is that warm replica plus its share of the environment's room above one
  replica (`max_replicas - 1`): the maxima add up to `max_replicas + sides - 1`, the
  environment's ceiling plus the one replica each further side needs to stay warm, and no
  side exceeds `max_replicas`.
- Its minimum is its share of `min_replicas`, at least 1: the floors add up to
  `min_replicas` plus one for each side whose share rounds to nothing. A schedule's floor is
  shared the same way.
- A side with weight 0 (a dark deployment) is routed nothing by the environment: it runs
  0..1 replicas, reached on its own `/deployments/<name>/` path through the interceptor.
- A "split" with one side above 0 is that side alone: it takes the environment's bounds.

Shares are whole replicas by largest remainders (Hamilton): each side gets the whole
replicas of its exact share, and those left over go to the largest fractions. On a tie, a
floor's replica goes to the side with more weight (keep replicas where the requests are),
a replica of room to the side with less (the side with the least room gets to scale), then
by name. So each share is within one replica of the exact one, a side never gets fewer
replicas than a side with less weight, and a side's minimum never exceeds its maximum
(docs/traffic-splits.md has the derivation, that proof and examples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

Traffic = Sequence[tuple[str, int]]
"""(deployment, weight in percent) of an environment."""

DARK_BOUNDS = (0, 1)
"""(min, max) replicas of a side with weight 0."""


def served(traffic: Traffic) -> tuple[tuple[str, int], ...]:
    """The sides that are sent requests (weight above 0), in the given order."""
    return tuple((name, weight) for name, weight in traffic if weight > 0)


def apportion(count: int, traffic: Traffic, *, ties_to_more: bool = False) -> dict[str, int]:
    """`count` replicas shared by weight (module docstring); sides of weight 0 get none. A
    replica left over between equal fractions goes to the side with less weight, or with
    `ties_to_more` to the side with more."""
    held = {name: 0 for name, _ in traffic}
    sides = served(traffic)
    if count <= 0 or not sides:
        return held
    total = sum(weight for _, weight in sides)
    quotas = {name: Fraction(count * weight, total) for name, weight in sides}
    for name, _ in sides:
        held[name] = math.floor(quotas[name])
    left = count - sum(held.values())
    tie = -1 if ties_to_more else 1
    by_remainder = sorted(sides, key=lambda s: (held[s[0]] - quotas[s[0]], tie * s[1], s[0]))
    for name, _ in by_remainder[:left]:
        held[name] += 1
    return held


def side_bounds(
    min_replicas: int, max_replicas: int, traffic: Traffic
) -> dict[str, tuple[int, int]]:
    """(min, max) replicas of each side of an environment scaling min_replicas..max_replicas."""
    sides = served(traffic)
    bounds = {name: DARK_BOUNDS for name, weight in traffic if weight <= 0}
    if len(sides) == 1:
        bounds[sides[0][0]] = (min_replicas, max_replicas)
        return bounds
    floors = apportion(min_replicas, sides, ties_to_more=True)
    room = apportion(max_replicas - 1, sides)
    for name, _ in sides:
        bounds[name] = (max(1, floors[name]), 1 + room[name])
    return bounds


def side_floor(floor: int, traffic: Traffic, name: str) -> int:
    """A side's share of an environment's floor (`min_replicas`, a schedule's), at least 1."""
    return max(1, apportion(floor, served(traffic), ties_to_more=True)[name])


def floor_giving(name: str, wanted: int, traffic: Traffic) -> int | None:
    """The least `min_replicas` of the environment that gives side `name` of a split at
    least `wanted` replicas; None for a side of weight 0 (it has no floor)."""
    weight = dict(traffic).get(name, 0)
    if weight <= 0:
        return None
    total = sum(w for _, w in served(traffic))
    # Its share is at least the whole replicas of wanted·total/weight · weight/total.
    enough = math.ceil(wanted * total / weight)
    return next(n for n in range(enough + 1) if side_floor(n, traffic, name) >= wanted)
