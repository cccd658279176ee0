"""Synthetic, deterministic demo workloads for `recorder demo`, tests and benchmarks.

Owns: the demo deployments and their node kinds (deployments.py, node_events.py), the simulation
of one execution (execution.py), sessions and requests (workload.py), a loopback server that
speaks Vellum's predict API (server.py), and running a workload through a recorder
(live_recording.py, against a Protocol, so the demo does not import the API).
May import: recorder.model only.
"""
