"""Huawei Cloud credentials from the environment: AK/SK, or an IAM user's password."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.core.secret import Secret


@dataclass(frozen=True, slots=True)
class AkSk:
    """AK/SK signing (SDK-HMAC-SHA256), what IAM recommends."""

    ak: Secret
    sk: Secret


@dataclass(frozen=True, slots=True)
class IamPassword:
    """An IAM user's password, exchanged for a project-scoped token."""

    user: str
    password: Secret
    domain: str


Credentials = AkSk | IamPassword


def credentials_from(get: Callable[[str], str | None], problems: list[str]) -> Credentials | None:
    ak, sk = get("HUAWEICLOUD_SDK_AK"), get("HUAWEICLOUD_SDK_SK")
    user = get("HUAWEICLOUD_IAM_USER")
    password = get("HUAWEICLOUD_IAM_PASSWORD")
    domain = get("HUAWEICLOUD_IAM_DOMAIN")
    if ak or sk:
        if not (ak and sk):
            problems.append("set both HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or neither")
            return None
        if user or password:
            problems.append(
                "both AK/SK and HUAWEICLOUD_IAM_* are set; keep one way of authenticating"
            )
            return None
        return AkSk(Secret(ak), Secret(sk))
    if user or password or domain:
        missing = [
            name
            for name, value in (
                ("HUAWEICLOUD_IAM_USER", user),
                ("HUAWEICLOUD_IAM_PASSWORD", password),
                ("HUAWEICLOUD_IAM_DOMAIN", domain),
            )
            if not value
        ]
        if user and password and domain:
            return IamPassword(user=user, password=Secret(password), domain=domain)
        problems.append(f"IAM password login needs {', '.join(missing)} too")
        return None
    problems.append(
        "no Huawei Cloud credentials: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK "
        "(recommended) or HUAWEICLOUD_IAM_USER, HUAWEICLOUD_IAM_PASSWORD, HUAWEICLOUD_IAM_DOMAIN"
    )
    return None
