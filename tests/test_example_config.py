from __future__ import annotations

from pathlib import Path

from bot.config import load_policy_file
from bot.core.request import Approval

ROOT = Path(__file__).resolve().parents[1]


def test_example_policy_loads_and_means_what_it_says() -> None:
    policy = load_policy_file(ROOT / "startjobs.example.toml")
    prod = policy.project("prod")
    staging = policy.project("staging")
    assert prod is not None and staging is not None
    assert prod.approval is Approval.TWO_PERSON
    assert staging.approval is Approval.NONE
    assert prod.groups() == {"S0DBATEAM", "S0DBALEADS"}
    assert prod.channels == {"C0OPS"}
    assert staging.max_jobs == 200
    assert prod.drs_url == "https://drs.ap-southeast-1.myhuaweicloud.com"
    assert policy.defaults.expire_hours == 24
