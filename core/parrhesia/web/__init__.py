"""The web: the application factory, the source, desk, API and statistics blueprints, serving."""
