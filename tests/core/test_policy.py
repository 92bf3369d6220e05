from __future__ import annotations

import tomllib
from dataclasses import replace

import pytest

from bot.core.model import Outcome
from bot.core.policy import (
    NO_PROJECTS,
    Decision,
    Defaults,
    Policy,
    ProjectPolicy,
    may_approve,
    may_cancel,
    may_read_request,
    may_reject,
    may_request,
    may_retry,
    membership,
    no_project_reason,
    nothing_requestable_reason,
    requestable_projects,
)
from bot.core.policy_file import PolicyError, load_policy
from bot.core.request import Approval, RequestJob, RequestState, StartRequest

PROJECT_ID = "054ba152d480d55b2f5dc0069e7ddef0"
JOB = "9a470239-2308-4bb5-a6bc-1040402fjb21"

EXAMPLE = f"""
[defaults]
max_jobs = 500
expire_hours = 12
chunk_size = 50
max_lead_days = 7

[projects.prod]
region = "ap-southeast-1"
project_id = "{PROJECT_ID}"
endpoint = "http://127.0.0.1:8089/"
iam_endpoint = "http://127.0.0.1:8089"
requesters = ["U01ALICE", "S0DBATEAM"]
approvers = ["U02BOB", "S0DBALEADS"]
approval = "two-person"
channels = ["C0OPS", "G0PRIVATE"]
max_jobs = 1000

[projects.dev]
region = "eu-west-101"
project_id = "{PROJECT_ID}"
requesters = ["U01ALICE", "W0CAROL"]
approval = "none"
"""


@pytest.fixture
def policy() -> Policy:
    return load_policy(tomllib.loads(EXAMPLE))


@pytest.fixture
def prod(policy: Policy) -> ProjectPolicy:
    project = policy.project("prod")
    assert project is not None
    return project


def request(
    *,
    project: str = "prod",
    requester: str = "U01ALICE",
    approval: Approval = Approval.TWO_PERSON,
    state: RequestState = RequestState.PENDING,
    jobs: tuple[RequestJob, ...] = (RequestJob(JOB),),
) -> StartRequest:
    return StartRequest(
        id="R1",
        team_id="T1",
        channel_id="C0OPS",
        requester_id=requester,
        project=project,
        region="ap-southeast-1",
        approval=approval,
        jobs=jobs,
        start_time_ms=None,
        reason="CHG-1",
        language="en-us",
        state=state,
        created_at=0.0,
        expires_at=86400.0,
    )


NO_GROUPS: frozenset[str] = frozenset()


# --- loading ---------------------------------------------------------------------------------


def test_loads_the_documented_example(policy: Policy, prod: ProjectPolicy) -> None:
    assert policy.defaults == Defaults(
        max_jobs=500, expire_hours=12.0, chunk_size=50, max_lead_days=7
    )
    assert prod == ProjectPolicy(
        name="prod",
        region="ap-southeast-1",
        project_id=PROJECT_ID,
        endpoint="http://127.0.0.1:8089",
        iam_endpoint="http://127.0.0.1:8089",
        requesters=frozenset({"U01ALICE", "S0DBATEAM"}),
        approvers=frozenset({"U02BOB", "S0DBALEADS"}),
        approval=Approval.TWO_PERSON,
        channels=frozenset({"C0OPS", "G0PRIVATE"}),
        max_jobs=1000,
    )
    assert prod.groups() == {"S0DBATEAM", "S0DBALEADS"}
    assert prod.drs_url == "http://127.0.0.1:8089"
    dev = policy.project("dev")
    assert dev is not None
    assert dev.approval is Approval.NONE
    assert dev.channels is None
    assert dev.approvers == frozenset()
    assert dev.max_jobs == 500  # from [defaults]
    assert dev.endpoint is None
    assert dev.drs_url == "https://drs.eu-west-101.myhuaweicloud.eu"
    assert dev.iam_url == "https://iam.eu-west-101.myhuaweicloud.eu"
    assert policy.groups() == {"S0DBATEAM", "S0DBALEADS"}
    assert policy.project("nope") is None


def test_default_endpoints_follow_the_region(prod: ProjectPolicy) -> None:
    bare = replace(prod, endpoint=None, iam_endpoint=None)
    assert bare.drs_url == "https://drs.ap-southeast-1.myhuaweicloud.com"
    assert bare.iam_url == "https://iam.ap-southeast-1.myhuaweicloud.com"


