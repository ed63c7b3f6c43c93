"""Compiled objects as text for review and GitOps: multi-document YAML, JSON, or files."""
