"""MQTT publisher (MQTT 5, paho-mqtt 2) with Home Assistant discovery.

Topics (``<prefix>`` is ``events.mqtt.topic_prefix``):

* ``<prefix>/alerts``: every alert, QoS 1, not retained (the stream to consume);
* ``<prefix>/<camera>/alert``: the camera's last alert, retained (the state of
  its Home Assistant sensor);
* ``<prefix>/status``: ``online``/``offline`` (retained; ``offline`` is the last will);
* ``<discovery_prefix>/sensor/citywatch_<camera>/config``: the sensor's discovery
  config, retained, sent once per connection and camera.

Each alert carries its idempotency key as the MQTT 5 user property
``idempotency-key`` and as ``event_id`` in the JSON body.

Pitfall: paho keeps an unacknowledged QoS 1 message and sends it again after
a reconnect, while the outbox also retries it: a subscriber may see an alert
twice and must de-duplicate on the key. The outbox, not paho's memory, is what
makes delivery survive a restart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import ssl
import threading
from collections.abc import Collection
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from citywatch.config import MqttConfig
from citywatch.events.base import AlertMessage, DeliveryError

log = logging.getLogger(__name__)

KEY_PROPERTY = "idempotency-key"
_TOPIC_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_OBJECT_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def camera_topic(camera: str) -> str:
    """A camera name made safe for one MQTT topic level (no ``/``, ``+``, ``#``)."""
    return _TOPIC_UNSAFE.sub("_", camera) or "_"


def object_id(camera: str) -> str:
    """Home Assistant object id of a camera's sensor: ``citywatch_<camera>``."""
    return "citywatch_" + (_OBJECT_UNSAFE.sub("_", camera) or "_")


def discovery_config(cfg: MqttConfig, camera: str) -> tuple[str, dict[str, Any]]:
    """``(topic, config)`` announcing one camera's "last alert" sensor to Home Assistant."""
    oid = object_id(camera)
    state = f"{cfg.topic_prefix}/{camera_topic(camera)}/alert"
    return f"{cfg.discovery_prefix}/sensor/{oid}/config", {
        "name": "Last alert",
        "unique_id": f"{oid}_last_alert",
        "object_id": oid,
        "device_class": "timestamp",
        "state_topic": state,
        "value_template": "{{ value_json.time }}",
        "json_attributes_topic": state,
        "availability_topic": f"{cfg.topic_prefix}/status",
        "icon": "mdi:cctv",
        "device": {
            "identifiers": [oid],
            "name": f"citywatch camera {camera}",
            "manufacturer": "citywatch",
        },
    }


class MqttSink:
    """Publishes alerts to one broker; connects in the background and reconnects with backoff.

    ``send`` needs a live connection and the broker's acknowledgement within
    ``publish_timeout_seconds``; otherwise it raises :class:`DeliveryError` and
    the outbox retries later. The password is passed to paho only, never logged.
    """

    def __init__(self, cfg: MqttConfig, password: str | None = None) -> None:
        self._cfg = cfg
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5,
        )
        if cfg.username:
            self._client.username_pw_set(cfg.username, password or None)
        if cfg.tls:
            self._client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        self._client.will_set(f"{cfg.topic_prefix}/status", "offline", qos=1, retain=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._announced: set[str] = set()
        """Cameras whose discovery config went out on the current connection."""
        self._cameras: set[str] = set()
        self._started = False
        self._ever_connected = False
        self._closed = False

    @property
    def name(self) -> str:
        return "mqtt"

    @property
    def where(self) -> str:
        return f"mqtt://{self._cfg.host}:{self._cfg.port}"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- connection -------------------------------------------------------------

    def start(self, wait_seconds: float = 0.0) -> bool:
        """Connect in the background (idempotent); optionally wait for the connection. True if connected."""
        with self._lock:
            if not self._started:
                self._started = True
                self._client.connect_async(
                    self._cfg.host, self._cfg.port, keepalive=self._cfg.keepalive_seconds
                )
                self._client.loop_start()
        if wait_seconds > 0:
            self._connected.wait(wait_seconds)
        return self.connected

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.warning("MQTT %s refused the connection: %s", self.where, reason_code)
            return
        with self._lock:
            self._announced.clear()  # a new session: announce again (the broker may have lost retained configs)
        client.publish(f"{self._cfg.topic_prefix}/status", "online", qos=1, retain=True)
        self._ever_connected = True
        self._connected.set()
        log.info("MQTT connected to %s", self.where)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._closed:
            log.warning("MQTT disconnected from %s (%s); reconnecting", self.where, reason_code)

    # --- publishing -------------------------------------------------------------

    def _publish(self, topic: str, body: bytes, *, retain: bool, key: str | None = None) -> None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ContentType = "application/json"
        if key is not None:
            props.UserProperty = [(KEY_PROPERTY, key)]
        info = self._client.publish(topic, body, qos=self._cfg.qos, retain=retain, properties=props)
        try:
            info.wait_for_publish(timeout=self._cfg.publish_timeout_seconds)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(f"mqtt {self.where}: publish to {topic} failed: {exc}") from exc
        if not info.is_published():
            raise DeliveryError(
                f"mqtt {self.where}: no acknowledgement for {topic} within "
                f"{self._cfg.publish_timeout_seconds:g} s"
            )

    def _ensure_announced(self, camera: str) -> None:
        if not self._cfg.discovery:
            return
        with self._lock:
            if camera in self._announced:
                return
        topic, config = discovery_config(self._cfg, camera)
        self._publish(topic, json.dumps(config, separators=(",", ":")).encode(), retain=True)
        with self._lock:
            self._announced.add(camera)

    def _announce_known(self) -> None:
        with self._lock:
            todo = sorted(self._cameras - self._announced)
        for camera in todo:
            self._ensure_announced(camera)

    def announce(self, cameras: Collection[str]) -> None:
        with self._lock:
            self._cameras.update(cameras)
        if not self._cfg.discovery or not self.start():
            return
        try:
            self._announce_known()
        except DeliveryError as exc:
            log.warning("MQTT discovery not sent: %s", exc)

    def send(self, message: AlertMessage) -> None:
        # the first connection may still be under way: wait for it once; after a loss, fail fast
        wait = 0.0 if self._ever_connected else self._cfg.publish_timeout_seconds
        if not self.start(wait_seconds=wait):
            raise DeliveryError(f"mqtt {self.where}: not connected")
        with self._lock:
            self._cameras.add(message.camera)
        self._announce_known()
        prefix = self._cfg.topic_prefix
        self._publish(f"{prefix}/alerts", message.body, retain=False, key=message.key)
        self._publish(
            f"{prefix}/{camera_topic(message.camera)}/alert", message.body, retain=True, key=message.key
        )

    def close(self) -> None:
        self._closed = True
        with self._lock:
            started = self._started
        if started:
            if self._connected.is_set():
                info = self._client.publish(f"{self._cfg.topic_prefix}/status", "offline", qos=1, retain=True)
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(timeout=2.0)
            self._client.disconnect()
            self._client.loop_stop()

    def __repr__(self) -> str:
        return f"MqttSink({self.where})"
