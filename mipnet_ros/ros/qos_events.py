"""Incompatible-QoS events logged once per topic and period instead of once per peer.

rclpy's default handler logs one WARN for every incompatible peer that appears (dozens of viewers
or a bag player with other settings flood the log). These callbacks count the events and log at
most one line per topic and period, with the number of events and the last policy in conflict.
"""
from __future__ import annotations

import threading
from typing import Any, Dict

from mipnet_ros.ros.log_throttle import LogThrottle


class IncompatibleQosLog:
    """Event callbacks for subscriptions and publishers; `counts` holds the events per topic."""

    def __init__(self, logger: Any, period_sec: float = 5.0):
        self.logger = logger
        self._throttle = LogThrottle(period_sec)
        self.counts: Dict[str, int] = {}
        self._unlogged: Dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def period_sec(self) -> float:
        return self._throttle.period_sec

    @period_sec.setter
    def period_sec(self, value: float) -> None:
        self._throttle.period_sec = float(value)

    def subscription_callbacks(self, topic: str):
        from rclpy.event_handler import SubscriptionEventCallbacks
        return SubscriptionEventCallbacks(incompatible_qos=lambda ev: self.on_event(topic, 'publisher', ev))

    def publisher_callbacks(self, topic: str):
        from rclpy.event_handler import PublisherEventCallbacks
        return PublisherEventCallbacks(incompatible_qos=lambda ev: self.on_event(topic, 'subscriber', ev))

    def on_event(self, topic: str, peer: str, event: Any) -> None:
        new = max(1, int(getattr(event, 'total_count_change', 1) or 1))   # the middleware may coalesce events
        with self._lock:
            self.counts[topic] = self.counts.get(topic, 0) + new
            self._unlogged[topic] = self._unlogged.get(topic, 0) + new
            if not self._throttle.ready(topic):
                return
            n, self._unlogged[topic] = self._unlogged[topic], 0
        self.logger.warning(
            f"{n} {peer}(s) on '{topic}' with incompatible QoS (last policy: {_policy_name(event)}); "
            f'no messages flow between them ({self.counts[topic]} so far; see the qos.* parameters)')


def _policy_name(event: Any) -> str:
    try:
        from rclpy.qos import qos_policy_name_from_kind
        return qos_policy_name_from_kind(event.last_policy_kind)
    except Exception:  # noqa: BLE001 - a name for the log only
        return str(getattr(event, 'last_policy_kind', '?'))
