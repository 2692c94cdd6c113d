"""The drill's balancer configuration: accepted by HAProxy, with the checks and hand-over deploy.md asks for."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from drill.netns import Host
from drill.stack import haproxy_config

HOSTS = (Host("h1", "drill-x-h1", "10.251.9.11"), Host("h2", "drill-x-h2", "10.251.9.12"))


def config() -> str:
    return haproxy_config(HOSTS, lb_port=18080, direct_ports={"h1": 18081, "h2": 18082})


def test_the_site_balances_over_every_host_checked_on_readyz_with_the_proxy_protocol():
    text = config()
    assert "option httpchk GET /readyz" in text
    for host in HOSTS:
        assert f"server {host.name} {host.address}:8000 send-proxy check check-send-proxy" in text
    assert text.count("http-request set-header X-Forwarded-Proto https") == 3  # every frontend


@pytest.mark.skipif(
    shutil.which("haproxy") is None, reason="needs HAProxy (apt-get install haproxy)"
)
def test_haproxy_accepts_the_configuration(tmp_path):
    path = tmp_path / "haproxy.cfg"
    path.write_text(config())
    result = subprocess.run(
        ["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
