"""The VGCA Sign Service protocol: a path's frame -> an engine call -> a reply; nothing else."""
