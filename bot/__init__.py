"""startjobs: a Slack chat-ops bot that starts Huawei Cloud DRS tasks in batches, safely."""

__version__ = "0.1.0"
