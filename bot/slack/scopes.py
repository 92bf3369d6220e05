"""The Slack bot scopes startjobs uses, each with the calls that need it.

``manifest.yml`` must ask for exactly these (a test checks it), and ``startjobs check``
compares them with what the installed token really has.
"""

from __future__ import annotations

BOT_SCOPES: dict[str, str] = {
    "commands": "the /startjobs slash command",
    "chat:write": "request messages, thread replies and ephemeral answers",
    "users:read": "the requester's timezone and locale (users.info)",
    "usergroups:read": "policies that name user groups (usergroups.users.list)",
    "files:write": "the CSV of every job's outcome (files.uploadV2)",
    "files:read": "job lists uploaded in the request modal",
    "channels:history": "finding its own message when Slack's answer to a post was lost",
    "groups:history": "the same in private channels",
}

# Needed only when the policy names user groups (S... ids).
GROUP_SCOPES = frozenset({"usergroups:read"})
