"""The secured broker against real Mosquitto: anonymous and wrong-password clients are refused,
a podium publishes only under its own topics and reads only its own, viewers only read,
the host publishes commands. "Never delivered" is proved by ordering, not by waiting: the
same client publishes an allowed sentinel after the forbidden message, and the broker
delivers one client's messages in order, so once the sentinel is in, the other never will be."""

from __future__ import annotations

import queue
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from buzzline.cli import main as cli_main
from buzzline.io.broker import MosquittoBroker, find_mosquitto
from buzzline.io.security import (
    BrokerSecrets,
    SecurityConfigError,
    broker_extra_config,
    check_password,
    hash_password,
    load_credentials,
    new_password,
    write_broker_config,
)
from buzzline_protocol import codec, topics
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

pytestmark = pytest.mark.broker
STUDIO = "s1"
WAIT = 5.0


class Client:
    """A paho client that reports connect, subscribe and publish outcomes synchronously."""

    def __init__(self, broker: MosquittoBroker, name: str, v5: bool = True) -> None:
        self.broker = broker
        proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{name}", protocol=proto)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._connected: queue.Queue[ReasonCode] = queue.Queue()
        self._subacks: queue.Queue[list[ReasonCode]] = queue.Queue()
        self._pubacks: dict[int, ReasonCode] = {}
        self._puback_cv = threading.Condition()
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_publish = self._on_publish
        self.c.on_message = lambda _c, _u, m: self.messages.put(m)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._connected.put(rc)

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        self._subacks.put(rcs)

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._puback_cv:
            self._pubacks[mid] = rc
            self._puback_cv.notify_all()

    def connect(self, user: str | None, password: str | None) -> ReasonCode:
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.connect(self.broker.host, self.broker.port, keepalive=30)
        self.c.loop_start()
        try:
            return self._connected.get(timeout=WAIT)
        except queue.Empty:
            pytest.fail("no CONNACK from the broker")

    def subscribe(self, topic: str) -> ReasonCode:
        self.c.subscribe(topic, qos=1)
        (rc,) = self._subacks.get(timeout=WAIT)
        return rc

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        info = self.c.publish(topic, payload, qos=1, retain=retain)
        with self._puback_cv:
            ok = self._puback_cv.wait_for(lambda: info.mid in self._pubacks, timeout=WAIT)
            assert ok, f"no PUBACK for {topic}"
            return self._pubacks[info.mid]

    def next_message(self) -> mqtt.MQTTMessage:
        try:
            return self.messages.get(timeout=WAIT)
        except queue.Empty:
            pytest.fail("expected a message, none arrived")

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _buzz(pid: str, seq: int) -> bytes:
    return codec.encode({"v": 1, "t": "buzz", "id": pid, "b": 1, "seq": seq, "pt": 1000 + seq, "ep": 1})


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MosquittoBroker, BrokerSecrets]]:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is required")
    root = tmp_path_factory.mktemp("secured")
    sec = write_broker_config(root / "conf", STUDIO, ["p1", "p2"])
    (root / "broker").mkdir()
    b = MosquittoBroker(
        extra_config=broker_extra_config(root / "conf"), allow_anonymous=False, workdir=root / "broker"
    )
    b.start()
    try:
        yield b, sec
    finally:
        b.stop()


@pytest.fixture
def clients(secured: tuple[MosquittoBroker, BrokerSecrets]) -> Iterator[dict[str, Client]]:
    """Connected host, viewer, p1 and p2 clients; the host listens to the whole studio."""
    b, sec = secured
    made: dict[str, Client] = {}
    try:
        assert sec.adapter is not None
        accounts = [
            ("host", sec.host),
            ("viewer", sec.viewer),
            ("adapter", sec.adapter),
            *sec.podiums.items(),
        ]
        for name, cred in accounts:
            cl = Client(b, name)
            assert cl.connect(cred.username, cred.password) == 0, name
            made[name] = cl
        assert made["host"].subscribe(f"buzzline/{STUDIO}/#").value < 0x80
        yield made
    finally:
        for cl in made.values():
            cl.close()


