"""Proof that the stack works: a real request through each engine's client API, and the speech loop."""
