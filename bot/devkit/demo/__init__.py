"""The offline try-out: the real bot against the simulators, with a chat in the terminal."""