def test_anonymous_and_wrong_credentials_are_refused(secured: tuple[MosquittoBroker, BrokerSecrets]) -> None:
    b, sec = secured
    p1, p2 = sec.podiums["p1"], sec.podiums["p2"]
    cases = [
        (None, None, True),
        (None, None, False),
        (p1.username, "wrong", True),
        (p1.username, p2.password, False),  # p2's secret does not open p1's account
        ("nobody", p1.password, True),
    ]
    for user, pw, v5 in cases:
        cl = Client(b, "intruder", v5=v5)
        try:
            rc = cl.connect(user, pw)
        finally:
            cl.close()
        assert rc.is_failure, (user, v5)
        assert rc.getName() in ("Not authorized", "Bad user name or password"), rc.getName()


def test_podium_cannot_buzz_as_another_podium(clients: dict[str, Client]) -> None:
    host, p1 = clients["host"], clients["p1"]
    forged = p1.publish(topics.podium(STUDIO, "p2", "up"), _buzz("p2", 1))
    # MQTT 5 tells the publisher; the message itself is dropped either way
    assert forged.getName() == "Not authorized"
    assert p1.publish(topics.podium(STUDIO, "p1", "up"), _buzz("p1", 1)) == 0
    msg = host.next_message()
    assert msg.topic == topics.podium(STUDIO, "p1", "up")
    assert codec.decode(msg.payload)["id"] == "p1"


def test_podium_cannot_forge_over_mqtt311_either(secured: tuple[MosquittoBroker, BrokerSecrets]) -> None:
    b, sec = secured
    host, p1 = Client(b, "host311"), Client(b, "p1-311", v5=False)
    try:
        assert host.connect(sec.host.username, sec.host.password) == 0
        assert host.subscribe(f"buzzline/{STUDIO}/#").value < 0x80
        assert p1.connect(sec.podiums["p1"].username, sec.podiums["p1"].password) == 0
        for leaf in ("up", "presence", "sync", "cmd", "syncr"):
            p1.publish(topics.podium(STUDIO, "p2", leaf), _buzz("p2", 2))
        p1.publish(topics.podium(STUDIO, "p1", "cmd"), b'{"v":1,"k":"arm"}')  # commands come from the host
        p1.publish(topics.podium(STUDIO, "all", "cmd"), b'{"v":1,"k":"lock"}')
        p1.publish(topics.game_state(STUDIO), b'{"scores":{"p1":9999}}', retain=True)
        p1.publish(topics.podium(STUDIO, "p1", "sync"), b"sentinel")
        msg = host.next_message()
        assert (msg.topic, msg.payload) == (topics.podium(STUDIO, "p1", "sync"), b"sentinel")
        assert host.messages.empty()
    finally:
        host.close()
        p1.close()


def test_podium_publishes_its_own_upstream_leaves(clients: dict[str, Client]) -> None:
    host, p2 = clients["host"], clients["p2"]
    for leaf in topics.UPSTREAM:
        assert p2.publish(topics.podium(STUDIO, "p2", leaf), leaf.encode()) == 0
    got = [host.next_message() for _ in topics.UPSTREAM]
    assert [(m.topic, m.payload.decode()) for m in got] == [
        (topics.podium(STUDIO, "p2", leaf), leaf) for leaf in topics.UPSTREAM
    ]


