"""Built-in behaviour, registered as ordinary plugins (see parrhesia.plugin_manager.DEFAULT_PLUGINS)."""
