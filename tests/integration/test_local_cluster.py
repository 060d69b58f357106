"""LocalCluster (behind simulate, smpc bench and smpc demo) starts a dealer that really listens."""

import socket

import pytest

from kernel_bridge.session import load_session
from smpc_magic.launch.cluster import LocalCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _dealer_address(cluster: LocalCluster) -> str:
    dealer = load_session(cluster.session_path).dealer
    assert dealer is not None
    return dealer.address


def test_dealer_moves_to_fresh_ports_when_another_program_took_its_port():
    with LocalCluster(["a", "b"], timeout=20) as cluster:
        taken = _dealer_address(cluster)
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", int(taken.rsplit(":", 1)[1])))
            squatter.listen()
            cluster.start_dealer()
        assert _dealer_address(cluster) != taken
        assert cluster.dealer is not None and cluster.dealer.poll() is None
        assert cluster.dealer_failure() is None