def test_podium_reads_only_its_own_commands(clients: dict[str, Client]) -> None:
    host, p1 = clients["host"], clients["p1"]
    # Mosquitto 2.0 grants any subscription and checks read access per delivered message,
    # so p1 may subscribe to p2's commands and the state: it must simply never get them.
    for topic in (
        topics.podium(STUDIO, "p2", "cmd"),
        topics.game_state(STUDIO),
        topics.podium_filter(STUDIO, "up"),
        topics.podium(STUDIO, "p1", "cmd"),
        topics.podium(STUDIO, "p1", "syncr"),
        topics.podium(STUDIO, "all", "cmd"),
        topics.host(STUDIO, "presence"),
    ):
        p1.subscribe(topic)
    assert host.publish(topics.podium(STUDIO, "p2", "cmd"), b"for p2") == 0
    assert host.publish(topics.game_state(STUDIO), b"state") == 0
    assert clients["p2"].publish(topics.podium(STUDIO, "p2", "up"), _buzz("p2", 5)) == 0
    # the host can command a single podium and all of them
    assert host.publish(topics.podium(STUDIO, "p1", "cmd"), b"for p1") == 0
    assert host.publish(topics.podium(STUDIO, "p1", "syncr"), b"sync reply") == 0
    assert host.publish(topics.podium(STUDIO, "all", "cmd"), b"for all") == 0
    assert host.publish(topics.host(STUDIO, "presence"), b"host online") == 0  # podiums follow the host
    got = [p1.next_message().payload for _ in range(4)]
    assert got == [b"for p1", b"sync reply", b"for all", b"host online"]
    assert p1.messages.empty()


def test_viewer_reads_state_and_presence_but_cannot_publish(clients: dict[str, Client]) -> None:
    host, viewer, p1 = clients["host"], clients["viewer"], clients["p1"]
    for topic in (
        topics.game_state(STUDIO),
        topics.podium_filter(STUDIO, "presence"),
        topics.podium_filter(STUDIO, "up"),  # raw buzzes are not public
        topics.podium_filter(STUDIO, "cmd"),
    ):
        viewer.subscribe(topic)
    for topic in (
        topics.game_state(STUDIO),
        topics.podium(STUDIO, "p1", "up"),
        topics.podium(STUDIO, "all", "cmd"),
    ):
        assert viewer.publish(topic, b"spoof").getName() == "Not authorized", topic
    assert host.publish(topics.game_state(STUDIO), b'{"phase":"open"}') == 0
    assert host.publish(topics.podium(STUDIO, "p1", "cmd"), b"arm") == 0
    assert p1.publish(topics.podium(STUDIO, "p1", "up"), _buzz("p1", 9)) == 0
    assert p1.publish(topics.podium(STUDIO, "p1", "presence"), b"online") == 0
    got: list[tuple[str, bytes]] = []
    while not got or got[-1][0] != topics.podium(STUDIO, "p1", "presence"):
        m = viewer.next_message()
        got.append((m.topic, m.payload))
    assert got == [
        (topics.game_state(STUDIO), b'{"phase":"open"}'),
        (topics.podium(STUDIO, "p1", "presence"), b"online"),
    ]
    # the host saw the real messages and none of the viewer's spoofs, in order
    seen = [host.next_message().payload for _ in range(4)]
    assert seen == [b'{"phase":"open"}', b"arm", _buzz("p1", 9), b"online"]
    assert host.messages.empty()


def test_adapter_reads_the_game_and_host_presence_and_writes_nothing(clients: dict[str, Client]) -> None:
    host, adapter = clients["host"], clients["adapter"]
    for topic in (
        f"buzzline/{STUDIO}/game/#",
        topics.host(STUDIO, "presence"),
        topics.podium_filter(STUDIO, "up"),
    ):
        adapter.subscribe(topic)
    for topic in (
        topics.game_state(STUDIO),
        topics.game_events(STUDIO),
        topics.host(STUDIO, "presence"),
        topics.podium(STUDIO, "all", "cmd"),
        topics.podium(STUDIO, "p1", "up"),
    ):
        assert adapter.publish(topic, b"spoof").getName() == "Not authorized", topic
    assert host.publish(topics.podium(STUDIO, "p1", "up"), b"raw") == 0  # not for adapters
    assert host.publish(topics.game_events(STUDIO), b"event") == 0
    assert host.publish(topics.host(STUDIO, "presence"), b"online") == 0
    got = [(m.topic, m.payload) for m in (adapter.next_message(), adapter.next_message())]
    assert got == [(topics.game_events(STUDIO), b"event"), (topics.host(STUDIO, "presence"), b"online")]
    assert adapter.messages.empty()


