"""baresip as a real test phone: it auto-answers, plays a WAV to the caller, records what it
hears, presses keys on command (RFC 4733) and reports the keys it receives.

Driven through its ctrl_tcp module (netstring-framed JSON); started and stopped by PID. The
config follows ../shared/sip-peers/baresip/config.template with free ports of our own, so two
test runs on one machine do not collide.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PHONE_USER = "+15551234567"  # baresip answers only the user its account names

CONFIG = """\
poll_method\t\tepoll
sip_listen\t\t127.0.0.1:{sip_port}
net_interface\t\t127.0.0.1
sip_trans_def\t\tudp
audio_path\t\t/usr/share/baresip
audio_source\t\taufile,{peer_wav}
audio_player\t\taubridge,nil
audio_alert\t\taubridge,nil
rtp_ports\t\t{rtp_min}-{rtp_max}
module_path\t\t/usr/lib/baresip/modules
module\t\t\tg711.so
module\t\t\taufile.so
module\t\t\taubridge.so
module\t\t\tsndfile.so
snd_path\t\t{recordings}
module_app\t\taccount.so
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}
"""
ACCOUNT = "<sip:{user}@127.0.0.1>;regint=0;answermode=auto;audio_codecs={codecs}\n"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def available() -> bool:
    return shutil.which("baresip") is not None


@dataclass
class BaresipPhone:
    directory: Path
    sip_port: int
    ctrl_port: int
    process: subprocess.Popen[bytes]
    events: list[dict[str, Any]] = field(default_factory=list)
    _socket: socket.socket | None = None
    _lock: threading.Condition = field(default_factory=threading.Condition)

    @property
    def uri(self) -> str:
        return f"sip:{PHONE_USER}@127.0.0.1:{self.sip_port}"

    @property
    def recordings(self) -> Path:
        return self.directory / "recordings"

    def command(self, command: str, params: str = "") -> None:
        """Send a ctrl_tcp command (e.g. sndcode 2 presses 2)."""
        assert self._socket is not None
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self._socket.sendall(str(len(body)).encode() + b":" + body + b",")

    def wait_for(
        self, event_type: str, timeout: float = 15.0, count: int = 1
    ) -> list[dict[str, Any]]:
        """The first `count` events of `event_type`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [e for e in self.events if e.get("type") == event_type]
                if len(found) >= count:
                    return found[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    raise AssertionError(
                        f"baresip reported no {count} x {event_type} within {timeout} s; "
                        f"events: {[e.get('type') for e in self.events]}"
                    )
                self._lock.wait(remaining)

    def received_recording(self) -> Path:
        """The WAV of what the phone heard (sndfile names it ...-dec.wav)."""
        found = sorted(self.recordings.glob("*dec*.wav"))
        if not found:
            raise AssertionError(f"no received-audio recording in {self.recordings}")
        return found[-1]

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    # -- the event stream --------------------------------------------------------------------
    def _read_events(self) -> None:
        assert self._socket is not None
        buffer = b""
        while True:
            try:
                chunk = self._socket.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b":" in buffer:
                length_text, _, rest = buffer.partition(b":")
                length = int(length_text)
                if len(rest) < length + 1:
                    break
                message = json.loads(rest[:length])
                buffer = rest[length + 1 :]
                if message.get("event"):
                    with self._lock:
                        self.events.append(message)
                        self._lock.notify_all()


def free_sip_port() -> int:
    """A port free for UDP and TCP both: baresip listens for SIP on each."""
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def start_baresip(
    directory: Path, peer_wav: Path, codecs: str = "PCMU/8000/1,PCMA/8000/1"
) -> BaresipPhone:
    """A running phone; tried again on other ports if a port was taken in the meantime."""
    for attempt in range(3):
        try:
            return _start_baresip(directory, peer_wav, codecs)
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    pass


def _start_baresip(directory: Path, peer_wav: Path, codecs: str) -> BaresipPhone:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "recordings").mkdir(exist_ok=True)
    sip_port, ctrl_port = free_sip_port(), free_port(socket.SOCK_STREAM)
    rtp_min = 23000 + (sip_port % 50) * 20  # its own range, below the ephemeral ports
    (directory / "config").write_text(
        CONFIG.format(
            sip_port=sip_port,
            ctrl_port=ctrl_port,
            peer_wav=peer_wav,
            recordings=directory / "recordings",
            rtp_min=rtp_min,
            rtp_max=rtp_min + 19,
        )
    )
    (directory / "accounts").write_text(ACCOUNT.format(user=PHONE_USER, codecs=codecs))
    with (directory / "baresip.log").open("wb") as log:  # the child keeps its own copy
        process = subprocess.Popen(
            ["baresip", "-f", str(directory), "-t", "120"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    phone = BaresipPhone(directory, sip_port, ctrl_port, process)
    deadline = time.monotonic() + 10
    while True:  # until ctrl_tcp listens (bounded): then the SIP socket is bound too
        if process.poll() is not None:
            output = (directory / "baresip.log").read_text(errors="replace")
            if "in use" in output.lower():
                raise PortTaken(output)
            raise RuntimeError(f"baresip exited with {process.returncode}: {output}")
        try:
            phone._socket = socket.create_connection(("127.0.0.1", ctrl_port), timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline:
                phone.stop()
                raise RuntimeError("baresip did not start within 10 s") from None
            time.sleep(0.02)  # polling a real process's start-up; bounded by the deadline
    phone._socket.settimeout(None)
    threading.Thread(target=phone._read_events, name="baresip-events", daemon=True).start()
    return phone
