"""citywatch.search: retrospective search results and trajectories."""

from citywatch.search.trajectory import TrajectoryStop, trajectory

__all__ = ["TrajectoryStop", "trajectory"]
