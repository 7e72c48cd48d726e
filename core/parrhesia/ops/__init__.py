"""Operating an instance: the demo, health checks, backups and the schedule."""
