"""Packet analysis on small captures written by the tests themselves (no Docker)."""

from __future__ import annotations

from pathlib import Path

from grader.checks import retransmissions, tcp_close, tcp_handshake, udp_boundaries, udp_only
from grader.checks.base import Verdict
from grader.packets.conversation import conversation
from grader.packets.fragments import Fragment, Reassembled, Reassembler
from grader.packets.ladder import ladder
from grader.packets.model import ACK, FIN, PSH, RST, SYN, Conversation
from grader.packets.pcap import read_packets
from grader.scenarios.model import (
    Capture,
    Listener,
    ListenObservation,
    ProgramRun,
    ServerSessionObservation,
    UdpServerSessionObservation,
)
from grader.spec.loader import load_spec
from tests.pcaps import CLIENT, SERVER, PcapWriter, hello_exchange
from tests.submissions import REPOSITORY

LAB = load_spec(REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml")


def read(pcap: PcapWriter, tmp_path: Path) -> Conversation:
    return conversation(read_packets(pcap.write(tmp_path / "test.pcap")))


def observed(pcap: PcapWriter, tmp_path: Path) -> ServerSessionObservation:
    path = pcap.write(tmp_path / "test.pcap")
    return ServerSessionObservation(
        server=ProgramRun(file="server.py", exit_code=0),
        listen=ListenObservation(SERVER[1], (), 0.1),
        peer=None,
        capture=Capture(path, conversation(read_packets(path))),
    )


def test_complete_handshake_is_recognised(tmp_path: Path) -> None:
    flow = read(hello_exchange(), tmp_path).tcp[0]
    assert (flow.client, flow.server) == (CLIENT, SERVER)
    assert flow.handshake.complete
    assert flow.data("to_client") == b"Hello, Client!"
    verdict = tcp_handshake.judge(tcp_handshake.Params(), observed(hello_exchange(), tmp_path), LAB)
    assert verdict.passed


def test_unanswered_syn_is_not_a_handshake(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.tcp(True, SYN, ack=0, seq=1000)
    pcap.tcp(True, SYN, ack=0, seq=1000)
    flow = read(pcap, tmp_path).tcp[0]
    assert not flow.handshake.complete
    assert flow.handshake.reset_reply is None
    assert flow.retransmissions == 1
    verdict = tcp_handshake.judge(tcp_handshake.Params(), observed(pcap, tmp_path), LAB)
    assert verdict.summary == "the SYN was never answered"
    assert any("no SYN-ACK" in line for line in verdict.diagram)


def test_reset_in_reply_to_syn_means_port_closed(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.tcp(True, SYN, ack=0)
    pcap.tcp(False, RST | ACK, seq=0)
    flow = read(pcap, tmp_path).tcp[0]
    assert flow.handshake.reset_reply is not None
    verdict = tcp_handshake.judge(tcp_handshake.Params(), observed(pcap, tmp_path), LAB)
    assert verdict.cause is not None and "Nothing listened on SERVER_PORT" in verdict.cause
    assert any("port closed: nothing listened" in line for line in verdict.diagram)


def test_graceful_close_passes(tmp_path: Path) -> None:
    verdict = tcp_close.judge(tcp_close.Params(), observed(hello_exchange(), tmp_path), LAB)
    assert verdict.passed, verdict


def test_reset_after_data_fails_the_close_and_marks_the_rst(tmp_path: Path) -> None:
    verdict = tcp_close.judge(tcp_close.Params(), observed(hello_exchange("reset"), tmp_path), LAB)
    assert not verdict.passed
    assert verdict.summary == "the server reset the connection instead of closing it"
    marked = [line for line in verdict.diagram if "<- abortive close" in line]
    assert len(marked) == 1 and "RST" in marked[0]


def test_missing_fin_fails_the_close(tmp_path: Path) -> None:
    verdict = tcp_close.judge(tcp_close.Params(), observed(hello_exchange("none"), tmp_path), LAB)
    assert verdict.summary == "the server did not close the connection"


def half_closed(data_after_fin: bool) -> PcapWriter:
    pcap = PcapWriter()
    pcap.handshake()
    pcap.tcp(True, PSH | ACK, b"ping")
    pcap.tcp(True, FIN | ACK)
    if data_after_fin:
        pcap.tcp(False, PSH | ACK, b"ping")
    pcap.tcp(False, FIN | ACK)
    pcap.tcp(True, ACK)
    return pcap


def test_half_close_with_reply_after_the_clients_fin_passes(tmp_path: Path) -> None:
    params = tcp_close.Params(mode="half_close")
    assert tcp_close.judge(params, observed(half_closed(True), tmp_path), LAB).passed
    verdict = tcp_close.judge(params, observed(half_closed(False), tmp_path), LAB)
    assert verdict.summary == "no data flowed back after the client's FIN"


def test_half_close_fails_when_the_server_closes_first(tmp_path: Path) -> None:
    params = tcp_close.Params(mode="half_close")
    verdict = tcp_close.judge(params, observed(hello_exchange(), tmp_path), LAB)
    assert verdict.summary == "the server closed first"


def test_retransmitted_segment_is_counted_once_in_the_data(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.handshake()
    pcap.tcp(False, PSH | ACK, b"Hello", seq=5001)
    pcap.tcp(False, PSH | ACK, b"Hello", seq=5001)
    flow = read(pcap, tmp_path).tcp[0]
    assert flow.retransmissions == 1
    assert flow.data("to_client") == b"Hello"


def test_udp_request_reply_pairs_keep_their_boundaries(tmp_path: Path) -> None:
    pcap = PcapWriter()
    for payload in (b"one", b"two"):
        pcap.udp(True, payload)
        pcap.udp(False, payload)
    flow = read(pcap, tmp_path).udp[0]
    assert flow.sent("to_server") == (b"one", b"two")
    assert flow.sent("to_client") == (b"one", b"two")


def test_udp_merged_or_missing_replies_show_in_the_flow(tmp_path: Path) -> None:
    merged = PcapWriter()
    merged.udp(True, b"one")
    merged.udp(True, b"two")
    merged.udp(False, b"onetwo")
    flow = read(merged, tmp_path).udp[0]
    assert flow.sent("to_client") == (b"onetwo",)
    missing = PcapWriter()
    missing.udp(True, b"one")
    missing.udp(True, b"one")
    flow = read(missing, tmp_path).udp[0]
    assert flow.sent("to_client") == ()
    assert flow.retransmissions == 1


def test_ladder_elides_the_middle_of_long_conversations_but_keeps_marks(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.handshake()
    for _ in range(60):
        pcap.tcp(False, PSH | ACK, b"x" * 100)
    flows = read(pcap, tmp_path)
    lines = ladder(flows, CLIENT, {30: "look here"})
    assert any("packets not shown" in line for line in lines)
    assert any("<- look here" in line for line in lines)
    assert len(lines) < 40
    assert "client → server  SYN" in lines[1]


def udp_observed(pcap: PcapWriter, tmp_path: Path) -> UdpServerSessionObservation:
    path = pcap.write(tmp_path / "udp.pcap")
    return UdpServerSessionObservation(
        server=ProgramRun(file="server.py", exit_code=0),
        listen=ListenObservation(SERVER[1], (Listener("0.0.0.0", SERVER[1]),), 0.1, "udp"),
        peer=None,
        capture=Capture(path, conversation(read_packets(path))),
    )


def echoed(*replies: bytes) -> PcapWriter:
    pcap = PcapWriter()
    pcap.udp(True, b"first")
    pcap.udp(True, b"second")
    for reply in replies:
        pcap.udp(False, reply)
    return pcap


def test_udp_boundaries_pass_when_each_datagram_is_echoed(tmp_path: Path) -> None:
    observation = udp_observed(echoed(b"first", b"second"), tmp_path)
    assert udp_boundaries.judge(udp_boundaries.Params(), observation, LAB).passed
    assert udp_only.judge(udp_only.Params(), observation, LAB).passed


def test_udp_boundaries_name_merged_split_missing_and_changed_replies(tmp_path: Path) -> None:
    def cause(*replies: bytes) -> str:
        verdict = udp_boundaries.judge(
            udp_boundaries.Params(), udp_observed(echoed(*replies), tmp_path), LAB
        )
        assert not verdict.passed
        return f"{verdict.summary} / {verdict.cause}"

    assert "merged" in cause(b"firstsecond")
    assert "split" in cause(b"fir", b"st", b"second")
    assert "no reply" in cause(b"first")
    assert "reply 2 differs" in cause(b"first", b"SECOND")


def test_udp_only_fails_when_tcp_shows_up(tmp_path: Path) -> None:
    pcap = echoed(b"first", b"second")
    pcap.handshake()
    verdict = udp_only.judge(udp_only.Params(), udp_observed(pcap, tmp_path), LAB)
    assert not verdict.passed
    assert "SOCK_DGRAM" in str(verdict.cause)


def test_retransmissions_are_counted_against_the_limit(tmp_path: Path) -> None:
    pcap = echoed(b"first", b"second")
    pcap.udp(True, b"first")
    observation = udp_observed(pcap, tmp_path)
    assert retransmissions.judge(retransmissions.Params(at_most=1), observation, LAB).passed
    verdict = retransmissions.judge(retransmissions.Params(at_most=0), observation, LAB)
    assert verdict.summary == "1 retransmissions, more than the 0 allowed"
    assert any("<- retransmission" in line for line in verdict.diagram)


def test_half_close_fails_when_the_client_refuses_the_reply_with_rst(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.handshake()
    pcap.tcp(True, PSH | ACK, b"ping")
    pcap.tcp(True, FIN | ACK)
    pcap.tcp(False, PSH | ACK, b"ping")
    pcap.tcp(True, RST, seq=1006)
    verdict = tcp_close.judge(tcp_close.Params(mode="half_close"), observed(pcap, tmp_path), LAB)
    assert verdict.summary == "the client closed completely instead of half-closing"
    assert any("<- the client refused the reply" in line for line in verdict.diagram)


BIG = bytes(range(256)) * 32  # 8192 bytes: six fragments of 1480 on Ethernet


def test_fragments_in_order_are_one_datagram_with_every_byte(tmp_path: Path) -> None:
    pcap = PcapWriter()
    assert pcap.udp_fragments(True, BIG) == 6
    packets = read_packets(pcap.write(tmp_path / "test.pcap"))
    assert len(packets) == 1
    assert packets[0].payload == BIG
    assert packets[0].size_bytes == 8192
    assert (packets[0].source, packets[0].destination) == (CLIENT, SERVER)


def test_fragments_out_of_order_are_put_back_in_place(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.udp_fragments(True, BIG, order=(5, 2, 0, 4, 1, 3))
    packets = read_packets(pcap.write(tmp_path / "test.pcap"))
    assert [p.payload for p in packets] == [BIG]


def test_interleaved_datagrams_are_told_apart_by_their_identification(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.udp_fragments(True, BIG, identification=1, order=(0, 1, 2))
    pcap.udp_fragments(False, BIG[:2048], identification=1)
    pcap.udp_fragments(True, BIG, identification=1, order=(3, 4, 5))
    packets = read_packets(pcap.write(tmp_path / "test.pcap"))
    assert [(p.source, p.payload) for p in packets] == [(SERVER, BIG[:2048]), (CLIENT, BIG)]


def test_a_missing_fragment_leaves_the_bytes_before_it_and_the_size_sent(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.udp_fragments(True, BIG, left_out=(2,))
    pcap.udp(False, b"after")
    packets = read_packets(pcap.write(tmp_path / "test.pcap"))
    assert [p.number for p in packets] == [1, 2]
    assert packets[1].payload == b"after"  # the unfinished one stays where it began
    unfinished = packets[0]
    assert unfinished.payload == BIG[: 2 * 1480 - 8]
    assert unfinished.size_bytes == 8192


def test_a_datagram_without_its_first_fragment_is_left_out(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.udp_fragments(True, BIG, left_out=(0,))
    assert len(read_packets(pcap.write(tmp_path / "test.pcap"))) == 0


def test_reassembly_holds_a_bounded_number_of_datagrams() -> None:
    reassembler = Reassembler(max_pending=2)
    finished: list[Reassembled] = []
    for identification in range(5):
        key = (b"\x01" * 4, b"\x02" * 4, identification, 17)
        finished += reassembler.add(Fragment(key, 0, True, b"x" * 16, float(identification)))
    assert len(reassembler.pending) == 2
    assert [d.key[2] for d in finished] == [0, 1, 2]
    assert not any(d.complete for d in finished)
    assert [d.key[2] for d in reassembler.unfinished()] == [3, 4]


def judged(pcap: PcapWriter, tmp_path: Path, compares: str = "bytes") -> Verdict:
    params = udp_boundaries.Params(compares=compares)  # type: ignore[arg-type]
    return udp_boundaries.judge(params, udp_observed(pcap, tmp_path), LAB)


def test_a_big_datagram_cut_to_the_servers_buffer_fails_with_the_sizes_sent(
    tmp_path: Path,
) -> None:
    pcap = PcapWriter()
    pcap.udp_fragments(True, BIG, identification=1)
    pcap.udp_fragments(False, BIG[:2048], identification=1)
    verdict = judged(pcap, tmp_path)
    assert not verdict.passed
    assert "truncated, 2048 of the 8192 bytes sent" in verdict.summary
    assert "65535" in str(verdict.cause)


def test_a_whole_big_datagram_echoed_passes(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.udp_fragments(True, BIG, identification=1)
    pcap.udp_fragments(False, BIG, identification=2, order=(1, 0, 2, 3, 4, 5))
    assert judged(pcap, tmp_path).passed


def test_an_upper_cased_reply_shows_the_first_difference_in_a_short_window(
    tmp_path: Path,
) -> None:
    pcap = PcapWriter()
    sent = b"Ping 1 mixed Case " + bytes(range(256))
    pcap.udp(True, sent)
    pcap.udp(False, sent.upper())
    verdict = judged(pcap, tmp_path)
    assert verdict.summary == "reply 1 differs from its request at byte 1"
    assert verdict.expected == "274 bytes, at byte 1: b'Ping 1 mi'..."
    assert "upper-cased" in str(verdict.cause)
    assert judged(pcap, tmp_path, compares="sizes").passed


def test_a_flood_of_replies_is_counted_not_listed(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.udp(True, b"x")
    for _ in range(2000):
        pcap.udp(False, b"x")
    verdict = judged(pcap, tmp_path)
    assert "more than once" in verdict.summary
    assert (
        verdict.details[0]
        == "1 datagram sent, 2000 replies: 1 echoed, 1999 extra (1999 not as they should be)"
    )
    assert len(verdict.details) < 20


def test_an_empty_datagram_without_reply_is_missing(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.udp(True, b"")
    verdict = judged(pcap, tmp_path)
    assert verdict.summary == "datagram 1 (0 bytes) got no reply"
    assert "if not data" in str(verdict.cause)


def test_a_fragment_the_capture_lost_is_not_taken_for_a_truncating_server(
    tmp_path: Path,
) -> None:
    pcap = PcapWriter()
    pcap.udp_fragments(True, BIG, identification=1, left_out=(3,))
    pcap.udp_fragments(False, BIG, identification=1)
    assert judged(pcap, tmp_path).passed
    short = PcapWriter()
    short.udp_fragments(True, BIG, identification=1, left_out=(3,))
    short.udp_fragments(False, BIG[:2048], identification=1)
    verdict = judged(short, tmp_path)
    assert not verdict.passed
    assert any("the capture lost a fragment" in line for line in verdict.details)


def test_replies_sent_to_another_client_are_named_misdirected(tmp_path: Path) -> None:
    second = ("10.213.0.4", 40001)
    pcap = PcapWriter()
    pcap.udp(True, b"PING 1")
    pcap.udp(True, b"PING 1", client=second)
    pcap.udp(False, b"PING 1")
    pcap.udp(False, b"PING 1")
    verdict = judged(pcap, tmp_path)
    assert verdict.summary == "the replies meant for client 2 went to client 1"
    assert (
        verdict.received
        == "client 1: 1 datagram sent, 2 replies; client 2: 1 datagram sent, 0 replies"
    )
    assert "the address recvfrom() returned" in str(verdict.cause)


def test_replies_from_a_new_socket_are_named_for_the_port_they_came_from(
    tmp_path: Path,
) -> None:
    pcap = PcapWriter()
    pcap.udp(True, b"PING 1")
    pcap.udp(False, b"PING 1", server=(SERVER[0], 41234))
    verdict = judged(pcap, tmp_path)
    assert verdict.summary == (
        f"the replies came from another port (41234), not from SERVER_PORT {SERVER[1]}"
    )
    assert "sock.sendto(data, address)" in str(verdict.cause)
    assert any("<- other port" in line for line in verdict.diagram)


def test_an_extra_reply_of_other_bytes_is_not_called_a_repeat(tmp_path: Path) -> None:
    pcap = PcapWriter()
    pcap.udp(True, b"PING 1")
    pcap.udp(False, b"PING 1")
    pcap.udp(False, b"ACK")
    verdict = judged(pcap, tmp_path)
    assert verdict.summary == "reply 2 is an extra reply that repeats no datagram sent: b'ACK'"


def test_one_reply_holding_several_clients_datagrams_is_named_merged(tmp_path: Path) -> None:
    second = ("10.213.0.4", 40001)
    pcap = PcapWriter()
    pcap.udp(True, b"PING 1")
    pcap.udp(True, b"PING 1", client=second)
    pcap.udp(False, b"PING 1PING 1", client=second)
    verdict = judged(pcap, tmp_path)
    assert verdict.summary == (
        "the datagrams of clients 1 and 2 came back merged into one reply to client 2"
    )
