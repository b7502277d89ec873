import lp_buildmaster.components  # noqa: F401  (every adapter registration)
