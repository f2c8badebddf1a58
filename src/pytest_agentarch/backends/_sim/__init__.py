"""Internals of the simulated model: text reading, conversation reading, planning, argument and output building."""
