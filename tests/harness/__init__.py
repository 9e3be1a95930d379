"""Real Docker parts for aima's end-to-end tests: a test dockerd, a loopback registry, stub engines."""


class HarnessError(RuntimeError):
    """The test harness could not provide a real Docker part; the message says why."""


class HarnessUnavailable(HarnessError):
    """This machine cannot run the real Docker parts at all (not installed, not root)."""
