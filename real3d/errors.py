"""User-facing error type: a message a user can act on, shown as one line by the CLIs."""


class Real3DError(Exception):
    """A problem caused by the user's input (file, path, config, checkpoint), not by a bug."""