def test_projects_are_read_only(policy: Policy) -> None:
    with pytest.raises(TypeError):
        policy.projects["x"] = policy.projects["prod"]  # type: ignore[index]


def test_empty_policy_is_valid_and_allows_nothing() -> None:
    policy = load_policy({})
    assert policy.projects == {}
    assert policy.defaults == Defaults()
    assert requestable_projects(policy, "U01ALICE", NO_GROUPS, "C0OPS") == []
    assert "no projects are configured" in NO_PROJECTS
    assert no_project_reason(policy, "prod") == NO_PROJECTS
    assert nothing_requestable_reason(policy, "U01ALICE", NO_GROUPS, "C0OPS") == NO_PROJECTS


def test_two_person_is_the_default_approval() -> None:
    data = tomllib.loads(
        f'[projects.p]\nregion = "cn-north-4"\nproject_id = "{PROJECT_ID}"\n'
        'requesters = ["U1A"]\napprovers = ["U2B"]\n'
    )
    project = load_policy(data).project("p")
    assert project is not None
    assert project.approval is Approval.TWO_PERSON


def test_every_problem_is_named_at_once() -> None:
    data = tomllib.loads(
        """
        colour = "blue"
        [defaults]
        max_jobs = true
        expire_hours = 0
        chunk_size = 5000
        approval = "maybe"
        surprise = 1

        [projects.help]
        region = "AP-SOUTHEAST-1"
        project_id = "not-an-id"
        endpoint = "ftp://drs.example.com"
        iam_endpoint = "https://user:pw@iam.example.com"
        requesters = ["@alice", "u01lower", 7]
        approvers = ["C0NOTAUSER"]
        approval = "Two-Person"
        channels = ["D0DM", "#ops"]
        max_jobs = 0
        typo = 1

        [projects.nobody]
        region = "cn-north-4"
        project_id = "054ba152d480d55b2f5dc0069e7ddef0"
        requesters = []
        approval = "two-person"

        [projects.lonely]
        region = "cn-north-4"
        project_id = "054ba152d480d55b2f5dc0069e7ddef0"
        requesters = ["U01SOLO"]
        approvers = ["U01SOLO"]

        [projects.nochan]
        region = "cn-north-4"
        project_id = "054ba152d480d55b2f5dc0069e7ddef0"
        requesters = ["U01A"]
        approval = "none"
        channels = []
        endpoint = "http://host:notaport"
        """
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(data)
    problems = caught.value.problems
    expected = [
        "unknown key 'colour' in the top level",
        "defaults.max_jobs: must be a whole number, not a boolean",
        "defaults.expire_hours: 0 is out of range",
        "defaults.chunk_size: 5000 is out of range 1..1000",
        'defaults.approval: \'maybe\' is not "two-person" or "none"',
        "unknown key 'surprise' in [defaults]",
        "projects.help: a project name is",
        "unknown key 'typo' in [projects.help]",
        "projects.help.region: 'AP-SOUTHEAST-1' is not a region name",
        "projects.help.project_id: expected the 32 lower-case hex digits",
        "projects.help.endpoint: 'ftp://drs.example.com' is not an http(s) URL",
        "projects.help.iam_endpoint: must not carry credentials",
        "projects.help.requesters: '@alice' is not a Slack user ID",
        "projects.help.requesters: 'u01lower' is not a Slack user ID",
        "projects.help.requesters: 7 is not a Slack user ID",
        "projects.help.approvers: 'C0NOTAUSER' is not a Slack user ID",
        "projects.help.approval: 'Two-Person' is not",
        "projects.help.channels: 'D0DM' is not a Slack channel ID",
        "projects.help.channels: '#ops' is not a Slack channel ID",
        "projects.help.max_jobs: 0 is out of range",
        "projects.nobody.requesters: is empty",
        "projects.nobody: two-person approval needs approvers",
        "projects.lonely: U01SOLO is the only requester and the only approver",
        "projects.nochan.channels: is empty",
        "projects.nochan.endpoint: 'http://host:notaport' is not an http(s) URL",
    ]
    for fragment in expected:
        assert any(fragment in p for p in problems), fragment
    # The bad approvers entry still leaves "help" without approvers under the default policy.
    assert len(problems) == len(expected) + 1
    assert all(p in str(caught.value) for p in problems)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"projects": []}, "projects: must be a table"),
        ({"defaults": 3}, "defaults: must be a table"),
        ({"projects": {"p": "x"}}, "projects.p: must be a table"),
        ({"projects": {"p": {}}}, "projects.p: region is missing"),
        ({"projects": {"p": {"region": 1}}}, "projects.p.region: must be a string, not a number"),
        ({"projects": {"p": {"requesters": "U1A"}}}, "requesters: must be a list"),
        ({"projects": {"p": {}}}, "projects.p: requesters is missing"),
        ({"projects": {"p": {"channels": "C1A"}}}, "channels: must be a list"),
        ({"projects": {"p": {"endpoint": 8089}}}, "endpoint: must be a string"),
        ({"projects": {"p": {"endpoint": "http://"}}}, "is not an http(s) URL"),
        ({"projects": {"p": {"endpoint": "https://x/?q=1"}}}, "is not an http(s) URL"),
        ({"projects": {"p": {"approval": ["none"]}}}, "approval: ['none'] is not"),
        ({"projects": {"p": {"max_jobs": 1.5}}}, "max_jobs: must be a whole number"),
        ({"projects": {"p": {"max_jobs": 10_001}}}, "out of range 1..10000"),
        ({"defaults": {"expire_hours": float("nan")}}, "expire_hours: nan is out of range"),
        ({"defaults": {"expire_hours": "24"}}, "expire_hours: must be a number"),
        ({"projects": {JOB: {}}}, f"projects.{JOB}: a project name is"),
        ({"projects": {"at": {}}}, "projects.at: a project name is"),
        ({"projects": {3: {}}}, "projects.3: a project name is"),
    ],
)
def test_single_problems(data: dict[object, object], fragment: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(data)  # type: ignore[arg-type]
    assert any(fragment in p for p in caught.value.problems), caught.value.problems


def test_not_a_table_at_all() -> None:
    with pytest.raises(PolicyError, match="must be a table"):
        load_policy([])  # type: ignore[arg-type]


def test_regions_and_endpoints_that_exist_are_accepted() -> None:
    for region in ("ap-southeast-1", "cn-north-4", "eu-west-101", "my-kualalumpur-1", "eu-de"):
        data = {
            "projects": {
                "p": {
                    "region": region,
                    "project_id": PROJECT_ID,
                    "requesters": ["U1A"],
                    "approval": "none",
                    "endpoint": "https://drs.example.com:8443/base/",
                }
            }
        }
        project = load_policy(data).project("p")
        assert project is not None
        assert project.endpoint == "https://drs.example.com:8443/base"


# --- decisions -------------------------------------------------------------------------------


def test_may_request(prod: ProjectPolicy) -> None:
    assert may_request(prod, "U01ALICE", NO_GROUPS, "C0OPS").allowed
    assert may_request(prod, "U09DAVE", frozenset({"S0DBATEAM"}), "G0PRIVATE").allowed
    stranger = may_request(prod, "U09DAVE", frozenset({"S0OTHER"}), "C0OPS")
    assert not stranger.allowed
    assert "not a requester of project prod" in stranger.reason
    assert "projects.prod.requesters" in stranger.reason
    wrong_channel = may_request(prod, "U01ALICE", NO_GROUPS, "C0RANDOM")
    assert not wrong_channel.allowed
    assert wrong_channel.reason == "project prod may only be requested in <#C0OPS>, <#G0PRIVATE>"
    # An approver is not a requester.
    assert not may_request(prod, "U02BOB", NO_GROUPS, "C0OPS").allowed
    # A user id passed as a "group" grants nothing; an empty user is nobody.
    assert not may_request(prod, "U09DAVE", frozenset({"U01ALICE"}), "C0OPS").allowed
    assert not may_request(prod, "", NO_GROUPS, "C0OPS").allowed


def test_requestable_projects(policy: Policy) -> None:
    names = [p.name for p in requestable_projects(policy, "U01ALICE", NO_GROUPS, "C0OPS")]
    assert names == ["dev", "prod"]
    names = [p.name for p in requestable_projects(policy, "U01ALICE", NO_GROUPS, "C0ELSE")]
    assert names == ["dev"]
    assert requestable_projects(policy, "U09DAVE", NO_GROUPS, "C0OPS") == []
    assert [
        p.name for p in requestable_projects(policy, "U9", frozenset({"S0DBATEAM"}), "C0OPS")
    ] == ["prod"]


def test_nothing_requestable_reasons(policy: Policy) -> None:
    only_prod = Policy(projects={"prod": policy.projects["prod"]})
    reason = nothing_requestable_reason(only_prod, "U01ALICE", NO_GROUPS, "C0ELSE")
    assert reason == "you may request in prod, but not from this channel"
    reason = nothing_requestable_reason(policy, "U09DAVE", NO_GROUPS, "C0OPS")
    assert reason.startswith("you are not a requester of any project")
    assert (
        no_project_reason(policy, "nope")
        == "there is no project 'nope'; the projects are dev, prod"
    )
    assert no_project_reason(policy) == "name a project: dev, prod"


def test_approver_may_approve(prod: ProjectPolicy) -> None:
    assert may_approve(prod, request(), "U02BOB", NO_GROUPS).allowed
    assert may_approve(prod, request(), "U07EVE", frozenset({"S0DBALEADS"})).allowed


def test_non_approver_may_not_approve(prod: ProjectPolicy) -> None:
    decision = may_approve(prod, request(), "U09DAVE", frozenset({"S0DBATEAM"}))
    assert not decision.allowed
    assert decision.reason == (
        "you are not an approver of project prod, so you may not approve its requests"
    )


def test_requester_never_approves_under_two_person_whatever_groups(prod: ProjectPolicy) -> None:
    bob_asks = request(requester="U02BOB")
    decision = may_approve(prod, bob_asks, "U02BOB", frozenset({"S0DBALEADS"}))
    assert not decision.allowed
    assert "another approver must approve it" in decision.reason
    assert may_approve(prod, bob_asks, "U07EVE", frozenset({"S0DBALEADS"})).allowed


def test_two_person_holds_if_either_the_request_or_the_project_demands_it(
    prod: ProjectPolicy,
) -> None:
    relaxed_project = replace(prod, approval=Approval.NONE)
    old_request = request(requester="U02BOB", approval=Approval.TWO_PERSON)
    assert not may_approve(relaxed_project, old_request, "U02BOB", NO_GROUPS).allowed
    new_request = request(requester="U02BOB", approval=Approval.NONE)
    assert not may_approve(prod, new_request, "U02BOB", NO_GROUPS).allowed
    assert may_approve(relaxed_project, new_request, "U02BOB", NO_GROUPS).allowed


def test_without_two_person_the_requester_may_approve(policy: Policy) -> None:
    dev = policy.projects["dev"]
    req = request(project="dev", approval=Approval.NONE)
    decision = may_approve(dev, req, "U01ALICE", NO_GROUPS)
    assert decision.allowed
    other = may_approve(dev, req, "W0CAROL", NO_GROUPS)
    assert not other.allowed
    assert other.reason == "project dev has no approvers, so nobody may approve"


def test_approve_refuses_closed_or_foreign_requests(prod: ProjectPolicy) -> None:
    done = may_approve(prod, request(state=RequestState.APPROVED), "U02BOB", NO_GROUPS)
    assert not done.allowed
    assert done.reason == "this request is already approved"
    foreign = may_approve(prod, request(project="dev"), "U02BOB", NO_GROUPS)
    assert not foreign.allowed
    assert "for project dev, not prod" in foreign.reason


def test_may_reject(prod: ProjectPolicy) -> None:
    assert may_reject(prod, request(), "U02BOB", NO_GROUPS).allowed
    # An approver may reject their own request: it only stops it.
    assert may_reject(prod, request(requester="U02BOB"), "U02BOB", NO_GROUPS).allowed
    requester = may_reject(prod, request(), "U01ALICE", NO_GROUPS)
    assert not requester.allowed
    assert "cancel it instead" in requester.reason
    assert not may_reject(prod, request(), "U09DAVE", NO_GROUPS).allowed
    assert not may_reject(prod, request(state=RequestState.EXPIRED), "U02BOB", NO_GROUPS).allowed
    assert not may_reject(prod, request(project="dev"), "U02BOB", NO_GROUPS).allowed


def test_may_cancel() -> None:
    assert may_cancel(request(), "U01ALICE").allowed
    other = may_cancel(request(), "U02BOB")
    assert not other.allowed
    assert other.reason == "only <@U01ALICE>, who made this request, can cancel it"
    late = may_cancel(request(state=RequestState.STARTING), "U01ALICE")
    assert not late.allowed
    assert late.reason == "this request is already starting"
    assert not may_cancel(request(requester=""), "").allowed


def test_may_retry(prod: ProjectPolicy) -> None:
    throttled = (RequestJob(JOB, outcome=Outcome.FAILED, error_code="APIGW.0308"),)
    finished = request(state=RequestState.DONE, jobs=throttled)
    assert may_retry(prod, finished, "U02BOB", NO_GROUPS).allowed
    assert not may_retry(prod, finished, "U01ALICE", NO_GROUPS).allowed  # two-person
    assert not may_retry(prod, finished, "U09DAVE", NO_GROUPS).allowed
    pending = may_retry(prod, request(jobs=throttled), "U02BOB", NO_GROUPS)
    assert not pending.allowed
    assert "only a finished one is retried" in pending.reason
    hard = (RequestJob(JOB, outcome=Outcome.FAILED, error_code="DRS.M00304"),)
    nothing = may_retry(prod, request(state=RequestState.FAILED, jobs=hard), "U02BOB", NO_GROUPS)
    assert not nothing.allowed
    assert "no job" in nothing.reason
    assert not may_retry(prod, replace(finished, project="dev"), "U02BOB", NO_GROUPS).allowed


def test_decision_is_truthy_only_when_allowed() -> None:
    assert Decision(True, "ok")
    assert not Decision(False, "no")


# --- who may read a request ------------------------------------------------------------------


def _with_channel_visibility(data: str, value: str) -> Policy:
    return load_policy(
        tomllib.loads(
            data.replace("[projects.dev]", f"[projects.dev]\nvisible_to_channel = {value}")
        )
    )


def test_visible_to_channel_is_off_by_default_and_read_when_given(policy: Policy) -> None:
    assert all(not p.visible_to_channel for p in policy.projects.values())
    dev = _with_channel_visibility(EXAMPLE, "true").project("dev")
    assert dev is not None and dev.visible_to_channel
    with pytest.raises(PolicyError) as caught:
        _with_channel_visibility(EXAMPLE, '"yes"')
    assert caught.value.problems == [
        "projects.dev.visible_to_channel: must be true or false, not a string"
    ]


def test_a_request_is_read_by_its_projects_people_only(prod: ProjectPolicy) -> None:
    req = request()  # prod, made by U01ALICE in C0OPS
    assert may_read_request(prod, req, "U01ALICE", NO_GROUPS, "C0ELSE")  # its requester
    assert may_read_request(prod, req, "U02BOB", NO_GROUPS, "C0ELSE")  # an approver, anywhere
    assert may_read_request(prod, req, "U9", frozenset({"S0DBATEAM"}), "C0OPS")  # by group
    assert not may_read_request(prod, req, "U9", NO_GROUPS, "C0OPS")  # in the channel only
    assert not may_read_request(prod, req, "U9", frozenset({"U02BOB"}), "C0OPS")  # not a group
    assert not may_read_request(prod, req, "", NO_GROUPS, "C0OPS")
    assert may_read_request(None, req, "U01ALICE", NO_GROUPS, "C0OPS")  # project gone
    assert not may_read_request(None, req, "U02BOB", NO_GROUPS, "C0OPS")


def test_another_projects_people_may_not_read_a_request(policy: Policy) -> None:
    dev = policy.project("dev")
    assert dev is not None
    req = request()  # of prod: dev's rules do not apply to it
    assert not may_read_request(dev, req, "W0CAROL", NO_GROUPS, "C0OPS")


def test_visible_to_channel_opens_a_request_to_its_own_channel_only(prod: ProjectPolicy) -> None:
    open_prod = replace(prod, visible_to_channel=True)
    req = request()
    assert may_read_request(open_prod, req, "U9", NO_GROUPS, "C0OPS")
    assert not may_read_request(open_prod, req, "U9", NO_GROUPS, "G0PRIVATE")
    assert not may_read_request(open_prod, req, "U9", NO_GROUPS, "")


def test_membership_names_roles_and_whether_usable_here(prod: ProjectPolicy) -> None:
    alice = membership(prod, "U01ALICE", NO_GROUPS, "C0OPS")
    assert alice is not None and alice.roles == "requester" and alice.here
    elsewhere = membership(prod, "U01ALICE", NO_GROUPS, "C0ELSE")
    assert elsewhere is not None and not elsewhere.here
    lead = membership(prod, "U9", frozenset({"S0DBALEADS"}), "C0OPS")
    assert lead is not None and lead.roles == "approver" and not lead.here
    both = membership(prod, "U02BOB", frozenset({"S0DBATEAM"}), "C0OPS")
    assert both is not None and both.roles == "requester, approver"
    assert membership(prod, "U9", NO_GROUPS, "C0OPS") is None
