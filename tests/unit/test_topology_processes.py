"""The topology's view of a process's end: its sockets, not only its /proc entry."""

import socket

from deploy.topology import processes


def _listener() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server, server.getsockname()[1]


def test_a_listening_port_is_held_until_it_is_closed():
    server, port = _listener()
    assert processes.port_held(port)
    server.close()
    assert not processes.port_held(port)


def test_a_connection_the_server_still_holds_keeps_its_port_held():
    server, port = _listener()
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    server.close()
    try:
        # Nothing listens any more, but a request written now would reach a socket
        # that is open on the server's side.
        assert processes.port_held(port)
        accepted.close()
        assert not processes.port_held(port)
    finally:
        client.close()
