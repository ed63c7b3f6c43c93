"""Rollouts: the steps a promotion takes (planner) and running them (executor)."""
