"""Built-in behaviour, registered as ordinary plugins (see parrhesia.contract.manager.DEFAULT_PLUGINS)."""
