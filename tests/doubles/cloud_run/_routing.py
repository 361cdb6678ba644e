"""Traffic onto the proxies: what the service URL splits and where each tag URL points.

A service's ``traffic`` is what it asks for; :attr:`ServiceRecord.routing` is what its proxies
really do, switched only when an operation reconciles successfully.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._proxy import Backend, TrafficProxy, WeightedRoundRobin
from ._proxy_auth import BearerRequired
from ._proxy_hooks import ProxyGuard, ProxyObserver
from ._scaling import apply_warm_instances
from ._state import LATEST, REVISION, ServiceRecord, Settings, Target, short_name

__all__ = ["ProxyHooks", "Router", "resolve_targets"]


@dataclass
class ProxyHooks:
    """Guards and observers every proxy made from now on gets, in this order.

    ``require_auth`` puts ``auth`` (:class:`BearerRequired` unless the double has an identity
    that verifies ID tokens) before these guards.
    """

    guards: list[ProxyGuard] = field(default_factory=list)
    observers: list[ProxyObserver] = field(default_factory=list)
    auth: ProxyGuard = field(default_factory=BearerRequired)


def resolve_targets(svc: ServiceRecord, traffic: Any) -> tuple[Target, ...]:
    """Traffic targets with ``LATEST`` resolved to the latest created revision."""
    latest = short_name(svc.pb.latest_created_revision)
    return tuple(
        Target(
            kind=t.type_,
            revision=latest if t.type_ == LATEST else t.revision,
            percent=t.percent,
            tag=t.tag,
        )
        for t in traffic
    )


class Router:
    """Makes the proxies and points them at revisions. Callers hold the state lock."""

    def __init__(self, settings: Settings, hooks: ProxyHooks) -> None:
        self._settings = settings
        self.hooks = hooks

    def new_proxy(self, service_id: str, tag: str | None) -> TrafficProxy:
        guards = [*self.hooks.guards]
        if self._settings.require_auth:
            guards.insert(0, self.hooks.auth)
        proxy = TrafficProxy(
            service=service_id,
            tag=tag,
            port=0,
            guards=guards,
            observers=self.hooks.observers,
        )
        proxy.start()
        return proxy

    def apply(self, svc: ServiceRecord, targets: tuple[Target, ...]) -> None:
        """Switch the service URL and the tag URLs to ``targets``; update the status fields."""
        service_id = short_name(svc.pb.name)
        ports = {name: rev.process.port for name, rev in svc.revisions.items() if rev.process}
        weights: dict[str, int] = {}
        for target in targets:
            weights[target.revision] = weights.get(target.revision, 0) + target.percent
        balancer = WeightedRoundRobin(
            [(Backend(name, ports[name]), percent) for name, percent in weights.items()]
        )
        svc.proxy.route_to(balancer.pick)
        svc.routing = targets
        split = {name: percent for name, percent in weights.items() if percent}
        if not svc.history or svc.history[-1] != split:
            svc.history.append(split)
        apply_warm_instances(svc, targets)
        tagged = {t.tag: t.revision for t in targets if t.tag}
        for tag, stale in svc.tag_proxies.items():
            if tag not in tagged:
                stale.route_to(_fixed(None))
        del svc.pb.traffic_statuses[:]
        for target in targets:
            status = svc.pb.traffic_statuses.add(type_=target.kind, percent=target.percent)
            if target.kind == REVISION:
                status.revision = target.revision
            if target.tag:
                if target.tag not in svc.tag_proxies:
                    svc.tag_proxies[target.tag] = self.new_proxy(service_id, target.tag)
                tag_proxy = svc.tag_proxies[target.tag]
                tag_proxy.route_to(_fixed(Backend(target.revision, ports[target.revision])))
                status.tag = target.tag
                status.uri = tag_proxy.url
        svc.pb.uri = svc.proxy.url
        del svc.pb.urls[:]
        svc.pb.urls.append(svc.proxy.url)

    @staticmethod
    def split(svc: ServiceRecord) -> dict[str, int]:
        """Revision short name → percent the service URL really sends there."""
        split: dict[str, int] = {}
        for target in svc.routing:
            if target.percent:
                split[target.revision] = split.get(target.revision, 0) + target.percent
        return split

    @staticmethod
    def tag_urls(svc: ServiceRecord) -> dict[str, str]:
        return {t.tag: svc.tag_proxies[t.tag].url for t in svc.routing if t.tag}

    @staticmethod
    def stop_proxies(svc: ServiceRecord) -> None:
        for proxy in [svc.proxy, *svc.tag_proxies.values()]:
            proxy.stop()


def _fixed(backend: Backend | None) -> Callable[[], Backend | None]:
    return lambda: backend
