"""Block Kit builders: pure functions of domain values (messages, modals, forms, ids)."""
