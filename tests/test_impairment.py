"""The relay's decisions: by index, by payload, by seeded loss; the same every time."""

from __future__ import annotations

from grader.probes.impairment import Decision, DirectionPlan, Plan, Rule, decide, lost


def plan_for_replies(*rules: Rule, loss_percent: float = 0.0, seed: int = 7) -> Plan:
    return Plan(seed=seed, to_client=DirectionPlan(rules=rules, loss_percent=loss_percent))


def test_without_rules_every_datagram_is_forwarded() -> None:
    assert decide(Plan(), "to_server", 1, b"PING 1 0.0").action == "forward"


def test_rule_by_index_applies_only_in_its_direction() -> None:
    plan = plan_for_replies(Rule("drop", index=3))
    assert decide(plan, "to_client", 3, b"x").action == "drop"
    assert decide(plan, "to_client", 2, b"x").action == "forward"
    assert decide(plan, "to_server", 3, b"x").action == "forward"


def test_rule_by_payload_pattern_drops_the_replies_to_seq_3_and_7() -> None:
    plan = plan_for_replies(Rule("drop", match=r"^PING (3|7) "))
    actions = [
        decide(plan, "to_client", seq, f"PING {seq} 1.5".encode()).action for seq in range(1, 11)
    ]
    assert [seq for seq, action in enumerate(actions, 1) if action == "drop"] == [3, 7]


def test_delay_and_duplicate_carry_their_parameters() -> None:
    plan = plan_for_replies(Rule("delay", index=4, delay_ms=1500), Rule("duplicate", index=2))
    assert decide(plan, "to_client", 4, b"x") == Decision("delay", 1500, "rule: index 4")
    assert decide(plan, "to_client", 2, b"x").action == "duplicate"


def test_first_matching_rule_wins() -> None:
    plan = plan_for_replies(Rule("duplicate", index=1), Rule("drop", index=1))
    assert decide(plan, "to_client", 1, b"x").action == "duplicate"


def test_seeded_loss_is_the_same_on_every_run_and_near_its_rate() -> None:
    first = [lost(7, "to_client", i, 20.0) for i in range(1, 2001)]
    again = [lost(7, "to_client", i, 20.0) for i in range(1, 2001)]
    other_seed = [lost(8, "to_client", i, 20.0) for i in range(1, 2001)]
    assert first == again
    assert first != other_seed
    assert 0.17 < sum(first) / len(first) < 0.23


def test_plan_reads_from_json() -> None:
    plan = Plan.from_json(
        {"seed": 3, "to_client": {"rules": [{"action": "drop", "index": 2}], "loss_percent": 5}}
    )
    assert plan.to_client.rules == (Rule("drop", index=2),)
    assert plan.to_client.loss_percent == 5.0
    assert plan.to_server == DirectionPlan()
