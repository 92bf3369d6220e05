"""Bolt listeners, one module per surface: parse, ack, hand to the service, answer."""
