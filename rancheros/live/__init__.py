"""Live operation: a config change applied to the running system, and a trial that reverts itself."""
