"""Diagnosis: the failure knowledge base that `aima up` and `aima doctor` share (signatures.yaml, knowledge.py)."""
