from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.core.policy import (
    Policy,
    ProjectPolicy,
    may_approve,
    may_cancel,
    may_request,
    may_retry,
)
from bot.core.policy_file import PolicyError, load_policy
from bot.core.request import Approval, RequestJob, RequestState, StartRequest

from .fuzzing import fuzz

PROJECT_ID = "054ba152d480d55b2f5dc0069e7ddef0"
USERS = ["U01ALICE", "U02BOB", "W03CAROL", "U04DAVE"]
GROUPS = ["S0DBATEAM", "S0DBALEADS", "S0OTHER"]
CHANNELS = ["C0OPS", "G0PRIV", "C0ELSE"]

toml_scalars = st.one_of(
    st.text(max_size=20),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.sampled_from([*USERS, *GROUPS, *CHANNELS, "two-person", "none", "ap-southeast-1"]),
    st.just(PROJECT_ID),
    st.just("http://127.0.0.1:8089"),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
project_keys = st.sampled_from(
    [
        *("region", "project_id", "endpoint", "iam_endpoint", "requesters", "approvers"),
        *("approval", "channels", "max_jobs", "typo"),
    ]
)
project_tables = st.dictionaries(project_keys, toml_values, max_size=10)
policies_data = st.fixed_dictionaries(
    {},
    optional={
        "projects": st.dictionaries(st.text(max_size=10), project_tables, max_size=3) | toml_values,
        "defaults": st.dictionaries(
            st.sampled_from(["max_jobs", "expire_hours", "chunk_size", "approval", "x"]),
            toml_values,
            max_size=5,
        )
        | toml_values,
        "other": toml_values,
    },
)


@fuzz
@given(st.one_of(policies_data, toml_values))
def test_load_policy_raises_only_policy_error(data: Any) -> None:
    try:
        policy = load_policy(data)
    except PolicyError as exc:
        problems = exc.problems
        assert problems
        assert all(isinstance(p, str) and p for p in problems)
    else:
        assert isinstance(policy, Policy)
        for name, project in policy.projects.items():
            assert project.name == name
            assert project.requesters
            if project.approval is Approval.TWO_PERSON:
                assert project.approvers


ids = st.sampled_from([*USERS, *GROUPS])
project_policies = st.builds(
    ProjectPolicy,
    name=st.just("prod"),
    region=st.just("ap-southeast-1"),
    project_id=st.just(PROJECT_ID),
    endpoint=st.none(),
    iam_endpoint=st.none(),
    requesters=st.frozensets(ids, min_size=1),
    approvers=st.frozensets(ids),
    approval=st.sampled_from(Approval),
    channels=st.none() | st.frozensets(st.sampled_from(CHANNELS), min_size=1),
    max_jobs=st.just(1000),
)
user_groups = st.frozensets(st.sampled_from([*GROUPS, *USERS]))


def make_request(requester: str, approval: Approval, state: RequestState) -> StartRequest:
    return StartRequest(
        id="R1",
        team_id="T1",
        channel_id="C0OPS",
        requester_id=requester,
        project="prod",
        region="ap-southeast-1",
        approval=approval,
        jobs=(RequestJob("9a470239-2308-4bb5-a6bc-1040402fjb21", error_code="APIGW.0308"),),
        start_time_ms=None,
        reason="",
        language="en-us",
        state=state,
        created_at=0.0,
        expires_at=1.0,
    )


@fuzz
@given(
    project_policies,
    st.sampled_from(USERS),
    st.sampled_from(Approval),
    user_groups,
    st.sampled_from(RequestState),
)
def test_requester_never_approves_under_two_person(
    project: ProjectPolicy,
    requester: str,
    approval: Approval,
    groups: frozenset[str],
    state: RequestState,
) -> None:
    req = make_request(requester, approval, state)
    decision = may_approve(project, req, requester, groups)
    retry = may_retry(project, req, requester, groups)
    if Approval.TWO_PERSON in (project.approval, approval):
        assert not decision.allowed
        assert not retry.allowed
    assert decision.reason


@fuzz
@given(
    project_policies,
    st.sampled_from(USERS),
    user_groups,
    st.sampled_from(CHANNELS),
    st.sampled_from(USERS),
    st.sampled_from(RequestState),
)
def test_allowed_only_when_listed(
    project: ProjectPolicy,
    user: str,
    groups: frozenset[str],
    channel: str,
    requester: str,
    state: RequestState,
) -> None:
    real_groups = {g for g in groups if g.startswith("S")}
    if may_request(project, user, groups, channel).allowed:
        assert user in project.requesters or real_groups & project.requesters
        assert project.channels is None or channel in project.channels
    req = make_request(requester, project.approval, state)
    if may_approve(project, req, user, groups).allowed:
        assert state is RequestState.PENDING
        listed = user in project.approvers or real_groups & project.approvers
        assert listed or (project.approval is Approval.NONE and user == requester)
    if may_cancel(req, user).allowed:
        assert user == requester
        assert state is RequestState.PENDING
