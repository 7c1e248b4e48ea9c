"""Kafka plumbing shared by the worker and the tools: settings, topic admin, reading topics back."""
