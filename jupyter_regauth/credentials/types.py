"""The credential value object: what a registry login needs, with a repr that never shows it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Credentials:
    """Credentials for one registry.

    ``password`` is a password or a personal access token used with Basic auth or the token
    endpoint. ``identity_token`` is an OAuth2 refresh token (docker's ``identitytoken``), used
    instead of a password against an OAuth2 token endpoint. ``registry_token`` is a bearer token
    sent as-is (docker's ``registrytoken``).
    """

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    def secrets(self) -> list[str]:
        """The secret values, for scrubbing them out of any text that might leak."""
        return [s for s in (self.password, self.identity_token, self.registry_token) if s]

    def __repr__(self) -> str:
        kinds = [
            name
            for name, value in (
                ("password", self.password),
                ("identity_token", self.identity_token),
                ("registry_token", self.registry_token),
            )
            if value
        ]
        hidden = ", ".join(f"{k}='***'" for k in kinds)
        return f"Credentials(username={self.username!r}{', ' + hidden if hidden else ''})"

    __str__ = __repr__
