"""Helpers shared by more than one test folder: one place for each, imported by name
(never from a conftest.py or another test module)."""
