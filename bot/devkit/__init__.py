"""Development kit: the DRS and Slack simulators and the offline demo. Not used in production."""
