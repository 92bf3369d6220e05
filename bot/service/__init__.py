"""Use cases that know no Slack: answers decided from the policy, the store and DRS."""
