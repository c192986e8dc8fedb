"""The ports `onevisit up` gives its parts are chosen where no outgoing connection can take them
between the choice and the part's bind: below the kernel's ephemeral range."""

from __future__ import annotations

import socket

from gateway.stack import _ephemeral_ports, free_port


def test_a_free_port_is_below_the_ephemeral_range_and_can_be_listened_on():
    ephemeral = _ephemeral_ports()
    ports = {free_port() for _ in range(20)}
    assert all(10_000 <= p < ephemeral.start for p in ports), (sorted(ports), ephemeral)
    assert len(ports) > 1  # chosen at random, not the same one for every part
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            s.listen()


def test_a_port_in_use_is_not_given():
    with socket.socket() as held:
        held.bind(("127.0.0.1", free_port()))
        held.listen()
        taken = held.getsockname()[1]
        assert all(free_port() != taken for _ in range(200))
