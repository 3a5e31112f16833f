"""Tests of the dialplan decision layer (dial strings, variables, patterns, rules)."""
