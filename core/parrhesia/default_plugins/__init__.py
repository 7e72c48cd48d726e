"""Built-in behaviour, registered as ordinary plugins (see parrhesia.plugins.DEFAULT_PLUGINS)."""
