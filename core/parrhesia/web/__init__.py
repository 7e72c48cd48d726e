"""The web: the application factory, the source, desk, API and statistics blueprints, serving."""

# How `parrhesia serve` can run its workers (parrhesia.web.server).
WORKER_CLASSES = ("gevent", "gthread")
DEFAULT_WORKERS = 1  # one gevent worker takes hundreds of slow uploads (deploy/README.md)
DEFAULT_CONNECTIONS = 1000  # per gevent worker
DEFAULT_THREADS = 4  # per gthread worker
