"""Parties in separate network namespaces, for wide-area emulation that goes through the kernel.

Where the machine allows it (root, with ``ip`` and ``tc``; CI runs as root), each party and the
dealer get a network namespace of their own with their own address, joined to this namespace by
a veth pair. A ``tbf`` queueing discipline limits each site's link to the rate in both
directions (one access link per site, shared by all its peers, as at a real site). This kernel
has no ``netem``, so the delay comes from :class:`~.netem.DelayProxy`, listening in this
namespace: a party reaches each peer through its own gateway address and a proxy port.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..errors import SmpcError
from .netem import NetworkSpec

_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        raise SmpcError(f"network namespaces: `{' '.join(argv)}` failed: {done.stderr.strip()[:300]}")


def namespaces_available() -> bool:
    """True where this process may make network namespaces and shape links (root, ip, tc)."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tc") is None or not _FORWARD.exists():
        return False
    probe = f"smpc-probe-{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, timeout=20).returncode == 0
    if made:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=20)
    return made


def remove_stale() -> None:
    """Remove namespaces left by an emulation whose process was killed before it could clean up
    (named ``smpc-PID-...``; a namespace takes its veth pair with it)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=20).stdout
    for line in listed.splitlines():
        found = re.match(r"^(smpc-(\d+)-[0-9a-f]+-\d+)\b", line.strip())
        if found and not Path(f"/proc/{found.group(2)}").exists():
            subprocess.run(["ip", "netns", "del", found.group(1)], capture_output=True, timeout=20)


class NamespaceNetwork:
    """A namespace per member (party or dealer), with ``address(member)`` inside it and
    ``gateway(member)`` on this side of its link; ``close()`` removes them all."""

    def __init__(self, members: Sequence[str], spec: NetworkSpec) -> None:
        self.members = list(members)
        self.spec = spec
        self.tag = secrets.token_hex(2)
        remove_stale()
        self._octet = 100 + secrets.randbelow(150)
        self._made: list[str] = []
        self._forward_was = _FORWARD.read_text().strip()
        try:
            _FORWARD.write_text("1")
            for index, member in enumerate(self.members):
                self._join(index, member)
        except BaseException:
            self.close()
            raise

    def namespace(self, member: str) -> str:
        return f"smpc-{os.getpid()}-{self.tag}-{self.members.index(member)}"

    def address(self, member: str) -> str:
        return f"10.{self._octet}.{self.members.index(member) + 1}.2"

    def gateway(self, member: str) -> str:
        return f"10.{self._octet}.{self.members.index(member) + 1}.1"

    def command(self, member: str, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside ``member``'s namespace."""
        return ["ip", "netns", "exec", self.namespace(member), *argv]

    def _join(self, index: int, member: str) -> None:
        ns, outer, inner = self.namespace(member), f"sm{self.tag}{index}a", f"sm{self.tag}{index}b"
        _run("ip", "netns", "add", ns)
        self._made.append(ns)
        _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        _run("ip", "link", "set", inner, "netns", ns)
        _run("ip", "addr", "add", f"{self.gateway(member)}/30", "dev", outer)
        _run("ip", "link", "set", outer, "up")
        _run("ip", "-n", ns, "addr", "add", f"{self.address(member)}/30", "dev", inner)
        _run("ip", "-n", ns, "link", "set", inner, "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", ns, "route", "add", "default", "via", self.gateway(member))
        if self.spec.rate:
            rate = f"{int(self.spec.rate * 8)}bit"
            burst = str(max(32_000, int(self.spec.rate / 100)))  # bytes: 10 ms at the rate
            _run("tc", "qdisc", "add", "dev", outer, "root", "tbf", "rate", rate, "burst", burst, "latency", "1s")
            _run(
                "ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", inner, "root", "tbf",
                "rate", rate, "burst", burst, "latency", "1s",
            )  # fmt: skip

    def close(self) -> None:
        for ns in self._made:  # a namespace takes its end of the veth pair, and the pair, with it
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        self._made.clear()
        try:
            _FORWARD.write_text(self._forward_was)
        except OSError:
            pass
