"""Throwaway infrastructure for tests, the demo and benchmarks: a private PKI, a real distribution
registry on loopback, and a token issuer it trusts. Nothing here is used by the extension itself."""
