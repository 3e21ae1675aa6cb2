"""The two wizards, declared as data for the engine in epermit.wizard."""
