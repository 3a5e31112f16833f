"""Tests of the runtime glue."""
