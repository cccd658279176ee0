"""The package's version, in a module of its own: the store and the HTTP client name it (migrations'
stamp, User-Agent) without importing the package's API, and the build reads it from here."""

__version__ = "0.1.0"
