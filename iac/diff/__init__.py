"""Comparing two versions of the declarations: lifecycle events, findings, object changes,
cost, rollouts (`iac plan`)."""
