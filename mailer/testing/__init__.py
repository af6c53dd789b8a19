"""Test harness pieces shared by the suite and the benchmarks (real services)."""
