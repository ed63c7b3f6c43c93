"""Helpers shared by the tests of several packages: compiling stack text, running the Pulumi
program under mocks, golden files, stack builders, the fuzz harness, install scripts."""
