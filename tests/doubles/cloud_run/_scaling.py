"""Which revisions Cloud Run keeps warm instances for (the minimum instances it bills idle).

The rules of https://cloud.google.com/run/docs/configuring/min-instances:

* a *service-level* minimum (``Service.scaling.min_instance_count``) is divided among the
  revisions that serve traffic, in proportion to their percent; a revision at 0 %, tagged or
  not, gets none of it;
* a *revision-level* minimum (``template.scaling.min_instance_count``) keeps that many
  instances of a revision whenever the traffic names it, even at 0 % or only by a tag.

Where both apply to a revision the double keeps the larger number (Google advises against
mixing them and does not document the sum). The service-level share is rounded by largest
remainder, so the shares add up to the minimum. The result is reported on each revision as
``scalingStatus.desiredMinInstanceCount``, the field the real API fills.
"""

from __future__ import annotations

from ._state import ServiceRecord, Target

__all__ = ["apply_warm_instances", "warm_instances"]


def warm_instances(svc: ServiceRecord, targets: tuple[Target, ...]) -> dict[str, int]:
    """Revision short name → warm instances under ``targets`` (revisions with none left out)."""
    service_min = svc.pb.scaling.min_instance_count
    percents: dict[str, int] = {}
    for target in targets:
        percents[target.revision] = percents.get(target.revision, 0) + target.percent
    shares = _largest_remainder(service_min, {r: p for r, p in percents.items() if p > 0})
    warm: dict[str, int] = {}
    for name in percents:
        revision = svc.revisions.get(name)
        own = revision.template.scaling.min_instance_count if revision is not None else 0
        count = max(own, shares.get(name, 0))
        if count:
            warm[name] = count
    return warm


def apply_warm_instances(svc: ServiceRecord, targets: tuple[Target, ...]) -> None:
    """Write each revision's ``scalingStatus.desiredMinInstanceCount``; the caller holds the lock."""
    warm = warm_instances(svc, targets)
    for name, revision in svc.revisions.items():
        revision.pb.scaling_status.desired_min_instance_count = warm.get(name, 0)


def _largest_remainder(total: int, weights: dict[str, int]) -> dict[str, int]:
    weight = sum(weights.values())
    if not total or not weight:
        return {}
    exact = {name: total * w / weight for name, w in weights.items()}
    shares = {name: int(value) for name, value in exact.items()}
    left = total - sum(shares.values())
    for name in sorted(exact, key=lambda n: (shares[n] - exact[n], n))[:left]:
        shares[name] += 1
    return shares
