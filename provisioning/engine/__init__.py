"""The bmadweb engine: pure Python, no Django.

Manifest schema and hardened loader, BMAD install detection per generation, gap
analysis, generator, plan, 3-way merge and lock file. The CLI, the RQ jobs and the
views all call into this package; nothing here imports Django (a test enforces it).
"""
