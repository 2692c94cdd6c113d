"""The drill's private network: a bridge on the machine and one network namespace per app host, joined by veth pairs."""

from __future__ import annotations

import contextlib
import ipaddress
import random
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Host:
    """One app host's namespace and its address on the bridge."""

    name: str  # e.g. "h1", as the load balancer and the report name it
    netns: str
    address: str


@dataclass(frozen=True)
class Network:
    """The bridge, its address on the machine (every shared service listens there), the hosts."""

    bridge: str
    gateway: str
    hosts: tuple[Host, ...]

    def in_host(self, host: Host, argv: list[str]) -> list[str]:
        """`argv` run inside `host`'s namespace."""
        return ["ip", "netns", "exec", host.netns, *argv]


def ip(*args: str) -> None:
    """Run `ip ARGS`; SystemExit with its message when it fails."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607
    if result.returncode != 0:
        raise SystemExit(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


def free_subnet(used: str) -> ipaddress.IPv4Network:
    """A /24 in 10.251.0.0/16 that no address in `used` (`ip -4 -o addr` output) is in."""
    taken: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    for token in used.split():
        with contextlib.suppress(ValueError):
            network = ipaddress.ip_interface(token).network
            if network.version == 4 and network.prefixlen >= 24:
                taken.add(network.supernet(new_prefix=24))
            elif network.version == 4:
                taken.update(network.subnets(new_prefix=24))
    choices = list(ipaddress.IPv4Network("10.251.0.0/16").subnets(new_prefix=24))
    random.shuffle(choices)
    for subnet in choices:
        if subnet not in taken:
            return subnet
    raise SystemExit("no free /24 left in 10.251.0.0/16 for the drill's bridge")


def build(cleanup: contextlib.ExitStack, *, tag: str, hosts: int) -> Network:
    """Make the bridge and `hosts` namespaces; `cleanup` removes them all, whatever happened."""
    used = subprocess.run(
        ["ip", "-4", "-o", "addr"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    subnet = free_subnet(used)
    addresses = list(subnet.hosts())
    gateway = str(addresses[0])
    bridge = f"drb{tag}"
    ip("link", "add", bridge, "type", "bridge")
    cleanup.callback(_quietly, "link", "del", bridge)
    ip("addr", "add", f"{gateway}/24", "dev", bridge)
    ip("link", "set", bridge, "up")
    made = []
    for i in range(1, hosts + 1):
        netns = f"drill-{tag}-h{i}"
        outside, inside = f"drv{tag}{i}", f"dre{tag}{i}"
        address = str(addresses[10 + i])
        ip("netns", "add", netns)
        cleanup.callback(_quietly, "netns", "del", netns)
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        cleanup.callback(_quietly, "link", "del", outside)
        ip("link", "set", outside, "master", bridge)
        ip("link", "set", outside, "up")
        ip("link", "set", inside, "netns", netns)
        ip("-n", netns, "link", "set", "lo", "up")
        ip("-n", netns, "addr", "add", f"{address}/24", "dev", inside)
        ip("-n", netns, "link", "set", inside, "up")
        made.append(Host(f"h{i}", netns, address))
    return Network(bridge, gateway, tuple(made))


def _quietly(*args: str) -> None:
    """Remove something the drill made; it may be gone already."""
    subprocess.run(["ip", *args], capture_output=True, check=False)  # noqa: S603, S607