# ---- the files themselves ----


def test_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    exe = Path(find_mosquitto() or "/usr/sbin/mosquitto").parent.parent / "bin" / "mosquitto_passwd"
    if not exe.exists():
        pytest.skip("mosquitto_passwd not installed; the broker tests above still check our hashes")
    pw = tmp_path / "pw"
    subprocess.run([str(exe), "-c", "-b", str(pw), "alice", "s3cret"], check=True, timeout=10)
    theirs = pw.read_text().strip().split(":", 1)[1]
    assert check_password("s3cret", theirs)
    assert not check_password("s3cret!", theirs)
    salt = __import__("base64").b64decode(theirs.split("$")[3])
    assert hash_password("s3cret", salt, int(theirs.split("$")[2])) == theirs


def test_cli_writes_private_files_and_keeps_passwords_on_rerun(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "broker"
    assert cli_main(["broker", "config", "--studio", STUDIO, "--podiums", "p1,p2", "--out", str(out)]) == 0
    first = load_credentials(out)
    for name in ("credentials.json", "passwd", "acl", "mosquitto.conf"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    conf = (out / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and f"acl_file {out.resolve() / 'acl'}" in conf
    assert "set_tcp_nodelay true" in conf.splitlines()
    assert cli_main(["broker", "config", "--studio", STUDIO, "--podiums", "p1,p2,p3", "--out", str(out)]) == 0
    second = load_credentials(out)
    assert second.podiums["p1"] == first.podiums["p1"] and second.host == first.host
    assert set(second.podiums) == {"p1", "p2", "p3"}
    assert "user podium-p3" in (out / "acl").read_text()
    assert (
        cli_main(["broker", "config", "--studio", STUDIO, "--podiums", "p1", "--out", str(out), "--rotate"])
        == 0
    )
    assert load_credentials(out).podiums["p1"] != first.podiums["p1"]


@pytest.mark.parametrize(
    ("studio", "podiums", "reason"),
    [
        ("S1", "p1", "bad studio name"),
        (STUDIO, "p1,all", "reserved"),
        (STUDIO, "p1,p1", "listed twice"),
        (STUDIO, "p1,P#2", "bad podium id"),
        (STUDIO, " , ", "no podium ids"),
    ],
)
def test_cli_refuses_bad_names(tmp_path: Path, capsys: Any, studio: str, podiums: str, reason: str) -> None:
    rc = cli_main(
        ["broker", "config", "--studio", studio, "--podiums", podiums, "--out", str(tmp_path / "o")]
    )
    assert rc == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "o" / "passwd").exists()


def test_missing_files_and_bad_credentials_are_explained(tmp_path: Path) -> None:
    with pytest.raises(SecurityConfigError, match="run `buzzline broker config` first"):
        broker_extra_config(tmp_path)
    (tmp_path / "credentials.json").write_text('{"studio": "s1"}')
    with pytest.raises(SecurityConfigError, match="not a Buzzline credentials file"):
        load_credentials(tmp_path)
    (tmp_path / "credentials.json").write_text("{nope")
    with pytest.raises(SecurityConfigError, match="not JSON"):
        load_credentials(tmp_path)


def test_generated_passwords_never_look_like_an_option() -> None:
    # one in 64 URL-safe tokens starts with '-': 2000 draws would show it (p of missing it ~1e-14)
    words = [new_password() for _ in range(2000)]
    assert not [w for w in words if w.startswith("-")]
    assert len(set(words)) == len(words) and all(len(w) >= 20 and ":" not in w for w in words)
