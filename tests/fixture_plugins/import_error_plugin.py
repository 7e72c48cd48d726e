"""A test plugin that cannot even be imported."""

raise ImportError("a dependency of this plugin is missing")
