"""Says where a server listens, exactly, and what that address lets a client reach.

The listening check and every check that needs a connection read the same observation, so
they give the same reason: an IPv6-only socket is named as such wherever a client was
refused because of it, and a socket bound to one interface fails the listening check alone
(the grader's clients reach it at that address).
"""

from __future__ import annotations

from grader.checks.base import Verdict
from grader.scenarios.model import ListenObservation

DUAL_STACK_FIX = (
    "Bind to '0.0.0.0' (all IPv4 interfaces), or keep IPv6 and accept IPv4 clients too with"
    " socket.create_server(('', port), family=socket.AF_INET6, dualstack_ipv6=True)."
)
UDP_DUAL_STACK_FIX = (
    "Bind to '0.0.0.0' (all IPv4 interfaces), or keep IPv6 and take IPv4 datagrams too: set"
    " IPV6_V6ONLY to 0 with sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0) before"
    " bind()."
)


def where(listen: ListenObservation) -> str:
    """The server's sockets as a person writes them: "0.0.0.0:20432, [::]:20432 (IPv6 only)"."""
    return ", ".join(lst.shown for lst in listen.listeners)


def ipv6_where(listen: ListenObservation) -> str:
    """The IPv6-only sockets on the expected port, without the note: "[::]:20432"."""
    return ", ".join(lst.shown.removesuffix(" (IPv6 only)") for lst in listen.on_expected_port)


def ipv6_only_summary(listen: ListenObservation) -> str:
    if listen.protocol == "udp":
        return (
            f"the server's UDP socket is bound for IPv6 only ({ipv6_where(listen)}), so the"
            " datagrams of the grader's clients, sent over IPv4, reach no socket"
        )
    return (
        f"the server listens on IPv6 only ({ipv6_where(listen)}), so the grader's clients,"
        " which connect over IPv4, are refused"
    )


def ipv6_only_problem(listen: ListenObservation) -> Verdict | None:
    """A failing verdict when every socket on the expected port is IPv6-only, else None."""
    if not listen.ipv6_only:
        return None
    udp = listen.protocol == "udp"
    how = (
        "a UDP socket of family AF_INET6 with IPV6_V6ONLY set to 1"
        if udp
        else "socket.create_server(('::', port), family=socket.AF_INET6) sets it"
    )
    return Verdict(
        passed=False,
        summary=ipv6_only_summary(listen),
        expected=f"a {'UDP' if udp else 'TCP'} socket on 0.0.0.0:{listen.expected_port} (all"
        " interfaces), or a dual-stack IPv6 socket on [::]",
        received=f"{ipv6_where(listen)}: an IPv6 socket with IPV6_V6ONLY set",
        cause=f"An IPv6 socket with IPV6_V6ONLY takes IPv6 clients only ({how}). "
        + (UDP_DUAL_STACK_FIX if udp else DUAL_STACK_FIX),
    )


def one_interface_problem(listen: ListenObservation) -> Verdict | None:
    """A failing verdict when the server is reachable here but not on all interfaces.

    That is a socket bound to one of the machine's own addresses (for instance what
    gethostbyname(gethostname()) returns): the grader's clients, which connect to that
    address, reach it, but a client of `localhost` would be refused. None when it listens on
    all interfaces, or cannot be reached at all (the reachability verdict says why).
    """
    if not listen.reachable or listen.all_interfaces:
        return None
    bound = [lst for lst in listen.on_expected_port if lst.reachable]
    addresses = ", ".join(lst.address for lst in bound)
    everywhere = ", ".join(lst.address for lst in listen.on_expected_port)
    udp = listen.protocol == "udp"
    reach = "send to" if udp else "connect to"
    fails = "get no reply" if udp else "are refused"
    return Verdict(
        passed=False,
        summary=f"the server {'is bound to' if udp else 'listens on'} {everywhere} only,"
        " not on all interfaces",
        expected=f"{'bound to' if udp else 'listening on'} 0.0.0.0:{listen.expected_port} (all"
        " interfaces)",
        received=f"{'bound to' if udp else 'listening on'} {where(listen)}",
        cause=f"{addresses} is one address of this machine (what"
        " socket.gethostbyname(socket.gethostname()) returns, for instance): clients that"
        f" {reach} another address of it {fails}, a client of localhost (127.0.0.1) too, so"
        " your own client would fail at home. Bind to '0.0.0.0' (or '') to use all"
        " interfaces.",
    )


def refused_cause(listen: ListenObservation | None) -> str:
    """Why a connection to the expected port was refused, from where the server listened."""
    port = listen.expected_port if listen else None
    if listen is None or not listen.listeners:
        return "Nothing listened on SERVER_PORT when the grader's client connected."
    if listen.ipv6_only:
        return (
            f"The server listens on IPv6 only ({ipv6_where(listen)}) and the grader's client"
            f" connects over IPv4. {DUAL_STACK_FIX}"
        )
    if not listen.on_expected_port:
        return (
            f"The server listens on {where(listen)}, but SERVER_PORT was {port}: read the"
            " port with int(os.environ.get('SERVER_PORT', ...)) instead of hard-coding it."
        )
    if not listen.reachable:
        return (
            f"The server listens on {where(listen)} only, which other machines cannot reach:"
            " bind to '0.0.0.0' (all interfaces)."
        )
    return (
        f"The server listened on {where(listen)}, yet the port was closed when the grader's"
        " client connected: it closed its listening socket or exited before that."
    )


def refused_mark(listen: ListenObservation | None) -> str:
    """A few words for the refused SYN in a ladder: where the server listened instead."""
    if listen is None or not listen.listeners:
        return "nothing listened"
    if listen.ipv6_only:
        return "the server listens on IPv6 only"
    if not listen.on_expected_port:
        return f"the server listens on {where(listen)}"
    if not listen.reachable:
        return f"the server listens on {where(listen)} only"
    return "the listening socket was gone"
