"""Realistic generated incidents and an embedded S3: for the demo, tests and benchmarks only."""
