"""The web: the application factory, the source, desk, API and statistics blueprints, serving."""

# How `parrhesia serve` can run its workers (parrhesia.web.server).
WORKER_CLASSES = ("gevent", "gthread")
