"""Wire details shared by the simulator's endpoints: error bodies, messages, time formats.

Every DRS and gateway error body has the real shape ``{"error_code": ..., "error_msg": ...}``;
IAM answers in Keystone's shape ``{"error": {"code": 401, "title": ..., "message": ...}}``.
DRS messages follow ``X-Language`` (``en-us`` default, ``zh-cn``); gateway and IAM messages are
English, as on the real platform.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

JSON_TYPE = "application/json"

# DRS codes the simulator answers, with their English and Chinese messages. ``%s`` is filled
# with the parameter name where the real message names one.
_DRS_MESSAGES: dict[str, tuple[str, str]] = {
    "DRS.M00004": ("Service error. Try again later.", "服务异常，请稍后重试。"),
    "DRS.M00200": ("Invalid request parameter.", "请求参数错误。"),
    "DRS.M00201": ("The parameter %s cannot be empty.", "参数%s不能为空。"),
    "DRS.M00202": ("The value of parameter %s is invalid.", "参数%s的值无效。"),
    "DRS.M00261": ("Invalid project ID.", "项目ID无效。"),
    "DRS.M00301": ("Duplicate value in request: %s.", "请求中存在重复值：%s。"),
    "DRS.M00304": (
        "The current status of the task does not allow this operation.",
        "当前任务状态不允许执行该操作。",
    ),
    "DRS.M05003": ("The task does not exist.", "任务不存在。"),
    "DRS.M05004": (
        "The task has been deleted or its resources have been released.",
        "任务已删除或资源已释放。",
    ),
}


def drs_message(code: str, language: str, arg: str = "") -> str:
    """The DRS message for ``code`` in ``language`` (``zh-cn`` or anything else = English)."""
    english, chinese = _DRS_MESSAGES.get(code, ("Operation failed.", "操作失败。"))
    text = chinese if language.lower().startswith("zh") else english
    return text.replace("%s", arg) if "%s" in text else text


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error_code": code, "error_msg": message}


def json_response(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        status=status,
        content_type=JSON_TYPE,
        charset="utf-8",
        headers=headers,
    )


def iam_error(status: int, title: str, message: str) -> web.Response:
    return json_response({"error": {"code": status, "title": title, "message": message}}, status)


def iso8601(epoch: float) -> str:
    """IAM's timestamp format, e.g. ``2020-01-04T09:05:22.701000Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch_ms(epoch: float) -> str:
    """DRS's timestamp format: epoch milliseconds as a decimal string."""
    return str(round(epoch * 1000))


def loads_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
